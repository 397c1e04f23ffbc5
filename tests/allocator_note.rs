//! Issue 16, "What scratch images lack": the note on musl's malloc for a multi-threaded binary
//! (`allocator-check`), from the symbols of real musl builds: tests/fixtures/tz-local's `threads`
//! binary starts a thread, its `tz-local` binary does not, and tests/fixtures/alloc-mimalloc is the
//! `threads` program on mimalloc (C code, built with musl-gcc).

mod common;

use common::peers::require;
use common::slim;
use common::toolchain::build_tz_local as build;
use common::toolchain::{fixture, work};

/// The note's first words, for binary `name`.
fn note_for(name: &str) -> String {
    format!("note: {name} is multi-threaded and allocates with musl's malloc")
}

#[test]
fn a_multi_threaded_binary_on_musl_malloc_gets_the_allocator_note() {
    let w = work();
    let t = slim::shared_target();
    let o = build("threads", &t, &w.path().join("threads"), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&note_for("threads")), "{err}");
    assert!(err.contains("mimalloc = \"0.1\""), "{err}");
    assert!(
        err.contains("#[global_allocator] static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;"),
        "{err}"
    );
    assert!(err.contains("allocator-check = false"), "{err}");
    // Single-threaded: no note.
    let o = build("tz-local", &t, &w.path().join("single"), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("multi-threaded"), "{err}");
    // `-q` keeps it quiet like every note.
    let o = build("threads", &t, &w.path().join("quiet"), &["-q"]);
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn allocator_check_false_silences_the_note() {
    let w = work();
    let dir = w.path().join("pkg");
    // The `threads` program, with the key.
    let manifest = slim::package_with_meta(&dir, "allocator-check = false");
    std::fs::copy(
        slim::repo().join("tests/fixtures/tz-local/src/bin/threads.rs"),
        dir.join("src/main.rs"),
    )
    .unwrap();
    let out = w.path().join("out");
    let mut c = slim::cmd(&[
        "--manifest-path",
        &manifest,
        "--target-dir",
        w.path().join("t").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    let o = slim::run(&mut c);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("multi-threaded"), "{err}");
    // The same program without the key gets it (the check above can fail).
    std::fs::write(
        dir.join("Cargo.toml"),
        std::fs::read_to_string(dir.join("Cargo.toml"))
            .unwrap()
            .replace("allocator-check = false", ""),
    )
    .unwrap();
    let o = slim::run(&mut c);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains(&note_for("bad")), "{err}");
}

#[test]
fn a_multi_threaded_binary_on_mimalloc_gets_no_note() {
    // mimalloc is C: the musl C toolchain builds it (musl-gcc here; zig would do too).
    require!("musl-gcc");
    let w = work();
    let out = w.path().join("mi");
    let o = slim::run(&mut slim::on(
        &fixture("alloc-mimalloc"),
        slim::shared_target().to_str().unwrap(),
        &["--output", out.to_str().unwrap(), "-v"],
    ));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("multi-threaded"), "{err}");
    assert!(
        err.contains("allocator check of alloc-mimalloc: it uses mimalloc"),
        "{err}"
    );
}
