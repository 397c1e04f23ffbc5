//! Outputs (issue 11, "Data loss and clobbered outputs"): nothing of the user's is lost, and one
//! place commits outputs. `-o` refuses a directory that is not a layout; `--tarball` writes into
//! FIFOs and devices, follows symlinks, and `-` is stdout; no lock file or temp is left behind, not
//! even by a run that died or was interrupted; the layout and its SBOM are one unit; several images
//! are all built and checked before anything is written or pushed.

mod common;

use common::outputs::{
    busy, hold_lock, layout_and_tarball, names_where, names_with, start_waiting,
};
use common::peers;
use common::slim::{self, fails, ok};
use std::fs;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Beyond Linux's largest pid_max (2^22): never a live process.
const DEAD_PID: &str = "2147483646";

/// Names in `dir` that are temps or lock files of the tool.
fn litter(dir: &Path) -> Vec<String> {
    names_where(dir, |n| {
        n.starts_with(".slim-image-") || n.ends_with(".slim-image-lock")
    })
}

/// `tar` passes the strict tar check and holds an `index.json`.
fn assert_tar_with_index(tar: &Path) {
    let entries = peers::strict_tar_check(tar).unwrap();
    assert!(
        entries.iter().any(|e| e.name == "index.json"),
        "{entries:?}"
    );
}

fn root_digest(layout: &Path) -> String {
    slim::index_json(layout)["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn output_refuses_a_directory_that_is_neither_empty_nor_a_layout() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let proj = w.join("proj");
    fs::create_dir_all(proj.join("src")).unwrap();
    fs::write(proj.join("src/main.rs"), "fn main() {}\n").unwrap();
    fs::write(proj.join("Cargo.toml"), "[package]\n").unwrap();
    let err = fails(busy(&target, &["-o", proj.to_str().unwrap()]));
    assert!(err.contains(proj.to_str().unwrap()), "{err}");
    assert!(err.contains("oci-layout") && err.contains("empty"), "{err}");
    assert!(proj.join("src/main.rs").is_file() && proj.join("Cargo.toml").is_file());
    // Refused at plan time: nothing was built, not even the blob cache opened.
    assert!(!target.join("slim-image").exists());
    // `.`, `..` and `/` never lose anything either.
    for (dir, o) in [(&proj, "."), (&proj.join("src"), ".."), (&proj, "/")] {
        let mut c = busy(&target, &["-o", o]);
        c.current_dir(dir);
        let err = fails(c);
        assert!(err.contains(&format!("--output {o}")), "{err}");
    }
    assert!(proj.join("src/main.rs").is_file() && proj.join("Cargo.toml").is_file());
    assert!(!target.join("slim-image").exists());
    // The default output directory follows the same rule.
    let default = target.join("slim-image/busybox");
    fs::create_dir_all(&default).unwrap();
    fs::write(default.join("notes.txt"), "mine").unwrap();
    let err = fails(busy(&target, &[]));
    assert!(err.contains(default.to_str().unwrap()), "{err}");
    assert_eq!(
        fs::read_to_string(default.join("notes.txt")).unwrap(),
        "mine"
    );
    // An empty directory and an existing layout are replaced.
    let empty = w.join("empty");
    fs::create_dir(&empty).unwrap();
    ok(busy(&target, &["-o", empty.to_str().unwrap()]));
    assert!(empty.join("oci-layout").is_file());
    ok(busy(
        &target,
        &["-o", empty.to_str().unwrap(), "--label", "x=y"],
    ));
    assert!(empty.join("oci-layout").is_file());
    assert!(litter(w).is_empty(), "{:?}", litter(w));
}

#[test]
fn tarball_into_a_fifo_is_written_not_replaced() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let fifo = w.join("pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            fs::File::open(&fifo)
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            bytes
        })
    };
    let out = w.join("out");
    ok(busy(&w.join("target"), &layout_and_tarball(&out, &fifo)));
    // Checked before joining: had the FIFO been replaced, the reader would wait forever.
    let kind = fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "--tarball replaced the FIFO: {kind:?}");
    let bytes = reader.join().unwrap();
    let copy = w.join("copy.tar");
    fs::write(&copy, &bytes).unwrap();
    assert_tar_with_index(&copy);
    assert!(litter(w).is_empty(), "{:?}", litter(w));
}

#[test]
fn tarball_into_a_device_and_through_symlinks() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let out = w.join("out");
    let run = |t: &Path| ok(busy(&target, &layout_and_tarball(&out, t)));
    // A char device, directly and through a symlink: written into, never replaced.
    run(Path::new("/dev/null"));
    assert!(fs::symlink_metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    let to_null = w.join("null-link");
    std::os::unix::fs::symlink("/dev/null", &to_null).unwrap();
    run(&to_null);
    assert!(fs::symlink_metadata(&to_null)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::symlink_metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    // A symlink to a regular file: the link stays, its target is replaced by the tarball.
    let real_dir = w.join("real");
    fs::create_dir(&real_dir).unwrap();
    let real = real_dir.join("app.tar");
    fs::write(&real, "old").unwrap();
    let link = w.join("app.tar");
    std::os::unix::fs::symlink("real/app.tar", &link).unwrap();
    run(&link);
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from("real/app.tar"));
    assert_tar_with_index(&real);
    // A dangling symlink: its target is created.
    let dangling = w.join("new.tar");
    std::os::unix::fs::symlink("real/new.tar", &dangling).unwrap();
    run(&dangling);
    assert!(fs::symlink_metadata(&dangling)
        .unwrap()
        .file_type()
        .is_symlink());
    peers::strict_tar_check(&real_dir.join("new.tar")).unwrap();
    assert!(litter(w).is_empty(), "{:?}", litter(w));
    assert!(litter(&real_dir).is_empty(), "{:?}", litter(&real_dir));
}

#[test]
fn tarball_to_stdout_pipes_into_podman_load() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let out = w.join("out");
    let args = ["-o", out.to_str().unwrap(), "--tarball", "-"];
    // stdout carries the tarball only; the result line goes to stderr.
    let o = slim::run(&mut busy(&target, &args));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let digest = root_digest(&out);
    assert!(stderr.contains(&format!("busybox@{digest}")), "{stderr}");
    let tar = w.join("stdout.tar");
    fs::write(&tar, &o.stdout).unwrap();
    assert_tar_with_index(&tar);
    // The same through /proc/self/fd/1 (a symlink to the pipe): nothing after the tar's trailer.
    let mut via_proc = busy(
        &target,
        &["-o", out.to_str().unwrap(), "--tarball", "/proc/self/fd/1"],
    );
    let o = slim::run(&mut via_proc);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("busybox@{digest}")), "{stderr}");
    fs::write(&tar, &o.stdout).unwrap();
    peers::strict_tar_check(&tar).unwrap();
    // A JSON report would have nowhere to go.
    let err = fails(busy(
        &target,
        &["--tarball", "-", "--message-format", "json"],
    ));
    assert!(err.contains("--tarball -") && err.contains("json"), "{err}");
    if !peers::check_tools(
        "outputs::tarball_to_stdout_pipes_into_podman_load",
        &["podman"],
    ) {
        return;
    }
    let podman = peers::Podman::new().unwrap();
    let mut slim_run = busy(&target, &args);
    slim_run.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = slim_run.spawn().unwrap();
    let pipe = child.stdout.take().unwrap();
    let load = podman
        .cmd()
        .arg("load")
        .stdin(Stdio::from(pipe))
        .output()
        .unwrap();
    let slim_out = child.wait_with_output().unwrap();
    assert!(
        slim_out.status.success(),
        "{}",
        String::from_utf8_lossy(&slim_out.stderr)
    );
    assert!(
        load.status.success(),
        "{}",
        peers::describe(&podman.cmd(), &load)
    );
    let images = podman.images().unwrap();
    assert!(
        images.iter().any(|i| i.contains("busybox:latest")),
        "{images:?}"
    );
}

#[test]
fn no_lock_file_or_temp_is_left_beside_the_outputs() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let out = w.join("out");
    let tar = w.join("app.tar");
    let args = layout_and_tarball(&out, &tar);
    ok(busy(&w.join("target"), &args));
    ok(busy(&w.join("target"), &args));
    assert!(out.join("oci-layout").is_file() && tar.is_file());
    assert!(w.join("out.spdx.json").is_file());
    assert!(litter(w).is_empty(), "{:?}", litter(w));
}

#[test]
fn leftovers_of_dead_runs_are_removed_and_nothing_else() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let stale_dir = w.join(format!(".slim-image-layout-{DEAD_PID}-1a"));
    fs::create_dir_all(stale_dir.join("blobs/sha256")).unwrap();
    fs::write(stale_dir.join("blobs/sha256/big"), vec![0u8; 1 << 20]).unwrap();
    let stale_tar = w.join(format!(".slim-image-archive-{DEAD_PID}-2b"));
    fs::write(&stale_tar, "half a tarball").unwrap();
    // A live pid (this test) and names the tool never makes stay.
    let live = w.join(format!(".slim-image-layout-{}-3c", std::process::id()));
    fs::create_dir(&live).unwrap();
    let foreign = [
        ".slim-image-notes",
        ".slim-image-layout-abcdef",
        "slim-image-layout-1-1",
    ];
    for f in foreign {
        fs::write(w.join(f), "mine").unwrap();
    }
    // Our name on something the tool never makes: a symlink (to the user's data) and a FIFO.
    let data = w.join("data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("keep"), "mine").unwrap();
    let link = w.join(format!(".slim-image-layout-{DEAD_PID}-4d"));
    std::os::unix::fs::symlink(&data, &link).unwrap();
    let fifo = w.join(format!(".slim-image-archive-{DEAD_PID}-5e"));
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let out = w.join("out");
    let tar = w.join("app.tar");
    let args = layout_and_tarball(&out, &tar);
    let o = slim::run(&mut busy(&w.join("target"), &args));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("leftover"), "{stderr}");
    assert!(!stale_dir.exists() && !stale_tar.exists());
    assert!(live.is_dir());
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_to_string(data.join("keep")).unwrap(), "mine");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    for f in foreign {
        assert_eq!(fs::read_to_string(w.join(f)).unwrap(), "mine", "{f}");
    }
}

fn send(child: &Child, sig: i32) {
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// Starts `run` while holding the lock file `lock` in `w`, checks that a temp starting with each
/// `staged` prefix is there, sends `signal.0` and expects exit code `signal.1`; then releases the
/// lock and checks that no temp or lock file is left.
fn interrupt_while_waiting(
    w: &Path,
    run: Command,
    lock: &str,
    staged: &[(&str, &str)],
    signal: (i32, i32),
) {
    let held = hold_lock(&w.join(lock));
    let (mut child, stderr) = start_waiting(run);
    for (prefix, what) in staged {
        assert!(!names_with(w, prefix).is_empty(), "{what}");
    }
    send(&child, signal.0);
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(signal.1),
        "{status}: {}",
        stderr.lock().unwrap()
    );
    drop(held);
    fs::remove_file(w.join(lock)).unwrap();
    assert!(litter(w).is_empty(), "{:?}", litter(w));
}

#[test]
fn sigint_and_sigterm_remove_the_temps_and_keep_the_previous_output() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let out = w.join("out");
    let tar = w.join("app.tar");
    let args = layout_and_tarball(&out, &tar);
    ok(busy(&target, &args));
    let before = root_digest(&out);
    let tar_before = fs::read(&tar).unwrap();
    let sbom_before = fs::read(w.join("out.spdx.json")).unwrap();
    let mut changed = args.to_vec();
    changed.extend(["--label", "run=second"]);

    // SIGINT while the new layout is staged and the run waits for the layout's lock.
    interrupt_while_waiting(
        w,
        busy(&target, &changed),
        ".out.slim-image-lock",
        &[
            (".slim-image-layout-", "no staged layout"),
            (".slim-image-sbom-", "no staged SBOM"),
        ],
        (libc::SIGINT, 130),
    );
    assert_eq!(root_digest(&out), before);
    assert_eq!(fs::read(w.join("out.spdx.json")).unwrap(), sbom_before);

    // SIGTERM while the new tarball is complete and waits for the tarball's lock.
    interrupt_while_waiting(
        w,
        busy(&target, &changed),
        ".app.tar.slim-image-lock",
        &[(".slim-image-archive-", "no staged tarball")],
        (libc::SIGTERM, 143),
    );
    assert_eq!(fs::read(&tar).unwrap(), tar_before);
    assert_ne!(
        root_digest(&out),
        before,
        "the layout was committed before the tarball"
    );
}

#[test]
fn layout_and_sbom_are_committed_together_under_the_lock() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let out = w.join("out");
    let sbom = w.join("out.spdx.json");
    let run = |label: &str, target: &str| {
        busy(
            &w.join(target),
            &[
                "-o",
                out.to_str().unwrap(),
                "--label",
                &format!("run={label}"),
            ],
        )
    };
    ok(run("first", "t0"));
    let first = root_digest(&out);
    let first_sbom = fs::read(&sbom).unwrap();
    // While another run holds the lock, neither the layout nor its SBOM changes.
    let lock = hold_lock(&w.join(".out.slim-image-lock"));
    let (child, _stderr) = start_waiting(run("second", "t0"));
    assert_eq!(root_digest(&out), first);
    assert_eq!(fs::read(&sbom).unwrap(), first_sbom);
    drop(lock);
    assert!(child.wait_with_output().unwrap().status.success());
    // Several at once: the SBOM beside the layout always describes the layout's image.
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut c = run(&format!("r{i}"), &format!("t{}", i % 2));
            c.stdout(Stdio::null()).stderr(Stdio::null());
            c.spawn().unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let digest = root_digest(&out);
    let doc: serde_json::Value = serde_json::from_slice(&fs::read(&sbom).unwrap()).unwrap();
    let described = doc["packages"][0]["checksums"][0]["checksumValue"]
        .as_str()
        .unwrap();
    assert_eq!(format!("sha256:{described}"), digest);
    assert!(litter(w).is_empty(), "{:?}", litter(w));
}

/// A workspace of two packages, `aaa` and `zzz`, each one image named `{registry}/ws/<name>`;
/// `zzz` has a 1 KiB size budget, which no image meets.
fn two_image_workspace(dir: &Path, registry: &str) -> PathBuf {
    fs::write(
        dir.join("Cargo.toml"),
        "[workspace]\nmembers = [\"aaa\", \"zzz\"]\nresolver = \"2\"\n",
    )
    .unwrap();
    for (name, budget) in [("aaa", "50 MiB"), ("zzz", "1 KiB")] {
        fs::create_dir_all(dir.join(name).join("src")).unwrap();
        fs::write(
            dir.join(name).join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
                 [package.metadata.slim-image]\nname = \"{registry}/ws/{name}\"\n\
                 size-budget = \"{budget}\"\n"
            ),
        )
        .unwrap();
        fs::write(dir.join(name).join("src/main.rs"), "fn main() {}\n").unwrap();
    }
    dir.join("Cargo.toml")
}

#[test]
fn a_later_image_over_its_budget_leaves_nothing_pushed_or_written() {
    use common::registry::{Mode, RealRegistry};
    let test = "outputs::a_later_image_over_its_budget_leaves_nothing_pushed_or_written";
    let Some(reg) = RealRegistry::start(Mode::Plain, test) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let ws = work.path().join("ws");
    fs::create_dir(&ws).unwrap();
    let manifest = two_image_workspace(&ws, &reg.host);
    let out = work.path().join("out");
    let err = fails(slim::on(
        manifest.to_str().unwrap(),
        slim::shared_target().to_str().unwrap(),
        &[
            "--workspace",
            "--push",
            "--sbom",
            "none",
            "-o",
            out.to_str().unwrap(),
        ],
    ));
    assert!(
        err.contains("zzz") && err.contains("over its size budget"),
        "{err}"
    );
    assert!(err.contains("nothing was pushed"), "{err}");
    assert_eq!(reg.blob_uploads(), 0, "{}", reg.log_text());
    assert_eq!(reg.manifest_puts(), 0, "{}", reg.log_text());
    // Checked by the registry itself: the first image's repository holds no tag.
    let url = format!("http://{}/v2/ws/aaa/manifests/latest", reg.host);
    let head = ureq::head(&url).call();
    assert!(
        matches!(head, Err(ureq::Error::StatusCode(404))),
        "{head:?}"
    );
    // Nor was any layout written.
    assert!(!out.join("aaa").exists() && !out.join("zzz").exists());
}
