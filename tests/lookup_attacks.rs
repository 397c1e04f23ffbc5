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

/// A full disk while the shared layers are made on their threads (a 100 KiB tmpfs as --target-dir,
/// in a mount namespace of its own; an app layer of a few KiB fits, the base files do not): the
/// error names the shared layer, the cache and what to do, and no temp is left in the cache.
#[test]
fn a_full_disk_under_the_shared_layers_is_an_error_naming_them() {
    let ns = std::process::Command::new("unshare")
        .args(["-m", "true"])
        .status();
    if !ns.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no mount namespace here (needs root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("small");
    let cc = std::process::Command::new("musl-gcc")
        .args(["-static", "-Os", "-s", "-x", "c", "-", "-o"])
        .arg(&bin)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(b"int main(){return 0;}")?;
            c.wait()
        })
        .unwrap();
    assert!(cc.success());
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=100k tmpfs '{m}' && '{exe}' slim-image --binary '{b}' --timezones \
         --target-dir '{m}/t'; echo \"rc=$?\" >&2; ls -A '{m}/t/slim-image/.cache/blobs/tmp' >&2",
        m = mnt.display(),
        exe = env!("CARGO_BIN_EXE_cargo-slim-image"),
        b = bin.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .env("SLIM_IMAGE_CACHE_DIR", dir.path().join("user-cache"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rc=1"), "{err}");
    assert!(
        err.contains("error: making the shared base-files layer in the blob cache")
            || err.contains("error: making the shared zoneinfo layer in the blob cache"),
        "{err}"
    );
    assert!(err.contains("give another --target-dir"), "{err}");
    assert!(err.trim_end().ends_with("rc=1"), "a temp is left: {err}");
}
