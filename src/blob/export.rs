//! Copying a blob out of the store into an output (an OCI layout), verified, never linked.
//!
//! Outputs get their own copy, so that nothing that later happens to the cache (a damaged blob, an
//! eviction, a write through a hard link) can change an output already written. A reflink (`FICLONE`:
//! btrfs, XFS, bcachefs...) shares the blocks copy-on-write; elsewhere `copy_file_range` copies in the
//! kernel. Neither reads the bytes into the process, so the copy is trusted when the source's `stat`
//! before and after copying is the one it had when it was last found right (this run, or its mark: see
//! [`super::verify`]); any write to the source in between would have changed its ctime. Otherwise the
//! copy is hashed. One that does not hash to its name is deleted and the blob
//! evicted: the run fails naming it, rather than writing a corrupt output.

use super::store::{BlobStore, Stat};
use super::verify::Damaged;
use super::Descriptor;
use crate::digest::HashingWriter;
use anyhow::{bail, Context, Result};
use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

impl BlobStore {
    /// Copy the blob `d` to the new file `dst` (reflink when the file system can), checked against its
    /// digest and size; see the module docs. On an error `dst` is removed.
    pub fn export(&self, d: &Descriptor, dst: &Path) -> Result<()> {
        let out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(dst)
            .with_context(|| format!("copying blob {} into {}", d.digest, dst.display()))?;
        let copied = self.export_into(d, &out, dst);
        if copied.is_err() {
            drop(out);
            let _ = fs::remove_file(dst);
        }
        copied
    }

    /// [`BlobStore::export`] into `out`, a new empty file opened for writing at `dst` (a temp file the
    /// caller owns, and removes on an error).
    pub fn export_into(&self, d: &Descriptor, out: &fs::File, dst: &Path) -> Result<()> {
        let src_path = self.path(&d.digest);
        let what = || format!("copying blob {} into {}", d.digest, dst.display());
        let mut src = match super::plain::open(&src_path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
                "blob {} is not in the blob cache at {}: run the command again to rebuild the image",
                d.digest,
                src_path.display()
            ),
            r => r.with_context(what)?,
        };
        let before = Stat::of(&src.metadata().with_context(what)?);
        // A reflink, else `io::copy`, which between two files is `copy_file_range` (an in-kernel copy,
        // itself a reflink on some file systems) or a read/write loop.
        let copied = if rustix::fs::ioctl_ficlone(out, &src).is_ok() {
            Ok(d.size)
        } else {
            io::copy(&mut src, &mut &*out)
        };
        copied.with_context(what)?;
        let after = Stat::of(&src.metadata().with_context(what)?);
        let found =
            if after == before && before.size() == d.size && self.known_good(&d.digest, &before) {
                None
            } else {
                let mut f = fs::File::open(dst).with_context(what)?;
                let mut h = HashingWriter::new(io::sink());
                io::copy(&mut f, &mut h).with_context(what)?;
                Some(h.peek())
            };
        if let Some((digest, size)) = found {
            if digest != d.digest || size != d.size {
                let damaged = Damaged {
                    digest: d.digest.clone(),
                    path: src_path,
                    found: digest,
                    size,
                };
                self.evict(&damaged, &before);
                return Err(damaged).with_context(what);
            }
            if Stat::of(&src.metadata().with_context(what)?) == before {
                self.remember(&d.digest, before, true);
            }
        }
        // Not fsynced here: the layout's commit fsyncs every file in it (`sink::commit`). Its writeback
        // starts now, so that the commit's fsync waits for less.
        start_writeback(out);
        Ok(())
    }
}

/// Ask the kernel to start writing `out`'s dirty pages to disk now, without waiting
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`; durability still comes from the commit's fsync). The
/// copies of a layout are made one after the other and fsynced together at the end; started at once,
/// a 28 MB debug file's writeback overlaps the copies that follow it. Measured on `--binary` of a 34 MB
/// ripgrep (two 28.6 MB copies of its debug file, layout and beside it): median of 11 runs 181-183 ms
/// against 191-198 ms without, three alternated rounds. A hint: where the call fails (not Linux's
/// file system, an old kernel), nothing changes.
fn start_writeback(out: &fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: `out` is an open file for the whole call; the call reads no memory of ours.
    let _ = unsafe { libc::sync_file_range(out.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::media;
    use std::io::Write;

    #[test]
    fn an_export_is_a_copy_that_later_damage_does_not_reach() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path().join("store")).unwrap();
        let d = store.put_bytes(media::CONFIG, b"{\"a\":1}").unwrap();
        let out = dir.path().join("out");
        store.export(&d, &out).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"{\"a\":1}");
        // Damage the cached blob in place (same inode): the export keeps its bytes, and a later export
        // (by another run: this one's memory of the blob could be from the same clock tick) fails.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(store.path(&d.digest))
            .unwrap();
        f.write_all(b"[").unwrap();
        drop(f);
        assert_eq!(fs::read(&out).unwrap(), b"{\"a\":1}");
        let again = dir.path().join("again");
        let store = BlobStore::open(dir.path().join("store")).unwrap();
        let e = store.export(&d, &again).unwrap_err();
        assert!(format!("{e:#}").contains(&d.digest.to_string()), "{e:#}");
        assert!(!again.exists() && !store.path(&d.digest).exists());
    }
}
