//! Attacks on the sinks after their refactor behind one trait (src/sink, src/execute/outputs.rs),
//! through the real binary, as a careless user, an interrupted run, a failing registry and a
//! failing engine would: two images of one run aimed at one output; outputs in a directory the user
//! cannot write; `--load` with no engine, a wrong `SLIM_IMAGE_LOADER`, an engine that fails, stops
//! reading or hangs (SIGTERM); `--tarball -` or the result lines into a reader that exits early.
//! Whatever happens: no temp is left, nothing of the user's changes, the error names what failed,
//! and the exit code is the README's. The registry side is in tests/sink_attacks_push.rs.

mod common;

use common::outputs::{assert_no_litter, busy, signal, tree, tree_bytes};
use common::peers;
use common::slim::{self, fails, ok};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A workspace of packages, each `(package, image name)`, under `dir`; returns its Cargo.toml.
fn workspace(dir: &Path, members: &[(&str, &str)]) -> String {
    let list: Vec<String> = members.iter().map(|(p, _)| format!("\"{p}\"")).collect();
    let ws = format!(
        "[workspace]\nmembers = [{}]\nresolver = \"2\"\n",
        list.join(", ")
    );
    fs::write(dir.join("Cargo.toml"), ws).unwrap();
    for (pkg, name) in members {
        fs::create_dir_all(dir.join(pkg).join("src")).unwrap();
        fs::write(
            dir.join(pkg).join("Cargo.toml"),
            format!(
                "[package]\nname = \"{pkg}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
                 [package.metadata.slim-image]\nname = \"{name}\"\n"
            ),
        )
        .unwrap();
        fs::write(dir.join(pkg).join("src/main.rs"), "fn main() {}\n").unwrap();
    }
    dir.join("Cargo.toml").display().to_string()
}

/// Two packages with one image name, or names that map to one directory (`x/app`, `y/app` and
/// `x_app` give `x_app`, `y_app`, `x_app`), would write one layout (and its SBOM) twice, the second
/// silently replacing the first: refused before anything is built, naming both images.
#[test]
fn two_images_aimed_at_one_output_are_refused_before_anything_is_built() {
    let work = tempfile::tempdir().unwrap();
    let cases: [&[(&str, &str)]; 2] = [
        &[("aaa", "acme/app"), ("zzz", "acme/app")],
        &[("aaa", "x/app"), ("mmm", "y/app"), ("zzz", "x_app")],
    ];
    for (i, members) in cases.iter().enumerate() {
        let ws = work.path().join(format!("ws{i}"));
        fs::create_dir(&ws).unwrap();
        let manifest = workspace(&ws, members);
        let (out, target) = (ws.join("out"), ws.join("target"));
        let err = fails(slim::on(
            &manifest,
            target.to_str().unwrap(),
            &["--workspace", "-o", out.to_str().unwrap()],
        ));
        assert!(err.contains("would both be written to"), "{err}");
        let (first, last) = (members[0].1, members[members.len() - 1].1);
        assert!(err.contains(first) && err.contains(last), "{err}");
        assert!(!out.exists(), "{err}");
        assert!(
            !target.join("slim-image").exists(),
            "built before refusing: {err}"
        );
    }
}

/// A symlink whose target does not exist yet is followed by the write, so the plan-time rules
/// must see where it leads: `-o` or `--tarball` through a dangling link (or a dangling link to a
/// directory in the middle of the path) into the blob cache, or a `--tarball` link into the
/// layout, is refused before anything is built, and the cache and the layout keep exactly what
/// they had.
#[test]
fn dangling_symlinks_into_the_blob_cache_or_the_layout_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (target, out) = (w.join("target"), w.join("out"));
    ok(busy(&target, &["-o", out.to_str().unwrap()]));
    let cache = target.join("slim-image/.cache");
    let (cache_before, out_before) = (tree(&cache), tree(&out));
    let link = |name: &str, to: &Path| {
        let l = w.join(name);
        std::os::unix::fs::symlink(to, &l).unwrap();
        l.to_str().unwrap().to_string()
    };
    let into_blobs = link("l1", &cache.join("blobs/evil"));
    let into_cache = link("l2", &cache.join("evil.tar"));
    let dir_in_cache = format!("{}/x.tar", link("l3", &cache.join("newdir")));
    let into_layout = link("l4", Path::new("out/x.tar"));
    let o = out.to_str().unwrap();
    for (args, want) in [
        (vec!["-o", into_blobs.as_str()], "blob cache"),
        (
            vec!["-o", o, "--tarball", into_cache.as_str()],
            "blob cache",
        ),
        (
            vec!["-o", o, "--tarball", dir_in_cache.as_str()],
            "blob cache",
        ),
        (
            vec!["-o", o, "--tarball", into_layout.as_str()],
            "inside --output",
        ),
    ] {
        let err = fails(busy(&target, &args));
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(tree(&cache), cache_before, "{args:?}: {err}");
        assert_eq!(tree(&out), out_before, "{args:?}: {err}");
    }
    assert_no_litter(w);
}

/// An output over what the same run reads: the base layout as `-o` (or `-o` inside it), the base
/// archive or the `--binary` file as `--tarball`, the signing key as `--tarball` or
/// `--image-refs`. The input would be replaced (and the next run build on its own output): refused
/// before anything is built, naming both, and the input keeps its bytes.
#[test]
fn an_output_over_an_input_of_the_same_run_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let p = |n: &str| w.join(n).to_str().unwrap().to_string();
    let (dir, sub, o, tar, key, bb) = (
        p("base"),
        p("base/sub"),
        p("o"),
        p("base.tar"),
        p("key.pem"),
        p("bb"),
    );
    ok(busy(&target, &["-o", &dir, "--tarball", &tar]));
    fs::copy(common::outputs::BUSYBOX, &bb).unwrap();
    fs::write(&key, "not read: refused first\n").unwrap();
    let (base, archive) = (format!("oci:{dir}"), format!("oci-archive:{tar}"));
    let signed = [
        "--sign-key",
        key.as_str(),
        "--push",
        "127.0.0.1:9/x/app:1",
        "-o",
        o.as_str(),
    ];
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec!["--base", &base, "-o", &dir],
            "would replace the base image",
            &dir,
        ),
        (
            vec!["--base", &base, "-o", &sub],
            "inside the base image",
            &dir,
        ),
        (
            vec!["--base", &archive, "-o", &o, "--tarball", &tar],
            "--tarball",
            &tar,
        ),
        (
            [&signed[..], &["--tarball", &key]].concat(),
            "signing key",
            &key,
        ),
        (
            [&signed[..], &["--image-refs", &key]].concat(),
            "signing key",
            &key,
        ),
    ];
    let before = tree_bytes(w);
    for (args, want, input) in cases {
        let err = fails(busy(&target, &args));
        assert!(err.contains(want) && err.contains(input), "{args:?}: {err}");
        assert_eq!(tree_bytes(w), before, "{args:?}: {err}");
    }
    // --binary F --tarball F (the binary given by its own path, not busy's).
    let mut c = slim::cmd(&["--binary", &bb, "--target-dir", &p("target")]);
    c.args(["-o", &o, "--tarball", &bb]);
    let err = fails(c);
    assert!(
        err.contains("--binary") && err.contains("--tarball"),
        "{err}"
    );
    assert_eq!(tree_bytes(w), before, "{err}");
}

/// `c` run in a mount namespace of its own after `sh -c setup` (which mounts what the test needs
/// there); None (after a loud SKIP) where this process may not make one (no CAP_SYS_ADMIN).
fn in_mount_namespace(c: &Command, setup: &str, test: &str) -> Option<Command> {
    let can = Command::new("unshare").args(["-m", "true"]).status();
    if !can.is_ok_and(|s| s.success()) {
        eprintln!("SKIP: {test}: `unshare -m` is not allowed here (needs CAP_SYS_ADMIN)");
        return None;
    }
    let mut u = Command::new("unshare");
    u.args(["-m", "sh", "-ec", &format!("{setup}\nexec \"$@\""), "sh"]);
    u.arg(c.get_program())
        .args(c.get_args())
        .stdin(Stdio::null());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => u.env(k, v),
            None => u.env_remove(k),
        };
    }
    Some(u)
}

/// `-o` at a mount point (a tmpfs, or a bind mount of a directory on the same file system, as
/// `docker run -v $PWD/out:/out` makes) and `--tarball` at a file bind-mounted on its own cannot
/// be renamed over (EBUSY): refused before anything is built, saying to write inside it, and the
/// mounted directory or file keeps what it had. Inside the mount is fine.
#[test]
fn outputs_at_a_mount_point_are_refused_before_building() {
    let test = "sink_attacks::outputs_at_a_mount_point_are_refused_before_building";
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let p = |n: &str| w.join(n).to_str().unwrap().to_string();
    for d in ["tmpfs", "bound", "real"] {
        fs::create_dir(w.join(d)).unwrap();
    }
    fs::write(w.join("app.tar"), "mine\n").unwrap();
    fs::write(w.join("bound.tar"), "").unwrap();
    let setup = format!(
        "mount -t tmpfs tmpfs {tmpfs}\nmount --bind {real} {bound}\nmount --bind {tar} {btar}",
        tmpfs = p("tmpfs"),
        real = p("real"),
        bound = p("bound"),
        tar = p("app.tar"),
        btar = p("bound.tar")
    );
    let before = tree_bytes(w);
    for (args, at) in [
        (vec!["-o".into(), p("tmpfs")], p("tmpfs")),
        (vec!["-o".into(), p("bound")], p("bound")),
        (
            vec!["-o".into(), p("out"), "--tarball".into(), p("bound.tar")],
            p("bound.tar"),
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let Some(c) = in_mount_namespace(&busy(&target, &args), &setup, test) else {
            return;
        };
        let err = fails(c);
        assert!(err.contains(&at) && err.contains("mount point"), "{err}");
        assert!(
            !target.join("slim-image").exists(),
            "built before refusing: {err}"
        );
        assert_eq!(tree_bytes(w), before, "{err}");
    }
    let inside = format!("{}/image", p("bound"));
    let c = in_mount_namespace(&busy(&target, &["-o", &inside]), &setup, test).unwrap();
    ok(c);
    assert!(w.join("real/image/oci-layout").is_file());
    assert_eq!(fs::read_to_string(w.join("app.tar")).unwrap(), "mine\n");
    assert_no_litter(w);
}

/// `c` as a user who cannot write `ro`: as root, nobody (65534) through setpriv, with `w` (the
/// test's directory) theirs and `ro` root's; otherwise the caller, with `ro` made read-only.
/// None (after a loud SKIP) when root has no setpriv.
fn as_user_who_cannot_write(c: Command, w: &Path, ro: &Path, test: &str) -> Option<Command> {
    fs::create_dir_all(ro).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        fs::set_permissions(ro, fs::Permissions::from_mode(0o555)).unwrap();
        return Some(c);
    }
    if !peers::check_tools(test, &["setpriv"]) {
        return None;
    }
    assert!(Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(w)
        .status()
        .unwrap()
        .success());
    std::os::unix::fs::chown(ro, Some(0), Some(0)).unwrap();
    fs::set_permissions(ro, fs::Permissions::from_mode(0o755)).unwrap();
    let mut s = Command::new("setpriv");
    s.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    s.arg(c.get_program()).args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => s.env(k, v),
            None => s.env_remove(k),
        };
    }
    s.env("HOME", w)
        .env("SLIM_IMAGE_CACHE_DIR", w.join("user-cache"));
    s.stdin(Stdio::null());
    Some(s)
}

/// `-o`, `--tarball` and `--image-refs` in a directory the user cannot write: refused before
/// anything is built, naming the path and the directory and saying what to do, so a run never
/// builds and then fails on its first write, nor leaves the layout written and the tarball missing.
#[test]
fn outputs_in_a_directory_the_user_cannot_write_are_refused_before_building() {
    let test =
        "sink_attacks::outputs_in_a_directory_the_user_cannot_write_are_refused_before_building";
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (target, out, ro) = (w.join("target"), w.join("out"), w.join("ro"));
    let (ro_out, ro_tar, refs) = (ro.join("out"), ro.join("x.tar"), ro.join("refs.txt"));
    let runs: [(&str, Vec<&str>); 3] = [
        ("--output", vec!["-o", ro_out.to_str().unwrap()]),
        (
            "--tarball",
            vec![
                "-o",
                out.to_str().unwrap(),
                "--tarball",
                ro_tar.to_str().unwrap(),
            ],
        ),
        (
            "--image-refs",
            vec![
                "-o",
                out.to_str().unwrap(),
                "--push",
                "127.0.0.1:9/x/app:1",
                "--image-refs",
                refs.to_str().unwrap(),
            ],
        ),
    ];
    for (flag, args) in runs {
        let Some(c) = as_user_who_cannot_write(busy(&target, &args), w, &ro, test) else {
            return;
        };
        let err = fails(c);
        assert!(
            err.contains(flag) && err.contains("cannot write in"),
            "{err}"
        );
        assert!(err.contains(ro.to_str().unwrap()), "{err}");
        assert!(
            !out.exists(),
            "the layout was written before the refusal: {err}"
        );
        assert!(
            !target.join("slim-image").exists(),
            "built before refusing: {err}"
        );
        assert_eq!(fs::read_dir(&ro).unwrap().count(), 0, "{err}");
    }
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
}

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
/// SIGTERM): each fails the run naming the engine (143 for the signal), after the layout and the
/// tarball were committed whole (local sinks in the README's order), and leaves no temp. An engine
/// that reads it all gets a complete archive of the format it reads.
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
    // Engines that read everything: podman gets an oci-archive, docker a docker-archive.
    let readers = engines(
        &w.join("c"),
        &[
            ("podman", "/bin/cat > \"$0.tar\""),
            ("docker", "/bin/cat > \"$0.tar\""),
        ],
    );
    for (engine, entry) in [("podman", "index.json"), ("docker", "manifest.json")] {
        let got = ok(load_cmd(&target, &out, &readers, Some(engine)));
        assert!(got.contains("busybox@sha256:"), "{got}");
        let names = peers::strict_tar_check(&readers.join(format!("{engine}.tar"))).unwrap();
        assert!(names.iter().any(|e| e.name == entry), "{engine}: {names:?}");
    }
    // A hanging engine: SIGTERM exits 143 with no temp; the outputs already committed stay whole.
    let hangs = engines(
        &w.join("d"),
        &[("podman", "echo $$ > \"$0.pid\"\nexec /bin/sleep 300")],
    );
    let pid_file = hangs.join("podman.pid");
    let mut c = load_cmd(&target, &out, &hangs, None);
    c.arg("--label")
        .arg("run=hang")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let t = Instant::now();
    while !fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n')) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before loading"
        );
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the engine never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(child.id(), libc::SIGTERM);
    let code = child.wait().unwrap().code();
    let engine: u32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    signal(engine, libc::SIGKILL);
    assert_eq!(code, Some(143));
    assert!(fs::read_to_string(out.join("index.json")).is_ok());
    assert_no_litter(w);
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
