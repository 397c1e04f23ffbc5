//! One OpenSSL cache entry's record: the build's settings and the digests of the files openssl-sys
//! reads. Takes an entry directory; gives whether it is complete (every checked file has the digest
//! its record gives), or writes the record of a finished build.

use anyhow::{Context, Result};
use std::path::Path;

/// The record of an entry (written last, before the rename).
pub(super) const RECORD: &str = "cargo-slim-image.json";
/// The files of an entry that openssl-sys reads, whose digests the record holds.
pub(super) const CHECKED: [&str; 3] = ["lib/libssl.a", "lib/libcrypto.a", "include/openssl/ssl.h"];

/// Write `dir`'s record: `fields` and the digests of its [`CHECKED`] files.
pub(super) fn write_record(dir: &Path, mut fields: serde_json::Value) -> Result<()> {
    let mut files = serde_json::Map::new();
    for f in CHECKED {
        let d = file_digest(&dir.join(f)).with_context(|| format!("reading {f}"))?;
        files.insert(f.to_string(), d.into());
    }
    fields["files"] = files.into();
    std::fs::write(dir.join(RECORD), serde_json::to_vec_pretty(&fields)?)?;
    Ok(())
}

/// An entry is complete when its record is there and each of its [`CHECKED`] files has the digest
/// the record gives: a truncated or replaced library, or a missing header, is not used (it is
/// rebuilt), rather than failing the link in some later project.
pub(super) fn complete(dir: &Path) -> bool {
    let Ok(text) = std::fs::File::open(dir.join(RECORD))
        .and_then(|f| crate::bounded::read_at_most(f, 64 * 1024))
    else {
        return false;
    };
    let Ok(record) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return false;
    };
    CHECKED.iter().all(|f| {
        record["files"][f]
            .as_str()
            .is_some_and(|want| file_digest(&dir.join(f)).is_ok_and(|got| got == want))
    })
}

/// `sha256:<hex>` of a file's bytes, read in pieces.
fn file_digest(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = crate::digest::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish().0.to_string())
}
