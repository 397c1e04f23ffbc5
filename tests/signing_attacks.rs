//! Attacks on the signing key's handling (issue 13), by a careless CI user: the PEM put where a
//! file name goes, a key "file" that is a FIFO, a directory or endless, and child processes (the
//! `--load` engine) that would inherit the key variables. Each fails fast, naming the file or the
//! variable, and no part of the key or its password reaches any output or child.

mod common;

use common::slim::{fails, on_hello_http};
use p256::pkcs8::EncodePrivateKey as _;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A P-256 key from a fixed scalar, as PKCS#8 PEM.
fn key_pem() -> String {
    let k = p256::ecdsa::SigningKey::from_bytes(&[9u8; 32].into()).unwrap();
    k.to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string()
}

/// A run that fails before building: `--push` to a port nothing listens on (never contacted).
fn push_cmd(extra: &[&str]) -> Command {
    let mut rest = vec!["--push", "127.0.0.1:9/attack/hello:1"];
    rest.extend_from_slice(extra);
    let mut c = on_hello_http(&rest);
    c.env_remove("SLIM_IMAGE_SIGNING_KEY")
        .env_remove("SLIM_IMAGE_SIGNING_KEY_FILE")
        .env_remove("COSIGN_PASSWORD");
    c
}

/// Run `c`, killing it (and failing) if it has not finished after a generous guard: a hang.
fn run_guarded(mut c: Command, what: &str) -> Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("{what}: cargo-slim-image hangs");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

fn no_key_in(text: &str, pem: &str) {
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!text.contains(line), "key material in the output:\n{text}");
    }
}

#[test]
fn a_pem_given_where_a_key_file_name_goes_is_never_printed() {
    let pem = key_pem();
    // The CI secret pasted into SLIM_IMAGE_SIGNING_KEY_FILE instead of SLIM_IMAGE_SIGNING_KEY.
    let mut c = push_cmd(&[]);
    c.env("SLIM_IMAGE_SIGNING_KEY_FILE", &pem);
    let err = fails(c);
    no_key_in(&err, &pem);
    assert!(
        err.contains("SLIM_IMAGE_SIGNING_KEY_FILE") && err.contains("SLIM_IMAGE_SIGNING_KEY"),
        "{err}"
    );
    // `--sign-key "$(cat key.pem)"`: clap takes a value starting with `-` for an argument, and
    // quotes it in its usage error (exit 2).
    let out = common::slim::run(&mut push_cmd(&["--sign-key", &pem]));
    assert_eq!(out.status.code(), Some(2));
    no_key_in(&String::from_utf8_lossy(&out.stderr), &pem);
    let err = fails(push_cmd(&[&format!("--sign-key={pem}")]));
    no_key_in(&err, &pem);
    assert!(err.contains("--sign-key"), "{err}");
    // The same with nothing pushed (the error that says "add --push" named the flag's value).
    let mut c = on_hello_http(&[&format!("--sign-key={pem}")]);
    c.env_remove("SLIM_IMAGE_SIGNING_KEY_FILE");
    let err = fails(c);
    no_key_in(&err, &pem);
}

#[test]
fn a_fifo_a_directory_and_an_endless_file_as_key_fail_fast_naming_it() {
    let work = tempfile::tempdir().unwrap();
    let fifo = work.path().join("key.fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let big = work.path().join("big.pem");
    // A valid key followed by junk past the bound: refused, not silently cut.
    std::fs::write(&big, format!("{}{}", key_pem(), "#".repeat(70 << 10))).unwrap();
    for (key, says) in [
        // No writer: read as empty at once (with one, `<(echo "$KEY")`, it is read).
        (fifo.to_str().unwrap(), "is empty"),
        (work.path().to_str().unwrap(), "is a directory"),
        ("/dev/zero", "larger than"),
        (big.to_str().unwrap(), "larger than"),
    ] {
        let out = run_guarded(push_cmd(&["--sign-key", key]), key);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{key}: {err}");
        assert!(err.contains(key) && err.contains(says), "{key}: {err}");
        assert!(!err.contains("Compiling"), "{key}: {err}");
    }
}

/// The `--load` engine (podman or docker, and what it starts) never gets the key variables, even in
/// a run that pushes nothing and so never reads them: a CI job sets them for every step.
#[test]
fn the_load_engine_never_sees_the_signing_key_or_its_password() {
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let dump = work.path().join("env.txt");
    let podman = bin.join("podman");
    std::fs::write(
        &podman,
        format!(
            "#!/bin/sh\ncat >/dev/null\nenv > '{}'\necho Loaded image: x\n",
            dump.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&podman, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = on_hello_http(&["--load"]);
    c.env_remove("SLIM_IMAGE_LOADER");
    c.env("PATH", path)
        .env(
            "SLIM_IMAGE_SIGNING_KEY",
            "-----BEGIN PRIVATE KEY-----\nLoadKeyLine5e21\n",
        )
        .env("SLIM_IMAGE_SIGNING_KEY_FILE", work.path().join("k.pem"))
        .env("COSIGN_PASSWORD", "Load-Pw-77ab");
    common::slim::ok(c);
    let env = std::fs::read_to_string(&dump).expect("the fake podman ran");
    for v in [
        "SLIM_IMAGE_SIGNING_KEY=",
        "SLIM_IMAGE_SIGNING_KEY_FILE=",
        "COSIGN_PASSWORD=",
        "LoadKeyLine5e21",
        "Load-Pw-77ab",
    ] {
        assert!(!env.contains(v), "the engine saw {v}:\n{env}");
    }
}

#[test]
fn a_dry_run_checks_the_signing_key_as_the_real_run_would() {
    // --sign-key with nothing pushed: refused, as without --dry-run.
    let mut c = on_hello_http(&["--dry-run", "--sign-key", "missing.pem"]);
    c.env_remove("SLIM_IMAGE_SIGNING_KEY_FILE");
    let err = fails(c);
    assert!(err.contains("add --push"), "{err}");
    // A key that cannot be read: named, as the release run would name it.
    let err = fails(push_cmd(&["--dry-run", "--sign-key", "missing.pem"]));
    assert!(err.contains("the signing key missing.pem"), "{err}");
    // A good key: the plan is printed.
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("key.pem");
    std::fs::write(&key, key_pem()).unwrap();
    common::slim::ok(push_cmd(&[
        "--dry-run",
        "--sign-key",
        key.to_str().unwrap(),
    ]));
}
