//! Layers: a sorted list of filesystem entries -> a deterministic `tar+gzip` (or `tar+zstd`) blob in
//! the store.
//!
//! The tar stream is hashed on its way into the compressor (diff_id, uncompressed size) and the
//! compressed stream on its way to disk (digest, size); nothing is held in memory beyond a few MiB per
//! core. Compression runs on every core ([`crate::compress`]). Before compressing, the
//! [`crate::layer_cache`] is asked: first by a `stat` fingerprint of the inputs (no read at all), then
//! by the diff_id from a hash-only pass (hashing is some 15x cheaper than deflate); on a hit the blob
//! already in the store is reused, once the store has checked it against its digest (a damaged blob
//! is evicted and is a miss, so the layer is built again). On a miss the compressing pass hashes the tar again and must find
//! the same diff_id, so a file that changed between the passes is an error, never a wrong digest.
//! Reproducibility is built in here: entries are sorted by path, parent directories are added
//! with fixed modes, owners are numeric only, and every mtime is the one the caller passes
//! (`SOURCE_DATE_EPOCH`, else 0), because a wall-clock time would change the digest on every build.

use crate::blob::{BlobStore, BlobWriter, Descriptor};
use crate::compress::{self, ParallelGzip};
use crate::digest::{Digest, HashingWriter};
use crate::layer_cache;
use crate::tar::{Header, Kind, TarWriter};
use crate::ui::progress::{self, Writing};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};

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
    /// The compression it was made with: [`LayerCompression::GzipBySize`] resolved to the level the
    /// layer's size chose.
    pub compression: LayerCompression,
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
    for e in by_path.values_mut() {
        if let EntryKind::Hardlink(t) = &mut e.kind {
            *t = normalize_path(t)?;
        }
    }
    for (p, e) in &by_path {
        if let EntryKind::Hardlink(t) = &e.kind {
            let to_file = matches!(
                by_path.get(t),
                Some(Entry {
                    kind: EntryKind::File(_),
                    ..
                })
            );
            if !to_file || t >= p {
                bail!("{p} is a hard link to {t}, which is not a file written before it in this layer");
            }
        }
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

/// The tar header of `e`, with `size` bytes of data for a file.
fn header(e: &Entry, mtime: u64, size: u64) -> Header<'_> {
    let (kind, link) = match &e.kind {
        EntryKind::Dir => (Kind::Dir, ""),
        EntryKind::Symlink(target) => (Kind::Symlink, target.as_str()),
        EntryKind::Hardlink(target) => (Kind::Hardlink, target.trim_start_matches('/')),
        EntryKind::File(_) => (Kind::File, ""),
    };
    Header {
        path: e.path.trim_start_matches('/'),
        kind,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime,
        size: if kind == Kind::File { size } else { 0 },
        link,
    }
}

/// The exact length of the tar stream [`write_tar`] writes for `entries`, from the entries and the
/// sizes of their files (`stat` only, nothing is read): what [`LayerCompression::GzipBySize`] picks
/// the level from, before compressing.
fn tar_size(entries: &[Entry], mtime: u64) -> Result<u64> {
    let mut n = crate::tar::TRAILER;
    for e in entries {
        let size = match &e.kind {
            EntryKind::File(Source::Bytes(b) | Source::Read(b, _)) => b.len() as u64,
            EntryKind::File(Source::Path(p)) => std::fs::metadata(p)
                .with_context(|| {
                    format!(
                        "reading the size of {} to put it in the image at {}",
                        p.display(),
                        e.path
                    )
                })?
                .len(),
            EntryKind::Dir | EntryKind::Symlink(_) | EntryKind::Hardlink(_) => 0,
        };
        n += crate::tar::entry_size(&header(e, mtime, size));
    }
    Ok(n)
}

/// Write the tar stream of sorted, completed `entries` into `out`.
fn write_tar<W: Write>(entries: &[Entry], mtime: u64, out: W) -> Result<W> {
    let mut tar = TarWriter::new(out);
    for e in entries {
        match &e.kind {
            EntryKind::Dir | EntryKind::Symlink(_) | EntryKind::Hardlink(_) => {
                tar.append(&header(e, mtime, 0), &mut io::empty())
            }
            EntryKind::File(Source::Bytes(b) | Source::Read(b, _)) => {
                tar.append(&header(e, mtime, b.len() as u64), &mut b.as_slice())
            }
            EntryKind::File(Source::Path(p)) => {
                let mut f = File::open(p).with_context(|| {
                    format!(
                        "opening {} to put it in the image at {}",
                        p.display(),
                        e.path
                    )
                })?;
                let size = f
                    .metadata()
                    .with_context(|| format!("reading the size of {}", p.display()))?
                    .len();
                tar.append(&header(e, mtime, size), &mut f as &mut dyn Read)
            }
        }
        .with_context(|| format!("writing {} into a layer", e.path))?;
    }
    tar.finish().context("finishing a layer's tar stream")
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
    // The level by size is chosen here, from the tar's exact length, before anything is looked up or
    // compressed: the cache keys below name the effective level, so a change of the rule never
    // serves a layer made at another level.
    let planned_size = tar_size(&entries, mtime)?;
    let compression = compression.for_size(planned_size);
    let layer = |descriptor: Descriptor, diff_id: Digest, uncompressed_size: u64| Layer {
        descriptor,
        diff_id,
        uncompressed_size,
        created_by: created_by.to_string(),
        compression,
    };
    // Unchanged files (same inode, size, mtime and ctime): the layer of last time, without reading them.
    let fingerprint = layer_cache::Fingerprint::of(&entries, mtime, compression);
    if let Some(k) = fingerprint
        .as_ref()
        .and_then(|f| f.lookup(store, compression))
    {
        return Ok(layer(k.descriptor, k.diff_id, k.uncompressed_size));
    }
    let shape = layer_cache::Shape::of(&entries, mtime, compression);
    let expected = match hash_pass(store, &entries, mtime, compression, &shape, &fingerprint)? {
        HashPass::Cached(d, diff_id, uncompressed_size) => {
            return Ok(layer(*d, diff_id, uncompressed_size))
        }
        HashPass::Expect(expected) => expected,
    };
    let (blob, found_id, found_size) = compress_tar(
        store,
        &entries,
        mtime,
        compression,
        planned_size,
        created_by,
    )?;
    let changed = found_size != planned_size;
    if changed || expected.is_some_and(|(id, n)| id != found_id || n != found_size) {
        bail!(
            "a file of this layer changed while it was being packaged ({created_by}): run again once \
             the build has finished writing it"
        );
    }
    let (digest, size) = blob.commit()?;
    let descriptor = Descriptor::new(compression.media_type(), digest, size);
    // Record the layer under its content key and, when there is one, its fingerprint.
    layer_cache::record(store, &found_id, compression, &descriptor)?;
    if let Some(f) = &fingerprint {
        f.record(store, &found_id, found_size)?;
    }
    if let Some(s) = &shape {
        s.record(store)?;
    }
    Ok(layer(descriptor, found_id, found_size))
}

/// What the hash-only pass found: a layer already in the store (descriptor, diff_id, uncompressed
/// size), or the diff_id and size the compressing pass must find (none when the pass was skipped).
enum HashPass {
    Cached(Box<Descriptor>, Digest, u64),
    Expect(Option<(Digest, u64)>),
}

/// Hash-only pass: the diff_id is the cache key. The same bytes (a CI cache restore, a relink that
/// gave an identical binary) stop here, without compressing. Skipped when no tar of this shape was
/// ever compressed here: then it cannot hit, and the compressing pass alone reads the files once.
fn hash_pass(
    store: &BlobStore,
    entries: &[Entry],
    mtime: u64,
    compression: LayerCompression,
    shape: &Option<layer_cache::Shape>,
    fingerprint: &Option<layer_cache::Fingerprint>,
) -> Result<HashPass> {
    if let Some(s) = shape {
        if !s.seen(store) {
            return Ok(HashPass::Expect(None));
        }
    }
    let (_, diff_id, uncompressed_size) =
        write_tar(entries, mtime, HashingWriter::new(io::sink()))?.finish();
    if let Some(d) = layer_cache::lookup(store, &diff_id, compression) {
        // The content entry was just read; only the fingerprint is new.
        if let Some(f) = fingerprint {
            f.record(store, &diff_id, uncompressed_size)?;
        }
        return Ok(HashPass::Cached(Box::new(d), diff_id, uncompressed_size));
    }
    Ok(HashPass::Expect(Some((diff_id, uncompressed_size))))
}

/// Compressing pass: the tar of `entries` through the compressor into a new, uncommitted blob.
/// Returns the blob writer with the diff_id and size of the tar that went in.
fn compress_tar(
    store: &BlobStore,
    entries: &[Entry],
    mtime: u64,
    compression: LayerCompression,
    planned_size: u64,
    created_by: &str,
) -> Result<(BlobWriter, Digest, u64)> {
    let blob = store.writer()?;
    let threads = compress::default_threads();
    // A bar on a terminal for a large layer; it only counts the tar bytes going in.
    let bar = if planned_size >= progress::COMPRESS_BAR_MIN {
        progress::bytes("Compressing", created_by, planned_size)
    } else {
        progress::Bar::none()
    };
    match compression {
        LayerCompression::Zstd(level) => {
            let z = compress::zstd_stream::encoder(blob, level, threads)
                .context("starting the zstd compressor")?;
            let w = Writing::new(HashingWriter::new(z), bar);
            let (z, id, n) = write_tar(entries, mtime, w)?.into_inner().finish();
            Ok((
                z.finish().context("finishing a layer's zstd stream")?,
                id,
                n,
            ))
        }
        gzip => {
            // Resolved by the caller; were it not, it would still get its size's level.
            let level = match gzip {
                LayerCompression::Gzip(l) => l,
                _ => compress::gzip_level_for(planned_size),
            };
            let gz = ParallelGzip::new(blob, level, threads);
            let w = Writing::new(HashingWriter::new(gz), bar);
            let (gz, id, n) = write_tar(entries, mtime, w)?.into_inner().finish();
            Ok((
                gz.finish().context("finishing a layer's gzip stream")?,
                id,
                n,
            ))
        }
    }
}

pub mod compression;
pub mod entry;
pub mod zoneinfo;

pub use compression::LayerCompression;
pub use entry::{Entry, EntryKind, Source};

#[cfg(test)]
mod tests;
