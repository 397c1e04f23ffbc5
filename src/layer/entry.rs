//! The entries a layer is made of: a path in the image, its kind and content ([`Source`] for a file's
//! bytes), permission bits and numeric owner. Takes nothing from the rest of the crate but the
//! `Digest` type; gives the values the layer builder turns into a tar stream and the layer cache
//! fingerprints.

use crate::digest::Digest;
use std::path::PathBuf;

/// Where a file's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Bytes we generate (templates, certificate bundles).
    Bytes(Vec<u8>),
    /// A file on disk, streamed (binaries, user files).
    Path(PathBuf),
    /// A file read whole (a binary whose debug info was looked for), with the digest of these bytes:
    /// the layer holds exactly the bytes that were read (and that the provenance names), and the
    /// fingerprint takes the digest as it is instead of hashing them again.
    Read(Vec<u8>, Digest),
}

/// One filesystem entry of a layer.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Absolute path in the image, e.g. `/usr/local/bin/app`.
    pub path: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// Permission bits.
    pub mode: u32,
    /// Owner uid.
    pub uid: u64,
    /// Owner gid.
    pub gid: u64,
}

/// Kind and content of an entry.
#[derive(Debug, Clone)]
pub enum EntryKind {
    /// A regular file.
    File(Source),
    /// A directory.
    Dir,
    /// A symbolic link to the given target.
    Symlink(String),
    /// A hard link to the regular file of this layer at the given absolute path, which must sort
    /// before it (a tar hard link names a member written earlier).
    Hardlink(String),
}

impl Entry {
    /// A root-owned file.
    pub fn file(path: &str, mode: u32, source: Source) -> Entry {
        Entry {
            path: path.to_string(),
            kind: EntryKind::File(source),
            mode,
            uid: 0,
            gid: 0,
        }
    }
    /// A root-owned directory.
    pub fn dir(path: &str, mode: u32) -> Entry {
        Entry {
            path: path.to_string(),
            kind: EntryKind::Dir,
            mode,
            uid: 0,
            gid: 0,
        }
    }
    /// A root-owned hard link at `path` to the file of the same layer at `target`.
    pub fn hardlink(path: &str, target: &str, mode: u32) -> Entry {
        Entry {
            path: path.to_string(),
            kind: EntryKind::Hardlink(target.to_string()),
            mode,
            uid: 0,
            gid: 0,
        }
    }
    /// The same entry owned by `uid:gid`.
    pub fn owned(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }
}
