//! Debug info out of the image (issue 14), on the fixture of tests/common/debuginfo.rs (hello with
//! `debug = true`), built by the real binary. The binary in the image has no DWARF but its symbol
//! table, `.dep-v0` and every other section; the debug file beside the layout, with the stripped
//! binary, resolves `main` to its file and line (addr2line, gdb); `keep` puts the built file in the
//! image as it is; `drop`; layers and debug files are reproducible; the stripped image runs (podman).
//! Fetching it back (`debuginfo IMAGE -o DIR`, the pushed referrer) is tests/debuginfo_fetch.rs.

mod common;

use common::debuginfo::*;
use common::peers::{self, require};
use common::slim::{self, cmd, fails};
use object::Object;
use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn the_image_binary_has_no_dwarf_but_its_symbols_dep_data_and_every_other_section() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("hello");
    let report = build(&layout, &[]);
    let (_, stripped) = binary_in(&layout);
    let built = built_file(&fixture().1);
    let before = sections(&built);
    assert!(
        before.iter().any(|(n, f, _)| is_dwarf(n, *f)),
        "the fixture's binary has DWARF to begin with"
    );
    let after = sections(&stripped);
    assert!(
        !after.iter().any(|(n, f, _)| is_dwarf(n, *f)),
        "DWARF left in the image: {:?}",
        after.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    for want in [".symtab", ".strtab", ".dep-v0", ".gnu_debuglink", ".text"] {
        assert!(after.iter().any(|s| s.0 == want), "{want} missing");
    }
    // Every section that is not DWARF (nor the tables the writer rebuilds) is byte for byte the
    // built one's.
    for (name, flags, data) in &before {
        if is_dwarf(name, *flags) || [".symtab", ".strtab", ".shstrtab"].contains(&name.as_str()) {
            continue;
        }
        let same = after.iter().find(|s| &s.0 == name);
        assert!(same.is_some_and(|s| &s.2 == data), "section {name} changed");
    }
    // The program headers (what the kernel loads) are the built file's.
    let segments = |b: &[u8]| {
        use object::ObjectSegment;
        let f = object::File::parse(b).unwrap();
        f.segments()
            .map(|s| (s.address(), s.size(), s.file_range()))
            .collect::<Vec<_>>()
    };
    assert_eq!(segments(&built), segments(&stripped));
    // The symbols are the built file's.
    let names = |b: &[u8]| {
        use object::ObjectSymbol;
        let f = object::File::parse(b).unwrap();
        let mut v: Vec<(String, u64)> = f
            .symbols()
            .map(|s| (s.name().unwrap_or("").to_string(), s.address()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&built), names(&stripped));
    // The report says what left the image.
    let d = &report["images"][0]["manifests"][0]["debuginfo"][0];
    assert_eq!(d["binary"], "hello");
    assert_eq!(d["mode"], "split");
    assert_eq!(
        d["removed"].as_u64().unwrap(),
        (built.len() - stripped.len()) as u64
    );
    assert!(d["removed"].as_u64().unwrap() > 100_000, "{d}");
    // rust-audit-info reads the dependency list of the stripped binary.
    if peers::have("rust-audit-info") {
        let bin = work.path().join("hello-bin");
        std::fs::write(&bin, &stripped).unwrap();
        let out = peers::stdout_of(Command::new("rust-audit-info").arg(&bin)).unwrap();
        assert!(out.contains("\"name\":\"hello\""), "{out}");
    } else {
        eprintln!("SKIP rust-audit-info part: rust-audit-info is not installed (scripts/setup.sh)");
    }
}

#[test]
fn the_debug_file_with_the_stripped_binary_resolves_main_to_its_file_and_line() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("hello");
    let report = build(&layout, &[]);
    let file = &report["images"][0]["debuginfo"][0];
    assert_eq!(file["name"], "hello.debug");
    let beside = PathBuf::from(file["path"].as_str().unwrap());
    assert_eq!(beside, work.path().join("hello.hello.debug"));
    let debug = std::fs::read(&beside).unwrap();
    assert_eq!(debug.len() as u64, file["size"].as_u64().unwrap());
    // The stripped binary's debuglink names hello.debug with the debug file's CRC32.
    let (_, stripped) = binary_in(&layout);
    let link = sections(&stripped)
        .into_iter()
        .find(|s| s.0 == ".gnu_debuglink")
        .unwrap()
        .2;
    assert_eq!(&link[..12], b"hello.debug\0");
    assert_eq!(
        u32::from_le_bytes(link[12..16].try_into().unwrap()),
        crc32fast::hash(&debug)
    );
    // As a user would: the binary and its debug file side by side.
    let dir = work.path().join("sym");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("hello"), &stripped).unwrap();
    std::fs::write(dir.join("hello.debug"), &debug).unwrap();
    require!("addr2line", "nm");
    let nm = peers::stdout_of(Command::new("nm").arg(dir.join("hello"))).unwrap();
    let addr = nm
        .lines()
        .find(|l| l.contains("5hello4main"))
        .and_then(|l| l.split_whitespace().next())
        .expect("main in the stripped binary's symbol table")
        .to_string();
    let line = peers::stdout_of(
        Command::new("addr2line")
            .arg("-e")
            .arg(dir.join("hello.debug"))
            .arg(format!("0x{addr}")),
    )
    .unwrap();
    assert!(line.trim().ends_with("src/main.rs:3"), "{line}");
    // addr2line on the stripped binary follows its .gnu_debuglink to hello.debug beside it...
    let via_link = |bin: &Path| {
        peers::stdout_of(
            Command::new("addr2line")
                .arg("-e")
                .arg(bin)
                .arg(format!("0x{addr}")),
        )
        .unwrap()
    };
    let linked = via_link(&dir.join("hello"));
    assert!(linked.trim().ends_with("src/main.rs:3"), "{linked}");
    // ...and without it the stripped binary has no line information.
    let alone = work.path().join("alone");
    std::fs::create_dir(&alone).unwrap();
    std::fs::write(alone.join("hello"), &stripped).unwrap();
    let none = via_link(&alone.join("hello"));
    assert!(!none.contains("main.rs:3"), "{none}");
    if peers::have("gdb") {
        let out = peers::stdout_of(
            Command::new("gdb")
                .args(["-batch", "-nx", "-ex", "info line hello::main"])
                .arg(dir.join("hello")),
        )
        .unwrap();
        assert!(out.contains("Line 3 of \"src/main.rs\""), "{out}");
    } else {
        eprintln!("SKIP gdb part: gdb is not installed (scripts/setup.sh)");
    }
}

#[test]
fn keep_puts_the_built_file_in_the_image_and_the_flag_overrides_metadata() {
    let work = tempfile::tempdir().unwrap();
    let keep = work.path().join("keep");
    let report = build(&keep, &["--debuginfo", "keep"]);
    let (keep_layer, in_image) = binary_in(&keep);
    assert!(
        in_image == built_file(&fixture().1),
        "keep changed the binary's bytes"
    );
    assert_eq!(
        report["images"][0]["manifests"][0]["debuginfo"][0]["removed"],
        0
    );
    assert!(report["images"][0].get("debuginfo").is_none(), "{report}");
    assert!(!work.path().join("keep.hello.debug").exists());

    // The same from metadata; --debuginfo split over it takes DWARF out again.
    // Its own target dir: another workspace path is another build directory.
    let (manifest, _) = fixture();
    let target = &work.path().join("target");
    let dir = work.path().join("meta");
    copy_dir(manifest.parent().unwrap(), &dir);
    let toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!("{toml}\n[package.metadata.slim-image]\ndebuginfo = \"keep\"\n"),
    )
    .unwrap();
    let m = dir.join("Cargo.toml");
    build_of(&m, target, &work.path().join("k2"), &[]);
    assert_eq!(binary_in(&work.path().join("k2")).0, keep_layer);
    build_of(
        &m,
        target,
        &work.path().join("s2"),
        &["--debuginfo", "split"],
    );
    let (split_layer, _) = binary_in(&work.path().join("s2"));
    assert_ne!(split_layer, keep_layer);
    assert!(work.path().join("s2.hello.debug").exists());
}

#[test]
fn drop_leaves_no_debug_file_and_no_debuglink() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("hello");
    let report = build(&layout, &["--debuginfo", "drop"]);
    let (_, stripped) = binary_in(&layout);
    let s = sections(&stripped);
    assert!(!s.iter().any(|(n, f, _)| is_dwarf(n, *f)));
    assert!(!s.iter().any(|x| x.0 == ".gnu_debuglink"));
    assert!(s.iter().any(|x| x.0 == ".symtab"));
    assert!(report["images"][0].get("debuginfo").is_none(), "{report}");
    assert!(
        report["images"][0]["manifests"][0]["debuginfo"][0]["removed"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(!work.path().join("hello.hello.debug").exists());
}

#[test]
fn layers_and_debug_files_are_reproducible() {
    let work = tempfile::tempdir().unwrap();
    let a = build(&work.path().join("a"), &[]);
    let b = build(&work.path().join("b"), &[]);
    assert_eq!(a["images"][0]["digest"], b["images"][0]["digest"]);
    assert_eq!(
        std::fs::read(work.path().join("a.hello.debug")).unwrap(),
        std::fs::read(work.path().join("b.hello.debug")).unwrap()
    );
    assert_eq!(
        a["images"][0]["debuginfo"][0]["artifact_digest"],
        b["images"][0]["debuginfo"][0]["artifact_digest"]
    );
}

#[test]
fn a_binary_without_dwarf_goes_in_unchanged() {
    let work = tempfile::tempdir().unwrap();
    let manifest = slim::repo().join("tests/fixtures/hello/Cargo.toml");
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("debuginfo-plain-target");
    let report = build_of(&manifest, &target, &work.path().join("plain"), &[]);
    let (_, in_image) = binary_in(&work.path().join("plain"));
    let built = built_file(&target);
    assert!(!sections(&built).iter().any(|(n, f, _)| is_dwarf(n, *f)));
    assert!(in_image == built, "a binary without DWARF was rewritten");
    assert_eq!(
        report["images"][0]["manifests"][0]["debuginfo"][0]["removed"],
        0
    );
    assert!(report["images"][0].get("debuginfo").is_none(), "{report}");
}

#[test]
fn a_bad_debuginfo_value_names_the_key_and_the_values() {
    let work = tempfile::tempdir().unwrap();
    let m = slim::package_with_meta(work.path(), "debuginfo = \"strip\"");
    let err = fails(slim::on(
        &m,
        work.path().join("t").to_str().unwrap(),
        &["--dry-run"],
    ));
    assert!(
        err.contains("debuginfo") && err.contains("strip") && err.contains("\"keep\""),
        "{err}"
    );
    let out = slim::run(&mut cmd(&["--debuginfo", "strip", "--dry-run"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("split"));
}

#[test]
fn the_stripped_image_runs_and_the_tarball_carries_the_debug_file() {
    require!("podman");
    let work = tempfile::tempdir().unwrap();
    let tar = work.path().join("hello.tar");
    build(
        &work.path().join("hello"),
        &["--tarball", tar.to_str().unwrap()],
    );
    let list = peers::stdout_of(Command::new("tar").arg("tf").arg(&tar)).unwrap();
    assert!(list.lines().any(|l| l == "hello.hello.debug"), "{list}");
    let podman = peers::Podman::new().unwrap();
    podman.load(&tar).unwrap();
    let out = podman.run("hello:0.1.0", &[]);
    assert!(
        out.status.success(),
        "{}",
        peers::describe(&Command::new("podman"), &out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello from a slim image"
    );
}

#[test]
fn a_tarball_at_a_debug_file_path_is_refused_before_the_build() {
    let work = tempfile::tempdir().unwrap();
    let (manifest, target) = fixture();
    let layout = work.path().join("hello");
    let tar = work.path().join("hello.hello.debug");
    let err = fails(cmd(&[
        "--manifest-path",
        manifest.to_str().unwrap(),
        "--target-dir",
        target.to_str().unwrap(),
        "--bin",
        "hello",
        "-o",
        layout.to_str().unwrap(),
        "--tarball",
        tar.to_str().unwrap(),
    ]));
    assert!(err.contains("where the debug file of hello goes"), "{err}");
    assert!(!tar.exists() && !layout.exists());
}
