//! Debug info out of the image (issue 14): what `debuginfo = "split" | "keep" | "drop"` does to each
//! binary on its way into the application layer.
//!
//! Takes a built binary's path and the image's [`Mode`]; gives a [`Prepared`] binary: the
//! [`Source`] the layer reads (the stripped bytes, in memory; when nothing is removed, a prebuilt
//! binary's bytes as read, with their digest, and a binary cargo built streamed from its file, so
//! the layer cache's `stat` fingerprint serves it), the debug file (`split` only) and how many bytes the image's binary lost. The binary in
//! `target/` is only read. The ELF work itself is in [`split`].

pub mod fetch;
pub mod mode;
pub mod output;
pub mod split;
#[cfg(test)]
mod split_attacks;

pub use mode::Mode;
pub use output::DebugFile;

use crate::digest::Digest;
use crate::layer::Source;
use anyhow::{Context, Result};
use std::path::Path;

/// A binary ready for the application layer.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// What the layer entry reads.
    pub source: Source,
    /// The debug file's name and bytes (`<binary>.debug`), `split` of a binary with DWARF only.
    pub debug: Option<(String, Vec<u8>)>,
    /// Bytes the binary in the image lost (0 when nothing was removed).
    pub removed: u64,
    /// The digest of the bytes read, for a prebuilt binary only: the provenance names it by this, so
    /// it names the bytes this run packaged, read once.
    pub read: Option<Digest>,
}

/// Prepare the binary `name` built at `path` for the image under `mode`. A `prebuilt` binary (a
/// `--binary` file, which anything may write to while this run reads it) is read once in every mode,
/// and the layer holds the bytes of that read: the provenance's digest of them is the image's.
pub fn prepare(path: &Path, name: &str, mode: Mode, prebuilt: bool) -> Result<Prepared> {
    let unchanged = |source, read| Prepared {
        source,
        debug: None,
        removed: 0,
        read,
    };
    if mode == Mode::Keep && !prebuilt {
        return Ok(unchanged(Source::Path(path.to_path_buf()), None));
    }
    let bytes = crate::bigbuf::read(path).with_context(|| format!("reading {}", path.display()))?;
    if mode == Mode::Keep {
        let read = Digest::of(&bytes);
        return Ok(unchanged(Source::Read(bytes, read.clone()), Some(read)));
    }
    let what = || {
        format!(
            "taking the debug info out of {} (debuginfo = \"{}\"; `keep` puts it in the image as built)",
            path.display(),
            mode.as_str()
        )
    };
    // A prebuilt binary's digest is taken on a thread of its own while the file is split (34 MB:
    // ~19 ms of sha256); a binary cargo built needs none (the provenance names it by its build).
    let (read, rewritten) = std::thread::scope(|s| {
        let digest = prebuilt.then(|| s.spawn(|| Digest::of(&bytes)));
        let rewritten = rewrite(&bytes, name, mode);
        let digest = digest.map(|d| d.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (digest, rewritten)
    });
    let Some((stripped, debug)) = rewritten.with_context(what)? else {
        // Nothing to take out. A prebuilt binary: the bytes read go in, not the file again, which
        // may have changed since. One cargo built: the file, so the layer cache keys it by `stat`.
        return Ok(match read {
            Some(d) => unchanged(Source::Read(bytes, d.clone()), Some(d)),
            None => unchanged(Source::Path(path.to_path_buf()), None),
        });
    };
    Ok(Prepared {
        removed: bytes.len().saturating_sub(stripped.len()) as u64,
        source: Source::Bytes(stripped),
        debug,
        read,
    })
}

/// The binary for the image and its debug file (`<name>.debug`, `split` only), or `None` when the
/// file has no DWARF to take out (or is not ELF).
#[allow(clippy::type_complexity)]
fn rewrite(
    bytes: &[u8],
    name: &str,
    mode: Mode,
) -> Result<Option<(Vec<u8>, Option<(String, Vec<u8>)>)>> {
    let debug_name = format!("{name}.debug");
    Ok(match mode {
        Mode::Split => {
            split::split(bytes, &debug_name)?.map(|s| (s.stripped, Some((debug_name, s.debug))))
        }
        Mode::Drop => split::drop_debug(bytes)?.map(|s| (s, None)),
        Mode::Keep => None,
    })
}
