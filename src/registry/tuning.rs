//! How patient the registry client is: timeouts, per-request deadlines, retries and their budget,
//! upload chunking, the manifest size cap. [`Tuning::default`] is what the command line starts from
//! (`--retries` and `--timeout` set two of the fields).

use std::time::Duration;

/// Timeouts, retries and upload chunking.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Time allowed to open a TCP connection (and finish the TLS handshake).
    pub connect_timeout: Duration,
    /// Longest wait for any single read or write on a connection, and the base of every request's
    /// overall deadline (see [`Tuning::deadline`]).
    pub io_timeout: Duration,
    /// The slowest transfer rate (bytes per second) a request's deadline allows for its body.
    pub min_rate: u64,
    /// How many times to retry one request that failed in a way that may pass (each request of a
    /// push on its own), and how many times to restart an upload session the registry lost.
    pub retries: u32,
    /// Time without a successful answer (counted from the start of a push, then from each success)
    /// after which no retry is started any more (see `Client::start_budget`).
    pub retry_budget: Duration,
    /// Delay before the first retry; doubles on each one.
    pub backoff: Duration,
    /// Longest delay between retries (also caps `Retry-After`).
    pub max_backoff: Duration,
    /// Blobs larger than this are uploaded in chunks (PATCH) instead of one PUT.
    pub chunk_threshold: u64,
    /// Size of each PATCH chunk.
    pub chunk_size: u64,
    /// Largest manifest or index we accept from a registry.
    pub max_manifest_size: u64,
}

impl Tuning {
    /// The overall deadline of one request that sends or receives `bytes` of body: `io_timeout`
    /// plus the time those bytes take at `min_rate` (so a server that trickles cannot hold a
    /// request forever, and a big blob on a slow link still has the time it needs).
    pub fn deadline(&self, bytes: u64) -> Duration {
        let rate = self.min_rate.max(1);
        self.io_timeout
            .saturating_add(Duration::from_secs(bytes / rate))
            .saturating_add(Duration::from_millis((bytes % rate) * 1000 / rate))
    }
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            connect_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(120),
            min_rate: 64 << 10,
            retries: 6,
            retry_budget: Duration::from_secs(600),
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            chunk_threshold: 64 << 20,
            chunk_size: 32 << 20,
            max_manifest_size: 4 << 20,
        }
    }
}
