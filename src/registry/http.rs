//! The HTTP transport of one registry (`Transport`): TLS agents, one exchange with its deadline,
//! retries with backoff, error mapping, and the redaction of the secrets it has seen. It knows
//! nothing of authentication or of the distribution API: an `Authorization` value is given to it.
//!
//! Takes a `Request` (method, URL, headers, a re-creatable body) and gives a response or a
//! [`RegistryError`] that says whether trying again may help. Every exchange runs under an overall
//! deadline ([`Tuning::deadline`](super::tuning::Tuning::deadline): `--timeout` plus the time its body takes
//! at the minimum rate), so a server that trickles bytes cannot hold it. `Transport::retry` does the
//! trying again, one request at a time, honouring `Retry-After`, capping every delay and stopping at
//! the push's retry budget. URLs a registry gives are checked by [`super::urls`]; error bodies are
//! read capped and redacted.

use super::error::{parse_retry_after, summarize_body, RegistryError};
use super::options::ClientOptions;
use super::tls::{extra_roots_for, with_base_roots};
use super::tuning::Tuning;
pub(crate) use super::urls::{shown_url, strip_query, url_host, with_query};
use crate::ui::progress::reading;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use ureq::http::Response;
use ureq::tls::{RootCerts, TlsConfig};
use ureq::{Agent, AsSendBody, Body, SendBody};

/// The body of a request, re-creatable for retries, re-authentication and redirects.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReqBody<'a> {
    /// No body (`Content-Length: 0` on PUT/POST/PATCH).
    Empty,
    /// Bytes in memory (manifests, token forms).
    Bytes(&'a [u8]),
    /// A byte range of a file (blobs).
    File {
        path: &'a Path,
        offset: u64,
        len: u64,
    },
}

/// One request to send with `Client::send` (or, as it is, with [`Transport::raw`]).
pub(crate) struct Request<'a> {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: ReqBody<'a>,
    /// The repository the request is about (decides the token scope), if any.
    pub repo: Option<&'a str>,
    pub action: &'a str,
}

impl<'a> Request<'a> {
    /// A request about `repo` without a body or headers.
    pub(crate) fn empty(
        method: &'static str,
        url: String,
        repo: &'a str,
        action: &'a str,
    ) -> Request<'a> {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: ReqBody::Empty,
            repo: Some(repo),
            action,
        }
    }

    /// The same request with one more header.
    pub(crate) fn header(mut self, name: &'static str, value: String) -> Request<'a> {
        self.headers.push((name, value));
        self
    }
}

/// The transport of one registry host, safe to share across threads.
pub(crate) struct Transport {
    /// The registry's API host (`host[:port]`), named in errors.
    host: String,
    tuning: Tuning,
    /// `--insecure-registry` hosts.
    insecure: Vec<String>,
    /// Verifying TLS agent, made on first use: loading the system's roots costs a few ms that a
    /// plain-http registry never needs (see [`Transport::verified`]).
    agent: OnceLock<Agent>,
    extra_roots: Vec<ureq::tls::Certificate<'static>>,
    /// Without TLS verification; also carries plain-http requests, where no TLS happens at all.
    unverified: Agent,
    /// TLS without verification to `host` (an `--insecure-registry` host that does speak TLS).
    unverified_tls: AtomicBool,
    secrets: Mutex<Vec<String>>,
    /// When retries stop being started (set per push by [`Transport::start_budget`]).
    retry_until: Mutex<Option<std::time::Instant>>,
}

fn agent(tuning: &Tuning, tls: TlsConfig) -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("cargo-slim-image/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(tuning.connect_timeout))
        .timeout_per_read(Some(tuning.io_timeout))
        .timeout_per_write(Some(tuning.io_timeout))
        .tls_config(tls)
        .build()
        .new_agent()
}

impl Transport {
    /// The transport to the API host `host`, with the CAs, timeouts and insecure hosts of `opts`.
    pub(crate) fn new(host: &str, opts: &ClientOptions) -> anyhow::Result<Transport> {
        let extra_roots = extra_roots_for(host, &opts.registry_ca, &opts.certs_dirs)?;
        let unverified = TlsConfig::builder().disable_verification(true).build();
        Ok(Transport {
            host: host.to_string(),
            tuning: opts.tuning.clone(),
            insecure: opts.insecure_registries.clone(),
            agent: OnceLock::new(),
            extra_roots,
            unverified: agent(&opts.tuning, unverified),
            unverified_tls: AtomicBool::new(false),
            secrets: Mutex::new(Vec::new()),
            retry_until: Mutex::new(None),
        })
    }

    /// The API host it talks to.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The timeouts and retries it runs with.
    pub(crate) fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    /// The `--insecure-registry` hosts.
    pub(crate) fn insecure(&self) -> &[String] {
        &self.insecure
    }

    /// The agent that verifies TLS against Mozilla's, the system's and the user's roots.
    fn verified(&self) -> &Agent {
        self.agent.get_or_init(|| {
            let roots = with_base_roots(&self.extra_roots);
            let tls = TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&roots))
                .build();
            agent(&self.tuning, tls)
        })
    }

    /// The agent for `url`: without TLS verification when `unverified`; plain http has no TLS to
    /// verify, so it skips loading the roots.
    pub(crate) fn agent_with(&self, unverified: bool, url: &str) -> &Agent {
        if unverified || url.starts_with("http://") {
            &self.unverified
        } else {
            self.verified()
        }
    }

    /// The agent for a request to `url` on `host`: unverified TLS only for our own
    /// `--insecure-registry` host ([`Transport::set_unverified_tls`]).
    fn agent_for(&self, host: &str, url: &str) -> &Agent {
        let ours_unverified = host == self.host && self.unverified_tls.load(Ordering::Acquire);
        self.agent_with(ours_unverified, url)
    }

    /// From now on, TLS to the registry's own host is (or is not) verified.
    pub(crate) fn set_unverified_tls(&self, unverified: bool) {
        self.unverified_tls.store(unverified, Ordering::Release);
    }

    /// Whether TLS to the registry's own host goes unverified.
    pub(crate) fn unverified_tls(&self) -> bool {
        self.unverified_tls.load(Ordering::Acquire)
    }

    /// Start the retry budget of one push (see `Client::start_budget`).
    pub(crate) fn start_budget(&self) {
        let end = std::time::Instant::now() + self.tuning.retry_budget;
        *self.retry_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(end);
    }

    /// Remember a secret so that [`Transport::redact`] removes it from any text.
    pub(crate) fn add_secret(&self, s: &str) {
        if s.len() >= 3 {
            self.secrets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(s.to_string());
        }
    }

    /// `text` with every known secret replaced by `<redacted>`.
    pub(crate) fn redact(&self, text: String) -> String {
        let secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        secrets.iter().fold(crate::ui::redact(&text), |t, s| {
            t.replace(s.as_str(), "<redacted>")
        })
    }

    /// One HTTP exchange, no auth handling or redirects; `auth` is the `Authorization` value to send.
    pub(crate) fn raw(
        &self,
        req: &Request,
        auth: Option<&str>,
    ) -> Result<Response<Body>, RegistryError> {
        self.raw_expecting(req, auth, 0)
    }

    /// [`Transport::raw`] for a request whose answer carries about `expect` bytes of body: its
    /// deadline ([`Tuning::deadline`](super::tuning::Tuning::deadline)) counts them with the bytes it sends.
    pub(crate) fn raw_expecting(
        &self,
        req: &Request,
        auth: Option<&str>,
        expect: u64,
    ) -> Result<Response<Body>, RegistryError> {
        let target = url_host(&req.url).unwrap_or_default();
        let agent = self.agent_for(&target, &req.url);
        let mut b = ureq::http::Request::builder()
            .method(req.method)
            .uri(&req.url);
        for (k, v) in &req.headers {
            b = b.header(*k, v.as_str());
        }
        if let Some(a) = auth {
            b = b.header("Authorization", a);
        }
        let has_body = matches!(req.method, "PUT" | "POST" | "PATCH");
        let (act, host) = (req.action, target.as_str());
        match req.body {
            ReqBody::Empty if has_body => {
                let r = b.body(&[][..]).map_err(|e| self.bad_url(act, e))?;
                self.run_timed(agent, r, expect, host, act)
            }
            ReqBody::Empty => {
                let r = b.body(()).map_err(|e| self.bad_url(act, e))?;
                self.run_timed(agent, r, expect, host, act)
            }
            ReqBody::Bytes(bytes) => {
                let r = b.body(bytes).map_err(|e| self.bad_url(act, e))?;
                self.run_timed(agent, r, expect + bytes.len() as u64, host, act)
            }
            ReqBody::File { path, offset, len } => {
                let f = std::fs::File::open(path)
                    .and_then(|mut f| f.seek(SeekFrom::Start(offset)).map(|_| f))
                    .map_err(|e| RegistryError::Connection {
                        action: act.to_string(),
                        host: target.clone(),
                        detail: format!("cannot read {}: {e}", path.display()),
                        retriable: false,
                    })?;
                let r = b
                    .header("Content-Length", len.to_string())
                    .body(SendBody::from_owned_reader(reading(f.take(len), offset)))
                    .map_err(|e| self.bad_url(act, e))?;
                self.run_timed(agent, r, expect + len, host, act)
            }
        }
    }

    /// Run one request with its overall deadline for `bytes` of body (sent and received); a
    /// deadline that passes is a retriable error that names the registry and the timeout.
    pub(crate) fn run_timed(
        &self,
        agent: &Agent,
        req: ureq::http::Request<impl AsSendBody>,
        bytes: u64,
        host: &str,
        action: &str,
    ) -> Result<Response<Body>, RegistryError> {
        let t = &self.tuning;
        let deadline = t.deadline(bytes);
        let req = agent
            .configure_request(req)
            .timeout_global(Some(deadline))
            .build();
        agent.run(req).map_err(|e| match e {
            ureq::Error::Timeout(ureq::Timeout::Global) => RegistryError::Connection {
                action: action.to_string(),
                host: host.to_string(),
                detail: format!(
                    "no complete answer within {:.1}s (the deadline of every request: --timeout \
                     {}s, plus 1s per {} KiB it sends or receives)",
                    deadline.as_secs_f64(),
                    t.io_timeout.as_secs_f64(),
                    t.min_rate >> 10
                ),
                retriable: true,
            },
            e => self.transport_error(e, host, action),
        })
    }

    /// Retry `f` while it fails in a way that may pass, with capped exponential backoff: at most
    /// `retries` times, and not past the push's retry budget ([`Transport::start_budget`]).
    pub(crate) fn retry<T>(
        &self,
        mut f: impl FnMut() -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let t = &self.tuning;
        let mut attempt = 0u32;
        loop {
            match f() {
                Err(e) if e.is_retriable() && attempt < t.retries => {
                    let delay = self.backoff(&e, attempt);
                    if !self.may_retry_after(delay) {
                        return Err(e);
                    }
                    attempt += 1;
                    crate::ui::warn(format!(
                        "{e}; retrying in {:.1}s ({attempt}/{})",
                        delay.as_secs_f64(),
                        t.retries
                    ));
                    std::thread::sleep(delay);
                }
                other => return other,
            }
        }
    }

    /// How long to wait before retry number `attempt + 1` after `e`: `Retry-After` if the registry
    /// sent one, else exponential from `backoff` with jitter; never more than `max_backoff`.
    pub(crate) fn backoff(&self, e: &RegistryError, attempt: u32) -> Duration {
        let t = &self.tuning;
        let exp = t.backoff.saturating_mul(1u32 << attempt.min(16));
        e.retry_after()
            .unwrap_or(exp + jitter(exp))
            .min(t.max_backoff)
    }

    /// Whether a retry that starts after `delay` is still within the retry budget, which ends
    /// `retry_budget` after the push began or after the last success, whichever is later (always,
    /// when no budget was started); warns once it is not.
    pub(crate) fn may_retry_after(&self, delay: Duration) -> bool {
        let until = *self.retry_until.lock().unwrap_or_else(|p| p.into_inner());
        match until {
            Some(end) if std::time::Instant::now() + delay > end => {
                crate::ui::warn(format!(
                    "{}: no success from the registry for {}s (the retry budget); not retrying",
                    self.host,
                    self.tuning.retry_budget.as_secs()
                ));
                false
            }
            _ => true,
        }
    }

    /// Note that the registry answered a request with success: the retry budget (when started)
    /// runs from now again, so a long push that keeps making progress can still retry a blip.
    pub(crate) fn progressed(&self) {
        let mut until = self.retry_until.lock().unwrap_or_else(|p| p.into_inner());
        if until.is_some() {
            *until = Some(std::time::Instant::now() + self.tuning.retry_budget);
        }
    }

    /// A URL the registry gave in answer to a request to `from` (`what`: "an upload Location", "a
    /// redirect to", ...), resolved and checked by the one rule of [`super::urls`]; refused with an
    /// error that names it (without its query) and says what to do.
    pub(crate) fn given_url(
        &self,
        from: &str,
        given: &str,
        what: &str,
        action: &str,
    ) -> Result<String, RegistryError> {
        super::urls::given_url(from, given, &self.insecure).map_err(|detail| {
            RegistryError::Protocol {
                action: action.to_string(),
                registry: self.host.clone(),
                detail: format!("{what} {detail}"),
            }
        })
    }

    /// The error for an unexpected status, with a capped, redacted summary of the body.
    pub(crate) fn status_error(&self, action: &str, resp: &mut Response<Body>) -> RegistryError {
        let retry_after = header(resp, "retry-after").and_then(|v| parse_retry_after(&v));
        let status = resp.status().as_u16();
        let body = read_capped(resp, 64 << 10);
        RegistryError::Status {
            action: action.to_string(),
            registry: self.host.clone(),
            status,
            detail: self.redact(summarize_body(&body)),
            retry_after,
        }
    }

    pub(crate) fn bad_url(&self, action: &str, e: impl std::fmt::Display) -> RegistryError {
        RegistryError::Protocol {
            action: action.to_string(),
            registry: self.host.clone(),
            detail: format!("a URL we cannot use ({e})"),
        }
    }

    pub(crate) fn transport_error(
        &self,
        e: ureq::Error,
        host: &str,
        action: &str,
    ) -> RegistryError {
        let conn = |detail: String, retriable| RegistryError::Connection {
            action: action.to_string(),
            host: host.to_string(),
            detail: self.redact(detail),
            retriable,
        };
        let tls = |detail: String| RegistryError::Tls {
            action: action.to_string(),
            host: host.to_string(),
            detail,
        };
        use std::io::ErrorKind as K;
        match e {
            ureq::Error::HostNotFound => RegistryError::UnknownHost {
                action: action.to_string(),
                host: host.to_string(),
            },
            ureq::Error::Rustls(r) => tls(r.to_string()),
            ureq::Error::Io(io) => {
                if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    return tls(r.to_string());
                }
                let retriable = matches!(
                    io.kind(),
                    K::ConnectionRefused
                        | K::ConnectionReset
                        | K::ConnectionAborted
                        | K::BrokenPipe
                        | K::UnexpectedEof
                        | K::TimedOut
                        | K::Interrupted
                        | K::NotConnected
                        | K::WouldBlock
                );
                conn(io.to_string(), retriable)
            }
            ureq::Error::Timeout(t) => conn(
                format!(
                    "timed out ({t}; --timeout allows {}s of silence)",
                    self.tuning.io_timeout.as_secs_f64()
                ),
                true,
            ),
            ureq::Error::Protocol(p) => conn(format!("HTTP protocol error ({p})"), true),
            ureq::Error::ConnectionFailed => conn("connection failed".into(), true),
            other => conn(other.to_string(), false),
        }
    }
}

/// A header's value as text.
pub(crate) fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Read at most `limit` bytes of a response body (the rest is left unread).
pub(crate) fn read_capped(resp: &mut Response<Body>, limit: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    // A body that breaks off is still summarised from what arrived.
    let _ = resp
        .body_mut()
        .as_reader()
        .take(limit)
        .read_to_end(&mut buf);
    buf
}

/// Up to a quarter of `d`, pseudo-random, so parallel uploads do not retry in lockstep.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    d / 4 * (nanos % 1000) / 1000
}
