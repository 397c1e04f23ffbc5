//! Helpers shared by the output tests (tests/outputs.rs, tests/outputs_attack.rs): a busybox run,
//! listing the tool's temps, and runs that wait on a lock the test holds.

use super::slim::cmd;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BUSYBOX: &str = "/bin/busybox";

/// `cargo slim-image --binary /bin/busybox --target-dir TARGET REST...`.
pub fn busy(target: &Path, rest: &[&str]) -> Command {
    let mut args = vec![
        "--binary",
        BUSYBOX,
        "--target-dir",
        target.to_str().unwrap(),
    ];
    args.extend_from_slice(rest);
    cmd(&args)
}

/// `-o OUT --tarball TAR`.
pub fn layout_and_tarball<'a>(out: &'a Path, tar: &'a Path) -> [&'a str; 4] {
    [
        "-o",
        out.to_str().unwrap(),
        "--tarball",
        tar.to_str().unwrap(),
    ]
}

/// Names in `dir` for which `keep` holds.
pub fn names_where(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| keep(n))
        .collect()
}

/// Names in `dir` that start with `prefix`.
pub fn names_with(dir: &Path, prefix: &str) -> Vec<String> {
    names_where(dir, |n| n.starts_with(prefix))
}

/// A run that waits for a lock held by the caller; returns it once its stderr says it waits, with
/// the stderr collected so far. Fails if the run ends first or has not waited within 120 s.
pub fn start_waiting(mut c: Command) -> (Child, Arc<Mutex<String>>) {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut pipe = child.stderr.take().unwrap();
    {
        let stderr = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                stderr
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    let t = Instant::now();
    while !stderr
        .lock()
        .unwrap()
        .contains("waiting for another cargo slim-image")
    {
        assert!(
            t.elapsed() < Duration::from_secs(120) && child.try_wait().unwrap().is_none(),
            "the run did not wait for the lock:\n{}",
            stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, stderr)
}

/// Creates `path` and holds an exclusive lock on it while the returned file lives.
pub fn hold_lock(path: &Path) -> fs::File {
    let f = fs::File::create(path).unwrap();
    f.lock().unwrap();
    f
}

/// Every path under `dir` that is a temp or lock of the tool (`.slim-image-…`, `…slim-image-lock`,
/// the blob cache's `slim-<pid>-…`).
pub fn litter(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let cache_temp = n
            .strip_prefix("slim-")
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
        if n.starts_with(".slim-image-") || n.ends_with("slim-image-lock") || cache_temp {
            found.push(e.path().display().to_string());
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(litter(&e.path()));
        }
    }
    found
}

pub fn assert_no_litter(dir: &Path) {
    let left = litter(dir);
    assert!(left.is_empty(), "temps left: {left:?}");
}

pub fn signal(pid: u32, sig: i32) {
    // SAFETY: a signal to a process this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

/// Every name under `dir`, recursively, relative to it.
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    v.sort();
    v
}

pub fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        v.push(e.path());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            v.extend(walkdir(&e.path()));
        }
    }
    v
}

/// Every file under `dir` (outside `target`) with its bytes, sorted.
pub fn tree_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    tree(dir)
        .into_iter()
        .filter(|p| !p.starts_with("target") && dir.join(p).is_file())
        .map(|p| (p.clone(), fs::read(dir.join(&p)).unwrap()))
        .collect()
}

/// `c` run in a mount namespace of its own between the shell lines `setup` (which mount what the
/// test needs there) and `after` (which look at it before it goes; `c`'s exit status is kept);
/// None (after a loud SKIP) where this process may not make one (no CAP_SYS_ADMIN).
pub fn in_mount_namespace(c: &Command, setup: &str, after: &str, test: &str) -> Option<Command> {
    let can = Command::new("unshare").args(["-m", "true"]).status();
    if !can.is_ok_and(|s| s.success()) {
        eprintln!("SKIP: {test}: `unshare -m` is not allowed here (needs CAP_SYS_ADMIN)");
        return None;
    }
    let mut u = Command::new("unshare");
    let script = format!("set -e\n{setup}\nset +e\n\"$@\"\nrc=$?\n{after}\nexit $rc");
    u.args(["-m", "sh", "-c", &script, "sh"]);
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
