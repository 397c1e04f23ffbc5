//! The sweep of what runs that died left beside an output (see [`super::temp`] and `sink::commit`): only names
//! `.slim-image-<kind>-<pid>-<n>`, only when that pid is not alive *and* nobody holds the temp's lock;
//! only plain files and directories (no symlink followed, no FIFO opened). A previous layout moved
//! aside by a run that died mid-swap is put back.

use super::temp::{remove_path, Kind, PREFIX};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `O_NONBLOCK | O_NOFOLLOW`, as `OpenOptionsExt::custom_flags` takes them.
fn no_block_no_follow() -> i32 {
    use rustix::fs::OFlags;
    // The two flags are small positive bits: the cast keeps them as they are.
    (OFlags::NONBLOCK | OFlags::NOFOLLOW).bits() as i32
}

/// The pid in a temp name `.slim-image-<kind>-<pid>-<n>`, when the name is one of ours.
fn temp_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    Kind::ALL.iter().find_map(|k| {
        let tail = rest.strip_prefix(k.as_str())?.strip_prefix('-')?;
        let (pid, n) = tail.split_once('-')?;
        let n = match k {
            Kind::Old => n.split_once('.').map_or(n, |(n, _)| n),
            _ => n,
        };
        let ok = !n.is_empty() && n.bytes().all(|b| b.is_ascii_hexdigit());
        pid.parse::<i32>()
            .ok()
            .filter(|&p| ok && p > 0)
            .and_then(|p| u32::try_from(p).ok())
    })
}

/// Remove what runs that died left in `dir` (see the module docs for what counts). Returns the
/// names removed; errors are ignored (a leftover that cannot be removed is only litter).
pub fn sweep(dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return removed;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = std::str::from_utf8(name.as_bytes()).ok().and_then(temp_pid) else {
            continue;
        };
        if crate::blob::pid_alive(pid) {
            continue;
        }
        let path = e.path();
        // Only what a run makes: a plain directory or file (a symlink is not followed, a FIFO not opened).
        let plain = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() || m.is_file());
        if !plain {
            continue;
        }
        let opened = {
            use std::os::unix::fs::OpenOptionsExt;
            fs::OpenOptions::new()
                .read(true)
                .custom_flags(no_block_no_follow())
                .open(&path)
        };
        let Ok(f) = opened else {
            continue;
        };
        if f.try_lock().is_err() {
            continue;
        }
        let name = name.to_string_lossy();
        let done = if name.starts_with(&format!("{PREFIX}{}-", Kind::Old.as_str())) {
            restore_or_remove(dir, &path, &name)
        } else {
            remove_path(&path)
        };
        if done.is_ok() {
            removed.push(path);
        }
    }
    if !removed.is_empty() {
        crate::ui::note(format!(
            "removed {} leftover(s) of an interrupted cargo slim-image in {}",
            removed.len(),
            dir.display()
        ));
    }
    removed
}

/// A previous output left aside by a run that died mid-swap: put back where its destination is
/// missing, removed where the new one made it.
fn restore_or_remove(dir: &Path, aside: &Path, name: &str) -> io::Result<()> {
    let (_, dest_name) = name.split_once('.').map_or(("", ""), |(_, rest)| {
        rest.split_once('.').unwrap_or(("", ""))
    });
    let dest = dir.join(dest_name);
    if dest_name.is_empty() || fs::symlink_metadata(&dest).is_ok() {
        remove_path(aside)
    } else {
        fs::rename(aside, &dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::temp::Temp;

    #[test]
    fn temp_names_carry_the_pid() {
        assert_eq!(temp_pid(".slim-image-layout-123-4af"), Some(123));
        assert_eq!(temp_pid(".slim-image-old-9-0ff"), Some(9));
        assert_eq!(temp_pid(".slim-image-layout-abc123"), None);
        assert_eq!(temp_pid(".slim-image-layout-123-"), None);
        assert_eq!(temp_pid(".slim-image-other-123-1"), None);
        assert_eq!(temp_pid("slim-image-layout-123-1"), None);
    }

    #[test]
    fn sweep_keeps_live_and_foreign_entries() {
        let d = tempfile::tempdir().unwrap();
        let live = Temp::dir(d.path(), Kind::Layout).unwrap();
        fs::create_dir(d.path().join(".slim-image-layout-abcdef")).unwrap();
        fs::write(d.path().join("mine.txt"), b"x").unwrap();
        // pid 0x7ffffffe is beyond pid_max on Linux: never alive.
        let dead = d.path().join(".slim-image-archive-2147483646-1");
        fs::write(&dead, b"stale").unwrap();
        let removed = sweep(d.path());
        assert_eq!(removed, vec![dead.clone()]);
        assert!(live.path().exists());
        assert!(d.path().join(".slim-image-layout-abcdef").exists());
        assert!(d.path().join("mine.txt").exists());
        let p = live.path().to_path_buf();
        drop(live);
        assert!(!p.exists());
    }
}
