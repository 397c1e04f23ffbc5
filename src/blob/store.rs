//! The blob store's handle and what it remembers of a blob file, as plain values.
//!
//! [`BlobStore`]'s methods live where their work is: opening, reading and writing in `blob`, checks
//! and marks in `verify`, temp-file sweeping in `sweep`, copies out in `export`. They all take the
//! struct from this leaf, which imports nothing of theirs, so the modules point one way.

use crate::digest::Digest;
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// A directory of blobs addressed by digest: `<root>/sha256/<hex>`.
///
/// Every blob taken out of it is checked against its name (`BlobStore::verify` in `blob::verify`); outputs get copies
/// (`export`); blobs are not fsynced as they are written (a mark that vouches for one is written
/// only after its fsync, see `BlobWriter::commit`); temp files of dead runs are swept when the store
/// is opened (`sweep`).
#[derive(Debug, Clone)]
pub struct BlobStore {
    pub(super) root: PathBuf,
    /// Blobs found right (or written) by this process, with their `stat` then (see `blob::verify`).
    pub(super) marks: Arc<Mutex<HashMap<Digest, Stat>>>,
}

/// Files changed more recently than this get no persistent mark (the "racy" window).
pub(super) const RACY: Duration = Duration::from_secs(2);

/// What `stat` says about a blob file: see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub(super) dev: u64,
    pub(super) ino: u64,
    pub(super) size: u64,
    pub(super) mtime: (i64, i64),
    pub(super) ctime: (i64, i64),
}

impl Stat {
    pub(crate) fn of(m: &fs::Metadata) -> Stat {
        Stat {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// The file's size.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(super) fn line(&self) -> String {
        format!(
            "v1 {} {} {} {}.{} {}.{}\n",
            self.dev, self.ino, self.size, self.mtime.0, self.mtime.1, self.ctime.0, self.ctime.1
        )
    }

    pub(super) fn parse(text: &str) -> Option<Stat> {
        let mut f = text.split_whitespace();
        (f.next()? == "v1").then_some(())?;
        let mut num = || f.next()?.parse::<u64>().ok();
        let (dev, ino, size) = (num()?, num()?, num()?);
        let mut time = || {
            let (s, ns) = f.next()?.split_once('.')?;
            Some((s.parse().ok()?, ns.parse().ok()?))
        };
        let (mtime, ctime) = (time()?, time()?);
        Some(Stat {
            dev,
            ino,
            size,
            mtime,
            ctime,
        })
    }

    /// Whether the file's last change is at least [`RACY`] older than `now`.
    pub(super) fn settled(&self, now: SystemTime) -> bool {
        let (Ok(s), Ok(ns)) = (u64::try_from(self.ctime.0), u32::try_from(self.ctime.1)) else {
            return false;
        };
        let ctime = SystemTime::UNIX_EPOCH + Duration::new(s, ns);
        now.duration_since(ctime).is_ok_and(|age| age >= RACY)
    }
}
