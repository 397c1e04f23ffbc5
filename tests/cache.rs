//! Issue 11, the blob cache: a damaged cached blob (app layer, base layer) is evicted with a note and
//! made again, and the build still gives the right image; an output written earlier never changes
//! when the cache does; a verified mark is written only for an fsynced blob, outputs are fsynced
//! before their rename, and a blob a crash emptied is made again; temp files of dead
//! runs are swept, live ones kept. Every test has its own target dir (so its own cache) and packages
//! a static busybox with `--binary`, so nothing is compiled.

mod common;

use cargo_slim_image::digest::Digest;
use common::blob_cache::{app_binary, build_with as build, cache};
use common::peers::{self, require, run_ok};
use common::registry::{Mode, RealRegistry};
use common::slim::{self, blob_path, manifest_of};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// The blob cache of a target dir.
/// Run, require exit 0, return (stdout, stderr).
fn ok_with_stderr(mut c: Command) -> (String, String) {
    let out = slim::run(&mut c);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed ({}):\n{stderr}", out.status);
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

/// Change one byte of `path` in place (same inode, same size), as a disk error or a stray write would.
fn flip_byte(path: &Path) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let before = fs::metadata(path).unwrap();
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let at = before.len() / 2;
    let mut b = [0u8];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[b[0] ^ 0x20]).unwrap();
    drop(f);
    let after = fs::metadata(path).unwrap();
    assert_eq!((before.ino(), before.len()), (after.ino(), after.len()));
}

/// Every blob of a layout hashes to its name, recomputed here; returns how many there are.
fn recheck_layout(layout: &Path) -> usize {
    let dir = layout.join("blobs/sha256");
    let mut n = 0;
    for e in fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let bytes = fs::read(e.path()).unwrap();
        let name = e.file_name().into_string().unwrap();
        assert_eq!(Digest::of(&bytes).hex(), name, "{}", e.path().display());
        n += 1;
    }
    n
}

/// Every `blobs/sha256/X` member of an (oci-archive) tarball hashes to X, checked by Python's tarfile.
fn recheck_tarball(tar: &Path) {
    let py = r#"
import hashlib, sys, tarfile
n = 0
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        if m.isfile() and m.name.startswith("blobs/sha256/"):
            h = hashlib.sha256(t.extractfile(m).read()).hexdigest()
            if h != m.name.split("/")[-1]:
                sys.exit(f"{m.name} hashes to {h}")
            n += 1
print(n)
"#;
    let out = run_ok(Command::new("python3").arg("-c").arg(py).arg(tar)).unwrap();
    let n: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(n >= 4, "{n} blobs in {}", tar.display());
}

/// The layout passes oci-image-tool and unpacks with umoci (which checks every digest and diff_id).
fn validate(layout: &Path) {
    peers::oci_image_tool_validate(layout).unwrap();
    peers::umoci_unpack(layout, "latest").unwrap();
}

/// The digest of the `i`th layer of the layout's manifest.
fn layer(layout: &Path, i: usize) -> Digest {
    let (_, m) = manifest_of(layout);
    m["layers"][i]["digest"].as_str().unwrap().parse().unwrap()
}

/// Wait until `path` last changed more than two seconds ago, so that a run records a verified mark
/// for it (marks are never recorded for files changed within two seconds).
fn wait_until_settled(path: &Path) {
    for _ in 0..100 {
        let m = fs::metadata(path).unwrap();
        let ctime = SystemTime::UNIX_EPOCH
            + Duration::new(m.ctime() as u64, m.ctime_nsec() as u32)
            + Duration::from_millis(2100);
        if SystemTime::now() > ctime {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{} keeps changing", path.display());
}

/// A one-layer base image made by umoci: the layout `DIR/base`, tag `1`.
fn umoci_base(dir: &Path) -> PathBuf {
    let base = dir.join("base");
    run_ok(Command::new("umoci").args(["init", "--layout"]).arg(&base)).unwrap();
    let image = format!("{}:1", base.display());
    peers::umoci_image(&image, &dir.join("bundle"), |rootfs| {
        fs::create_dir_all(rootfs.join("etc/app"))?;
        // Big enough to span many gzip blocks.
        let text: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        fs::write(rootfs.join("etc/app/data.txt"), text)?;
        Ok(())
    })
    .unwrap();
    base
}

#[test]
fn a_flipped_byte_in_a_cached_app_layer_is_rebuilt_and_never_reaches_an_output() {
    require!("busybox", "umoci", "oci-image-tool", "python3");
    let work = tempfile::tempdir().unwrap();
    let bin = app_binary(work.path());
    let target = work.path().join("target");
    let (l1, l2) = (work.path().join("l1"), work.path().join("l2"));
    let (first, _) = ok_with_stderr(build(&bin, &target, &l1, &[]));
    let app = layer(&l1, 1);
    let cached = cache(&target).join("sha256").join(app.hex());
    // A second run more than two seconds after the blob was written checks it and records its mark.
    wait_until_settled(&cached);
    ok_with_stderr(build(&bin, &target, &l1, &[]));
    let marked = cache(&target).join("verified").join(app.hex()).is_file();

    flip_byte(&cached);
    // The layout written before is a copy: the damage does not reach it.
    let earlier = recheck_layout(&l1);
    let tarball = work.path().join("t2.tar");
    let (second, stderr) = ok_with_stderr(build(
        &bin,
        &target,
        &l2,
        &["--tarball", tarball.to_str().unwrap()],
    ));
    assert!(
        stderr.contains(&format!("the cached blob {app} is damaged")),
        "{stderr}"
    );
    assert_eq!(second, first, "the same image");
    assert_eq!(recheck_layout(&l2), earlier);
    assert_eq!(
        Digest::of(&fs::read(blob_path(&l2, &app.to_string())).unwrap()),
        app
    );
    validate(&l2);
    recheck_tarball(&tarball);
    // The cache holds the right bytes again, under a new file.
    assert_eq!(Digest::of(&fs::read(&cached).unwrap()), app);
    // The damage was found behind a verified mark, not only on a first check.
    assert!(marked, "the second run recorded no verified mark for {app}");
}

#[test]
fn a_flipped_byte_in_a_cached_base_layer_is_copied_again_from_the_base() {
    require!("busybox", "umoci", "oci-image-tool");
    let work = tempfile::tempdir().unwrap();
    let bin = app_binary(work.path());
    let base_ref = format!("oci:{}:1", umoci_base(work.path()).display());
    let target = work.path().join("target");
    let (l1, l2) = (work.path().join("l1"), work.path().join("l2"));
    let (first, _) = ok_with_stderr(build(&bin, &target, &l1, &["--base", &base_ref]));
    let base_layer = layer(&l1, 0);
    let cached = cache(&target).join("sha256").join(base_layer.hex());
    assert!(cached.is_file());

    flip_byte(&cached);
    let (second, stderr) = ok_with_stderr(build(&bin, &target, &l2, &["--base", &base_ref]));
    assert!(
        stderr.contains(&format!("the cached blob {base_layer} is damaged")),
        "{stderr}"
    );
    assert_eq!(second, first, "the same image");
    assert_eq!(layer(&l2, 0), base_layer);
    recheck_layout(&l2);
    validate(&l2);
    assert_eq!(Digest::of(&fs::read(&cached).unwrap()), base_layer);
    recheck_layout(&l1);
}

#[test]
fn damaged_cached_blobs_are_fetched_again_from_a_registry_and_never_pushed() {
    require!("busybox", "umoci", "skopeo");
    let Some(reg) = RealRegistry::start(Mode::Plain, "cache: registry base and push") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let bin = app_binary(work.path());
    let base = format!("{}/cache/base:1", reg.host);
    peers::skopeo_copy(
        &format!("oci:{}:1", umoci_base(work.path()).display()),
        &format!("docker://{base}"),
        &["--dest-tls-verify=false"],
    )
    .unwrap();
    let target = work.path().join("target");
    let l1 = work.path().join("l1");
    let push = |repo: &str| format!("{}/cache/{repo}:1", reg.host);
    let (first, _) = ok_with_stderr(build(
        &bin,
        &target,
        &l1,
        &["--base", &base, "--push", &push("first")],
    ));
    let (base_layer, app) = (layer(&l1, 0), layer(&l1, 1));
    for d in [&base_layer, &app] {
        flip_byte(&cache(&target).join("sha256").join(d.hex()));
    }
    // A new repository, so every blob is uploaded (or mounted) again, from the cache.
    let (second, stderr) = ok_with_stderr(build(
        &bin,
        &target,
        &work.path().join("l2"),
        &["--base", &base, "--push", &push("second")],
    ));
    for d in [&base_layer, &app] {
        assert!(
            stderr.contains(&format!("the cached blob {d} is damaged")),
            "{stderr}"
        );
    }
    let digest = |out: &str| out.trim().rsplit('@').next().unwrap().to_string();
    assert_eq!(digest(&second), digest(&first), "{first} / {second}");
    // skopeo checks every blob it copies against its digest.
    let pulled = work.path().join("pulled");
    peers::skopeo_copy(
        &format!("docker://{}", push("second")),
        &format!("oci:{}:latest", pulled.display()),
        &["--src-tls-verify=false"],
    )
    .unwrap();
    recheck_layout(&pulled);
    peers::umoci_unpack(&pulled, "latest").unwrap();
}

/// Run `probe` under strace (fsyncs and renames, paths shown); give the trace's lines.
fn traced(probe: &Command, trace: &Path) -> Vec<String> {
    let mut c = Command::new("strace");
    c.args([
        "-f",
        "-qq",
        "-y",
        "-e",
        "trace=fsync,rename,renameat,renameat2",
        "-o",
    ])
    .arg(trace)
    .arg(probe.get_program())
    .args(probe.get_args())
    .env_remove("SOURCE_DATE_EPOCH");
    run_ok(&mut c).unwrap();
    fs::read_to_string(trace)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The (from, to) of each successful rename in `lines` whose destination starts with `prefix`,
/// with the index of its line.
fn renames_into<'a>(lines: &'a [String], prefix: &str) -> Vec<(usize, &'a str, &'a str)> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.contains("rename") || line.contains("= -1") {
            continue;
        }
        let quoted: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
        if let [from, to] = quoted[..] {
            if to.starts_with(prefix) {
                out.push((i, from, to));
            }
        }
    }
    out
}

/// Whether `lines[..before]` fsync the file `path` (strace -y prints it as `fsync(3</path>`, with
/// threads possibly `<unfinished ...>`).
fn fsynced(lines: &[String], before: usize, path: &str) -> bool {
    let shown = format!("<{path}>");
    lines[..before]
        .iter()
        .any(|l| l.contains("fsync(") && l.contains(&shown))
}

/// The cache does not fsync blobs as it writes them (a cache; every use checks the bytes), but a
/// verified mark, which lets a later run trust a blob without reading it, is written only after that
/// blob's bytes were fsynced; and every output is fsynced before the rename that makes it visible. A
/// blob a crash left without its bytes (an empty file under its name, no mark) is made again.
#[test]
fn marks_vouch_only_for_fsynced_blobs_and_a_blob_a_crash_emptied_is_made_again() {
    require!("busybox", "strace");
    let work = tempfile::tempdir().unwrap();
    let bin = app_binary(work.path());
    let target = work.path().join("target");
    let layout = work.path().join("l");
    let probe = build(&bin, &target, &layout, &[]);
    let first = traced(&probe, &work.path().join("trace1"));
    let sha = cache(&target).join("sha256");
    let sha = sha.to_str().unwrap();
    // Outputs: the layout directory and the files beside it, fsynced before they appear.
    let parent = work.path().to_str().unwrap();
    let outputs = renames_into(&first, &format!("{parent}/l"));
    assert!(
        !outputs.is_empty(),
        "no output rename:\n{}",
        first.join("\n")
    );
    for (i, from, to) in &outputs {
        assert!(
            fsynced(&first, *i, from),
            "{from} was renamed to {to} without an fsync before:\n{}",
            first.join("\n")
        );
    }
    // Two layers, a config and a manifest at least went into the cache.
    let blobs = renames_into(&first, &format!("{sha}/"));
    assert!(blobs.len() >= 4, "{} blob renames", blobs.len());
    // A second run once the blobs are settled records marks for the blobs it checks.
    for e in fs::read_dir(sha).unwrap() {
        wait_until_settled(&e.unwrap().path());
    }
    let second = traced(&probe, &work.path().join("trace2"));
    let verified = cache(&target).join("verified");
    let marks = renames_into(&second, verified.to_str().unwrap());
    assert!(
        marks.len() >= 2,
        "{} marks recorded:\n{}",
        marks.len(),
        second.join("\n")
    );
    for (i, _, to) in &marks {
        let hex = Path::new(to).file_name().unwrap().to_str().unwrap();
        assert!(
            fsynced(&second, *i, &format!("{sha}/{hex}")),
            "the mark {to} was written without an fsync of its blob before:\n{}",
            second.join("\n")
        );
    }
    // What a crash before writeback can leave: the name, no bytes, no mark.
    let app = layer(&layout, 1);
    let path = cache(&target).join("sha256").join(app.hex());
    fs::write(&path, b"").unwrap();
    let _ = fs::remove_file(verified.join(app.hex()));
    let (_, stderr) = ok_with_stderr(build(&bin, &target, &layout, &[]));
    assert!(stderr.contains("is damaged"), "{stderr}");
    assert_eq!(layer(&layout, 1), app);
    assert_eq!(Digest::of(&fs::read(&path).unwrap()), app);
    recheck_layout(&layout);
    validate(&layout);
}

#[test]
fn temp_files_of_dead_runs_are_swept_and_live_ones_kept() {
    require!("busybox");
    let work = tempfile::tempdir().unwrap();
    let bin = app_binary(work.path());
    let target = work.path().join("target");
    let tmp = cache(&target).join("tmp");
    fs::create_dir_all(&tmp).unwrap();
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let plant = |name: String| {
        let p = tmp.join(name);
        fs::write(&p, vec![0u8; 4096]).unwrap();
        p
    };
    let stale = plant(format!("slim-{dead}-interrupted"));
    let live = plant(format!("slim-{}-writing", std::process::id()));
    // A writer in another pid namespace: its pid means nothing here, but it holds the lock.
    let locked = plant(format!("slim-{dead}-locked"));
    let holder = fs::File::open(&locked).unwrap();
    holder.lock().unwrap();
    let foreign = plant(format!("notes-{dead}.txt"));
    // Earlier versions' temp files (no pid, no lock): one untouched for two days, one fresh.
    let legacy = plant(".tmpAb3dE9".into());
    fs::File::options()
        .write(true)
        .open(&legacy)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(48 * 3600))
        .unwrap();
    let legacy_fresh = plant(".tmpXy7wV2".into());
    ok_with_stderr(build(&bin, &target, &work.path().join("l"), &[]));
    assert!(!stale.exists(), "the dead run's temp file stayed");
    assert!(
        !legacy.exists(),
        "an old version's day-old temp file stayed"
    );
    assert!(
        legacy_fresh.exists(),
        "an old version's fresh temp file was removed"
    );
    assert!(live.exists(), "a live process's temp file was removed");
    assert!(locked.exists(), "a locked temp file was removed");
    assert!(foreign.exists(), "a file the tool did not make was removed");
    // Nothing of this run stays behind either.
    let left: Vec<String> = fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("slim-") && !n.contains(&dead.to_string()))
        .filter(|n| *n != format!("slim-{}-writing", std::process::id()))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Every cache file a crash can leave without its bytes, because it is renamed into place without an
/// fsync: a blob with no mark (a mark is only written after its blob's fsync), a verified mark, and
/// each layer cache, fingerprint and shape entry, each left empty, zero-filled at its size or cut in
/// half by turns. Every later run gives the same image, with every blob right (never a wrong output,
/// a panic or a hang).
#[test]
fn every_cache_file_a_crash_can_cut_empty_or_zero_fill_gives_the_same_image() {
    require!("busybox");
    let work = tempfile::tempdir().unwrap();
    let bin = app_binary(work.path());
    let target = work.path().join("target");
    let layout = work.path().join("l");
    let blobs = cache(&target);
    ok_with_stderr(build(&bin, &target, &layout, &[]));
    let want = fs::read(layout.join("index.json")).unwrap();
    // Settled, then run again: marks and fingerprints are recorded only for files two seconds old.
    for e in fs::read_dir(blobs.join("sha256")).unwrap() {
        wait_until_settled(&e.unwrap().path());
    }
    ok_with_stderr(build(&bin, &target, &layout, &[]));
    let files = |dir: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = walk(&blobs.join(dir));
        v.sort();
        v
    };
    let (marks, entries) = (files("verified"), files("layers"));
    assert!(
        marks.len() >= 2 && entries.len() >= 6,
        "{marks:?} {entries:?}"
    );
    // Marks and entries first: a mark goes with its blob when that blob is found damaged.
    let mut victims: Vec<(PathBuf, bool)> = marks
        .into_iter()
        .chain(entries)
        .map(|p| (p, false))
        .collect();
    victims.extend(files("sha256").into_iter().map(|p| (p, true)));
    for (i, (path, blob)) in victims.iter().enumerate() {
        let size = fs::metadata(path).unwrap().len() as usize;
        let (how, bytes) = match i % 3 {
            0 => ("emptied", Vec::new()),
            1 => ("zero-filled", vec![0u8; size]),
            _ => ("cut", fs::read(path).unwrap()[..size / 2].to_vec()),
        };
        fs::write(path, bytes).unwrap();
        if *blob {
            let hex = path.file_name().unwrap();
            let _ = fs::remove_file(blobs.join("verified").join(hex));
        }
        let out = slim::run(&mut build(&bin, &target, &layout, &[]));
        let what = format!("{} {how}", path.display());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{what}:\n{stderr}");
        assert_eq!(fs::read(layout.join("index.json")).unwrap(), want, "{what}");
        recheck_layout(&layout);
    }
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
