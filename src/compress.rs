//! Layer compression on all cores: parallel gzip (libdeflate), and zstd.
//!
//! [`ParallelGzip`] takes the uncompressed tar stream through `Write` and writes standard gzip: the
//! stream is cut into fixed [`CHUNK`]-byte pieces, each piece is compressed by a worker thread with
//! libdeflate into a complete gzip member of its own (header, deflate data, CRC32 and length of the
//! piece), and the members are written in input order. RFC 1952 (section 2.2) defines a gzip file as a
//! series of members, and every gzip reader that container tools use reads them all: Go's
//! `compress/gzip` and `klauspost/pgzip` (containerd, Docker, podman, skopeo, umoci), `gzip -d`, pigz,
//! Python's `gzip` module; eStargz layers are made of many members the same way. A reader that stops
//! after the first member (Rust's `flate2::read::GzDecoder` instead of `MultiGzDecoder`, Python's
//! `zlib.decompressobj` used by hand) sees only the first MiB.
//!
//! Why members and libdeflate rather than zlib with dictionaries and sync flushes inside one member:
//! libdeflate has no streaming API (so no dictionary, no flush), but at equal size it needs about 30%
//! less CPU than zlib-rs, and for equal CPU its output is about 5% smaller (scripts/bench.sh, a 35 MB
//! binary: libdeflate level 4 0.17 s for 9.45 MB, zlib-rs level 3 0.19 s for 9.79 MB). Each member
//! costs 18 bytes of header and trailer per MiB, and its first bytes cannot refer back to the previous
//! piece, which the measured sizes include.
//!
//! Reproducibility: the output depends only on the input bytes and the level (and the libdeflate
//! version, pinned in Cargo.toml). Cut points are byte offsets, never "whatever a thread had ready";
//! each member depends only on its piece and the level (libdeflate keeps no state from one call to the
//! next); members are written in input order. So 1 thread or 64, fast or slow, this machine or
//! another (libdeflate picks CPU-specific code only for checksums and table set-up, with identical
//! results), the bytes and thus the layer digest are the same. Memory is bounded: at most
//! [`in_flight`] pieces (input and output) are held at once, a few MiB per thread, whatever the size
//! of the layer.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver};

mod level;
mod member;
mod pool;
pub mod zstd_stream;
pub use level::{gzip_level_for, gzip_rule_key, GZIP_LEVEL_BY_SIZE, GZIP_LEVEL_LARGE};
pub use member::{MemberCompressor, MAX_GZIP_LEVEL};
use pool::{Buffers, Job, Pool, Reply};

/// Bytes of uncompressed input per gzip member. Part of the output format: changing it changes every
/// gzip layer digest (see `GOLDEN_BASE_LAYER` in tests/scratch_image.rs).
pub const CHUNK: usize = 1 << 20;

/// The libdeflate version that compresses gzip layers: part of the layer cache key. It must match the
/// exact pin of `libdeflate-sys` in Cargo.toml (a unit test checks).
pub const LIBDEFLATE: &str = "1.26.1";

/// How many pieces may be queued or compressing at once for `threads` workers: two per worker keeps
/// every core busy while the caller fills the next piece, and bounds memory to about
/// `2 * threads * 2 * CHUNK`.
pub fn in_flight(threads: usize) -> usize {
    2 * threads.max(1)
}

/// The number of compression threads: `SLIM_IMAGE_COMPRESSION_THREADS` if set (to share a CI runner
/// politely), else every core the process may run on. The output does not depend on it.
/// Asked once per process: `available_parallelism` reads cgroup files each time.
pub fn default_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        std::env::var("SLIM_IMAGE_COMPRESSION_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            })
    })
}

/// A `Write` that gzips what it is given on several threads into `out`; see the module docs.
/// Call [`ParallelGzip::finish`] to write the last member and get `out` back.
pub struct ParallelGzip<W: Write> {
    out: W,
    level: u32,
    threads: usize,
    /// The piece being filled.
    cur: Buffers,
    /// Buffers back from the workers, ready for the next piece.
    spare: Vec<Buffers>,
    /// The compressor when there is one thread (no pool).
    single: Option<MemberCompressor>,
    pool: Option<Pool>,
    pending: VecDeque<Receiver<Reply>>,
    members: u64,
    /// Set by any error: the stream is incomplete, so every later call fails too (never a gzip stream
    /// that decodes cleanly with a piece missing).
    failed: bool,
}

impl<W: Write> ParallelGzip<W> {
    /// A compressor at gzip `level` (1-12, clamped) on `threads` worker threads (1: compress on the
    /// caller's thread; the bytes are the same either way).
    pub fn new(out: W, level: u32, threads: usize) -> ParallelGzip<W> {
        ParallelGzip {
            out,
            // Clamped where it is used: MemberCompressor::new.
            level,
            threads: threads.max(1),
            cur: Buffers::new(CHUNK),
            spare: Vec::new(),
            single: None,
            pool: None,
            pending: VecDeque::new(),
            members: 0,
            failed: false,
        }
    }

    /// Run `f`, and remember if it failed.
    fn guard<T>(&mut self, f: impl FnOnce(&mut Self) -> io::Result<T>) -> io::Result<T> {
        if self.failed {
            return Err(io::Error::other(
                "this gzip stream already failed (an earlier write or compression error)",
            ));
        }
        let r = f(self);
        self.failed = r.is_err();
        r
    }

    /// Compress the current piece here, on the caller's thread, and write it.
    fn compress_here(&mut self) -> io::Result<()> {
        let level = self.level;
        let z = self
            .single
            .get_or_insert_with(|| MemberCompressor::new(level));
        let b = &mut self.cur;
        b.len = z.member(&b.data, &mut b.out)?;
        self.out.write_all(&b.out[..b.len])?;
        b.data.clear();
        Ok(())
    }

    /// Compress the current piece as the next member: on a worker, or here with one thread.
    fn dispatch(&mut self) -> io::Result<()> {
        self.members += 1;
        if self.threads == 1 {
            return self.compress_here();
        }
        if self.pool.is_none() {
            self.pool = Some(Pool::new(
                self.threads,
                self.level,
                in_flight(self.threads),
            )?);
        }
        while self.pending.len() >= in_flight(self.threads) {
            self.write_front()?;
        }
        let mut next = self.spare.pop().unwrap_or_else(|| Buffers::new(CHUNK));
        next.data.clear();
        let bufs = std::mem::replace(&mut self.cur, next);
        let (reply, rx) = mpsc::sync_channel(1);
        let pool = self
            .pool
            .as_ref()
            .ok_or_else(|| io::Error::other("the gzip worker pool is closed"))?;
        pool.send(Job { bufs, reply })?;
        self.pending.push_back(rx);
        // Write whatever is already done, so finished output does not pile up.
        while let Some(Ok(r)) = self.pending.front().map(|rx| rx.try_recv()) {
            self.pending.pop_front();
            self.written(r)?;
        }
        Ok(())
    }

    /// Write a finished member and keep its buffers for a later piece.
    fn written(&mut self, r: Reply) -> io::Result<()> {
        let bufs = r?;
        self.out.write_all(&bufs.out[..bufs.len])?;
        self.spare.push(bufs);
        Ok(())
    }

    /// Wait for the oldest member and write it.
    fn write_front(&mut self) -> io::Result<()> {
        if let Some(rx) = self.pending.pop_front() {
            let r = rx
                .recv()
                .map_err(|_| io::Error::other("a gzip worker thread died"))?;
            self.written(r)?;
        }
        Ok(())
    }

    /// Compress the rest, stop the workers and return the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.guard(|g| {
            if g.members == 0 {
                // The whole stream is one piece (a small layer): no worker threads for it. Also
                // when there was no input at all: gzip of nothing is still one member.
                g.members = 1;
                g.compress_here()?;
            } else if !g.cur.data.is_empty() {
                // The last, partial piece.
                g.dispatch()?;
            }
            while !g.pending.is_empty() {
                g.write_front()?;
            }
            g.out.flush()
        })?;
        // Dropping the rest of `self` stops the worker threads (their queue closes).
        let ParallelGzip { out, .. } = self;
        Ok(out)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.guard(|g| {
            let room = CHUNK - g.cur.data.len();
            let n = buf.len().min(room);
            g.cur.data.extend_from_slice(&buf[..n]);
            if g.cur.data.len() == CHUNK {
                g.dispatch()?;
            }
            Ok(n)
        })
    }
    fn flush(&mut self) -> io::Result<()> {
        // Pieces are cut at fixed offsets only (reproducibility); a flush does not cut one.
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::member::GZIP_HEADER;
    use super::*;
    use flate2::read::{GzDecoder, MultiGzDecoder};
    use std::io::Read;

    fn sample(n: usize) -> Vec<u8> {
        // Compressible but not trivial: a mix of text and a pseudo-random byte stream.
        let mut x: u32 = 12345;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                if (i / 4096) % 3 == 0 {
                    (x >> 24) as u8
                } else {
                    b"slim image layer "[i % 17]
                }
            })
            .collect()
    }

    fn gz(data: &[u8], threads: usize, write_size: usize) -> Vec<u8> {
        let mut w = ParallelGzip::new(Vec::new(), 4, threads);
        for c in data.chunks(write_size.max(1)) {
            w.write_all(c).unwrap();
        }
        w.finish().unwrap()
    }

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        MultiGzDecoder::new(gz).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn round_trips_at_every_size_that_matters() {
        for n in [0, 1, 100, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7] {
            let data = sample(n);
            let z = gz(&data, 3, 65536);
            assert_eq!(gunzip(&z), data, "size {n}");
            assert_eq!(&z[..10], &GZIP_HEADER);
        }
    }

    #[test]
    fn same_bytes_for_any_thread_count_and_write_size() {
        let data = sample(5 * CHUNK / 2);
        let one = gz(&data, 1, 1 << 20);
        for (t, w) in [(2, 4096), (4, 12345), (7, 1 << 22)] {
            assert_eq!(gz(&data, t, w), one, "{t} threads, writes of {w}");
        }
    }

    #[test]
    fn a_reused_compressor_gives_the_bytes_of_a_fresh_one() {
        // zlib's deflateReset is not enough for this (zlib-ng issue 2100); libdeflate starts clean.
        let data = sample(3 * CHUNK + 99);
        let mut z = MemberCompressor::new(4);
        let mut out = Vec::new();
        let mut fresh = Vec::new();
        for (i, p) in data
            .chunks(CHUNK)
            .chain(data.chunks(CHUNK).rev())
            .enumerate()
        {
            z.member(p, &mut out).unwrap();
            MemberCompressor::new(4).member(p, &mut fresh).unwrap();
            assert_eq!(out, fresh, "piece {i}");
        }
    }

    #[test]
    fn one_member_per_piece_each_with_its_own_crc_and_length() {
        let data = sample(2 * CHUNK + 5);
        let z = gz(&data, 2, 1 << 16);
        // A reader that stops after one member gets exactly the first piece.
        let mut first = Vec::new();
        let mut d = GzDecoder::new(&z[..]);
        d.read_to_end(&mut first).unwrap();
        assert_eq!(first, &data[..CHUNK]);
        // Walk the members: each one's trailer holds the CRC and length of its own piece.
        let mut rest = &z[..];
        for piece in data.chunks(CHUNK) {
            // The bufread decoder reads a slice in place, so what it leaves is exactly the rest.
            let mut d = flate2::bufread::GzDecoder::new(rest);
            let mut out = Vec::new();
            d.read_to_end(&mut out).unwrap();
            assert_eq!(out, piece);
            let used = rest.len() - d.into_inner().len();
            let trailer = &rest[used - 8..used];
            assert_eq!(trailer[..4], crc32fast::hash(piece).to_le_bytes());
            assert_eq!(trailer[4..], (piece.len() as u32).to_le_bytes());
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
    }

    /// Accepts `room` bytes, then fails every write.
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn after_an_error_every_call_fails() {
        // More pieces than may be in flight, so with threads too the error shows during the writes.
        let data = sample(10 * CHUNK);
        for threads in [1, 3] {
            let mut w = ParallelGzip::new(Full { room: 100_000 }, 4, threads);
            let failed = data.chunks(64 * 1024).any(|c| w.write_all(c).is_err());
            assert!(failed, "{threads} threads: the full disk went unnoticed");
            // Carrying on must not produce a stream that silently lacks a piece.
            let again = w.write(&data[..10]).unwrap_err();
            assert!(again.to_string().contains("already failed"), "{again}");
            assert!(w.finish().is_err(), "{threads} threads");
        }
        // An error that only shows at the end (the last members) fails `finish`.
        let mut w = ParallelGzip::new(Full { room: 100_000 }, 4, 3);
        let wrote = w.write_all(&data[..2 * CHUNK + 5]);
        assert!(wrote.is_err() || w.finish().is_err());
    }

    #[test]
    fn a_small_stream_needs_no_worker_threads_and_is_the_same() {
        let data = sample(CHUNK / 3);
        let mut w = ParallelGzip::new(Vec::new(), 4, 8);
        w.write_all(&data).unwrap();
        assert!(w.pool.is_none());
        assert_eq!(w.finish().unwrap(), gz(&data, 1, 4096));
    }

    #[test]
    fn the_cache_key_names_the_pinned_libdeflate() {
        let toml = include_str!("../Cargo.toml");
        assert!(
            toml.contains(&format!("libdeflate-sys = \"={LIBDEFLATE}\"")),
            "update compress::LIBDEFLATE to the libdeflate-sys pin in Cargo.toml"
        );
    }

    #[test]
    fn empty_input_is_one_empty_member() {
        let z = gz(&[], 2, 1);
        assert_eq!(&z[..10], &GZIP_HEADER);
        assert!(gunzip(&z).is_empty());
        let mut d = flate2::bufread::GzDecoder::new(&z[..]);
        std::io::copy(&mut d, &mut io::sink()).unwrap();
        assert!(d.into_inner().is_empty(), "exactly one member");
    }

    #[test]
    fn zstd_is_the_same_for_any_thread_count() {
        let data = sample(3 * CHUNK);
        let z = |t| {
            let mut e = zstd_stream::encoder(Vec::new(), 3, t).unwrap();
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        };
        let a = z(1);
        assert_eq!(z(2), a);
        assert_eq!(zstd::decode_all(&a[..]).unwrap(), data);
    }
}
