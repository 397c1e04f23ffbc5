//! Probes of how the tool looks things up on this machine: its environment (a variable that is not
//! UTF-8) and `--binary` paths that are not regular files.

mod common;
use common::slim;
use std::os::unix::ffi::OsStrExt;

#[test]
fn an_environment_variable_that_is_not_utf8_is_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("app");
    std::fs::copy("/bin/sh", &bin).unwrap();
    let mut c = slim::cmd(&["--binary", bin.to_str().unwrap(), "--dry-run"]);
    c.env("SLIM_TEST_BYTES", std::ffi::OsStr::from_bytes(b"\xff"));
    let path = [b"/usr/bin:/bin:/opt/\xff/bin".as_slice()].concat();
    c.env("PATH", std::ffi::OsStr::from_bytes(&path));
    let out = slim::ok(c);
    assert!(out.contains("prebuilt"), "{out}");
}

#[test]
fn a_binary_that_is_a_directory_or_fifo_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for p in [dir.path().to_path_buf(), fifo, "/dev/zero".into()] {
        let err = slim::fails(slim::cmd(&["--binary", p.to_str().unwrap(), "--dry-run"]));
        assert!(
            err.contains(&format!("--binary {}: not a regular file", p.display())),
            "{err}"
        );
    }
    let missing = dir.path().join("missing");
    let err = slim::fails(slim::cmd(&["--binary", missing.to_str().unwrap()]));
    assert!(err.contains("no such file"), "{err}");
}
