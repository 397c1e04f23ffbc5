//! One gzip member of one piece: header, libdeflate's deflate data, CRC32 and length (RFC 1952).
//! Takes a piece and a level; gives the member's bytes, the same for the same piece and level
//! on every machine. `ParallelGzip` (the parent module) writes a series of them.

use std::io;

/// The highest gzip level: libdeflate's levels 10-12 search for the shortest encoding (slow).
pub const MAX_GZIP_LEVEL: u32 = 12;

/// Every member's header: no name, no mtime (0), no extra fields, XFL 0, OS 255 ("unknown"): nothing
/// about the host or the time leaks into the layer digest.
pub(super) const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// A gzip-member compressor at one level, kept for the life of a worker (libdeflate's compressor is
/// reusable: each call starts from a clean state, so reuse changes no byte).
pub struct MemberCompressor {
    z: libdeflater::Compressor,
}

impl MemberCompressor {
    /// `level` 1-12 (clamped).
    pub fn new(level: u32) -> MemberCompressor {
        let lvl = libdeflater::CompressionLvl::new(level.clamp(1, MAX_GZIP_LEVEL) as i32)
            .unwrap_or_default();
        MemberCompressor {
            z: libdeflater::Compressor::new(lvl),
        }
    }

    /// Compress `data` as one complete gzip member into the start of `out` and return its length.
    /// `out` only grows (to the bound for a full piece), so a reused buffer is never zero-filled again.
    pub fn member(&mut self, data: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        let h = GZIP_HEADER.len();
        let bound = self.z.deflate_compress_bound(data.len());
        if out.len() < h + bound + 8 {
            out.resize(h + bound + 8, 0);
        }
        out[..h].copy_from_slice(&GZIP_HEADER);
        let n = self
            .z
            .deflate_compress(data, &mut out[h..h + bound])
            .map_err(|e| io::Error::other(format!("libdeflate: {e}")))?;
        out[h + n..h + n + 4].copy_from_slice(&crc32fast::hash(data).to_le_bytes());
        // ISIZE: the length modulo 2^32 (RFC 1952); a piece is at most CHUNK bytes.
        out[h + n + 4..h + n + 8].copy_from_slice(&(data.len() as u32).to_le_bytes());
        Ok(h + n + 8)
    }
}
