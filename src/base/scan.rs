//! A base's filesystem as a table of paths: every layer read in order, whiteouts applied.
//!
//! Takes the base's layers (in the blob store) and their diff_ids, and gives each path of the final
//! filesystem with its kind and link target, and each layer's uncompressed size; a layer whose
//! uncompressed digest is not its diff_id is an error. The table is bounded
//! ([`bounded::MAX_PATH_TABLE`]): a small gzip layer can name gigabytes of paths.
//!
//! It also keeps the bytes of the base's account files ([`ACCOUNT_FILES`]: `/etc/passwd`,
//! `/etc/group`) as the final filesystem has them, when they are regular files of at most
//! [`bounded::MAX_ACCOUNT_FILE`], so the image can add the nonroot user to a base that lacks it.

use super::bounded;
use super::image::{Accounts, Paths};
use super::tarread::{self, EntryType};
use crate::blob::{media, BlobStore, Descriptor};
use crate::digest::Digest;
use anyhow::{bail, Context, Result};
use std::io::Read;

/// Remove what is below the directory `dir` (`""`: the root) from `paths`, and `dir` itself when
/// `itself`. A range of the sorted map, not a scan of all of it: a layer of many whiteouts stays
/// linear.
fn remove_below(paths: &mut Paths, dir: &str, itself: bool) {
    if itself {
        paths.remove(dir);
    }
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let below: Vec<String> = paths
        .range(prefix.clone()..)
        .map(|(p, _)| p)
        .take_while(|p| p.starts_with(&prefix))
        .cloned()
        .collect();
    for p in below {
        paths.remove(&p);
    }
}

/// A layer entry's path as the runtimes apply it (Go's `filepath.Clean` below the root, as
/// containerd, podman and umoci do): `etc//./x` is `etc/x`, and `..` stops at the root. Without this a
/// whiteout `etc/./.wh.passwd` would remove `/etc/passwd` in the container but not in the table.
fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

/// The files whose bytes a scan keeps (paths as the table has them: no leading `/`).
pub const ACCOUNT_FILES: [&str; 2] = ["etc/passwd", "etc/group"];

/// What a layer says of one account file: its bytes and mode, or `None` when it is no regular file
/// or is over [`bounded::MAX_ACCOUNT_FILE`] (then nothing of it is buffered past the limit).
type Captured = std::collections::BTreeMap<String, Option<(Vec<u8>, u32)>>;

/// Lay the uncompressed tar layer `tar` over `paths`: its whiteouts remove what lower layers had,
/// its entries are added. Each entry added costs its path and link bytes and
/// [`bounded::PATH_ENTRY_OVERHEAD`] from `budget`; running out is an error. An entry at one of
/// [`ACCOUNT_FILES`] replaces what `captured` held for it.
fn apply_layer(
    tar: impl Read,
    paths: &mut Paths,
    budget: &mut u64,
    captured: &mut Captured,
) -> Result<()> {
    let mut this: Vec<(String, (EntryType, String))> = Vec::new();
    let mut this_captured = Captured::new();
    let limit = *budget;
    tarread::for_each(tar, |e, body| {
        let path = clean(&e.path);
        let (dir, file) = path.rsplit_once('/').unwrap_or(("", &path));
        if file == ".wh..wh..opq" {
            remove_below(paths, dir, false);
        } else if let Some(gone) = file.strip_prefix(".wh.") {
            // As the runtimes join it: `etc/.wh.` removes `etc`, `etc/ssl/.wh...` removes `etc`.
            let gone = clean(&format!("{dir}/{gone}"));
            remove_below(paths, &gone, true);
        } else if !path.is_empty() {
            let cost = (path.len() + e.link.len()) as u64 + bounded::PATH_ENTRY_OVERHEAD;
            *budget = budget.checked_sub(cost).with_context(|| {
                format!(
                    "the paths of its layers are over the {limit}-byte limit for a base (at `{}`): \
                     refusing it (no real image has that many files or names that long)",
                    path.chars().take(80).collect::<String>()
                )
            })?;
            if ACCOUNT_FILES.contains(&path.as_str()) {
                let bytes = match e.kind {
                    EntryType::File if e.size <= bounded::MAX_ACCOUNT_FILE => {
                        let b = crate::bounded::read_at_most(body, bounded::MAX_ACCOUNT_FILE)
                            .with_context(|| format!("reading the base's /{path}"))?;
                        (b.len() as u64 <= bounded::MAX_ACCOUNT_FILE).then_some((b, e.mode))
                    }
                    _ => None,
                };
                this_captured.insert(path.clone(), bytes);
            }
            this.push((path, (e.kind, e.link.clone())));
        }
        Ok(())
    })?;
    paths.extend(this);
    captured.extend(this_captured);
    Ok(())
}

/// The account files of the final filesystem: what the last layer that wrote each one held, if it
/// is still there (no later whiteout) as a regular file.
fn accounts_left(captured: Captured, paths: &Paths) -> Accounts {
    captured
        .into_iter()
        .filter(|(p, _)| matches!(paths.get(p), Some((EntryType::File, _))))
        .filter_map(|(p, c)| c.map(|c| (p, c)))
        .collect()
}

/// Every path of the base's filesystem after all layers (whiteouts applied), and each layer's
/// uncompressed size; each layer's uncompressed digest must be its `diff_id`.
pub(super) fn scan(
    store: &BlobStore,
    layers: &[Descriptor],
    diff_ids: &[Digest],
    name: &str,
) -> Result<(Paths, Vec<u64>, Accounts)> {
    let mut paths = Paths::new();
    let mut sizes = Vec::new();
    let mut captured = Captured::new();
    // What the path table may hold: counted as entries are added, over all layers.
    let mut budget = bounded::MAX_PATH_TABLE;
    for (l, want) in layers.iter().zip(diff_ids) {
        let file = std::io::BufReader::new(store.open_blob(&l.digest)?);
        let reader: Box<dyn Read> = match l.media_type.as_str() {
            media::LAYER_GZIP => Box::new(flate2::read::MultiGzDecoder::new(file)),
            media::LAYER_ZSTD => Box::new(
                zstd::stream::read::Decoder::with_buffer(file)
                    .with_context(|| format!("reading zstd base layer {}", l.digest))?,
            ),
            _ => Box::new(file),
        };
        let mut hashing = crate::digest::HashingReader::new(reader);
        apply_layer(&mut hashing, &mut paths, &mut budget, &mut captured)
            .with_context(|| format!("base image {name}: reading base layer {}", l.digest))?;
        std::io::copy(&mut hashing, &mut std::io::sink())
            .with_context(|| format!("reading base layer {}", l.digest))?;
        let (diff_id, size) = hashing.finish();
        if diff_id != *want {
            bail!(
                "base image {name}: layer {} uncompresses to {diff_id}, but the config says {want}: the \
                 image is corrupt; pull or export it again",
                l.digest
            );
        }
        sizes.push(size);
    }
    let accounts = accounts_left(captured, &paths);
    Ok((paths, sizes, accounts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tar::{Header, Kind, TarWriter};

    fn layer(paths: &[&str]) -> Vec<u8> {
        let mut w = TarWriter::new(Vec::new());
        for p in paths {
            let h = Header {
                path: p,
                kind: Kind::File,
                mode: 0o644,
                uid: 0,
                gid: 0,
                mtime: 0,
                size: 0,
                link: "",
            };
            w.append(&h, &mut &b""[..]).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn whiteouts_remove_lower_paths() {
        let mut paths = Paths::new();
        let mut budget = u64::MAX;
        let lower = layer(&["a/x", "a/y", "ab", "b/z", "c"]);
        apply_layer(&lower[..], &mut paths, &mut budget, &mut Captured::new()).unwrap();
        let upper = layer(&["a/.wh..wh..opq", ".wh.b", ".wh.c", "a/new"]);
        apply_layer(&upper[..], &mut paths, &mut budget, &mut Captured::new()).unwrap();
        let left: Vec<&str> = paths.keys().map(String::as_str).collect();
        assert_eq!(left, ["a/new", "ab"]);
    }

    #[test]
    fn paths_are_cleaned_as_runtimes_clean_them() {
        assert_eq!(clean("etc//./passwd"), "etc/passwd");
        assert_eq!(clean("../../etc/a/../b/"), "etc/b");
        let mut paths = Paths::new();
        let mut budget = u64::MAX;
        apply_layer(
            &layer(&["etc/passwd", "etc/group", "etc/shadow", "x//y"])[..],
            &mut paths,
            &mut budget,
            &mut Captured::new(),
        )
        .unwrap();
        let upper = layer(&["etc/./.wh.passwd", "a/../etc//.wh.group"]);
        apply_layer(&upper[..], &mut paths, &mut budget, &mut Captured::new()).unwrap();
        let left: Vec<&str> = paths.keys().map(String::as_str).collect();
        assert_eq!(left, ["etc/shadow", "x/y"]);
        apply_layer(
            &layer(&["x/y/.wh..."])[..],
            &mut paths,
            &mut budget,
            &mut Captured::new(),
        )
        .unwrap();
        apply_layer(
            &layer(&["etc/.wh."])[..],
            &mut paths,
            &mut budget,
            &mut Captured::new(),
        )
        .unwrap();
        assert!(paths.is_empty(), "{paths:?}");
    }

    #[test]
    fn the_path_table_is_bounded() {
        let mut paths = Paths::new();
        let names: Vec<String> = (0..100)
            .map(|i| format!("{i:03}/{}", "n".repeat(200)))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let l = layer(&refs);
        let per = 204 + bounded::PATH_ENTRY_OVERHEAD;
        let mut budget = per * 100;
        apply_layer(&l[..], &mut paths, &mut budget, &mut Captured::new()).unwrap();
        assert_eq!((paths.len(), budget), (100, 0));
        let mut budget = per * 99;
        let e =
            apply_layer(&l[..], &mut Paths::new(), &mut budget, &mut Captured::new()).unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
    }
}
