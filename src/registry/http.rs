//! HTTP plumbing for [`Client`]: one exchange, retries with backoff, error mapping, URL helpers.
//!
//! Takes a `Request` (method, URL, headers, a re-creatable body) and gives a response or a
//! [`RegistryError`] that says whether trying again may help; `Client::retry` does the trying again,
//! honouring `Retry-After` and capping every delay. Upload `Location`s are resolved here (relative or
//! absolute) and get their `digest=` appended with `&` or `?`. Error bodies are read capped and redacted.

use super::client::Client;
use super::error::{parse_retry_after, summarize_body, RegistryError};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;
use ureq::http::Response;
use ureq::{Body, SendBody};

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

/// One request to send with [`Client::send`].
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

impl Client {
    /// One HTTP exchange, no auth handling or redirects; `auth` is the `Authorization` value to send.
    pub(crate) fn raw(
        &self,
        req: &Request,
        auth: Option<&str>,
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
        let result = match req.body {
            ReqBody::Empty if has_body => {
                agent.run(b.body(&[][..]).map_err(|e| self.bad_url(req.action, e))?)
            }
            ReqBody::Empty => agent.run(b.body(()).map_err(|e| self.bad_url(req.action, e))?),
            ReqBody::Bytes(bytes) => {
                agent.run(b.body(bytes).map_err(|e| self.bad_url(req.action, e))?)
            }
            ReqBody::File { path, offset, len } => {
                let f = std::fs::File::open(path)
                    .and_then(|mut f| f.seek(SeekFrom::Start(offset)).map(|_| f))
                    .map_err(|e| RegistryError::Connection {
                        action: req.action.to_string(),
                        host: target.clone(),
                        detail: format!("cannot read {}: {e}", path.display()),
                        retriable: false,
                    })?;
                let r = b
                    .header("Content-Length", len.to_string())
                    .body(SendBody::from_owned_reader(f.take(len)))
                    .map_err(|e| self.bad_url(req.action, e))?;
                agent.run(r)
            }
        };
        result.map_err(|e| self.transport_error(e, &target, req.action))
    }

    /// Retry `f` while it fails in a way that may pass, with capped exponential backoff.
    pub(crate) fn retry<T>(
        &self,
        mut f: impl FnMut() -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let t = &self.opts.tuning;
        let mut attempt = 0u32;
        loop {
            match f() {
                Err(e) if e.is_retriable() && attempt < t.retries => {
                    let exp = t.backoff.saturating_mul(1u32 << attempt.min(16));
                    let delay = e
                        .retry_after()
                        .unwrap_or(exp + jitter(exp))
                        .min(t.max_backoff);
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
            ureq::Error::Timeout(t) => conn(format!("timed out ({t})"), true),
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

/// `host[:port]` of an absolute http(s) URL.
pub(crate) fn url_host(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = &rest[..end];
    Some(
        auth.rsplit_once('@')
            .map_or(auth, |(_, h)| h)
            .to_ascii_lowercase(),
    )
}

/// Resolve a `Location` against the URL it came from (absolute, `//host/...`, `/path` or relative).
pub(crate) fn resolve_url(base: &str, loc: &str) -> String {
    let loc = loc.trim();
    if loc.starts_with("https://") || loc.starts_with("http://") {
        return loc.to_string();
    }
    let scheme = if base.starts_with("https://") {
        "https:"
    } else {
        "http:"
    };
    if loc.starts_with("//") {
        return format!("{scheme}{loc}");
    }
    let origin_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[origin_end..]
        .find('/')
        .map_or(base.len(), |i| origin_end + i);
    let origin = &base[..path_start];
    if loc.starts_with('/') {
        return format!("{origin}{loc}");
    }
    let path = strip_query(&base[path_start..]);
    let dir = path.rfind('/').map_or("/", |i| &path[..=i]);
    format!("{origin}{dir}{loc}")
}

/// `url` with `key=value` appended to its query (`&` when it has one already, else `?`).
pub(crate) fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={}", super::auth::urlencode(value))
}

/// `url` without its query (for messages: upload URLs carry opaque state).
pub(crate) fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// Up to a quarter of `d`, pseudo-random, so parallel uploads do not retry in lockstep.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    d / 4 * (nanos % 1000) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let b = "https://r.io/v2/a/blobs/uploads/x?_state=1";
        assert_eq!(
            resolve_url(b, "/v2/a/blobs/uploads/y?s=2"),
            "https://r.io/v2/a/blobs/uploads/y?s=2"
        );
        assert_eq!(resolve_url(b, "https://s3.x/b"), "https://s3.x/b");
        assert_eq!(resolve_url(b, "//cdn.x/b"), "https://cdn.x/b");
        assert_eq!(resolve_url(b, "z"), "https://r.io/v2/a/blobs/uploads/z");
        assert_eq!(
            with_query("http://h/u?a=1", "digest", "sha256:ab"),
            "http://h/u?a=1&digest=sha256%3Aab"
        );
        assert_eq!(
            with_query("http://h/u", "digest", "x"),
            "http://h/u?digest=x"
        );
        assert_eq!(
            url_host("https://u:p@Reg.io:5000/v2/").as_deref(),
            Some("reg.io:5000")
        );
        assert_eq!(strip_query(b), "https://r.io/v2/a/blobs/uploads/x");
    }
}
