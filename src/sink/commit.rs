//! The one place where outputs are committed: temp paths beside a destination, the lock on the
//! destination, the swap that makes the new output visible, and the cleanup of what a run leaves.
//!
//! - Every temp this run creates ([`Temp`]) is named `.slim-image-<kind>-<pid>-<n>`, holds an advisory
//!   lock (`flock`) on itself while it lives, and is listed in one registry of live temps. Dropping a
//!   [`Temp`] that was not committed removes it; on SIGINT/SIGTERM/SIGHUP ([`install_signal_cleanup`])
//!   every listed path is removed and the process exits with 130/143/129.
//! - [`sweep`] removes leftovers of runs that died (`kill -9`, a crash, a power cut): only names of the
//!   form above, only when that pid is not alive *and* nobody holds the temp's lock, so a live run (also
//!   one in another pid namespace) never loses its temp and nothing the tool did not create is touched.
//! - [`DestLock`] ([`super::lock`]) serialises the runs writing one destination: `flock` on `.<name>.slim-image-lock`
//!   beside it, re-checked after locking (the path must still be the locked inode, else lock again),
//!   and removed by its holder before unlocking, so no lock file stays behind and no two runs ever
//!   hold "the" lock on two different inodes.
//! - [`commit`] makes a unit of staged temps visible under one lock: each staged file and directory is
//!   fsynced before, and the parent directory after, the rename. A directory replaces the old one with
//!   one `renameat2(RENAME_EXCHANGE)` where the file system has it (a crash leaves the old or the new
//!   layout, never none); elsewhere the old one is moved aside first (named after its destination, so
//!   [`sweep`] puts it back if the run dies before the new one is in). The signal cleanup waits for a
//!   commit in progress, so it never removes an old output that is aside.

use super::sync::{collect_tree, sync_paths};
use super::temp::{aside_path, forget, live, remove_path};
use anyhow::{Context, Result};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use super::lock::{lock_path, DestLock};
pub use super::signals::install_signal_cleanup;
pub use super::sweep::sweep;
pub use super::sync::{sync_dir, sync_tree};
pub use super::temp::{parent_of, Kind, Temp, PREFIX};

/// `dest` with its symlinks followed (at most 40, like the kernel): the path an output replaces, so
/// the user's link stays a link. A missing path (or a dangling link's target) is returned as is.
pub fn follow_links(dest: &Path) -> Result<PathBuf> {
    let mut p = dest.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&p)
                    .with_context(|| format!("reading the symlink {}", p.display()))?;
                p = if link.is_absolute() {
                    link
                } else {
                    parent_of(&p).join(link)
                };
            }
            _ => return Ok(p),
        }
    }
    anyhow::bail!(
        "{}: too many levels of symbolic links: give the real path",
        dest.display()
    )
}

/// `renameat2(from, to, RENAME_EXCHANGE)`: swap two existing paths atomically. `Ok(false)` when the
/// kernel or file system has no exchange (then nothing changed).
fn exchange(from: &Path, to: &Path) -> Result<bool> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    match renameat_with(CWD, from, CWD, to, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(true),
        Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => Ok(false),
        Err(e) => Err(io::Error::from(e))
            .with_context(|| format!("swapping {} into place at {}", from.display(), to.display())),
    }
}

/// Put the staged directory `temp` at `dest`, replacing the directory there (see the module docs).
/// Runs inside the commit section: `registry` is the locked list of live paths.
fn swap_dir(registry: &mut Vec<PathBuf>, temp: &Temp, dest: &Path) -> Result<()> {
    let exists = fs::symlink_metadata(dest).is_ok();
    if !exists {
        return fs::rename(temp.path(), dest)
            .with_context(|| format!("moving the new output into {}", dest.display()));
    }
    if exchange(temp.path(), dest)? {
        // The temp path now holds the old output; it is still listed, so an interrupt removes it.
        let _ = remove_path(temp.path());
        return Ok(());
    }
    swap_aside(registry, temp, dest)
}

/// The swap without `RENAME_EXCHANGE`: the previous output is moved aside (see [`aside_path`]), the
/// new one renamed in, the previous one removed.
fn swap_aside(registry: &mut Vec<PathBuf>, temp: &Temp, dest: &Path) -> Result<()> {
    let aside = aside_path(dest);
    fs::rename(dest, &aside)
        .with_context(|| format!("moving the previous output {} aside", dest.display()))?;
    registry.push(aside.clone());
    if let Err(e) = fs::rename(temp.path(), dest) {
        let _ = fs::rename(&aside, dest);
        forget(registry, &aside);
        return Err(e).with_context(|| format!("moving the new output into {}", dest.display()));
    }
    let _ = remove_path(&aside);
    forget(registry, &aside);
    Ok(())
}

/// A file replaces only a missing path or a file (a directory, FIFO or device there is the user's);
/// a directory only a missing path or a directory.
fn check_dest(is_dir: bool, dest: &Path) -> Result<()> {
    let Ok(m) = fs::symlink_metadata(dest) else {
        return Ok(());
    };
    let t = m.file_type();
    if is_dir && !t.is_dir() {
        anyhow::bail!(
            "{} exists and is not a directory, so the output directory cannot replace it: remove it or \
             give another path; nothing was written",
            dest.display()
        );
    }
    if !is_dir && (t.is_dir() || is_special(t)) {
        anyhow::bail!(
            "{} is a {}, not a file, so the output file cannot replace it: move it away or give another \
             path; nothing was written",
            dest.display(),
            if t.is_dir() { "directory" } else { "FIFO, device or socket" }
        );
    }
    Ok(())
}

/// Make the staged temps visible at their destinations, as one unit under `lock` (the lock of the
/// unit's main destination). Each temp must be complete; it is fsynced here. A directory replaces a
/// directory (see `swap_dir`), a file replaces a file by rename.
pub fn commit(lock: &DestLock, staged: Vec<(Temp, PathBuf)>) -> Result<()> {
    commit_removing(lock, staged, &[])
}

/// [`commit`], and remove the files `stale` (an earlier run's outputs that this unit replaces
/// without writing them again, `sink::beside`). They go first, inside the commit section (a
/// signal waits for it), after every check: a run killed there leaves the previous unit without
/// them, never the new one next to them.
pub fn commit_removing(
    _lock: &DestLock,
    staged: Vec<(Temp, PathBuf)>,
    stale: &[PathBuf],
) -> Result<()> {
    // Every destination is checked before the first rename, so the unit fails whole, never half in.
    for (t, dest) in &staged {
        check_dest(t.is_dir(), dest)?;
    }
    let mut flush = Vec::new();
    for (t, _) in &staged {
        if t.is_dir() {
            collect_tree(t.path(), &mut flush)?;
        } else {
            flush.push(t.path().to_path_buf());
        }
    }
    sync_paths(&flush)?;
    let mut parents = Vec::new();
    // Dropped after the section: a Temp's drop takes the registry lock itself.
    let mut done = Vec::new();
    let mut registry = live();
    let mut result = Ok(());
    // Beside the unit's destinations, so their directory is flushed with theirs.
    for p in stale {
        match fs::remove_file(p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                result = Err(e).with_context(|| format!("removing the stale {}", p.display()));
                break;
            }
            _ => {}
        }
    }
    for (mut t, dest) in staged {
        if result.is_ok() {
            result = if t.is_dir() {
                swap_dir(&mut registry, &t, &dest)
            } else {
                fs::rename(t.path(), &dest)
                    .with_context(|| format!("moving the finished file to {}", dest.display()))
            };
            if result.is_ok() {
                t.disarm(&mut registry);
                let p = parent_of(&dest);
                if !parents.contains(&p) {
                    parents.push(p);
                }
            }
        }
        done.push(t);
    }
    drop(registry);
    drop(done);
    result?;
    for p in parents {
        sync_dir(&p)?;
    }
    Ok(())
}

/// Rename the finished temp file `temp` over `dest`, without fsync: for a hint in a cache that its
/// reader checks and ignores when it is cut or empty (the mount memory), not for an output. A run
/// killed before this leaves only its temp, which [`sweep`] removes.
pub fn rename_unsynced(mut temp: Temp, dest: &Path) -> Result<()> {
    let mut registry = live();
    fs::rename(temp.path(), dest).with_context(|| {
        format!(
            "moving {} into place at {}",
            temp.path().display(),
            dest.display()
        )
    })?;
    temp.disarm(&mut registry);
    // Before `temp`: its drop takes the registry lock itself.
    drop(registry);
    Ok(())
}

/// Create the file `dest` holding `bytes`, whole or not at all: written to a temp beside it,
/// fsynced, then renamed in without replacing anything (`RENAME_NOREPLACE`; a hard link where the
/// file system has no such rename). `Ok(false)`: something is at `dest` (a dangling symlink too),
/// left as it is. A failed write leaves no `dest` and no temp; leftovers of runs that died are
/// swept first, as beside every output.
pub fn write_new(dest: &Path, bytes: &[u8]) -> Result<bool> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    let parent = parent_of(dest);
    sweep(&parent);
    let mut temp = Temp::file(&parent, Kind::File)?;
    // The caller says what was being written: the temp's name would mean nothing to the user.
    io::Write::write_all(&mut temp.as_file(), bytes).and_then(|()| temp.as_file().sync_all())?;
    let mut registry = live();
    let placed = match renameat_with(CWD, temp.path(), CWD, dest, RenameFlags::NOREPLACE) {
        Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => fs::hard_link(temp.path(), dest),
        r => r
            .map_err(io::Error::from)
            .map(|()| temp.disarm(&mut registry)),
    };
    // Before `temp` (removed on drop unless it was renamed): its drop takes the registry lock.
    drop(registry);
    match placed {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        r => r.with_context(|| format!("moving the finished file to {}", dest.display()))?,
    }
    drop(temp);
    sync_dir(&parent)?;
    Ok(true)
}

/// Whether a file type is special (FIFO, device, socket): such a file is written into, never replaced.
pub fn is_special(t: fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    t.is_fifo() || t.is_char_device() || t.is_block_device() || t.is_socket()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_swaps_a_directory_and_files_as_one_unit() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("out");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("old"), b"1").unwrap();
        let side = d.path().join("out.txt");
        fs::write(&side, b"old").unwrap();
        let new = Temp::dir(d.path(), Kind::Layout).unwrap();
        fs::write(new.path().join("new"), b"2").unwrap();
        let file = Temp::file(d.path(), Kind::Sbom).unwrap();
        std::io::Write::write_all(&mut file.as_file(), b"new").unwrap();
        let lock = DestLock::take(&dest).unwrap();
        commit(&lock, vec![(new, dest.clone()), (file, side.clone())]).unwrap();
        drop(lock);
        assert!(dest.join("new").is_file() && !dest.join("old").exists());
        assert_eq!(fs::read(&side).unwrap(), b"new");
        let left: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }

    #[test]
    fn exchange_swaps_two_directories_where_supported() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        fs::write(a.join("from-a"), b"").unwrap();
        if exchange(&a, &b).unwrap() {
            assert!(b.join("from-a").is_file() && !a.join("from-a").exists());
        } else {
            // Nothing changed where the file system has no exchange (the fallback path is used).
            assert!(a.join("from-a").is_file());
        }
    }

    #[test]
    fn swap_without_exchange_and_a_run_that_died_mid_swap() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("out");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("old"), b"1").unwrap();
        let new = Temp::dir(d.path(), Kind::Layout).unwrap();
        fs::write(new.path().join("new"), b"2").unwrap();
        swap_aside(&mut Vec::new(), &new, &dest).unwrap();
        assert!(dest.join("new").is_file() && !dest.join("old").exists());
        drop(new);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        // Died between the two renames: the previous output is put back.
        let aside = d.path().join(".slim-image-old-2147483646-1.out.v1");
        fs::rename(&dest, &aside).unwrap();
        sweep(d.path());
        assert!(d.path().join("out.v1/new").is_file() && !aside.exists());
        // Died after the second rename: the new output stays, the old one goes.
        fs::create_dir(&aside).unwrap();
        sweep(d.path());
        assert!(d.path().join("out.v1/new").is_file() && !aside.exists());
    }
}
