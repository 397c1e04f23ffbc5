//! Layers: a sorted list of filesystem entries -> a deterministic `tar+gzip` blob in the store.
//!
//! The tar stream is hashed on its way into the compressor (diff_id, uncompressed size) and the
//! compressed stream on its way to disk (digest, size): one pass over each file, nothing held in
//! memory. Reproducibility is built in here: entries are sorted by path, parent directories are added
//! with fixed modes, owners are numeric only, and every mtime is the one the caller passes
//! (`SOURCE_DATE_EPOCH`, else 0), because a wall-clock time would change the digest on every build.

use crate::blob::{media, BlobStore, Descriptor};
use crate::digest::{Digest, HashingWriter};
use crate::tar::{Header, Kind, TarWriter};
use anyhow::{bail, Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

/// Where a file's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Bytes we generate (templates, certificate bundles).
    Bytes(Vec<u8>),
    /// A file on disk, streamed (binaries, user files).
    Path(PathBuf),
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
    /// The same entry owned by `uid:gid`.
    pub fn owned(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }
}

/// A finished layer: its blob descriptor plus what the image config needs.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Descriptor of the compressed blob (media type, digest, size).
    pub descriptor: Descriptor,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
    /// The history line for the image config (`created_by`).
    pub created_by: String,
}

/// Layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    /// gzip at the given level (1-9).
    Gzip(u32),
}

/// Normalise an image path: absolute, no `.`/`..`/empty components, no trailing slash.
pub fn normalize_path(p: &str) -> Result<String> {
    if !p.starts_with('/') {
        bail!("path `{p}` in the image must be absolute (start with /)");
    }
    let mut parts = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => bail!("path `{p}` in the image must not contain `..`"),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        bail!("path `{p}` names the root directory, not a file");
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Sort entries, add missing parent directories (0755, root), reject duplicates.
fn complete(entries: Vec<Entry>) -> Result<Vec<Entry>> {
    let mut by_path: BTreeMap<String, Entry> = BTreeMap::new();
    for mut e in entries {
        e.path = normalize_path(&e.path)?;
        if let Some(prev) = by_path.get(&e.path) {
            if !(matches!(prev.kind, EntryKind::Dir) && matches!(e.kind, EntryKind::Dir)) {
                bail!("two files want the same path {} in one layer", e.path);
            }
        }
        by_path.insert(e.path.clone(), e);
    }
    let paths: Vec<String> = by_path.keys().cloned().collect();
    for p in paths {
        let mut parent = p.as_str();
        while let Some(i) = parent.rfind('/') {
            parent = &parent[..i];
            if parent.is_empty() {
                break;
            }
            match by_path.get(parent) {
                Some(Entry {
                    kind: EntryKind::Dir,
                    ..
                }) => {}
                Some(_) => {
                    bail!("{parent} is a file in this layer but {p} needs it to be a directory")
                }
                None => {
                    by_path.insert(parent.to_string(), Entry::dir(parent, 0o755));
                }
            }
        }
    }
    // BTreeMap order is byte order of the path, which puts a directory before its children.
    Ok(by_path.into_values().collect())
}

/// Build a layer from entries into the store. `mtime` goes on every entry.
pub fn build(
    store: &BlobStore,
    entries: Vec<Entry>,
    mtime: u64,
    compression: LayerCompression,
    created_by: &str,
) -> Result<Layer> {
    let entries = complete(entries)?;
    let blob = store.writer()?;
    let LayerCompression::Gzip(level) = compression;
    // flate2's GzEncoder writes a fixed header (mtime 0, no name), so equal input gives equal bytes.
    let gz = GzEncoder::new(blob, Compression::new(level));
    let mut tar = TarWriter::new(HashingWriter::new(gz));
    for e in &entries {
        let rel = e.path.trim_start_matches('/');
        let mut header = Header {
            path: rel,
            kind: Kind::File,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            mtime,
            size: 0,
            link: "",
        };
        match &e.kind {
            EntryKind::Dir => {
                header.kind = Kind::Dir;
                tar.append(&header, &mut io::empty())
            }
            EntryKind::Symlink(target) => {
                header.kind = Kind::Symlink;
                header.link = target;
                tar.append(&header, &mut io::empty())
            }
            EntryKind::File(Source::Bytes(b)) => {
                header.size = b.len() as u64;
                tar.append(&header, &mut b.as_slice())
            }
            EntryKind::File(Source::Path(p)) => {
                let mut f = File::open(p).with_context(|| {
                    format!(
                        "opening {} to put it in the image at {}",
                        p.display(),
                        e.path
                    )
                })?;
                header.size = f
                    .metadata()
                    .with_context(|| format!("reading the size of {}", p.display()))?
                    .len();
                tar.append(&header, &mut f as &mut dyn Read)
            }
        }
        .with_context(|| format!("writing {} into a layer", e.path))?;
    }
    let hashing = tar.finish().context("finishing a layer's tar stream")?;
    let (gz, diff_id, uncompressed_size) = hashing.finish();
    let blob = gz.finish().context("finishing a layer's gzip stream")?;
    let (digest, size) = blob.commit()?;
    Ok(Layer {
        descriptor: Descriptor::new(media::LAYER_GZIP, digest, size),
        diff_id,
        uncompressed_size,
        created_by: created_by.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_added_and_sorted() {
        let e = complete(vec![
            Entry::file("/usr/local/bin/app", 0o755, Source::Bytes(vec![1])),
            Entry::dir("/tmp", 0o1777),
        ])
        .unwrap();
        let paths: Vec<_> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/tmp",
                "/usr",
                "/usr/local",
                "/usr/local/bin",
                "/usr/local/bin/app"
            ]
        );
    }

    #[test]
    fn duplicates_and_bad_paths_are_errors() {
        let dup = complete(vec![
            Entry::file("/a", 0o644, Source::Bytes(vec![])),
            Entry::file("/a", 0o644, Source::Bytes(vec![])),
        ]);
        assert!(dup.unwrap_err().to_string().contains("/a"));
        assert!(normalize_path("etc/x").is_err());
        assert!(normalize_path("/etc/../x").is_err());
        assert_eq!(normalize_path("//etc/./x/").unwrap(), "/etc/x");
    }

    #[test]
    fn same_entries_same_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mk = || vec![Entry::file("/etc/x", 0o644, Source::Bytes(b"x".to_vec()))];
        let a = build(&store, mk(), 0, LayerCompression::Gzip(6), "t").unwrap();
        let b = build(&store, mk(), 0, LayerCompression::Gzip(6), "t").unwrap();
        assert_eq!(a.descriptor, b.descriptor);
        assert_eq!(a.diff_id, b.diff_id);
        let c = build(&store, mk(), 1, LayerCompression::Gzip(6), "t").unwrap();
        assert_ne!(a.diff_id, c.diff_id);
    }
}
