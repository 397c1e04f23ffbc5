//! Flushing what a commit makes visible: fsync of files, trees and directories, several at a time.
//!
//! Takes paths; gives `Ok` once each is on disk, or an error naming the path that could not be
//! flushed.

use anyhow::{Context, Result};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// fsync a directory (so a rename into or out of it is durable).
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("flushing the directory {}", dir.display()))
}

/// fsync every file and directory under `dir`, and `dir` itself.
pub fn sync_tree(dir: &Path) -> Result<()> {
    let mut paths = Vec::new();
    collect_tree(dir, &mut paths)?;
    sync_paths(&paths)
}

/// Every file and directory under `dir`, then `dir`.
pub(super) fn collect_tree(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e.with_context(|| format!("reading {}", dir.display()))?;
        let t = e.file_type()?;
        if t.is_dir() {
            collect_tree(&e.path(), out)?;
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    out.push(dir.to_path_buf());
    Ok(())
}

/// fsync `paths` (files and directories), several at a time: the file system commits its journal once
/// for the fsyncs that wait together, where one after the other each waits for a commit of its own.
/// Measured (strace, `--binary` of a 34 MB ripgrep, the layout and three files beside it, ext4 on
/// this VM): ~3 ms per fsync one after the other, most of which the threads overlap.
pub(super) fn sync_paths(paths: &[PathBuf]) -> Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let work = || -> Result<()> {
        loop {
            let Some(p) = paths.get(next.fetch_add(1, Ordering::Relaxed)) else {
                return Ok(());
            };
            File::open(p)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("flushing {}", p.display()))?;
        }
    };
    let threads = paths.len().clamp(1, 8);
    std::thread::scope(|s| {
        let workers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut result = work();
        for w in workers {
            let r = w
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("an fsync thread panicked")));
            result = result.and(r);
        }
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_fsync_that_fails_among_many_threads_names_its_file() {
        let d = tempfile::tempdir().unwrap();
        let mut paths: Vec<PathBuf> = (0..20).map(|i| d.path().join(format!("f{i}"))).collect();
        for p in &paths {
            fs::write(p, b"x").unwrap();
        }
        // Removed between collecting and flushing (another process, or the user).
        let gone = d.path().join("gone");
        paths.insert(7, gone.clone());
        let e = format!("{:#}", sync_paths(&paths).unwrap_err());
        assert!(e.contains(&gone.display().to_string()), "{e}");
        sync_paths(&paths[..7]).unwrap();
        sync_paths(&[]).unwrap();
    }
}
