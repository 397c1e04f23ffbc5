//! Same commit, same digest, on any machine (issue 12, items 1 and 2): the fixture
//! tests/fixtures/repro-paths is built from two checkouts at different absolute paths, with different
//! `HOME` and `CARGO_HOME` (each seeded from the real one, builds `--offline`), one of them with a
//! fake `cargo-auditable` on PATH. One manifest digest; the binary taken out of the image holds no
//! path of either machine, and carries its dependency list (`.dep-v0`, read by `rust-audit-info`).
//! Then: a second run is a no-op, `--no-embed-dependencies` drops the section and toggling back
//! brings it (and the digest) back without compiling, a user's RUSTFLAGS and RUSTC_WRAPPER are
//! honoured, `strip = true` keeps the section, and an arm64 cross build has it too.
//!
//! The path dependency outside the workspace sits at one absolute place for both checkouts: cargo
//! hashes the absolute path of such a package into its crate metadata (symbol names), so at two
//! places the binaries differ whatever rustc is told (measured: 21235 bytes differed, the path
//! strings themselves remapped). README says so.

mod common;

use common::peers;
use common::slim;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TRIPLE: &str = "x86_64-unknown-linux-musl";

/// One machine: a checkout of the fixture, its HOME and CARGO_HOME, and a bin dir for PATH.
struct Machine {
    root: PathBuf,
    ws: PathBuf,
    home: PathBuf,
    cargo_home: PathBuf,
    bin: PathBuf,
}

fn real_cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            if e.file_name() != "target" {
                copy_dir(&src, &dst);
            }
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A fresh CARGO_HOME with the registry index and the `.crate` files of the fixture's lock.
fn seed_cargo_home(to: &Path, lock: &str) {
    let real = real_cargo_home().join("registry");
    copy_dir(&real.join("index"), &to.join("registry/index"));
    let names: Vec<String> = lock
        .split("[[package]]")
        .filter(|p| p.contains("source = \"registry+"))
        .filter_map(|p| {
            let field = |k: &str| {
                p.lines()
                    .find_map(|l| l.strip_prefix(&format!("{k} = \"")))
                    .map(|v| v.trim_end_matches('"').to_string())
            };
            Some(format!("{}-{}.crate", field("name")?, field("version")?))
        })
        .collect();
    for index in std::fs::read_dir(real.join("cache")).unwrap().flatten() {
        let dir = to.join("registry/cache").join(index.file_name());
        for n in &names {
            if index.path().join(n).is_file() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::copy(index.path().join(n), dir.join(n)).unwrap();
            }
        }
    }
}

/// The fixture at `root`, depending on the outside package at `shared` (one absolute place).
fn machine(root: &Path, shared: &Path) -> Machine {
    let fixtures = slim::repo().join("tests/fixtures");
    let ws = root.join("src/repro-paths");
    copy_dir(&fixtures.join("repro-paths"), &ws);
    let toml = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let toml = toml.replace(
        "path = \"../repro-shared\"",
        &format!("path = \"{}\"", shared.display()),
    );
    std::fs::write(ws.join("Cargo.toml"), toml).unwrap();
    let m = Machine {
        root: root.to_path_buf(),
        home: root.join("home/user"),
        cargo_home: root.join("cargo-home"),
        bin: root.join("bin"),
        ws,
    };
    std::fs::create_dir_all(&m.home).unwrap();
    std::fs::create_dir_all(&m.bin).unwrap();
    let lock = std::fs::read_to_string(m.ws.join("Cargo.lock")).unwrap();
    seed_cargo_home(&m.cargo_home, &lock);
    m
}

fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `cargo slim-image --offline --message-format json ARGS` in `m`'s checkout, as its user.
fn slim_on(m: &Machine, args: &[&str]) -> Command {
    let manifest = m.ws.join("Cargo.toml");
    let mut all = vec![
        "--manifest-path",
        manifest.to_str().unwrap(),
        "--offline",
        "--locked",
        "--message-format",
        "json",
    ];
    all.extend_from_slice(args);
    let mut c = slim::cmd(&all);
    let rustup_home = std::env::var_os("RUSTUP_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".rustup"),
        PathBuf::from,
    );
    let path = format!("{}:{}", m.bin.display(), std::env::var("PATH").unwrap());
    c.current_dir(&m.ws)
        .env("HOME", &m.home)
        .env("CARGO_HOME", &m.cargo_home)
        .env("RUSTUP_HOME", rustup_home)
        .env("PATH", path)
        .env("CARGO_NET_OFFLINE", "true")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_BUILD_RUSTC_WRAPPER");
    c
}

fn run_ok(mut c: Command) -> (Value, String) {
    let out: Output = slim::run(&mut c);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "cargo-slim-image failed:\n{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

/// The image's digest and its `/usr/local/bin/repro-paths`, taken out of the app layer.
fn image_binary(report: &Value, into: &Path) -> (String, PathBuf) {
    let img = &report["images"][0];
    let layout = PathBuf::from(img["layout"].as_str().unwrap());
    let manifest = &img["manifests"][0];
    let layers = manifest["layers"].as_array().unwrap();
    let app = layers.last().unwrap()["digest"].as_str().unwrap();
    std::fs::create_dir_all(into).unwrap();
    peers::run_ok(
        Command::new("tar")
            .arg("xzf")
            .arg(slim::blob_path(&layout, app))
            .arg("-C")
            .arg(into),
    )
    .unwrap();
    let digest = img["digest"].as_str().unwrap().to_string();
    (digest, into.join("usr/local/bin/repro-paths"))
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// No path of `machines` (checkout, HOME, CARGO_HOME, target dir), nor of the shared dependency or
/// the toolchain, is in `bin`; every `registry/src` is `/cargo/registry/src`.
fn assert_no_machine_paths(bin: &Path, machines: &[&Machine], shared: &Path) {
    let bytes = std::fs::read(bin).unwrap();
    let sysroot = peers::stdout_of(Command::new("rustc").args(["--print", "sysroot"])).unwrap();
    let mut paths: Vec<PathBuf> = vec![shared.to_path_buf(), PathBuf::from(sysroot.trim())];
    paths.push(real_cargo_home());
    for m in machines {
        paths.extend([m.root.clone(), m.home.clone(), m.cargo_home.clone()]);
        paths.push(m.ws.join("target"));
    }
    for p in paths {
        let p = p.to_str().unwrap();
        assert!(!contains(&bytes, p), "{} contains {p}", bin.display());
    }
    let at: Vec<usize> = bytes
        .windows(12)
        .enumerate()
        .filter(|(_, w)| *w == b"registry/src")
        .map(|(i, _)| i)
        .collect();
    assert!(
        !at.is_empty(),
        "base64's panic locations name no registry/src path"
    );
    for i in at {
        assert!(
            i >= 7 && &bytes[i - 7..i] == b"/cargo/",
            "registry/src with a machine prefix: {}",
            String::from_utf8_lossy(&bytes[i.saturating_sub(40)..i + 12])
        );
    }
}

fn run_binary(bin: &Path) -> String {
    peers::stdout_of(&mut Command::new(bin)).unwrap()
}

fn has_dep_section(bin: &Path) -> bool {
    contains(&std::fs::read(bin).unwrap(), ".dep-v0")
}

#[test]
fn two_machines_one_digest_and_no_machine_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("elsewhere/repro-shared");
    copy_dir(&slim::repo().join("tests/fixtures/repro-shared"), &shared);
    let one = machine(&tmp.path().join("one"), &shared);
    let two = machine(&tmp.path().join("second/machine/deeper"), &shared);
    // On the second machine cargo-auditable, cargo-zigbuild, zig and musl-gcc are installed (as
    // fakes that fail): none of them may be used for this pure-Rust workspace.
    let called = two.root.join("a-tool-on-path-was-called");
    for tool in ["cargo-auditable", "cargo-zigbuild", "zig", "musl-gcc"] {
        script(
            &two.bin.join(tool),
            &format!("echo \"{tool} $@\" >> {}\nexit 3", called.display()),
        );
    }

    let (r1, _) = run_ok(slim_on(&one, &[]));
    let (r2, _) = run_ok(slim_on(&two, &[]));
    assert!(
        !called.exists(),
        "a tool on PATH was run: {}",
        std::fs::read_to_string(&called).unwrap_or_default()
    );
    let (d1, bin1) = image_binary(&r1, &tmp.path().join("x1"));
    let (d2, bin2) = image_binary(&r2, &tmp.path().join("x2"));
    assert_no_machine_paths(&bin1, &[&one, &two], &shared);
    assert_no_machine_paths(&bin2, &[&one, &two], &shared);
    assert_eq!(d1, d2, "one commit, two machines, two digests");
    // The line tables left the image (debuginfo = "split" by default): the debug files beside the
    // layouts hold them, and are checked as the binaries are: no machine path, the same bytes.
    let debug_file = |r: &Value| {
        PathBuf::from(
            r["images"][0]["debuginfo"][0]["path"]
                .as_str()
                .expect("a debug file split off the binary"),
        )
    };
    assert_no_machine_paths(&debug_file(&r1), &[&one, &two], &shared);
    assert!(
        std::fs::read(debug_file(&r1)).unwrap() == std::fs::read(debug_file(&r2)).unwrap(),
        "one commit, two machines, two debug files"
    );

    // The second machine checks the first one's image with `verify`.
    let layout = r1["images"][0]["layout"].as_str().unwrap();
    let image = format!("oci:{layout}");
    let (v, _) = run_ok(slim_on(&two, &["verify", &image]));
    assert_eq!(v["reproduced"], true, "{v}");
    assert_eq!(v["digest"].as_str(), Some(d1.as_str()), "{v}");

    let said = run_binary(&bin1);
    assert!(said.contains("main: src/main.rs\n"), "{said}");
    assert!(
        said.contains("shared: /deps/repro-shared-0.1.0/src/lib.rs\n"),
        "{said}"
    );
    assert!(said.contains("generated: /target/"), "{said}");
    assert!(said.contains("user flag: false\n"), "{said}");

    // The dependency list, as scanners read it.
    if peers::check_tools(
        "two_machines_one_digest_and_no_machine_paths",
        &["rust-audit-info"],
    ) {
        let info = peers::stdout_of(Command::new("rust-audit-info").arg(&bin1)).unwrap();
        let info: Value = serde_json::from_str(&info).unwrap();
        let names: Vec<(&str, &str)> = info["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap(), p["source"].as_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("base64", "crates.io"),
                ("repro-paths", "local"),
                ("repro-shared", "local")
            ],
            "{info}"
        );
    }

    // Nothing changed: nothing is compiled, the binary is not even relinked.
    let built = slim::built_binary(&one.ws.join("target"), TRIPLE, "repro-paths", false);
    let mtime = built.metadata().unwrap().modified().unwrap();
    let (_, stderr) = run_ok(slim_on(&one, &[]));
    assert!(!stderr.contains("Compiling"), "{stderr}");
    assert_eq!(built.metadata().unwrap().modified().unwrap(), mtime);

    // Off, then on again: the section goes and comes back, and so does the digest.
    let (r, _) = run_ok(slim_on(&one, &["--no-embed-dependencies"]));
    let (d_off, bin_off) = image_binary(&r, &tmp.path().join("x3"));
    assert!(!has_dep_section(&bin_off));
    assert!(has_dep_section(&bin1));
    assert_ne!(d_off, d1);
    let (r, stderr) = run_ok(slim_on(&one, &[]));
    assert!(!stderr.contains("Compiling"), "{stderr}");
    assert_eq!(r["images"][0]["digest"].as_str().unwrap(), d1);

    // cargo does not see the object file: a link whose dependency list is not this build's (here
    // changed in place, as an older list would be) is found and linked again.
    let bytes = std::fs::read(&built).unwrap();
    let section = cargo_slim_image::compile::depdata::section_in(&bytes).unwrap();
    let at = section.as_ptr() as usize - bytes.as_ptr() as usize + 2;
    {
        use std::io::{Seek, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&built)
            .unwrap();
        f.seek(std::io::SeekFrom::Start(at as u64)).unwrap();
        f.write_all(&[bytes[at] ^ 0xff]).unwrap();
    }
    let (r, _) = run_ok(slim_on(&one, &[]));
    assert_eq!(r["images"][0]["digest"].as_str().unwrap(), d1);
}

#[test]
fn user_rustflags_and_rustc_wrapper_are_honoured_and_strip_keeps_the_section() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("shared/repro-shared");
    copy_dir(&slim::repo().join("tests/fixtures/repro-shared"), &shared);
    let m = machine(&tmp.path().join("m"), &shared);
    let log = m.root.join("wrapper.log");
    let wrapper = m.bin.join("log-rustc");
    script(
        &wrapper,
        &format!("echo \"$@\" >> {}\nexec \"$@\"", log.display()),
    );
    let mut c = slim_on(&m, &[]);
    c.env("RUSTFLAGS", "--cfg slim_user_flag")
        .env("RUSTC_WRAPPER", &wrapper)
        .env("CARGO_PROFILE_RELEASE_STRIP", "true");
    let (r, _) = run_ok(c);
    let (_, bin) = image_binary(&r, &tmp.path().join("x"));
    let said = run_binary(&bin);
    assert!(said.contains("user flag: true\n"), "{said}");
    let log = std::fs::read_to_string(&log).unwrap();
    let ours = log
        .lines()
        .find(|l| l.contains("--crate-name repro_paths"))
        .unwrap();
    // The user's wrapper got rustc, the user's flags, and ours.
    assert!(ours.contains("--cfg slim_user_flag"), "{ours}");
    assert!(ours.contains("--remap-path-prefix="), "{ours}");
    // cargo's probes reached it untouched.
    assert!(log.lines().any(|l| l.ends_with(" -vV")), "{log}");
    let probe = log
        .lines()
        .find(|l| l.contains("--crate-name ___"))
        .unwrap();
    assert!(!probe.contains("--remap-path-prefix"), "{probe}");
    assert_no_machine_paths(&bin, &[&m], &shared);
    assert!(has_dep_section(&bin), "strip = true removed .dep-v0");
    let sections = peers::stdout_of(Command::new("readelf").arg("-S").arg(&bin)).unwrap();
    assert!(!sections.contains(".symtab"), "not stripped: {sections}");
}

#[test]
fn arm64_cross_build_carries_the_section_and_no_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("shared/repro-shared");
    copy_dir(&slim::repo().join("tests/fixtures/repro-shared"), &shared);
    let m = machine(&tmp.path().join("m"), &shared);
    // rust-lld, a linker called directly (`-u SYMBOL`, no `-Wl,`), whether or not cargo-zigbuild
    // is installed (it is, in CI): a pure-Rust workspace never links with zig (see "C toolchain").
    let c = slim_on(&m, &["--platform", "linux/arm64"]);
    let (r, _) = run_ok(c);
    let (_, bin) = image_binary(&r, &tmp.path().join("x"));
    assert_eq!(cargo_slim_image::elf::inspect(&bin).unwrap().machine, 183);
    assert!(has_dep_section(&bin));
    assert_no_machine_paths(&bin, &[&m], &shared);
}

/// The remap list relies on this rustc rule: when several `--remap-path-prefix` match, the last
/// one given wins (not the longest).
#[test]
fn rustc_applies_the_last_matching_remap() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("main.rs");
    std::fs::write(&src, "fn main() { print!(\"{}\", file!()); }\n").unwrap();
    let a = tmp.path().join("a");
    let general = format!("--remap-path-prefix={}=/general", a.display());
    let specific = format!("--remap-path-prefix={}=/specific", dir.display());
    for (flags, want) in [
        ([&general, &specific], "/specific/main.rs"),
        ([&specific, &general], "/general/b/main.rs"),
    ] {
        let out = tmp.path().join("m");
        peers::run_ok(
            Command::new("rustc")
                .args(flags)
                .arg(&src)
                .arg("-o")
                .arg(&out),
        )
        .unwrap();
        assert_eq!(run_binary(&out), want);
    }
}
