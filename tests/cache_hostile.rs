//! Issue 11, the blob cache attacked: names in the cache replaced by things the tool never wrote (a
//! FIFO, a symlink out of the cache, a directory; a mark that is a FIFO) are never opened through,
//! read or blocked on, and the build still gives the right image; a layer cache entry copied over
//! another's name is a miss, not the wrong layer; the sweep never reaches through a symlinked `tmp`;
//! four runs on one cache that all find a shared blob damaged each write a valid image. Each test has its own target dir and packages a
//! static busybox with `--binary`, so nothing is compiled.

mod common;

use cargo_slim_image::digest::Digest;
use common::blob_cache::{app_binary, build_with, cache};
use common::peers::{self, require};
use common::slim::{self, blob_json, blob_path, manifest_of};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// `cargo slim-image --binary BIN --target-dir TARGET --output OUT --sbom none`.
fn build(bin: &Path, target: &Path, out: &Path) -> Command {
    build_with(bin, target, out, &[])
}

/// Run `c` to its end. A run still going after two minutes (these builds take a second) is stuck
/// on something in the cache: it is killed and the test fails saying so, rather than hanging.
fn run_guarded(mut c: Command) -> Output {
    let child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(out) => out,
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("the build hung on a file in the blob cache");
        }
    }
}

fn ok(c: Command) -> String {
    let out = run_guarded(c);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed ({}):\n{stderr}", out.status);
    stderr
}

fn layer(layout: &Path, i: usize) -> Digest {
    let (_, m) = manifest_of(layout);
    m["layers"][i]["digest"].as_str().unwrap().parse().unwrap()
}

fn config(layout: &Path) -> Digest {
    let (_, m) = manifest_of(layout);
    m["config"]["digest"].as_str().unwrap().parse().unwrap()
}

fn validate(layout: &Path) {
    peers::oci_image_tool_validate(layout).unwrap();
    peers::umoci_unpack(layout, "latest").unwrap();
}

fn mkfifo(p: &Path) {
    assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
}

#[test]
fn fifos_and_symlinks_in_place_of_cached_blobs_and_marks_are_never_opened_through() {
    require!("busybox", "umoci", "oci-image-tool");
    let work = tempfile::tempdir().unwrap();
    let bin = app_binary(work.path());
    let target = work.path().join("target");
    let l1 = work.path().join("l1");
    ok(build(&bin, &target, &l1));
    let (app, cfg) = (layer(&l1, 1), config(&l1));
    let blobs = cache(&target).join("sha256");

    // The app layer's blob becomes a FIFO, the config's mark a FIFO (an open for reading of either
    // would wait for a writer that never comes).
    fs::remove_file(blobs.join(app.hex())).unwrap();
    mkfifo(&blobs.join(app.hex()));
    fs::create_dir_all(cache(&target).join("verified")).unwrap();
    let _ = fs::remove_file(cache(&target).join("verified").join(cfg.hex()));
    mkfifo(&cache(&target).join("verified").join(cfg.hex()));
    let l2 = work.path().join("l2");
    let stderr = ok(build(&bin, &target, &l2));
    assert!(
        stderr.contains(&blobs.join(app.hex()).display().to_string()),
        "{stderr}"
    );
    assert_eq!(layer(&l2, 1), app);
    validate(&l2);
    assert!(fs::symlink_metadata(blobs.join(app.hex()))
        .unwrap()
        .is_file());

    // The app layer's blob becomes a symlink out of the cache, to a file holding the right bytes
    // (which the tool must neither follow nor trust: whoever owns it can change it at any time).
    let outside = work.path().join("outside");
    fs::copy(blobs.join(app.hex()), &outside).unwrap();
    fs::remove_file(blobs.join(app.hex())).unwrap();
    std::os::unix::fs::symlink(&outside, blobs.join(app.hex())).unwrap();
    let l3 = work.path().join("l3");
    let stderr = ok(build(&bin, &target, &l3));
    assert!(stderr.contains("is a symlink"), "{stderr}");
    let m = fs::symlink_metadata(blobs.join(app.hex())).unwrap();
    assert!(m.is_file(), "the cache slot is a plain file again");
    assert_eq!(
        Digest::of(&fs::read(&outside).unwrap()),
        app,
        "target untouched"
    );
    assert!(!fs::symlink_metadata(blob_path(&l3, &app.to_string()))
        .unwrap()
        .file_type()
        .is_symlink());
    validate(&l3);
    let _ = blob_json(&l3, &cfg.to_string());
}

#[test]
fn a_directory_in_place_of_a_cached_blob_fails_naming_it() {
    require!("busybox");
    let work = tempfile::tempdir().unwrap();
    let bin = app_binary(work.path());
    let target = work.path().join("target");
    let l1 = work.path().join("l1");
    ok(build(&bin, &target, &l1));
    let app = layer(&l1, 1);
    let slot = cache(&target).join("sha256").join(app.hex());
    fs::remove_file(&slot).unwrap();
    fs::create_dir(&slot).unwrap();
    fs::write(slot.join("keep"), b"not ours").unwrap();
    let stderr = slim::fails(build(&bin, &target, &work.path().join("l2")));
    assert!(stderr.contains(&slot.display().to_string()), "{stderr}");
    assert!(stderr.contains("remove it"), "{stderr}");
    assert_eq!(fs::read(slot.join("keep")).unwrap(), b"not ours");
    assert!(!work.path().join("l2").exists());
}

/// The `diff_ids[i]` of the layout's config.
fn diff_id(layout: &Path, i: usize) -> Digest {
    let c = blob_json(layout, &config(layout).to_string());
    c["rootfs"]["diff_ids"][i]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The layer cache entry file for a diff_id (under whatever settings directory it is in).
fn entry_of(target: &Path, id: &Digest) -> PathBuf {
    let layers = cache(target).join("layers");
    for d in fs::read_dir(&layers).unwrap() {
        let p = d.unwrap().path().join(id.hex());
        if p.is_file() {
            return p;
        }
    }
    panic!("no layer cache entry for {id} under {}", layers.display());
}

#[test]
fn a_layer_cache_entry_copied_over_another_is_a_miss_not_the_wrong_layer() {
    require!("busybox", "umoci", "oci-image-tool");
    let work = tempfile::tempdir().unwrap();
    let (one, two) = (work.path().join("one"), work.path().join("two"));
    fs::copy(peers::which("busybox").unwrap(), &one).unwrap();
    let mut bytes = fs::read(&one).unwrap();
    bytes.extend_from_slice(b"another build");
    fs::write(&two, &bytes).unwrap();
    let target = work.path().join("target");
    let (l1, l2) = (work.path().join("l1"), work.path().join("l2"));
    ok(build(&one, &target, &l1));
    ok(build(&two, &target, &l2));
    let (id1, id2) = (diff_id(&l1, 1), diff_id(&l2, 1));
    assert_ne!(id1, id2);
    // A careless copy inside the cache: two's entry now holds one's.
    fs::copy(entry_of(&target, &id1), entry_of(&target, &id2)).unwrap();
    let l3 = work.path().join("l3");
    ok(build(&two, &target, &l3));
    assert_eq!(diff_id(&l3, 1), id2);
    assert_eq!(layer(&l3, 1), layer(&l2, 1), "two's layer, not one's");
    validate(&l3);
}

/// Change one byte of `path` in place (same inode, same size).
fn flip_byte(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    let mut f = fs::OpenOptions::new().write(true).open(path).unwrap();
    std::io::Write::write_all(&mut f, &bytes).unwrap();
}

#[test]
fn four_runs_on_one_cache_with_a_damaged_shared_blob_all_write_right_images() {
    require!("busybox", "umoci", "oci-image-tool");
    let work = tempfile::tempdir().unwrap();
    let busybox = fs::read(peers::which("busybox").unwrap()).unwrap();
    let target = work.path().join("target");
    let bin = |i: usize| {
        let p = work.path().join(format!("app{i}"));
        let mut b = busybox.clone();
        b.extend_from_slice(format!("build {i}").as_bytes());
        fs::write(&p, b).unwrap();
        p
    };
    let l0 = work.path().join("l0");
    ok(build(&bin(0), &target, &l0));
    // The layer every image shares (certificates and base files), damaged in place: all four runs
    // find it damaged at once, evict it and make it again while the others read it.
    let shared = layer(&l0, 0);
    flip_byte(&cache(&target).join("sha256").join(shared.hex()));
    let runs: Vec<_> = (1..=4)
        .map(|i| {
            let mut c = build(&bin(i), &target, &work.path().join(format!("l{i}")));
            c.arg("--tarball")
                .arg(work.path().join(format!("t{i}.tar")));
            std::thread::spawn(move || run_guarded(c))
        })
        .collect();
    for (i, r) in runs.into_iter().enumerate() {
        let out = r.join().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "run {}: {stderr}", i + 1);
    }
    for i in 1..=4 {
        let l = work.path().join(format!("l{i}"));
        assert_eq!(layer(&l, 0), shared);
        validate(&l);
        assert!(work.path().join(format!("t{i}.tar")).is_file());
    }
    assert_eq!(
        Digest::of(&fs::read(cache(&target).join("sha256").join(shared.hex())).unwrap()),
        shared
    );
    assert_eq!(fs::read_dir(cache(&target).join("tmp")).unwrap().count(), 0);
}

#[test]
fn the_sweep_never_reaches_through_a_symlinked_tmp() {
    require!("busybox");
    let work = tempfile::tempdir().unwrap();
    let bin = app_binary(work.path());
    let target = work.path().join("target");
    ok(build(&bin, &target, &work.path().join("l1")));
    // `tmp` becomes a symlink to a directory of the user's, holding files named like the ones the
    // sweep removes: a dead pid's temp file, an earlier version's two-day-old one.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let theirs = work.path().join("theirs");
    fs::create_dir(&theirs).unwrap();
    let stale = theirs.join(format!("slim-{dead}-abcdef"));
    let old = theirs.join(".tmpAb3dE9");
    for p in [&stale, &old] {
        fs::write(p, b"the user's").unwrap();
    }
    fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(48 * 3600))
        .unwrap();
    let tmp = cache(&target).join("tmp");
    fs::remove_dir(&tmp).unwrap();
    std::os::unix::fs::symlink(&theirs, &tmp).unwrap();
    ok(build(&bin, &target, &work.path().join("l2")));
    assert_eq!(fs::read(&stale).unwrap(), b"the user's");
    assert_eq!(fs::read(&old).unwrap(), b"the user's");
}

#[test]
fn a_read_only_cache_fails_saying_what_to_do() {
    require!("busybox", "mount");
    let work = tempfile::tempdir().unwrap();
    let bin = app_binary(work.path());
    let target = work.path().join("target");
    ok(build(&bin, &target, &work.path().join("l1")));
    let ro = work.path().join("ro");
    fs::create_dir(&ro).unwrap();
    let mount = |args: &[&str]| Command::new("mount").args(args).status().unwrap().success();
    let (t, r) = (target.to_str().unwrap(), ro.to_str().unwrap());
    if !mount(&["--bind", t, r]) {
        eprintln!("skipped: this machine cannot bind-mount");
        return;
    }
    let remounted = mount(&["-o", "remount,bind,ro", r]);
    let out = remounted.then(|| run_guarded(build(&bin, &ro, &work.path().join("l2"))));
    assert!(Command::new("umount").arg(&ro).status().unwrap().success());
    let out = out.expect("remounting read-only");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&cache(&ro).display().to_string()) && stderr.contains("--target-dir"),
        "{stderr}"
    );
    assert!(!work.path().join("l2").exists());
}
