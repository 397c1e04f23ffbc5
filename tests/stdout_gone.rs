//! A reader of stdout that is gone before the results come (`cargo slim-image index ... | true`):
//! every subcommand, like the build (`tests/sink_attacks_engine.rs`), fails (exit 1; `verify` 2) with an
//! error that says it could not write the results and what it had done, never a panic (exit 101,
//! "a bug"). Those runs are dry runs or print only: nothing is built, read or pushed. And a
//! reader of stderr that is gone (`... 2>&1 | head -1`) never turns a run into a panic either: the
//! notes, errors, cargo's and the engine's (`--load`) own lines and (with `--tarball -`) result lines
//! it would have read are dropped.
//! `init-k8s -o FILE` (the result as a file) whose write fails leaves no FILE.
//! A tarball into the pipe stderr goes to (`--tarball - 2>&1 | ...`) is refused: notes would go into it.

mod common;

use common::slim::{self, cmd};
use std::process::Stdio;

/// Run `args` with stdout a pipe whose read end is closed before the run starts writing; its
/// exit code and stderr.
fn with_stdout_gone(args: &[&str]) -> (Option<i32>, String) {
    let mut c = cmd(args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn every_subcommand_fails_cleanly_when_its_stdout_reader_is_gone() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let manifest = slim::package_with_meta(&w.join("pkg"), "");
    let target = w.join("target").display().to_string();
    let yaml = w.join("k8s.yaml");
    std::fs::write(&yaml, "image: slim-image://bad\n").unwrap();
    let yaml = yaml.display().to_string();
    // A dry run does not read IMAGE, but the directory must be there.
    std::fs::create_dir(w.join("layout")).unwrap();
    let layout = format!("oci:{}", w.join("layout").display());
    let debug_dir = w.join("debug").display().to_string();
    let m = manifest.as_str();
    let t = target.as_str();
    // (arguments, what the error says was done, the exit code: verify's is 2 for every failure
    // but a mismatch, see README "verify")
    let cases: Vec<(Vec<&str>, &str, i32)> = vec![
        (
            vec![
                "--dry-run",
                "index",
                "--push",
                "127.0.0.1:9/x/multi:1",
                "127.0.0.1:9/x/a:1",
            ],
            "nothing was read or pushed",
            1,
        ),
        (
            vec![
                "resolve",
                "--manifest-path",
                m,
                "--target-dir",
                t,
                "--dry-run",
                "--repo",
                "127.0.0.1:9/acme",
                "-f",
                &yaml,
            ],
            "nothing was built or pushed",
            1,
        ),
        (
            vec!["init-k8s", "--manifest-path", m],
            "nothing was written",
            1,
        ),
        (
            vec!["init-k8s", "--manifest-path", m, "--dry-run"],
            "nothing was written",
            1,
        ),
        (
            vec![
                "verify",
                &layout,
                "--manifest-path",
                m,
                "--target-dir",
                t,
                "--dry-run",
            ],
            "nothing was read or built",
            2,
        ),
        (
            vec!["debuginfo", &layout, "-o", &debug_dir, "--dry-run"],
            "nothing was read or written",
            1,
        ),
    ];
    for (args, done, want) in &cases {
        let (code, err) = with_stdout_gone(args);
        let what = args.join(" ");
        assert_eq!(code, Some(*want), "{what}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("a bug"),
            "{what}: {err}"
        );
        assert!(
            err.contains("writing the results to stdout") && err.contains(done),
            "{what}: {err}"
        );
    }
    assert!(
        !w.join("debug").exists(),
        "debuginfo --dry-run wrote its DIR"
    );
}

/// Run `args` with stdout thrown away and stderr a pipe whose read end is closed first; its exit
/// code.
fn with_stderr_gone(args: &[&str]) -> Option<i32> {
    let mut c = cmd(args);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stderr.take());
    child.wait().unwrap().code()
}

#[test]
fn a_run_whose_stderr_reader_is_gone_is_no_panic() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (out, target) = (w.join("out"), w.join("target"));
    let (o, t) = (out.to_str().unwrap(), target.to_str().unwrap());
    // With `--tarball -` the result lines go to stderr: the last thing the run writes.
    let ok = [
        "--binary",
        "/bin/busybox",
        "--target-dir",
        t,
        "-o",
        o,
        "--tarball",
        "-",
    ];
    assert_eq!(with_stderr_gone(&ok), Some(0));
    assert!(out.join("oci-layout").is_file());
    // An error (printed on stderr) is still exit 1.
    let bad = [
        "--binary",
        "/nonexistent/app",
        "--target-dir",
        t,
        "--dry-run",
    ];
    assert_eq!(with_stderr_gone(&bad), Some(1));
    // clap's own usage error (exit 2), with a PEM key in it that goes through redaction first.
    let usage = ["--sign-key", "-----BEGIN PRIVATE KEY-----", "--bogus"];
    assert_eq!(with_stderr_gone(&usage), Some(2));
}

/// A stdout that cannot take the results (`> /dev/full`: ENOSPC) is exit 1 with the cause, not a
/// panic, and not blamed on a reader that went away.
#[test]
fn a_full_stdout_is_an_error_that_names_the_cause() {
    let work = tempfile::tempdir().unwrap();
    let t = work.path().join("target");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut c = cmd(&[
        "--binary",
        "/bin/busybox",
        "--target-dir",
        t.to_str().unwrap(),
        "--dry-run",
    ]);
    c.stdout(full).stderr(Stdio::piped());
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("writing the results to stdout: stdout did not take them")
            && err.contains("No space left on device")
            && !err.contains("exited before"),
        "{err}"
    );
}

/// `c` (program, arguments and environment) run by `sh -c script` as `"$@"`, stdin empty.
fn under_sh(script: &str, c: &std::process::Command) -> std::process::Command {
    let mut sh = std::process::Command::new("sh");
    sh.args(["-c", script, "sh"])
        .arg(c.get_program())
        .args(c.get_args())
        .stdin(Stdio::null());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh
}

/// `init-k8s -o FILE` whose write fails midway (here a file size limit, `ulimit -f`: EFBIG, as a
/// full disk gives ENOSPC) leaves no FILE: no half manifest that the next run refuses to replace
/// ("exists") and `kubectl apply` reads cut, and no temp beside it. A run without the limit then
/// writes it whole.
#[test]
fn init_k8s_output_cut_by_a_failed_write_is_not_left_behind() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let manifest = slim::package_with_meta(&w.join("pkg"), "");
    let out_dir = w.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let file = out_dir.join("k8s.yaml");
    let args = [
        "init-k8s",
        "--manifest-path",
        &manifest,
        "-o",
        file.to_str().unwrap(),
    ];
    // The binary under `sh`, with SIGXFSZ ignored (a write past the limit fails instead of killing
    // the process) and files limited to 512 bytes (dash's `ulimit -f` counts 512-byte blocks); the
    // starter manifest is larger.
    let o = under_sh("trap '' XFSZ; ulimit -f 1; exec \"$@\"", &cmd(&args))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("File too large"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}; {err}");
    let o = cmd(&args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let whole = cmd(&["init-k8s", "--manifest-path", &manifest])
        .output()
        .unwrap()
        .stdout;
    assert!(whole.len() > 1024);
    assert_eq!(std::fs::read(&file).unwrap(), whole);
}

/// `--tarball - 2>&1 | podman load` (or `--tarball /dev/stderr` into a pipe): stderr is the pipe the
/// tarball goes into, so the progress lines would be mixed into it (a corrupt tarball, exit 0).
/// Refused before anything is built.
#[test]
fn a_tarball_into_the_pipe_stderr_goes_to_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (out, target) = (w.join("out"), w.join("target"));
    for (tarball, redirect) in [("-", "2>&1"), ("/dev/stderr", "2>&1 >/dev/null")] {
        let c = cmd(&[
            "--binary",
            "/bin/busybox",
            "--target-dir",
            target.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--tarball",
            tarball,
        ]);
        let o = under_sh(&format!("exec \"$@\" {redirect}"), &c)
            .stderr(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{tarball}: {text}");
        assert!(
            text.starts_with("error: --tarball") && text.contains("mixed into the tarball"),
            "{tarball}: {text}"
        );
        assert!(!out.exists(), "{tarball}: the layout was written");
    }
}

/// A build that runs cargo, with stderr's reader gone: cargo's own lines ("Compiling", "Finished")
/// are dropped like ours, and the build succeeds. Before, cargo wrote into the dead pipe itself,
/// was killed by SIGPIPE and the run failed (exit 1).
#[test]
fn a_cargo_build_whose_stderr_reader_is_gone_succeeds() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let manifest = slim::package_with_meta(&w.join("pkg"), "");
    let (out, target) = (w.join("out"), w.join("target"));
    let args = [
        "--manifest-path",
        &manifest,
        "--target-dir",
        target.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    assert_eq!(with_stderr_gone(&args), Some(0));
    assert!(out.join("oci-layout").is_file());
}

/// `--load` with stderr's reader gone: the engine's own lines (`Loaded image: ...` on its stdout,
/// notes on its stderr, both meant for our stderr) are dropped like ours, and the load succeeds.
/// Before, the engine wrote into the dead pipe itself, died of SIGPIPE and the run failed (exit 1).
#[test]
fn a_load_whose_stderr_reader_is_gone_succeeds() {
    use std::os::unix::fs::PermissionsExt;
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let bin = w.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let podman = bin.join("podman");
    let script = "#!/bin/sh\ncat >/dev/null\necho 'Loaded image: x'\necho 'a note' >&2\n";
    std::fs::write(&podman, script).unwrap();
    std::fs::set_permissions(&podman, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (out, target) = (w.join("out"), w.join("target"));
    let mut c = cmd(&[
        "--binary",
        "/bin/busybox",
        "--target-dir",
        target.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--load",
    ]);
    c.env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("SLIM_IMAGE_LOADER", "podman")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(out.join("oci-layout").is_file());
}

/// A missing Rust target installed by `rustup target add` with stderr's reader gone: rustup's
/// lines (its stdout and stderr, both meant for our stderr) are dropped like ours and the build
/// goes on. Before, rustup wrote into the dead pipe itself, died of SIGPIPE, and the run failed as
/// if the install had. A fake `rustc` says the target is missing (its libdir does not exist) and
/// runs the real one for everything else; a fake `rustup` prints, then leaves a mark.
#[test]
fn a_rustup_install_whose_stderr_reader_is_gone_goes_on() {
    use std::os::unix::fs::PermissionsExt;
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let real = std::process::Command::new("sh")
        .args(["-c", "command -v rustc"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap().trim().to_string();
    assert!(!real.is_empty(), "no rustc on PATH");
    let bin = w.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let mark = w.join("rustup-ran");
    let scripts = [
        (
            "rustc",
            format!(
                "#!/bin/sh\ncase \"$*\" in *target-libdir*) echo /nonexistent/lib; exit 0;; esac\n\
                 exec {real} \"$@\"\n"
            ),
        ),
        (
            "rustup",
            format!(
                "#!/bin/sh\necho 'info: downloading component'\necho 'info: installing' >&2\n\
                 echo \"$*\" >> {}\n",
                mark.display()
            ),
        ),
    ];
    for (name, text) in &scripts {
        let p = bin.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let manifest = slim::package_with_meta(&w.join("pkg"), "");
    let (out, target) = (w.join("out"), w.join("target"));
    let mut c = cmd(&[
        "--manifest-path",
        &manifest,
        "--target-dir",
        target.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    c.env("PATH", path)
        .env("RUSTC", bin.join("rustc"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stderr.take());
    let code = child.wait().unwrap().code();
    let ran = std::fs::read_to_string(&mark).unwrap_or_default();
    assert!(
        ran.contains("target add x86_64-unknown-linux-musl"),
        "rustup did not get to the end: {ran:?}"
    );
    assert_eq!(code, Some(0));
    assert!(out.join("oci-layout").is_file());
}
