//! Checking that a blob in the store still holds the bytes its name promises.
//!
//! Every place that takes a blob out of the [`BlobStore`] goes through here: layer cache and base cache
//! hits ([`BlobStore::contains`]), small reads ([`BlobStore::read`]), streaming reads
//! ([`BlobStore::open_blob`], the tarball and base layer scans), layout export ([`BlobStore::export`])
//! and push uploads ([`BlobStore::verified_path`]). A blob that fails is evicted (with a note naming its
//! digest) so that the caller makes it again, or the run fails naming it; it is never used.
//!
//! Why a mark and not a hash on every use: a layer cache hit on an unchanged workspace reads nothing
//! (see the layer cache), and hashing the cached blob there would add a full read of it to every
//! run. Measured with `time` on a 34 MB (incompressible) app layer, warm page cache, 5 no-op rebuilds
//! each: 0.08-0.14 s with the mark, 0.11-0.21 s hashing the blob instead (release build; user time
//! 0.00-0.01 s against 0.01-0.03 s; a debug build hashes at a tenth of the speed: 0.1-0.17 s against
//! 2.3 s). With a cold page cache (a CI cache restore) the read from disk adds to that. So after a blob
//! has been hashed and found right, its `stat` (device, inode, size, mtime and ctime in nanoseconds) is recorded in
//! `<store>/verified/<hex>`; a later use whose `stat` is the same trusts it without reading. Any write
//! to the file changes its ctime, which no user call can set back; replacing it changes the inode. As
//! with git's racy-index rule, a mark is only recorded for a file whose ctime is at least two seconds
//! old, so a write landing in the same clock tick as our check can never hide behind it. Marks of the
//! current run (blobs just written or hashed) are also kept in memory, without that rule: a write in the
//! same tick as this run's own check is the same race as a write between any check and the use after
//! it, and lasts only as long as the run. Readers that stream the bytes
//! anyway (tarball, base layer scans, plain-copy export) hash them on the way and need no mark.

use super::store::{BlobStore, Stat};
use crate::digest::{Digest, Hasher};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A blob whose bytes do not hash to its name.
#[derive(Debug, thiserror::Error)]
#[error(
    "the cached blob {digest} ({path}) is damaged: its {size} bytes hash to {found}; it was removed \
     from the blob cache, run the command again to make it anew"
)]
pub struct Damaged {
    /// The digest the blob is stored under.
    pub digest: Digest,
    /// Where it was.
    pub path: PathBuf,
    /// What its bytes hash to.
    pub found: Digest,
    /// How many bytes it had.
    pub size: u64,
}

/// The longest mark file read (a mark line is under 120 bytes; a longer file is no mark).
const MARK_LIMIT: u64 = 256;

/// What the file under a digest's name holds.
pub(crate) enum State {
    /// No file.
    Missing,
    /// The right bytes (`size` of them).
    Good(u64),
    /// Other bytes.
    Damaged(Damaged, Stat),
}

impl BlobStore {
    fn mark_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("verified").join(digest.hex())
    }

    /// Whether `stat` is what the blob had when it was last found right (this run, or a mark).
    pub(crate) fn known_good(&self, digest: &Digest, stat: &Stat) -> bool {
        if let Ok(m) = self.marks.lock() {
            if m.get(digest) == Some(stat) {
                return true;
            }
        }
        let on_disk = super::plain::read_small(&self.mark_path(digest), MARK_LIMIT)
            .and_then(|t| Stat::parse(&t));
        if on_disk.as_ref() == Some(stat) {
            self.remember(digest, *stat, false);
            return true;
        }
        false
    }

    /// Record that the blob with `stat` holds the right bytes: in memory, and (when `persist` and the
    /// file is settled, see `RACY`) as a mark on disk. A mark that cannot be written is only a cost
    /// (the next run hashes again), so that is not an error; marks are not fsynced for the same reason.
    pub(crate) fn remember(&self, digest: &Digest, stat: Stat, persist: bool) {
        if let Ok(mut m) = self.marks.lock() {
            m.insert(digest.clone(), stat);
        }
        if persist && stat.settled(SystemTime::now()) {
            let path = self.mark_path(digest);
            // The blob's bytes reach the disk before a mark vouches for them (the store does not fsync
            // blobs as it writes them: see `BlobWriter::commit`), and only while it is the file that
            // was checked.
            let synced = super::plain::open(&self.path(digest)).and_then(|f| {
                f.sync_all()?;
                Ok(Stat::of(&f.metadata()?) == stat)
            });
            if !matches!(synced, Ok(true)) {
                return;
            }
            let written = self.temp_file().and_then(|mut t| {
                fs::create_dir_all(self.root.join("verified"))?;
                io::Write::write_all(&mut t, stat.line().as_bytes())?;
                t.persist(&path).map_err(|e| e.error)?;
                Ok(())
            });
            if let Err(e) = written {
                crate::ui::verbose(format!("could not record {}: {e}", path.display()));
            }
        }
    }

    /// Check the blob under `digest`: by its mark, else by hashing it.
    pub(crate) fn state(&self, digest: &Digest) -> io::Result<State> {
        let path = self.path(digest);
        let mut f = match super::plain::open(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::Missing),
            Err(e) => return self.not_plain(digest, e),
            Ok(f) => f,
        };
        let before = Stat::of(&f.metadata()?);
        if self.known_good(digest, &before) {
            return Ok(State::Good(before.size));
        }
        let (found, size) = crate::digest::of_reader(&mut f)?;
        let after = Stat::of(&f.metadata()?);
        if found != *digest {
            return Ok(State::Damaged(
                Damaged {
                    digest: digest.clone(),
                    path,
                    found,
                    size,
                },
                after,
            ));
        }
        if after == before {
            self.remember(digest, after, true);
        }
        Ok(State::Good(size))
    }

    /// What [`BlobStore::state`] makes of a blob name that is not a regular file: a symlink, FIFO or
    /// other special file is removed (the name only: a symlink's target is never touched) with a
    /// note, and the blob is missing; a directory, or any other error, is an error naming the path.
    fn not_plain(&self, digest: &Digest, e: io::Error) -> io::Result<State> {
        let Some(n) = super::plain::not_plain(&e).filter(|n| n.removable()) else {
            return Err(e);
        };
        let _ = fs::remove_file(self.mark_path(digest));
        if let Ok(mut m) = self.marks.lock() {
            m.remove(digest);
        }
        fs::remove_file(&n.path)?;
        crate::ui::note(format!(
            "{n}: removed it from the blob cache (it was never read); the blob {digest} is made again"
        ));
        Ok(State::Missing)
    }

    /// Remove a damaged blob (if the file there is still the one found damaged) and its mark.
    pub(crate) fn evict(&self, d: &Damaged, stat: &Stat) {
        let _ = fs::remove_file(self.mark_path(&d.digest));
        if let Ok(mut m) = self.marks.lock() {
            m.remove(&d.digest);
        }
        let same = fs::metadata(&d.path).is_ok_and(|m| {
            let now = Stat::of(&m);
            (now.dev, now.ino) == (stat.dev, stat.ino)
        });
        if same {
            if let Err(e) = fs::remove_file(&d.path) {
                crate::ui::note(format!(
                    "could not remove the damaged cached blob {}: {e}",
                    d.path.display()
                ));
            }
        }
    }
}

/// A blob opened for streaming ([`BlobStore::open_blob`]): hashes what is read, and the read that
/// delivers the last byte fails if the bytes were not the blob's (the blob is then evicted). A reader
/// that stops early gets no check from here (its blob was checked when it was taken from the cache).
pub struct BlobReader {
    file: fs::File,
    store: BlobStore,
    digest: Digest,
    path: PathBuf,
    opened: Stat,
    hasher: Hasher,
    read: u64,
    checked: bool,
}

impl BlobReader {
    pub(crate) fn new(store: &BlobStore, digest: &Digest, path: &Path) -> io::Result<BlobReader> {
        let file = super::plain::open(path)?;
        let opened = Stat::of(&file.metadata()?);
        Ok(BlobReader {
            file,
            store: store.clone(),
            digest: digest.clone(),
            path: path.to_path_buf(),
            opened,
            hasher: Hasher::new(),
            read: 0,
            checked: false,
        })
    }

    fn check(&mut self) -> io::Result<()> {
        self.checked = true;
        let (found, size) = self.hasher.clone().finish();
        let now = Stat::of(&self.file.metadata()?);
        if found == self.digest && size == self.opened.size {
            if now == self.opened {
                self.store.remember(&self.digest, now, true);
            }
            return Ok(());
        }
        let d = Damaged {
            digest: self.digest.clone(),
            path: self.path.clone(),
            found,
            size,
        };
        self.store.evict(&d, &now);
        Err(io::Error::new(io::ErrorKind::InvalidData, d))
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if self.checked {
            if n > 0 {
                return Err(io::Error::other(format!(
                    "the cached blob {} ({}) grew while it was read: run the command again",
                    self.digest,
                    self.path.display()
                )));
            }
            return Ok(0);
        }
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if n == 0 || self.read >= self.opened.size {
            self.check()?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    use std::time::Duration;

    #[test]
    fn stat_lines_round_trip_and_settle() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"x").unwrap();
        let s = Stat::of(&fs::metadata(&f).unwrap());
        assert_eq!(Stat::parse(&s.line()), Some(s));
        assert_eq!(Stat::parse("v0 1 2 3 4.5 6.7"), None);
        assert!(!s.settled(SystemTime::now()));
        assert!(s.settled(SystemTime::now() + Duration::from_secs(3)));
    }

    #[test]
    fn a_write_in_place_after_the_mark_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = store.put_bytes("x", b"good bytes").unwrap().digest;
        let path = store.path(&d);
        // A mark on disk, as a run more than two seconds later records it.
        let stat = Stat::of(&fs::metadata(&path).unwrap());
        fs::create_dir_all(dir.path().join("verified")).unwrap();
        fs::write(store.mark_path(&d), stat.line()).unwrap();
        let fresh = BlobStore::open(dir.path()).unwrap();
        assert!(fresh.known_good(&d, &stat));
        assert!(fresh.contains(&d));
        // Same inode, same size. (The pause only makes sure the clock has moved on from the write
        // above, as it has for any real change of a cached blob.)
        std::thread::sleep(Duration::from_millis(30));
        let mut f = fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all(b"bad").unwrap();
        drop(f);
        let m = fs::metadata(&path).unwrap();
        assert_eq!((m.ino(), m.len()), (stat.ino, stat.size));
        let fresh = BlobStore::open(dir.path()).unwrap();
        assert!(!fresh.contains(&d), "a damaged blob counts as missing");
        assert!(!path.exists() && !store.mark_path(&d).exists());
    }

    #[test]
    fn reads_of_a_damaged_blob_fail_and_evict_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = store.put_bytes("x", &vec![7u8; 300_000]).unwrap().digest;
        let mut r = store.open_blob(&d).unwrap();
        assert_eq!(io::copy(&mut r, &mut io::sink()).unwrap(), 300_000);
        let mut bytes = fs::read(store.path(&d)).unwrap();
        bytes[123_456] ^= 1;
        fs::write(store.path(&d), &bytes).unwrap();
        let mut r = store.open_blob(&d).unwrap();
        let e = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert!(e.to_string().contains(&d.to_string()), "{e}");
        assert!(!store.path(&d).exists());
        // A read that stops at the size (as a tar writer does) is checked too.
        let small = store.put_bytes("x", b"0123456789").unwrap().digest;
        fs::write(store.path(&small), b"0123456788").unwrap();
        let mut r = store.open_blob(&small).unwrap();
        let mut buf = [0u8; 10];
        assert!(r.read_exact(&mut buf).is_err());
        let s = store.put_bytes("x", b"abc").unwrap().digest;
        fs::write(store.path(&s), b"abd").unwrap();
        let e = store.read(&s).unwrap_err();
        assert!(format!("{e:#}").contains("damaged"), "{e:#}");
    }
}
