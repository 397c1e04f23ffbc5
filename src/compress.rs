//! Layer compression on all cores: a pigz-style parallel gzip writer, and zstd.
//!
//! [`ParallelGzip`] takes the uncompressed tar stream through `Write` and gives ONE standard gzip member.
//! The stream is cut into fixed [`CHUNK`]-byte pieces; each piece is raw-deflated on its own by a worker
//! thread, primed with the last 32 KiB of the piece before it as a dictionary (so matches still reach
//! back across the cut and the ratio stays that of a single stream), and ended with a sync flush (an
//! empty stored block that byte-aligns it). The last piece ends with the final block. The pieces are
//! written in order, between a fixed 10-byte header and the trailer (CRC32 and length of the whole
//! uncompressed stream, computed here while the bytes pass). Any gzip reader sees one ordinary member.
//!
//! Reproducibility: the output depends only on the input bytes and the level. Cut points are byte
//! offsets, never "whatever a thread had ready"; each piece's bytes depend only on (dictionary, piece,
//! level, last or not); pieces are joined in input order. So 1 thread or 64, fast or slow, this machine
//! or another one (zlib-rs picks SIMD code per CPU only where the result is identical), the bytes and
//! thus the layer digest are the same. Memory is bounded: at most [`in_flight`] pieces (input and output)
//! are held at once, a few MiB per thread, whatever the size of the layer.

use flate2::{Compress, Compression, FlushCompress, Status};
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Bytes of uncompressed input per independently compressed piece. Part of the output format: changing
/// it changes every gzip layer digest (see `GOLDEN_BASE_LAYER` in tests/scratch_image.rs).
pub const CHUNK: usize = 1 << 20;

/// The deflate window: how much of the previous piece primes the next one.
const DICT: usize = 32 * 1024;

/// The gzip header we write: no name, no mtime (0), no extra fields, XFL 0, OS 255 ("unknown", as
/// flate2 writes it): nothing about the host or the time leaks into the layer digest.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// How many pieces may be queued or compressing at once for `threads` workers: two per worker keeps
/// every core busy while the caller fills the next piece, and bounds memory to about
/// `2 * threads * 2 * CHUNK`.
pub fn in_flight(threads: usize) -> usize {
    2 * threads.max(1)
}

/// The number of compression threads: `SLIM_IMAGE_COMPRESSION_THREADS` if set (to share a CI runner
/// politely), else every core the process may run on. The output does not depend on it.
pub fn default_threads() -> usize {
    std::env::var("SLIM_IMAGE_COMPRESSION_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

/// Compress one piece as raw deflate, primed with `dict`; `last` ends the deflate stream, otherwise the
/// piece ends with a sync flush (byte-aligned, no final bit) so the next piece can follow it directly.
pub fn deflate_piece(level: u32, dict: &[u8], data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level), false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    // Room for incompressible input plus block overhead, so one call normally suffices. The size is a
    // function of the input length only, so even the call pattern is the same on every machine.
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 1024);
    loop {
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let done = c.total_in() as usize == data.len()
            && match status {
                Status::StreamEnd => true,
                // A sync flush is complete when zlib did not run out of output room.
                Status::Ok | Status::BufError => !last && out.len() < out.capacity(),
            };
        if done {
            return Ok(out);
        }
        out.reserve(out.capacity().max(64 * 1024));
    }
}

struct Job {
    dict: Vec<u8>,
    data: Vec<u8>,
    last: bool,
    reply: SyncSender<io::Result<Vec<u8>>>,
}

/// Worker threads that compress pieces; dropping the pool closes the queue and joins them.
struct Pool {
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    fn new(threads: usize, level: u32) -> io::Result<Pool> {
        let (tx, rx) = mpsc::sync_channel::<Job>(in_flight(threads));
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::new();
        for i in 0..threads {
            let rx = rx.clone();
            let w = std::thread::Builder::new()
                .name(format!("gzip-{i}"))
                .spawn(move || loop {
                    let job = {
                        let guard = rx.lock().unwrap_or_else(|p| p.into_inner());
                        guard.recv()
                    };
                    let Ok(job) = job else { return };
                    let r = deflate_piece(level, &job.dict, &job.data, job.last);
                    // The writer may have given up (an error elsewhere): nobody to tell.
                    let _ = job.reply.send(r);
                })?;
            workers.push(w);
        }
        Ok(Pool {
            jobs: Some(tx),
            workers,
        })
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// A `Write` that gzips what it is given on several threads into `out`; see the module docs.
/// Call [`ParallelGzip::finish`] to write the last piece and the trailer and get `out` back.
pub struct ParallelGzip<W: Write> {
    out: W,
    level: u32,
    threads: usize,
    piece: Vec<u8>,
    dict: Vec<u8>,
    crc: crc32fast::Hasher,
    total: u64,
    pool: Option<Pool>,
    pending: VecDeque<Receiver<io::Result<Vec<u8>>>>,
    header_written: bool,
}

impl<W: Write> ParallelGzip<W> {
    /// A compressor at gzip `level` (1-9) on `threads` worker threads (1: compress on the caller's
    /// thread; the bytes are the same either way).
    pub fn new(out: W, level: u32, threads: usize) -> ParallelGzip<W> {
        ParallelGzip {
            out,
            level: level.clamp(1, 9),
            threads: threads.max(1),
            piece: Vec::with_capacity(CHUNK),
            dict: Vec::new(),
            crc: crc32fast::Hasher::new(),
            total: 0,
            pool: None,
            pending: VecDeque::new(),
            header_written: false,
        }
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.out.write_all(&GZIP_HEADER)?;
            self.header_written = true;
        }
        Ok(())
    }

    /// Hand the current piece to a worker (or compress it here with one thread).
    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        self.write_header()?;
        let data = std::mem::replace(&mut self.piece, Vec::with_capacity(CHUNK));
        // The next piece's dictionary: the last 32 KiB of this one (the piece is CHUNK >= DICT bytes
        // unless it is the last one, which has no successor).
        let next_dict = data[data.len().saturating_sub(DICT)..].to_vec();
        let dict = std::mem::replace(&mut self.dict, next_dict);
        if self.threads == 1 {
            let out = deflate_piece(self.level, &dict, &data, last)?;
            return self.out.write_all(&out);
        }
        if self.pool.is_none() {
            self.pool = Some(Pool::new(self.threads, self.level)?);
        }
        while self.pending.len() >= in_flight(self.threads) {
            self.write_front()?;
        }
        let (reply, rx) = mpsc::sync_channel(1);
        let jobs = self
            .pool
            .as_ref()
            .and_then(|p| p.jobs.as_ref())
            .ok_or_else(|| io::Error::other("the gzip worker pool is closed"))?;
        jobs.send(Job {
            dict,
            data,
            last,
            reply,
        })
        .map_err(|_| io::Error::other("the gzip worker threads stopped"))?;
        self.pending.push_back(rx);
        // Write whatever is already done, so finished output does not pile up.
        while let Some(Ok(r)) = self.pending.front().map(|rx| rx.try_recv()) {
            self.pending.pop_front();
            self.out.write_all(&r?)?;
        }
        Ok(())
    }

    /// Wait for the oldest piece and write it.
    fn write_front(&mut self) -> io::Result<()> {
        if let Some(rx) = self.pending.pop_front() {
            let r = rx
                .recv()
                .map_err(|_| io::Error::other("a gzip worker thread died"))?;
            self.out.write_all(&r?)?;
        }
        Ok(())
    }

    /// Compress the rest, write the trailer, stop the workers and return the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        while !self.pending.is_empty() {
            self.write_front()?;
        }
        let crc = self.crc.clone().finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        // ISIZE is the length modulo 2^32 (RFC 1952).
        self.out.write_all(&(self.total as u32).to_le_bytes())?;
        self.out.flush()?;
        // Dropping the rest of `self` stops the worker threads (their queue closes).
        let ParallelGzip { out, .. } = self;
        Ok(out)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.piece.len();
        let n = buf.len().min(room);
        self.piece.extend_from_slice(&buf[..n]);
        self.crc.update(&buf[..n]);
        self.total += n as u64;
        if self.piece.len() == CHUNK {
            self.dispatch(false)?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        // Pieces are cut at fixed offsets only (reproducibility); a flush does not cut one.
        self.out.flush()
    }
}

/// zstd compression, for `--compression zstd`.
pub mod zstd_stream {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::MultiGzDecoder;
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
        let mut w = ParallelGzip::new(Vec::new(), 6, threads);
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
        for n in [0, 1, 100, DICT, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7] {
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
    fn one_member_with_the_whole_crc_and_length() {
        let data = sample(2 * CHUNK + 5);
        let z = gz(&data, 2, 1 << 16);
        let n = z.len();
        assert_eq!(
            u32::from_le_bytes(z[n - 8..n - 4].try_into().unwrap()),
            crc32fast::hash(&data)
        );
        assert_eq!(
            u32::from_le_bytes(z[n - 4..].try_into().unwrap()),
            data.len() as u32
        );
        // A single-member decoder reads it all: it is one member, not several concatenated.
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn dictionary_keeps_the_ratio_of_one_stream() {
        let data = sample(4 * CHUNK);
        let ours = gz(&data, 2, 1 << 16).len();
        let mut e = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
        e.write_all(&data).unwrap();
        let single = e.finish().unwrap().len();
        assert!(ours as f64 <= single as f64 * 1.005, "{ours} vs {single}");
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
