//! Attacks on the `--load` sink and on stdout after the sink refactor (src/sink/load.rs,
//! src/sink/archive.rs, src/lib.rs), through the real binary: `--load` with no engine, a wrong
//! `SLIM_IMAGE_LOADER`, fake engines (scripts on PATH) that refuse the image, stop reading, read
//! it all or hang (then SIGTERM); `--tarball -` and the result lines into a reader that exits
//! early. The error names the engine or stdout, no temp is left, the outputs committed before
//! stay whole, and the exit code is the README's (1, 143), never a panic.

mod common;

use common::outputs::{assert_no_litter, busy, signal};
use common::peers;
use common::slim::{self, fails, ok};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A directory holding fake engines: each `(name, script body)` as an executable `/bin/sh` script.
fn engines(dir: &Path, scripts: &[(&str, &str)]) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    for (name, body) in scripts {
        let p = dir.join(name);
        fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir.to_path_buf()
}

/// `busy --load -o OUT` with PATH = `path` only and SLIM_IMAGE_LOADER as given.
fn load_cmd(target: &Path, out: &Path, path: &Path, loader: Option<&str>) -> Command {
    let mut c = busy(target, &["--load", "-o", out.to_str().unwrap()]);
    c.env("PATH", path);
    match loader {
        Some(l) => c.env("SLIM_IMAGE_LOADER", l),
        None => c.env_remove("SLIM_IMAGE_LOADER"),
    };
    c
}

/// `--load` that cannot work (no engine on PATH, SLIM_IMAGE_LOADER naming one that is missing or
/// one --load does not know) is refused before anything is built or written, naming the engine.
#[test]
fn load_without_its_engine_is_refused_before_anything_is_written() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (target, out) = (w.join("target"), w.join("out"));
    let only_podman = engines(&w.join("p"), &[("podman", "exit 0"), ("nerdctl", "exit 0")]);
    let empty = engines(&w.join("empty"), &[]);
    let cases = [
        (
            &empty,
            None,
            vec!["--load needs podman or docker", "--tarball"],
        ),
        (
            &only_podman,
            Some("docker"),
            vec!["SLIM_IMAGE_LOADER=docker", "docker is not on PATH"],
        ),
        (
            &only_podman,
            Some("nerdctl"),
            vec!["SLIM_IMAGE_LOADER=nerdctl", "podman or docker"],
        ),
    ];
    for (path, loader, want) in cases {
        let err = fails(load_cmd(&target, &out, path, loader));
        assert!(want.iter().all(|s| err.contains(s)), "{loader:?}: {err}");
        assert!(
            !out.exists(),
            "the layout was written before the refusal: {err}"
        );
        assert!(
            !target.join("slim-image").exists(),
            "built before refusing: {err}"
        );
    }
}

/// An engine that refuses the image, one that exits without reading it, and one that hangs (then
/// SIGINT or SIGTERM): each fails the run naming the engine (130 or 143 for a signal), after the
/// layout and the tarball were committed whole (local sinks in the README's order), and leaves no
/// temp. An engine that reads it all gets a complete archive of the format it reads.
#[test]
fn a_failing_or_hanging_engine_is_named_and_leaves_no_temp() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (target, out, tar) = (w.join("target"), w.join("out"), w.join("out.tar"));
    let refuses = engines(
        &w.join("a"),
        &[("podman", "echo \"fake podman refuses: $*\" >&2\nexit 3")],
    );
    let deaf = engines(&w.join("b"), &[("podman", "exit 0")]);
    for (path, want) in [
        (
            &refuses,
            vec![
                "fake podman refuses: load",
                "`podman load` failed",
                "exit status: 3",
            ],
        ),
        (&deaf, vec!["streaming the image into `podman load`"]),
    ] {
        let mut c = load_cmd(&target, &out, path, None);
        c.args(["--tarball", tar.to_str().unwrap()]);
        let err = fails(c);
        assert!(want.iter().all(|s| err.contains(s)), "{err}");
        assert!(out.join("oci-layout").is_file() && w.join("out.spdx.json").is_file());
        peers::strict_tar_check(&tar).unwrap();
        assert_no_litter(w);
    }
    // Engines that read everything: podman gets an oci-archive, docker a docker-archive; an empty
    // SLIM_IMAGE_LOADER (a CI variable not filled in) is unset: podman first.
    let readers = engines(
        &w.join("c"),
        &[
            ("podman", "/bin/cat > \"$0.tar\""),
            ("docker", "/bin/cat > \"$0.tar\""),
        ],
    );
    let cases = [
        ("podman", "podman", "index.json"),
        ("docker", "docker", "manifest.json"),
        ("", "podman", "index.json"),
    ];
    for (loader, engine, entry) in cases {
        let tar = readers.join(format!("{engine}.tar"));
        let _ = fs::remove_file(&tar);
        let got = ok(load_cmd(&target, &out, &readers, Some(loader)));
        assert!(got.contains("busybox@sha256:"), "{got}");
        let names = peers::strict_tar_check(&tar).unwrap();
        assert!(
            names.iter().any(|e| e.name == entry),
            "{loader:?}: {names:?}"
        );
    }
    // A hanging engine: SIGINT exits 130 and SIGTERM 143, with no temp; the outputs already
    // committed stay whole.
    let hangs = engines(
        &w.join("d"),
        &[("podman", "echo $$ > \"$0.pid\"\nexec /bin/sleep 300")],
    );
    let pid_file = hangs.join("podman.pid");
    for (sig, want) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let _ = fs::remove_file(&pid_file);
        let mut c = load_cmd(&target, &out, &hangs, None);
        c.args(["--label", &format!("run={sig}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        let t = Instant::now();
        while !fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n')) {
            assert!(child.try_wait().unwrap().is_none(), "ended before loading");
            assert!(t.elapsed() < Duration::from_secs(120), "no engine started");
            std::thread::sleep(Duration::from_millis(20));
        }
        signal(child.id(), sig);
        let code = child.wait().unwrap().code();
        let engine: u32 = fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        signal(engine, libc::SIGKILL);
        assert_eq!(code, Some(want), "signal {sig}");
        assert!(slim::index_json(&out)["manifests"][0]["digest"].is_string());
        assert_no_litter(w);
    }
}

/// `--tarball -` into a reader that stops after 100 bytes (EPIPE): the run fails (exit 1, no
/// panic) saying it was writing the tarball to stdout and that the pipe broke; the layout written
/// before it is whole and no temp is left.
#[test]
fn a_stdout_reader_that_exits_early_fails_the_run_cleanly() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let out = w.join("out");
    let mut c = busy(
        &w.join("target"),
        &["-o", out.to_str().unwrap(), "--tarball", "-"],
    );
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut head = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("writing the tarball to stdout") && err.contains("Broken pipe"),
        "{err}"
    );
    assert!(out.join("oci-layout").is_file() && w.join("out.spdx.json").is_file());
    assert_no_litter(w);
}

/// A reader of stdout gone before the result lines come (`cargo slim-image | true`): the run
/// fails (exit 1) saying it could not write the results and that the outputs were written (on a
/// dry run: that nothing was), not a panic (101, "a bug in cargo-slim-image").
#[test]
fn a_stdout_reader_gone_before_the_results_is_an_error_not_a_panic() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let out = w.join("out");
    for (extra, done) in [
        (Some("--dry-run"), "nothing was"),
        (None, "the outputs were written"),
    ] {
        let mut c = busy(&w.join("target"), &["-o", out.to_str().unwrap()]);
        c.args(extra).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(!err.contains("panicked") && !err.contains("a bug"), "{err}");
        assert!(
            err.contains("writing the results to stdout") && err.contains(done),
            "{err}"
        );
        assert_eq!(out.join("oci-layout").is_file(), extra.is_none(), "{err}");
    }
    assert_no_litter(w);
}
