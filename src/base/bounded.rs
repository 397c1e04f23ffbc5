//! Bounds on every length a base image or archive claims, and the one reader that enforces them.
//!
//! Takes a length an input announces (a descriptor's `size`, a tar header's size, a file in an
//! archive) or a stream to read whole, and gives an error naming what was too big *before* anything
//! is buffered, or the bytes when they fit. Everything the tool holds in memory from a base goes
//! through here: JSON documents (index.json, manifests, configs, a docker-archive's manifest.json)
//! and tar extended-header records (PAX `x`/`g`, GNU long names `L`/`K`). Layer data is never held in
//! memory: it is streamed.

use crate::blob::BlobStore;
use crate::digest::Digest;
use anyhow::{bail, Context, Result};
use std::io::Read;

/// Largest JSON document read from a base: index.json, a manifest, a config, manifest.json. The same
/// 4 MiB as the registry client's manifest cap (`registry::Tuning::max_manifest_size`) and
/// containers/image's manifest and config body limits; real configs are a few KiB.
pub const MAX_JSON: u64 = 4 << 20;

/// Largest tar extended-header record (PAX `x`/`g`, GNU `L`/`K`): 1 MiB, Go archive/tar's
/// `maxSpecialFileSize`, so what podman and docker accept is accepted here too.
pub const MAX_TAR_RECORD: u64 = 1 << 20;

/// Largest path table of a base (its paths and link targets over all layers, plus
/// [`PATH_ENTRY_OVERHEAD`] per entry): 256 MiB. Each path is at most [`MAX_TAR_RECORD`], but a small
/// gzip layer can hold many: without this bound a 10 MiB layer of 1 MiB names is 10 GiB of memory. A
/// large real image (500,000 files) needs about 50 MiB.
pub const MAX_PATH_TABLE: u64 = 256 << 20;

/// Largest `/etc/passwd` or `/etc/group` of a base whose bytes are kept (to add the nonroot user to
/// it): 1 MiB, thousands of accounts. A bigger one is left as it is (a note says so).
pub const MAX_ACCOUNT_FILE: u64 = 1 << 20;

/// What one entry of the path table costs besides its path and link bytes (map node, strings).
pub const PATH_ENTRY_OVERHEAD: u64 = 96;

/// Refuse a claimed `size` over `limit` before reading anything; `what` names the thing.
pub fn check_size(what: &str, size: u64, limit: u64) -> Result<()> {
    if size > limit {
        bail!(
            "{what} is {size} bytes, over the {limit}-byte limit for it: refusing it (no sane \
             image has one that big; the image is broken or hostile)"
        );
    }
    Ok(())
}

/// Read `r` to its end, at most `limit` bytes; more is an error naming `what` (nothing beyond
/// `limit` + 1 bytes is read).
pub fn read_all(r: impl Read, limit: u64, what: &str) -> Result<Vec<u8>> {
    let buf = crate::bounded::read_at_most(r, limit).with_context(|| format!("reading {what}"))?;
    if buf.len() as u64 > limit {
        bail!(
            "{what} is over the {limit}-byte limit for it: refusing it (no sane image has one \
             that big; the image is broken or hostile)"
        );
    }
    Ok(buf)
}

/// Read exactly `size` bytes of `r` (a claimed length, checked against `limit` first).
pub fn read_exact(r: impl Read, size: u64, limit: u64, what: &str) -> Result<Vec<u8>> {
    check_size(what, size, limit)?;
    let buf = read_all(r.take(size), limit, what)?;
    if (buf.len() as u64) < size {
        bail!("{what} ends after {} of its {size} bytes", buf.len());
    }
    Ok(buf)
}

/// A JSON blob of the store (manifest, index, config), at most [`MAX_JSON`] bytes.
pub fn read_blob(store: &BlobStore, digest: &Digest, what: &str) -> Result<Vec<u8>> {
    read_all(store.open_blob(digest)?, MAX_JSON, what)
}

/// A JSON file (index.json of a layout, manifest.json of an archive), at most [`MAX_JSON`] bytes.
pub fn read_file(path: &std::path::Path, what: &str) -> Result<Vec<u8>> {
    read_all(open_regular(path)?, MAX_JSON, what)
}

/// Open `path` (following links, as a layout's files may be) for reading, and make sure it is a
/// regular file: a FIFO is opened without blocking (a plain open would wait for ever for a writer)
/// and refused, as are directories and devices (`/dev/zero` would never end).
pub fn open_regular(path: &std::path::Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let m = f
        .metadata()
        .with_context(|| format!("checking {}", path.display()))?;
    if !m.is_file() {
        bail!(
            "{} is not a regular file (a directory, FIFO or device): an image layout holds only \
             regular files; the image is broken or hostile",
            path.display()
        );
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit_and_refuses_more() {
        assert_eq!(read_all(&b"abcd"[..], 4, "x").unwrap(), b"abcd");
        let e = read_all(&b"abcde"[..], 4, "the thing").unwrap_err();
        assert!(e.to_string().contains("the thing"), "{e}");
        assert!(check_size("c", 5, 4).is_err() && check_size("c", 4, 4).is_ok());
        assert!(read_exact(&b"abc"[..], 4, 10, "r")
            .unwrap_err()
            .to_string()
            .contains("ends after 3"));
        assert_eq!(read_exact(&b"abcdef"[..], 2, 10, "r").unwrap(), b"ab");
    }
}
