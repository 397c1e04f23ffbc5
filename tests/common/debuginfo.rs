//! The debug-info fixture of tests/debuginfo.rs and tests/debuginfo_fetch.rs: a copy of
//! tests/fixtures/hello whose release profile keeps DWARF (`debug = true`), and readers of what a
//! build of it wrote (the binary in the app layer, the built file, ELF sections).

use super::peers;
use super::slim::{self, cmd, ok};
use object::{Object, ObjectSection};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The fixture copy with `debug = true` (made once per test run) and the target dir its tests share.
pub fn fixture() -> &'static (PathBuf, PathBuf) {
    static F: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    F.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("debuginfo-fixture");
        let dir = root.join("hello");
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&slim::repo().join("tests/fixtures/hello"), &dir);
        let toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!("{toml}\n[profile.release]\ndebug = true\n"),
        )
        .unwrap();
        (dir.join("Cargo.toml"), root.join("target"))
    })
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Build the `hello` image of `manifest` into `layout` with `rest`; the JSON report.
pub fn build_of(manifest: &Path, target: &Path, layout: &Path, rest: &[&str]) -> Value {
    let mut args = vec![
        "--manifest-path",
        manifest.to_str().unwrap(),
        "--target-dir",
        target.to_str().unwrap(),
        "--bin",
        "hello",
        "-o",
        layout.to_str().unwrap(),
        "--message-format",
        "json",
    ];
    args.extend_from_slice(rest);
    serde_json::from_str(&ok(cmd(&args))).unwrap()
}

/// Build the debug fixture's `hello` image into `layout` with `rest`.
pub fn build(layout: &Path, rest: &[&str]) -> Value {
    let (manifest, target) = fixture();
    build_of(manifest, target, layout, rest)
}

/// The app layer's digest and the bytes of `/usr/local/bin/hello` in it.
pub fn binary_in(layout: &Path) -> (String, Vec<u8>) {
    let (_, m) = slim::manifest_of(layout);
    binary_of(layout, &m)
}

/// The app layer's digest and `/usr/local/bin/hello` of image manifest `m` of `layout`.
pub fn binary_of(layout: &Path, m: &Value) -> (String, Vec<u8>) {
    let app = m["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let out = tempfile::tempdir().unwrap();
    peers::run_ok(
        Command::new("tar")
            .arg("xzf")
            .arg(slim::blob_path(layout, &app))
            .arg("-C")
            .arg(out.path())
            .arg("usr/local/bin/hello"),
    )
    .unwrap();
    (
        app,
        std::fs::read(out.path().join("usr/local/bin/hello")).unwrap(),
    )
}

/// The file cargo built for linux/amd64: the only `x86_64-unknown-linux-musl/release/hello` under
/// `target`.
pub fn built_file(target: &Path) -> Vec<u8> {
    fn find(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                find(&p, out);
            } else if p.ends_with("x86_64-unknown-linux-musl/release/hello") {
                out.push(p);
            }
        }
    }
    let mut found = Vec::new();
    find(target, &mut found);
    assert_eq!(found.len(), 1, "built hello binaries: {found:?}");
    std::fs::read(&found[0]).unwrap()
}

/// Section name -> (sh_flags, data) of an ELF file.
pub fn sections(bytes: &[u8]) -> Vec<(String, u64, Vec<u8>)> {
    let f = object::File::parse(bytes).unwrap();
    f.sections()
        .map(|s| {
            let flags = match s.flags() {
                object::SectionFlags::Elf { sh_flags } => sh_flags,
                _ => 0,
            };
            (
                s.name().unwrap().to_string(),
                flags,
                s.data().unwrap_or_default().to_vec(),
            )
        })
        .collect()
}

pub fn is_dwarf(name: &str, flags: u64) -> bool {
    (name.starts_with(".debug_") || name.starts_with(".zdebug_"))
        && flags & u64::from(object::elf::SHF_ALLOC) == 0
}

/// The names in `dir`, sorted.
pub fn slim_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}
