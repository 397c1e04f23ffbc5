//! The lock of one destination (a layout, a tarball): `flock` on `.<name>.slim-image-lock` beside it.
//!
//! A run that finds it held says so on stderr and waits. After locking, the path must still name the
//! locked inode (the holder before us removed its file before unlocking); otherwise we locked a removed
//! file and lock the current one instead. So the holder can remove the file when it is done, and no lock
//! file is left beside an output, without two runs ever holding "the" lock on two different inodes.

use super::temp::{forget, live, parent_of};
use anyhow::{Context, Result};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// The lock of one destination, held while a run replaces it; see the module docs.
#[derive(Debug)]
pub struct DestLock {
    path: PathBuf,
    file: File,
}

/// The lock file of `dest`: `.<name>.slim-image-lock` in its directory.
pub fn lock_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy());
    parent_of(dest).join(format!(".{name}.slim-image-lock"))
}

fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

impl DestLock {
    /// Take the lock for writing `dest`, waiting (and saying so on stderr) while another run holds it.
    pub fn take(dest: &Path) -> Result<DestLock> {
        let path = lock_path(dest);
        let mut said = false;
        loop {
            // The registry is held from creating the file to listing it, so that a signal's cleanup
            // (which takes the registry first) never runs between the two and leaves a lock file
            // this run made behind (tests/outputs_attack.rs). It is let go only to wait.
            let mut registry = Some(live());
            let file = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .with_context(|| format!("creating the lock file {}", path.display()))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    registry = None;
                    if !said {
                        crate::ui::note(format!(
                            "waiting for another cargo slim-image that is writing {} (lock {})",
                            dest.display(),
                            path.display()
                        ));
                        said = true;
                    }
                    file.lock()
                        .with_context(|| format!("waiting for the lock {}", path.display()))?;
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", path.display()))
                }
            }
            // The holder before us removes the file before unlocking: if the path is gone or is
            // another inode now, we locked a removed file and must lock the current one.
            let mut registry = registry.unwrap_or_else(live);
            let current = fs::metadata(&path);
            let held = file.metadata();
            if let (Ok(c), Ok(h)) = (&current, &held) {
                if same_file(c, h) {
                    registry.push(path.clone());
                    return Ok(DestLock { path, file });
                }
            }
        }
    }
}

impl Drop for DestLock {
    fn drop(&mut self) {
        let mut registry = live();
        // Remove while still holding the lock (see [`DestLock::take`]); unlocked when `file` closes.
        let _ = fs::remove_file(&self.path);
        forget(&mut registry, &self.path);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_file_is_removed_and_reacquirable() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("out");
        let l = DestLock::take(&dest).unwrap();
        assert!(lock_path(&dest).exists());
        drop(l);
        assert!(!lock_path(&dest).exists());
        let again = DestLock::take(&dest).unwrap();
        drop(again);
    }
}
