//! zstd compression, for `--compression zstd`: the encoder in multi-threaded mode with fixed job
//! sizes, so its bytes never depend on the core count.

use std::io::{self, Write};

/// Uncompressed bytes per zstd job. Part of the output format, like [`super::CHUNK`].
pub const ZSTD_JOB: u32 = 2 << 20;

/// A zstd encoder at `level` using `threads` workers. zstd's multi-threaded mode gives the same
/// bytes for any number of workers >= 1 (its jobs are cut by size, not by timing), so we always
/// run in that mode, even with one worker, and the output never depends on the core count.
pub fn encoder<W: Write>(
    out: W,
    level: i32,
    threads: usize,
) -> io::Result<zstd::stream::write::Encoder<'static, W>> {
    let mut e = zstd::stream::write::Encoder::new(out, level)?;
    e.multithread(threads.max(1) as u32)?;
    // Jobs of 2 MiB instead of zstd's default (4x the window, 8 MiB at level 3): memory stays a
    // few MiB per worker whatever the layer size. A fixed size, so still the same bytes everywhere.
    e.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB))?;
    // No content size or dictionary id in the frame header; a checksum lets readers verify.
    e.include_checksum(true)?;
    Ok(e)
}
