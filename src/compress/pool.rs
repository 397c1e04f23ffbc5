//! The gzip worker threads: pieces go in through a bounded queue, each comes back as a member in
//! its own reply channel, with its buffers for reuse. Takes the thread count, level and queue
//! length; dropping the [`Pool`] closes the queue and joins the workers.

use super::member::MemberCompressor;
use std::io;
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One piece's buffers, passed to a worker and back so that they are reused, not reallocated.
pub(super) struct Buffers {
    /// The piece.
    pub(super) data: Vec<u8>,
    /// The member is `out[..len]`.
    pub(super) out: Vec<u8>,
    pub(super) len: usize,
}

impl Buffers {
    /// Empty buffers for a piece of up to `piece` bytes.
    pub(super) fn new(piece: usize) -> Buffers {
        Buffers {
            data: Vec::with_capacity(piece),
            out: Vec::new(),
            len: 0,
        }
    }
}

/// A worker's answer: the buffers with the member in them.
pub(super) type Reply = io::Result<Buffers>;

/// One piece to compress, and where to answer.
pub(super) struct Job {
    pub(super) bufs: Buffers,
    pub(super) reply: SyncSender<Reply>,
}

/// Worker threads that compress pieces; dropping the pool closes the queue and joins them.
pub(super) struct Pool {
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    /// `threads` workers compressing at `level`, with room for `queue` pieces waiting.
    pub(super) fn new(threads: usize, level: u32, queue: usize) -> io::Result<Pool> {
        let (tx, rx) = mpsc::sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::new();
        for i in 0..threads {
            let rx = rx.clone();
            let w = std::thread::Builder::new()
                .name(format!("gzip-{i}"))
                .spawn(move || {
                    let mut z = MemberCompressor::new(level);
                    loop {
                        let job = {
                            let guard = rx.lock().unwrap_or_else(|p| p.into_inner());
                            guard.recv()
                        };
                        let Ok(mut job) = job else { return };
                        let b = &mut job.bufs;
                        let r = z.member(&b.data, &mut b.out).map(|n| b.len = n);
                        // The writer may have given up (an error elsewhere): nobody to tell.
                        let _ = job.reply.send(r.map(|()| job.bufs));
                    }
                })?;
            workers.push(w);
        }
        Ok(Pool {
            jobs: Some(tx),
            workers,
        })
    }

    /// Queue `job` for the next free worker (waits while the queue is full).
    pub(super) fn send(&self, job: Job) -> io::Result<()> {
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("the gzip worker pool is closed"))?;
        jobs.send(job)
            .map_err(|_| io::Error::other("the gzip worker threads stopped"))
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
