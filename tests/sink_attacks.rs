//! Attacks on the local outputs after the sink refactor (src/sink, src/execute/outputs.rs),
//! through the real binary, as a careless user would aim them: two images of one run at one
//! output; dangling symlinks into the blob cache or the layout; an output over an input of the
//! same run; an output at a mount point; outputs in a directory the user cannot write. Each is
//! refused before anything is built, naming the path and what to do, and nothing of the user's
//! changes. The engine and stdout side is in tests/sink_attacks_engine.rs, the registry side in
//! tests/sink_attacks_push.rs.

mod common;

use common::outputs::{assert_no_litter, busy, in_mount_namespace, tree, tree_bytes};
use common::peers;
use common::slim::{self, fails, ok};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

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
        let Some(c) = in_mount_namespace(&busy(&target, &args), &setup, "", test) else {
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
    let c = in_mount_namespace(&busy(&target, &["-o", &inside]), &setup, "", test).unwrap();
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
