//! The files of two layers compared: which entry differs first, and how.
//!
//! Takes two layer blobs of the store (gzip, zstd or plain tar), decompresses each as a stream and
//! reads it with [`crate::base::tarread`] (bounded extended headers, no panics on hostile input),
//! hashing every file's data on the way (nothing is held in memory but the entry table, which is
//! bounded by [`bounded::MAX_PATH_TABLE`]). The image's layer is unpacked to at most
//! [`CAP_FACTOR`] times the rebuild's size plus [`CAP_SLACK`], so a decompression bomb ends the
//! walk early instead of keeping verify busy. Gives the first entry, in the published layer's order,
//! that is missing, extra, or differs in type (file, dir, symlink, hardlink, char or block device,
//! fifo), size, content (sha256), mode, owner, mtime, link target, device numbers or the PAX
//! records of its extended header (xattrs such as file capabilities); or, when every entry is the
//! same, what else differs (order, tar headers, compression).

use crate::base::bounded;
use crate::base::tarread::{self, EntryType};
use crate::blob::{media, BlobStore, Descriptor};
use crate::digest::{Digest, HashingReader, HashingWriter};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;

/// One entry of a layer, as compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    /// `file`, `dir`, `symlink`, `hardlink` or `other`.
    pub kind: &'static str,
    /// Data size.
    pub size: u64,
    /// Permission bits, in octal.
    pub mode: String,
    /// `uid:gid`.
    pub owner: String,
    /// Modification time, seconds.
    pub mtime: u64,
    /// Link target (links only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub link: String,
    /// sha256 of the data (regular files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Digest>,
    /// `major:minor` of a device.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub device: String,
    /// PAX records besides the ones above (xattrs, uname, gname), by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// The first entry that differs between the image's layer and the rebuild's.
#[derive(Debug, Clone, Serialize)]
pub struct FileDiff {
    /// Path in the layer (no leading `/`).
    pub path: String,
    /// What differs: `missing`, `extra`, `type`, `size`, `content`, `mode`, `owner`, `mtime`, `link`,
    /// `device`, `extended headers`;
    /// `cut` when the image's layer was not read to its end (see [`CAP_FACTOR`]).
    pub what: Vec<&'static str>,
    /// The entry in the image (absent: only in the rebuild).
    pub image: Option<FileInfo>,
    /// The entry in the rebuild (absent: only in the image).
    pub rebuild: Option<FileInfo>,
    /// How many other entries differ too.
    pub others: usize,
}

/// How two layers with different digests differ.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerFinding {
    /// An entry differs (the first one).
    File(Box<FileDiff>),
    /// Every entry is the same; only this differs (a sentence).
    Other(String),
}

/// A layer's entries in order, with their info.
type Entries = Vec<(String, FileInfo)>;

fn kind_name(k: EntryType, flag: u8) -> &'static str {
    match (k, flag) {
        (EntryType::File, _) => "file",
        (EntryType::Dir, _) => "dir",
        (EntryType::Symlink, _) => "symlink",
        (EntryType::Hardlink, _) => "hardlink",
        (EntryType::Other, b'3') => "char device",
        (EntryType::Other, b'4') => "block device",
        (EntryType::Other, b'6') => "fifo",
        (EntryType::Other, _) => "other",
    }
}

/// The decompressed tar stream of a layer blob.
fn tar_stream(store: &BlobStore, layer: &Descriptor) -> Result<Box<dyn Read>> {
    let file = std::io::BufReader::new(store.open_blob(&layer.digest)?);
    Ok(match layer.media_type.as_str() {
        media::LAYER_GZIP | media::DOCKER_LAYER_GZIP => {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        }
        media::LAYER_ZSTD => Box::new(
            zstd::stream::read::Decoder::with_buffer(file)
                .with_context(|| format!("reading zstd layer {}", layer.digest))?,
        ),
        _ => Box::new(file),
    })
}

/// How much more the image's layer may unpack to than the rebuild's (times, plus [`CAP_SLACK`]):
/// a layer that differs is walked to name a file, but a decompression bomb (a few MiB of gzip or
/// zstd that unpack to terabytes) must not keep verify busy for hours.
pub const CAP_FACTOR: u64 = 4;

/// What the image's layer may unpack to beyond [`CAP_FACTOR`] times the rebuild's: 16 MiB.
pub const CAP_SLACK: u64 = 16 << 20;

/// A reader that gives at most `left` bytes, then fails and sets `hit`.
struct Capped<R> {
    inner: R,
    left: u64,
    hit: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 && !buf.is_empty() {
            self.hit.set(true);
            return Err(std::io::Error::other("the unpacked size limit is reached"));
        }
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got as u64;
        Ok(got)
    }
}

/// A layer read: its entries in order, the digest and length of its uncompressed tar (its
/// diff_id), and whether reading stopped at the cap (then the entries are those before it).
struct Scan {
    entries: Entries,
    tar: Digest,
    tar_size: u64,
    capped: bool,
}

/// Every entry of `layer`, in order, reading at most `cap` uncompressed bytes.
fn entries(store: &BlobStore, layer: &Descriptor, whose: &str, cap: u64) -> Result<Scan> {
    let hit = std::rc::Rc::new(std::cell::Cell::new(false));
    let capped = Capped {
        inner: tar_stream(store, layer)?,
        left: cap,
        hit: hit.clone(),
    };
    let mut hashing = HashingReader::new(capped);
    let mut out = Entries::new();
    let mut budget = bounded::MAX_PATH_TABLE;
    // The entry whose data the cap cut (its header is read: path, type and size are known).
    let mut cut: Option<(String, FileInfo)> = None;
    let walked = tarread::for_each(&mut hashing, |e, data| {
        let extra: usize = e.extra.iter().map(|(k, v)| k.len() + v.len()).sum();
        let cost = (e.path.len() + e.link.len() + extra) as u64 + bounded::PATH_ENTRY_OVERHEAD;
        budget = budget.checked_sub(cost).with_context(|| {
            format!(
                "the entries of the layer are over the {}-byte limit (no real layer has that many \
                 files or names that long)",
                bounded::MAX_PATH_TABLE
            )
        })?;
        let mut info = FileInfo {
            kind: kind_name(e.kind, e.flag),
            size: e.size,
            mode: format!("{:04o}", e.mode),
            owner: format!("{}:{}", e.owner.0, e.owner.1),
            mtime: e.mtime,
            link: e.link.clone(),
            sha256: None,
            device: match e.flag {
                b'3' | b'4' => format!("{}:{}", e.device.0, e.device.1),
                _ => String::new(),
            },
            extra: e.extra.iter().cloned().collect(),
        };
        if e.kind == EntryType::File {
            let mut w = HashingWriter::new(std::io::sink());
            if let Err(err) = std::io::copy(data, &mut w) {
                cut = Some((e.path.clone(), info));
                return Err(err).with_context(|| format!("reading `{}`", e.path));
            }
            info.sha256 = Some(w.finish().1);
        }
        out.push((e.path.clone(), info));
        Ok(())
    })
    // The trailer and anything after it count for the diff_id too.
    .and_then(|()| Ok(std::io::copy(&mut hashing, &mut std::io::sink())?));
    if let Err(e) = walked {
        if !hit.get() {
            return Err(e.context(format!("reading layer {} of {whose}", layer.digest)));
        }
        // Compared by what its header says (its content is not known: no sha256).
        out.extend(cut);
    }
    let (tar, tar_size) = hashing.finish();
    Ok(Scan {
        entries: out,
        tar,
        tar_size,
        capped: hit.get(),
    })
}

/// What differs between two entries of one path (empty: nothing).
fn differences(a: &FileInfo, b: &FileInfo) -> Vec<&'static str> {
    let mut v = Vec::new();
    if a.kind != b.kind {
        v.push("type");
    }
    if a.size != b.size {
        v.push("size");
    }
    // A file cut by the cap has no sha256: its content is not known, so not said to differ.
    if a.sha256 != b.sha256 && a.kind == b.kind && a.sha256.is_some() && b.sha256.is_some() {
        v.push("content");
    }
    if a.mode != b.mode {
        v.push("mode");
    }
    if a.owner != b.owner {
        v.push("owner");
    }
    if a.mtime != b.mtime {
        v.push("mtime");
    }
    if a.link != b.link {
        v.push("link");
    }
    if a.device != b.device {
        v.push("device");
    }
    if a.extra != b.extra {
        v.push("extended headers");
    }
    v
}

/// Compare the entries of the image's layer `image` with the rebuild's `rebuild` (in `store`);
/// `fetch` puts the image's into the store, and is not called when its descriptor claims more than
/// the cap (a layer of the same files is never that big; a hostile registry could stream terabytes).
pub fn compare(
    store: &BlobStore,
    image: &Descriptor,
    rebuild: &Descriptor,
    name: &str,
    fetch: impl FnOnce() -> Result<()>,
) -> Result<LayerFinding> {
    let mine = entries(store, rebuild, "the rebuild", u64::MAX)?;
    let cap = mine
        .tar_size
        .saturating_mul(CAP_FACTOR)
        .saturating_add(CAP_SLACK);
    if image.size > cap {
        return Ok(LayerFinding::Other(format!(
            "the image's layer is {} bytes, more than {cap} ({CAP_FACTOR} times the {} bytes the \
             rebuild's unpacks to, and {CAP_SLACK} more): not fetched, it holds other files",
            image.size, mine.tar_size
        )));
    }
    fetch()?;
    // The image's blob is what its digest says (checked when fetched); a layer that is no tar
    // (or no gzip/zstd) is how it differs, not a failure to check.
    let scan = match entries(store, image, name, cap) {
        Ok(s) => s,
        Err(e) => {
            let why = format!("{e:#}");
            return Ok(LayerFinding::Other(format!(
                "the image's layer cannot be read as a tar ({}): {}",
                image.media_type,
                why.chars().take(300).collect::<String>()
            )));
        }
    };
    let (theirs, ours) = (&scan.entries, &mine.entries);
    let found = file_diffs(theirs, ours, scan.capped);
    let others = found.len().saturating_sub(1);
    if let Some(mut first) = found.into_iter().next() {
        first.others = others;
        if scan.capped {
            first.what.push("cut");
        }
        return Ok(LayerFinding::File(Box::new(first)));
    }
    if scan.capped {
        return Ok(LayerFinding::Other(format!(
            "it unpacks to more than {cap} bytes ({CAP_FACTOR} times the rebuild's {} and \
             {CAP_SLACK} more): stopped comparing files there, after {} entr{} that match the \
             rebuild's (a decompression bomb, or another image altogether)",
            mine.tar_size,
            theirs.len(),
            if theirs.len() == 1 { "y" } else { "ies" }
        )));
    }
    Ok(LayerFinding::Other(same_files(
        &scan, &mine, image, rebuild,
    )))
}

/// Each path whose entry differs between the image's layer (`theirs`) and the rebuild's (`ours`),
/// then each of the rebuild's that the image lacks (unless the image's was `capped`).
fn file_diffs(theirs: &Entries, ours: &Entries, capped: bool) -> Vec<FileDiff> {
    let by_path: BTreeMap<&str, &FileInfo> = ours.iter().map(|(p, i)| (p.as_str(), i)).collect();
    let in_image: BTreeMap<&str, &FileInfo> = theirs.iter().map(|(p, i)| (p.as_str(), i)).collect();
    let mut found: Vec<FileDiff> = Vec::new();
    for (path, info) in theirs {
        let (what, rebuild) = match by_path.get(path.as_str()) {
            None => (vec!["missing"], None),
            Some(r) => (differences(info, r), Some((*r).clone())),
        };
        if !what.is_empty() {
            found.push(FileDiff {
                path: path.clone(),
                what,
                image: Some(info.clone()),
                rebuild,
                others: 0,
            });
        }
    }
    // Entries past the cap were not read: none of the rebuild's is known to be missing there.
    for (path, info) in ours.iter().filter(|_| !capped) {
        if !in_image.contains_key(path.as_str()) {
            found.push(FileDiff {
                path: path.clone(),
                what: vec!["extra"],
                image: None,
                rebuild: Some(info.clone()),
                others: 0,
            });
        }
    }
    found
}

/// How the image's layer (`scan`, its descriptor `image`) differs from the rebuild's (`mine`,
/// `rebuild`) when every path has the same entry: a path there more often, the order, the tar
/// stream, or only the compression.
fn same_files(scan: &Scan, mine: &Scan, image: &Descriptor, rebuild: &Descriptor) -> String {
    let (theirs, ours) = (&scan.entries, &mine.entries);
    // Every path has its entry: one may still be there twice (an unpacker keeps the last one).
    let counts = |e: &Entries| {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for (p, _) in e {
            *m.entry(p.clone()).or_default() += 1;
        }
        m
    };
    let (n_theirs, n_ours) = (counts(theirs), counts(ours));
    if let Some((path, _)) = theirs
        .iter()
        .find(|(p, _)| n_theirs.get(p) != n_ours.get(p))
    {
        return format!(
            "{path} is in the image's layer {} times, in the rebuild's {} (when the layer is \
             unpacked, the last one wins)",
            n_theirs.get(path).copied().unwrap_or(0),
            n_ours.get(path).copied().unwrap_or(0)
        );
    }
    let (their_tar, our_tar) = (&scan.tar, &mine.tar);
    let order = |e: &Entries| e.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    if order(theirs) != order(ours) {
        "the same entries, in another order".to_string()
    } else if their_tar != our_tar {
        format!(
            "the same entries, but the tar streams differ ({their_tar} vs {our_tar}) in what verify \
             does not compare (user/group names, extended headers, padding)"
        )
    } else {
        format!(
            "the same tar stream ({their_tar}), compressed differently ({} {} bytes vs {} {} bytes)",
            image.media_type, image.size, rebuild.media_type, rebuild.size
        )
    }
}

/// Which PAX records differ: `SCHILY.xattr.security.capability only in the image, uname`.
fn extra_diff(a: &FileInfo, b: &FileInfo) -> String {
    let mut keys: Vec<&String> = a.extra.keys().chain(b.extra.keys()).collect();
    keys.sort();
    keys.dedup();
    let parts: Vec<String> = keys
        .into_iter()
        .filter(|k| a.extra.get(*k) != b.extra.get(*k))
        .map(|k| match (a.extra.get(k), b.extra.get(k)) {
            (Some(_), None) => format!("{k} only in the image"),
            (None, Some(_)) => format!("{k} only in the rebuild"),
            _ => format!("{k} differs"),
        })
        .collect();
    parts.join(", ")
}

/// `what` of a [`FileDiff`] as a phrase: `content (size 1234 -> 1240 bytes), mode 0755 -> 0644`.
pub fn describe(d: &FileDiff) -> String {
    let (Some(a), Some(b)) = (&d.image, &d.rebuild) else {
        return if d.image.is_some() {
            format!("{} is in the image but not in the rebuild", d.path)
        } else {
            format!("{} is in the rebuild but not in the image", d.path)
        };
    };
    let short = |s: &Option<Digest>| {
        s.as_ref()
            .map_or("-".to_string(), |d| format!("sha256:{}", &d.hex()[..12]))
    };
    let mut parts = Vec::new();
    for w in &d.what {
        parts.push(match *w {
            "type" => format!("type ({} -> {})", a.kind, b.kind),
            "size" if d.what.contains(&"content") => continue,
            "size" => format!("size ({} -> {} bytes)", a.size, b.size),
            "content" if a.size != b.size => {
                format!("content (size {} -> {} bytes)", a.size, b.size)
            }
            "content" => format!(
                "content (same size, {} bytes; {} -> {})",
                a.size,
                short(&a.sha256),
                short(&b.sha256)
            ),
            "mode" => format!("mode ({} -> {})", a.mode, b.mode),
            "owner" => format!("owner ({} -> {})", a.owner, b.owner),
            "mtime" => format!("mtime ({} -> {})", a.mtime, b.mtime),
            "link" => format!("link target ({} -> {})", a.link, b.link),
            "device" => format!("device ({} -> {})", a.device, b.device),
            "extended headers" => format!("extended headers ({})", extra_diff(a, b)),
            "cut" => format!(
                "and the image's layer unpacks to more than {CAP_FACTOR} times the rebuild's and \
                 {CAP_SLACK} bytes more: stopped comparing files there"
            ),
            other => other.to_string(),
        });
    }
    format!("{} differs: {}", d.path, parts.join(", "))
}

#[cfg(test)]
mod tests;
