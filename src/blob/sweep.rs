//! Temp files of the blob store, and sweeping up the ones interrupted runs left.
//!
//! Every temp file the store makes (blobs being written, layer cache entries, marks) lives in
//! `<store>/tmp/` and is named `slim-<pid>-<random>`, and its writer holds an exclusive `flock` on it
//! until it is renamed into place or deleted. When a store is opened, a file there is removed only if
//! it has that name, the pid is not this process and no process with that pid is alive, and its lock
//! can be taken: so nothing another tool put there, and nothing a live run is writing (also one in
//! another pid namespace, whose pid means nothing here, since it holds the lock), is touched. The
//! sweep works on `tmp/` opened with `O_NOFOLLOW` and on names relative to it (`openat`, `unlinkat`,
//! never following a symlink), so a `tmp` or a temp file swapped for a symlink leads nowhere else.
//!
//! Versions before this one named their temp files `.tmpXXXXXX` (tempfile's default) and took no
//! lock, so nothing tells a live writer from a dead one but time: such a file is removed once it has
//! not been written for a day ([`LEGACY_AGE`]). A writer streams continuously, and every read of a
//! download has a deadline (`--timeout`), so no live run leaves its temp file untouched that long.

use super::store::BlobStore;
use anyhow::{Context, Result};
use rustix::fs::{AtFlags, Dir, Mode, OFlags};
use std::fs;
use std::os::fd::OwnedFd;
use std::time::{Duration, SystemTime};

const PREFIX: &str = "slim-";

impl BlobStore {
    /// A new temp file in the store's `tmp/` (see the module docs), locked while it is open.
    pub fn temp_file(&self) -> std::io::Result<tempfile::NamedTempFile> {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .tempfile_in(self.root.join("tmp"))?;
        tmp.as_file().lock()?;
        Ok(tmp)
    }

    /// Remove the temp files of dead runs (see the module docs); returns how many bytes went. Works
    /// inside `tmp/` opened without following a symlink, by names relative to it, so nothing outside
    /// the cache's own `tmp/` is ever looked at or removed (a `tmp` that is a symlink is not swept).
    pub(crate) fn sweep(&self) -> Result<u64> {
        let path = self.root.join("tmp");
        let listing = || format!("listing the blob cache {}", path.display());
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let dir = match rustix::fs::open(&path, flags, Mode::empty()) {
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                crate::ui::verbose(format!(
                    "not sweeping {}: it is not a directory of the cache (a symlink?)",
                    path.display()
                ));
                return Ok(0);
            }
            r => r.map_err(std::io::Error::from).with_context(listing)?,
        };
        let mut freed = 0;
        let entries = Dir::read_from(&dir)
            .map_err(std::io::Error::from)
            .with_context(listing)?;
        for e in entries.flatten() {
            let Ok(name) = e.file_name().to_str() else {
                continue;
            };
            if is_legacy(name) {
                freed += remove_if(&dir, name, |f| idle_for(f, LEGACY_AGE)).unwrap_or(0);
                continue;
            }
            let Some(pid) = writer_pid(name) else {
                continue;
            };
            if pid == std::process::id() || alive(pid) {
                continue;
            }
            freed += remove_if(&dir, name, |f| f.try_lock().is_ok()).unwrap_or(0);
        }
        if freed > 0 {
            crate::ui::verbose(format!(
                "removed {freed} bytes of temp files left by interrupted runs from {}",
                path.display()
            ));
        }
        Ok(freed)
    }
}

/// Temp files of earlier versions older than this are removed (see the module docs).
const LEGACY_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// A temp file name of an earlier version: `.tmp` and six letters or digits (tempfile's default).
fn is_legacy(name: &str) -> bool {
    name.strip_prefix(".tmp")
        .is_some_and(|r| r.len() == 6 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Whether the file was last written more than `age` ago.
fn idle_for(f: &fs::File, age: Duration) -> bool {
    f.metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|idle| idle >= age)
}

/// Remove the regular file `name` of `dir` (opened without following a symlink or blocking) when
/// `go` says so; its size, or `None` when it stays.
fn remove_if(dir: &OwnedFd, name: &str, go: impl Fn(&fs::File) -> bool) -> Option<u64> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let f = fs::File::from(rustix::fs::openat(dir, name, flags, Mode::empty()).ok()?);
    let meta = f.metadata().ok()?;
    if !meta.is_file() || !go(&f) {
        return None;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::empty()).ok()?;
    Some(meta.len())
}

/// The pid in a temp file name `slim-<pid>-<random>`.
fn writer_pid(name: &str) -> Option<u32> {
    let (pid, rest) = name.strip_prefix(PREFIX)?.split_once('-')?;
    (!rest.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        .then(|| pid.parse().ok())
        .flatten()
}

/// Whether a process with this pid exists (here, `kill(pid, 0)` other than "no such process").
pub(crate) fn alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dead_unlocked_temps_of_ours_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let tmp = dir.path().join("tmp");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let parent = std::os::unix::process::parent_id();
        let plant = |name: &str| {
            fs::write(tmp.join(name), b"half a blob").unwrap();
            tmp.join(name)
        };
        let stale = plant(&format!("slim-{dead}-abc"));
        let live = plant(&format!("slim-{parent}-abc"));
        let locked = plant(&format!("slim-{dead}-locked"));
        let foreign = plant(&format!("other-{dead}-abc"));
        let holder = fs::File::open(&locked).unwrap();
        holder.lock().unwrap();
        let writing = store.temp_file().unwrap();
        // An earlier version's temp file, untouched for two days, and one being written now.
        let old = plant(".tmpAb3dE9");
        let two_days = SystemTime::now() - Duration::from_secs(48 * 3600);
        fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(two_days)
            .unwrap();
        let recent = plant(".tmpXy7wV2");
        assert_eq!(store.sweep().unwrap(), 22);
        assert!(!stale.exists() && !old.exists());
        assert!(live.exists() && locked.exists() && foreign.exists() && recent.exists());
        assert!(writing.path().exists());
        assert_eq!(writer_pid("slim-12-x"), Some(12));
        assert_eq!(writer_pid("slim-12-"), None);
        assert_eq!(writer_pid("slim--x"), None);
    }
}
