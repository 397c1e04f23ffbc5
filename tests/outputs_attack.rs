//! Adversarial checks of the outputs (issue 11): `-o` and `--tarball` pointed at the wrong place
//! never lose or replace anything of the user's, and a bad combination is refused before anything
//! is written. A run stopped and killed while it writes the layout or the tarball leaves no temp.

mod common;

use common::outputs::{busy, hold_lock, layout_and_tarball, names_with, start_waiting};
use common::slim::{fails, ok};
use std::fs;
use std::path::Path;
use std::process::Command;

/// An OCI layout the user keeps their own files in (oci-layout present, plus `src/` and a note) is
/// not the tool's to replace: the run is refused, naming the extra entry, and every file stays.
#[test]
fn a_layout_directory_with_user_files_in_it_is_refused_not_replaced() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let out = w.join("out");
    ok(busy(&target, &["-o", out.to_str().unwrap()]));
    fs::create_dir(out.join("src")).unwrap();
    fs::write(out.join("src/main.rs"), "fn main() {}\n").unwrap();
    let err = fails(busy(&target, &["-o", out.to_str().unwrap()]));
    assert!(
        err.contains(out.to_str().unwrap()) && err.contains("src"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(out.join("src/main.rs")).unwrap(),
        "fn main() {}\n"
    );
    assert!(out.join("oci-layout").is_file() && out.join("index.json").is_file());
    // A layout with only the layout's own entries is still replaced.
    fs::remove_dir_all(out.join("src")).unwrap();
    ok(busy(&target, &["-o", out.to_str().unwrap()]));
}

/// `-o LINK` where LINK is a symlink to a layout: the layout at the link's target is replaced, and
/// the link (the user's) stays a link, like `--tarball` through a symlink.
#[test]
fn output_through_a_symlink_replaces_the_target_and_keeps_the_link() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let real = w.join("real");
    ok(busy(&target, &["-o", real.to_str().unwrap()]));
    let before = fs::metadata(real.join("index.json")).unwrap();
    let link = w.join("link");
    std::os::unix::fs::symlink("real", &link).unwrap();
    ok(busy(
        &target,
        &["-o", link.to_str().unwrap(), "--tag", "other:1"],
    ));
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink -o named was replaced by a directory"
    );
    let index = fs::read_to_string(real.join("index.json")).unwrap();
    assert!(
        index.contains("other:1"),
        "the link's target was not rewritten: {index}"
    );
    use std::os::unix::fs::MetadataExt;
    assert_ne!(
        fs::metadata(real.join("index.json")).unwrap().ino(),
        before.ino()
    );
    // A symlink loop is an error naming it, not a hang or a replaced link.
    let a = w.join("loop-a");
    std::os::unix::fs::symlink("loop-b", &a).unwrap();
    std::os::unix::fs::symlink("loop-a", w.join("loop-b")).unwrap();
    let err = fails(busy(&target, &["-o", a.to_str().unwrap()]));
    assert!(err.contains("loop-a"), "{err}");
    assert!(fs::symlink_metadata(&a).unwrap().file_type().is_symlink());
}

/// `--tarball` equal to `-o`, or inside the layout directory, cannot both be written (the tarball
/// would be deleted by the next layout, or the layout written and then the tarball fail): refused
/// before anything is built or written.
#[test]
fn tarball_at_or_inside_the_layout_is_refused_before_anything_is_written() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let out = w.join("out");
    for t in [
        out.clone(),
        out.join("img.tar"),
        w.join("./out/sub/../img.tar"),
    ] {
        let err = fails(busy(&target, &layout_and_tarball(&out, &t)));
        assert!(
            err.contains("--tarball") && err.contains("--output"),
            "{err}"
        );
        assert!(
            !out.exists(),
            "the layout was written before the refusal: {err}"
        );
        assert!(!target.join("slim-image").exists(), "{err}");
    }
    // Relative spellings of the same place too.
    let mut c = busy(&target, &["-o", "out", "--tarball", "./out/x.tar"]);
    c.current_dir(w);
    fails(c);
    assert!(!out.exists());
    // The layout inside the tarball's path: neither could be written.
    let err = fails(busy(
        &target,
        &layout_and_tarball(&w.join("img.tar/layout"), &w.join("img.tar")),
    ));
    assert!(err.contains("--tarball") && err.contains("inside"), "{err}");
    assert!(!w.join("img.tar").exists(), "{err}");
    // Beside the layout is fine.
    ok(busy(&target, &layout_and_tarball(&out, &w.join("out.tar"))));
}

/// Names in `dir` of the tool's temps.
fn staged(dir: &Path) -> Vec<String> {
    names_with(dir, ".slim-image-")
}

/// SIGHUP (the terminal or the ssh session went away) cleans up like SIGINT: exit 129, no temp left,
/// the previous layout kept. Under `nohup` (SIGHUP ignored) the run carries on and finishes.
#[test]
fn sighup_removes_the_temps_and_nohup_keeps_the_run_going() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let out = w.join("out");
    ok(busy(&target, &["-o", out.to_str().unwrap()]));
    let before = fs::read(out.join("index.json")).unwrap();
    let lock_file = w.join(".out.slim-image-lock");
    let args = ["-o", out.to_str().unwrap(), "--label", "run=second"];

    let lock = hold_lock(&lock_file);
    let mut c = busy(&target, &args);
    // SAFETY: only async-signal-safe calls between fork and exec. SIGHUP at its default (the test
    // harness itself may run under nohup).
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut c, || {
            libc::signal(libc::SIGHUP, libc::SIG_DFL);
            Ok(())
        });
    }
    let (mut child, stderr) = start_waiting(c);
    assert!(!staged(w).is_empty(), "no staged layout");
    // SAFETY: a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGHUP) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(129),
        "{status}: {}",
        stderr.lock().unwrap()
    );
    assert!(staged(w).is_empty(), "{:?}", staged(w));
    assert_eq!(fs::read(out.join("index.json")).unwrap(), before);

    // The same under nohup: SIGHUP is ignored, the run waits on and commits when the lock is free.
    let bin = busy(&target, &args);
    let mut c = Command::new("nohup");
    c.arg(bin.get_program()).args(bin.get_args());
    for (k, v) in bin.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.current_dir(w);
    let (mut child, stderr) = start_waiting(c);
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGHUP) }, 0);
    // Still waiting: release the lock (the holder removes its file first, as the tool does).
    fs::remove_file(&lock_file).unwrap();
    drop(lock);
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{status}: {}",
        stderr.lock().unwrap()
    );
    assert_ne!(fs::read(out.join("index.json")).unwrap(), before);
    assert!(staged(w).is_empty(), "{:?}", staged(w));
}

/// An output inside the blob cache (`<target-dir>/slim-image/.cache`) would replace cached blobs or
/// mix with them: refused before anything is built, and the cache keeps exactly what it had.
#[test]
fn outputs_inside_the_blob_cache_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    ok(busy(&target, &["-o", w.join("out").to_str().unwrap()]));
    let cache = target.join("slim-image/.cache");
    let out = w.join("out");
    let list = |d: &Path| {
        let mut v: Vec<_> = walk(d);
        v.sort();
        v
    };
    let before = list(&cache);
    let blob = fs::read_dir(cache.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file())
        .unwrap();
    let blob_bytes = fs::read(&blob).unwrap();
    for (flag, p) in [
        ("-o", cache.join("blobs/sha256/new")),
        ("-o", cache.clone()),
        ("--tarball", blob.clone()),
        ("--tarball", cache.join("blobs/x.tar")),
    ] {
        let mut args = vec![flag, p.to_str().unwrap()];
        if flag == "--tarball" {
            args.extend(["-o", out.to_str().unwrap()]);
        }
        let err = fails(busy(&target, &args));
        assert!(
            err.contains("blob cache") && err.contains(p.to_str().unwrap()),
            "{err}"
        );
    }
    assert_eq!(list(&cache), before);
    assert_eq!(fs::read(&blob).unwrap(), blob_bytes);
}

/// Every path under `d`, relative.
fn walk(d: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![d.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in fs::read_dir(&p).unwrap() {
            let e = e.unwrap();
            out.push(e.path().strip_prefix(d).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

/// The layout and its SBOM are one unit: when the SBOM's place holds a directory of the user's, the
/// run fails naming it, and neither the layout nor that directory changes.
#[test]
fn an_sbom_path_that_cannot_be_replaced_leaves_the_layout_unchanged() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let out = w.join("out");
    ok(busy(&target, &["-o", out.to_str().unwrap()]));
    let before = fs::read(out.join("index.json")).unwrap();
    let sbom = w.join("out.spdx.json");
    fs::remove_file(&sbom).unwrap();
    fs::create_dir(&sbom).unwrap();
    fs::write(sbom.join("keep"), "mine").unwrap();
    let err = fails(busy(
        &target,
        &["-o", out.to_str().unwrap(), "--label", "x=1"],
    ));
    assert!(err.contains(sbom.to_str().unwrap()), "{err}");
    assert_eq!(
        fs::read(out.join("index.json")).unwrap(),
        before,
        "half a unit was committed"
    );
    assert_eq!(fs::read_to_string(sbom.join("keep")).unwrap(), "mine");
    assert!(staged(w).is_empty(), "{:?}", staged(w));
}

/// `--tarball` named like the SBOM beside the layout (`out.spdx.json`): one would overwrite the
/// other, so the run is refused before anything is written; `--sbom none` frees the name.
#[test]
fn tarball_at_the_sbom_path_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let out = w.join("out");
    let sbom = w.join("out.spdx.json");
    let err = fails(busy(&target, &layout_and_tarball(&out, &sbom)));
    assert!(
        err.contains("SBOM") && err.contains(sbom.to_str().unwrap()),
        "{err}"
    );
    assert!(!out.exists() && !sbom.exists(), "{err}");
    ok(busy(
        &target,
        &[&layout_and_tarball(&out, &sbom)[..], &["--sbom", "none"]].concat(),
    ));
    assert!(out.join("oci-layout").is_file());
    // The file there is the tarball (a tar), not an SBOM document.
    let bytes = fs::read(&sbom).unwrap();
    assert_eq!(&bytes[257..262], b"ustar");
}

/// `-o LINK/` (a trailing slash, as shell completion adds) on a symlink to a layout: the target is
/// replaced and the link stays, as for `-o LINK`.
#[test]
fn output_through_a_symlink_with_a_trailing_slash_replaces_the_target() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let real = w.join("real");
    ok(busy(&target, &["-o", real.to_str().unwrap()]));
    std::os::unix::fs::symlink("real", w.join("link")).unwrap();
    let slashed = format!("{}/", w.join("link").display());
    ok(busy(&target, &["-o", &slashed, "--tag", "other:1"]));
    assert!(
        fs::symlink_metadata(w.join("link"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced"
    );
    let index = fs::read_to_string(real.join("index.json")).unwrap();
    assert!(index.contains("other:1"), "{index}");
    let names = common::outputs::names_where(w, |n| n.starts_with('.'));
    assert!(names.is_empty(), "left beside the output: {names:?}");
}

/// A layout whose `blobs` and `index.json` are symlinks into the user's files (a user who "saved
/// space"): replacing the layout removes the links, never what they point to.
#[test]
fn replacing_a_layout_never_follows_its_symlinked_entries() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let out = w.join("out");
    ok(busy(&target, &["-o", out.to_str().unwrap()]));
    let mine = w.join("mine");
    fs::create_dir_all(mine.join("photos")).unwrap();
    fs::write(mine.join("photos/cat.jpg"), "meow").unwrap();
    fs::write(mine.join("notes.json"), "{}").unwrap();
    fs::remove_dir_all(out.join("blobs")).unwrap();
    std::os::unix::fs::symlink(mine.join("photos"), out.join("blobs")).unwrap();
    fs::remove_file(out.join("index.json")).unwrap();
    std::os::unix::fs::symlink(mine.join("notes.json"), out.join("index.json")).unwrap();
    // Replaced or refused, the user's files stay as they were.
    let mut c = busy(&target, &["-o", out.to_str().unwrap(), "--tag", "again:2"]);
    let _ = common::slim::run(&mut c);
    assert_eq!(
        fs::read_to_string(mine.join("photos/cat.jpg")).unwrap(),
        "meow"
    );
    assert_eq!(fs::read_to_string(mine.join("notes.json")).unwrap(), "{}");
    assert_eq!(fs::read_dir(mine.join("photos")).unwrap().count(), 1);
    // A file of the user's at -o is refused before anything is written, and left alone.
    let file = w.join("file");
    fs::write(&file, "mine").unwrap();
    let err = fails(busy(&target, &["-o", file.to_str().unwrap()]));
    assert!(err.contains("not a directory"), "{err}");
    assert_eq!(fs::read_to_string(&file).unwrap(), "mine");
}

/// Names in `dir` that are temps or lock files of the tool.
fn litter(dir: &Path) -> Vec<String> {
    common::outputs::names_where(dir, |n| {
        n.starts_with(".slim-image-") || n.ends_with(".slim-image-lock")
    })
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

/// The bytes of the layout's `index.json` and of the tarball.
type Outputs = (Vec<u8>, Vec<u8>);

/// Runs `run` until it is caught (SIGSTOP) while a temp named `prefix…` is in `w` and the lock
/// `lock` is not: the output is being written, not waiting. Then SIGTERM (and SIGCONT) must end it
/// with 143. Returns what `outputs` read before the caught run started; `None` when 40 runs all
/// finished before they could be caught.
fn stop_while_writing(
    w: &Path,
    run: impl Fn() -> std::process::Command,
    outputs: impl Fn() -> Outputs,
    (prefix, lock): (&str, &str),
) -> Option<Outputs> {
    let writing = || {
        let names = common::outputs::names_where(w, |n| n.starts_with(prefix) || n == lock);
        names.iter().any(|n| n.starts_with(prefix)) && !names.iter().any(|n| n == lock)
    };
    for _ in 0..40 {
        let before = outputs();
        let mut c = run();
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = c.spawn().unwrap();
        let mut caught = false;
        while child.try_wait().unwrap().is_none() {
            if writing() {
                signal(child.id(), libc::SIGSTOP);
                // Stopped: still writing, or it got past the window between the look and the stop.
                std::thread::sleep(std::time::Duration::from_millis(20));
                caught = writing();
                if !caught {
                    signal(child.id(), libc::SIGCONT);
                }
                break;
            }
        }
        if !caught {
            let _ = child.wait();
            continue;
        }
        signal(child.id(), libc::SIGTERM);
        signal(child.id(), libc::SIGCONT);
        assert_eq!(child.wait().unwrap().code(), Some(143));
        return Some(before);
    }
    None
}

/// SIGTERM while the layout, then the tarball, is being written (not waiting for a lock, as the
/// tests in tests/outputs.rs do): the signal cleanup (sink::signals over sink::temp's registry)
/// removes the temps the main thread is still writing into, and the previous outputs stay.
#[test]
fn sigterm_while_the_layout_or_the_tarball_is_being_written_leaves_nothing_and_keeps_the_old() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let (out, tar) = (w.join("out"), w.join("app.tar"));
    let args = common::outputs::layout_and_tarball(&out, &tar);
    ok(busy(&target, &args));
    let n = std::sync::atomic::AtomicUsize::new(0);
    let run = || {
        let label = format!(
            "run={}",
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut rest = args.to_vec();
        rest.extend(["--label", &label]);
        busy(&target, &rest)
    };
    let outputs = || {
        (
            fs::read(out.join("index.json")).unwrap(),
            fs::read(&tar).unwrap(),
        )
    };
    for window in [
        (".slim-image-layout-", ".out.slim-image-lock"),
        (".slim-image-archive-", ".app.tar.slim-image-lock"),
    ] {
        let Some((index, tarball)) = stop_while_writing(w, run, outputs, window) else {
            eprintln!("no run was caught writing {}: too fast here", window.0);
            continue;
        };
        assert!(litter(w).is_empty(), "{}: {:?}", window.0, litter(w));
        let (index_now, tarball_now) = outputs();
        assert!(tarball_now == tarball, "{}: the tarball changed", window.0);
        if window.0 == ".slim-image-layout-" {
            assert!(index_now == index, "the layout changed");
        }
    }
}
