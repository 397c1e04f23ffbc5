//! Bad input and local faults (issue 7), run through the real binary: a table of malformed metadata
//! values, unknown keys, upper-case image names, conflicting flags, missing and dynamic binaries and
//! unusable output paths, each expecting exit code 1, a message naming the offending thing, nothing
//! on stdout and no partial output; a full disk (a 1 MiB tmpfs, else a loop-mounted ext2 image, else
//! a loud skip with the reason); and several runs writing the same layout at once (the layout lock:
//! a second writer waits with a note, and the layout stays valid).
//!
//! Runs that get past the checks package `/bin/busybox` (static) with `--binary`, so nothing compiles.

mod common;
#[path = "bad_input/table.rs"]
mod table;

use common::slim::{self, cmd, fails};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BUSYBOX: &str = "/bin/busybox";

/// Names in `dir` that a failed run must not leave: the output, the tarball, temp files.
fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n == "out" || n == "image.tar" || n.starts_with(".slim-image"))
        .collect()
}

#[test]
fn bad_input_table() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let occupied = w.join("occupied");
    fs::write(&occupied, "keep me").unwrap();
    let occ = occupied.to_str().unwrap().to_string();
    let a_dir = w.join("a-dir");
    fs::create_dir(&a_dir).unwrap();
    let a_dir = a_dir.to_str().unwrap().to_string();
    let below_file = format!("{occ}/x.tar");
    let digest_ref = format!("127.0.0.1:9/x/y@sha256:{}", "a".repeat(64));
    let yaml = w.join("k8s.yaml");
    fs::write(&yaml, "image: slim-image://bad\n").unwrap();
    let yaml = yaml.to_str().unwrap().to_string();
    let cases = table::cases(&table::Places {
        occ: occ.clone(),
        a_dir,
        below_file,
        digest_ref,
        yaml,
    });
    let target = w.join("target");
    for (i, c) in cases.iter().enumerate() {
        let manifest = c
            .meta
            .map(|m| slim::package_with_meta(&w.join(format!("pkg{i}")), m));
        let mut args: Vec<String> = vec!["--target-dir".into(), target.display().to_string()];
        // Every run writes a layout and a tarball, unless the case gives its own path for one.
        for (flag, default) in [("--output", "out"), ("--tarball", "image.tar")] {
            if !c.args.iter().any(|a| a == flag) {
                args.extend([flag.to_string(), w.join(default).display().to_string()]);
            }
        }
        if let Some(m) = &manifest {
            args.extend(["--manifest-path".into(), m.clone()]);
        }
        args.extend(c.args.iter().cloned());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = fails(cmd(&argv));
        for word in &c.expect {
            let word = match (word.as_str(), &manifest) {
                ("{manifest}", Some(m)) => m.as_str(),
                (w, _) => w,
            };
            assert!(
                err.contains(word),
                "{}: the error does not name `{word}`:\n{err}",
                c.name
            );
        }
        assert!(
            err.lines().any(|l| l.starts_with("error: ")),
            "{}: {err}",
            c.name
        );
        assert_eq!(
            leftovers(w),
            Vec::<String>::new(),
            "{}: partial output",
            c.name
        );
        assert_eq!(
            fs::read_to_string(&occupied).unwrap(),
            "keep me",
            "{}",
            c.name
        );
        assert_eq!(
            fs::read_dir(w.join("a-dir")).unwrap().count(),
            0,
            "{}",
            c.name
        );
    }
}

#[test]
fn a_timeout_of_zero_is_a_usage_error() {
    // clap's own usage errors exit with 2, as cargo's do; the message names the flag.
    let out = slim::run(&mut cmd(&[
        "--binary",
        BUSYBOX,
        "--timeout",
        "0",
        "--dry-run",
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--timeout"), "{err}");
}

/// A tiny file system mounted for the test, unmounted on drop.
struct TinyFs {
    dir: tempfile::TempDir,
    _image: Option<tempfile::NamedTempFile>,
}

impl TinyFs {
    /// A 1 MiB tmpfs; else a loop-mounted 1 MiB ext2 image; else `Err(why)`.
    fn mount() -> Result<TinyFs, String> {
        let dir = tempfile::tempdir().unwrap();
        let tmpfs = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .output();
        match tmpfs {
            Ok(o) if o.status.success() => return Ok(TinyFs { dir, _image: None }),
            Ok(o) => {
                let why = String::from_utf8_lossy(&o.stderr).trim().to_string();
                eprintln!("note: mount -t tmpfs failed ({why}); trying a loop-mounted ext2 image");
            }
            Err(e) => return Err(format!("cannot run mount: {e}")),
        }
        let image = tempfile::NamedTempFile::new().unwrap();
        image.as_file().set_len(1 << 20).unwrap();
        let mkfs = Command::new("mkfs.ext2")
            .args(["-q", "-F"])
            .arg(image.path())
            .output()
            .map_err(|e| {
                format!("mount -t tmpfs is not permitted and mkfs.ext2 cannot run: {e}")
            })?;
        if !mkfs.status.success() {
            return Err("mount -t tmpfs is not permitted and mkfs.ext2 failed".into());
        }
        let lo = Command::new("mount")
            .args(["-o", "loop"])
            .arg(image.path())
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !lo.status.success() {
            return Err(format!(
                "neither a tmpfs nor a loop mount is permitted here ({})",
                String::from_utf8_lossy(&lo.stderr).trim()
            ));
        }
        Ok(TinyFs {
            dir,
            _image: Some(image),
        })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_nothing_behind() {
    let fs_ = match TinyFs::mount() {
        Ok(f) => f,
        Err(why) => {
            let msg =
                format!("SKIP: a_full_disk_is_a_clear_error_and_leaves_nothing_behind: {why}");
            assert!(std::env::var("CI").map_or(true, |v| v.is_empty()), "{msg}");
            eprintln!("{msg}");
            return;
        }
    };
    let small = fs_.path();
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("target");
    // The image is about 1.2 MiB: it cannot fit. First the layout, then the tarball, then the cache.
    let layout = small.join("layout");
    // `--sbom none`: the SBOM file beside the layout is written before the layout, and a failed
    // layout leaves it behind (reported for the SBOM work, issue 5); this checks the layout itself.
    let err = fails(cmd(&[
        "--sbom",
        "none",
        "--binary",
        BUSYBOX,
        "--target-dir",
        target.to_str().unwrap(),
        "--output",
        layout.to_str().unwrap(),
    ]));
    assert!(err.contains(layout.to_str().unwrap()), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(
        fs::read_dir(small).unwrap().count(),
        0,
        "partial output on the full disk"
    );

    let tar = small.join("image.tar");
    let err = fails(cmd(&[
        "--binary",
        BUSYBOX,
        "--target-dir",
        target.to_str().unwrap(),
        "--output",
        work.path().join("layout").to_str().unwrap(),
        "--tarball",
        tar.to_str().unwrap(),
    ]));
    assert!(err.contains(tar.to_str().unwrap()), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(
        fs::read_dir(small).unwrap().count(),
        0,
        "partial output on the full disk"
    );

    let cache_target = small.join("target");
    let err = fails(cmd(&[
        "--binary",
        BUSYBOX,
        "--target-dir",
        cache_target.to_str().unwrap(),
        "--output",
        work.path().join("layout2").to_str().unwrap(),
    ]));
    assert!(err.contains(small.to_str().unwrap()), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!work.path().join("layout2").exists());
}

/// Check a layout: index.json names a manifest whose config and layers are all there, each with the
/// size and digest it claims.
fn assert_valid_layout(dir: &Path) -> String {
    let (root, manifest) = slim::manifest_of(dir);
    let mut descs = vec![manifest["config"].clone()];
    descs.extend(manifest["layers"].as_array().unwrap().iter().cloned());
    for d in descs {
        let digest = d["digest"].as_str().unwrap();
        let bytes = fs::read(slim::blob_path(dir, digest)).unwrap();
        assert_eq!(bytes.len() as u64, d["size"].as_u64().unwrap());
        let hex = cargo_slim_image::digest::Digest::of(&bytes).to_string();
        assert_eq!(hex, digest);
    }
    root
}

#[test]
fn concurrent_writers_of_one_layout_take_turns() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let out = w.join("out");
    let run = |label: &str, target: &PathBuf| {
        let mut c = cmd(&[
            "--binary",
            BUSYBOX,
            "--target-dir",
            target.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--label",
            &format!("run={label}"),
        ]);
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    // Hold the lock ourselves: a run must wait for it, say so, and finish once it is released.
    let lock_path = w.join(".out.slim-image-lock");
    let lock = fs::File::create(&lock_path).unwrap();
    lock.lock().unwrap();
    let target = w.join("target");
    let mut waiting = run("waited", &target);
    // Read its stderr as it comes, until it says that it waits.
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut pipe = waiting.stderr.take().unwrap();
    let reader = {
        let stderr = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                stderr.lock().unwrap().push_str(&text);
            }
        })
    };
    let t = Instant::now();
    while !stderr
        .lock()
        .unwrap()
        .contains("waiting for another cargo slim-image")
    {
        assert!(
            t.elapsed() < Duration::from_secs(120) && waiting.try_wait().unwrap().is_none(),
            "the run did not wait for the lock:\n{}",
            stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !out.exists(),
        "the run wrote the layout while another held the lock"
    );
    drop(lock);
    let status = waiting.wait().unwrap();
    reader.join().unwrap();
    let err = stderr.lock().unwrap().clone();
    assert!(status.success(), "{err}");
    assert!(err.contains(out.to_str().unwrap()), "{err}");
    assert_valid_layout(&out);

    // Four at once (two sharing a target dir): all succeed, the last one's layout is whole.
    let targets = [w.join("t1"), w.join("t1"), w.join("t2"), w.join("t3")];
    let children: Vec<_> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| run(&format!("r{i}"), t))
        .collect();
    let mut digests = Vec::new();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let line = String::from_utf8(o.stdout).unwrap();
        digests.push(line.trim().rsplit('@').next().unwrap().to_string());
    }
    let root = assert_valid_layout(&out);
    assert!(digests.contains(&root), "{root} is none of {digests:?}");
    let stray: Vec<_> = fs::read_dir(w)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".slim-image"))
        .collect();
    assert!(stray.is_empty(), "temp dirs left behind: {stray:?}");
    if common::peers::check_tools(
        "bad_input::concurrent_writers_of_one_layout_take_turns",
        &["umoci"],
    ) {
        common::peers::umoci_unpack(&out, "latest").unwrap();
    }
}
