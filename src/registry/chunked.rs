//! Chunked blob uploads that survive a failing network: PATCH the blob in `chunk_size` pieces
//! (`Content-Range`), and when a PATCH fails in a way that may pass, ask the session where it stands
//! (GET the upload URL: `Range`, `Location`) and continue from the registry's offset; a 416 answer is
//! answered the same way. Only a session the registry lost (404 on it) makes the caller start again.
//! A registry whose `Range` does not hold all of an accepted PATCH, or goes back after a failure, has
//! a few such setbacks (`retries`, at least 3) before the upload fails: never a loop.

use super::client::Client;
use super::error::RegistryError;
use super::http::{header, shown_url, with_query, ReqBody, Request};
use super::session::{on_session, range_end, Step};
use crate::digest::Digest;
use std::path::Path;

/// What one PATCH did.
enum Patched {
    /// Accepted: the session's next URL and the last byte offset it holds (if it said).
    Ok(String, Option<u64>),
    /// 416: the registry holds another amount; its `Range` end if it said.
    Rewind(Option<u64>),
}

impl Client {
    /// Chunked upload into the session at `loc`: PATCH the pieces, then PUT with the digest and no
    /// body. Each request is retried on its own (a failed PATCH resumes from the registry's offset).
    pub(super) fn upload_chunked(
        &self,
        repo: &str,
        d: &Digest,
        path: &Path,
        size: u64,
        mut loc: String,
        action: &str,
    ) -> Result<(), Step> {
        let t = &self.opts.tuning;
        let chunk = t.chunk_size.max(1);
        let (mut offset, mut rewinds, mut failures) = (0u64, 0u32, 0u32);
        // Setbacks: a PATCH the registry accepted without its `Range` holding all of it, or a status
        // lookup below the furthest offset reached. A registry that never advances, or
        // goes back after every failure, must not keep the upload going for ever.
        let (mut stalls, mut furthest) = (0u32, 0u64);
        while offset < size {
            let len = chunk.min(size - offset);
            match self.patch(repo, path, &loc, offset, len, action) {
                Ok(Patched::Ok(next, end)) => {
                    loc = next;
                    let at = end.map_or(offset + len, |e| e.saturating_add(1)).min(size);
                    // An accepted PATCH holds all its bytes; fewer is a setback (else a registry
                    // taking a byte per PATCH would have a big blob sent again and again).
                    if at < (offset + len).min(size) {
                        self.setback(&mut stalls, d, offset, action)?;
                    }
                    offset = at;
                    furthest = furthest.max(at);
                    failures = 0;
                }
                Ok(Patched::Rewind(end)) if rewinds < t.retries.max(3) => {
                    rewinds += 1;
                    (loc, offset) = match end {
                        Some(e) => (loc, e.saturating_add(1).min(size)),
                        None => self.upload_status(repo, &loc, size, action)?,
                    };
                    crate::ui::verbose(format!(
                        "{}: upload of {d} resumes at byte {offset} (416)",
                        self.host
                    ));
                }
                Ok(Patched::Rewind(_)) => {
                    return Err(Step::Lost(RegistryError::Protocol {
                        action: action.to_string(),
                        registry: self.host.clone(),
                        detail: format!("416 answers to the upload of {d} again and again"),
                    }))
                }
                Err(e) if e.is_retriable() && failures < t.retries => {
                    (loc, offset) = self.resume_after(e, failures, repo, &loc, size, action)?;
                    failures += 1;
                    if offset < furthest {
                        self.setback(&mut stalls, d, furthest, action)?;
                    }
                }
                Err(e) => return Err(on_session(e)),
            }
        }
        self.close_chunked(repo, d, &loc, action)
    }

    /// After the retriable failure `e` of a PATCH (the `failures`-th before it): wait the backoff,
    /// then ask the session where it stands (see [`Client::upload_status`]).
    fn resume_after(
        &self,
        e: RegistryError,
        failures: u32,
        repo: &str,
        loc: &str,
        size: u64,
        action: &str,
    ) -> Result<(String, u64), Step> {
        let delay = self.http.backoff(&e, failures);
        if !self.http.may_retry_after(delay) {
            return Err(Step::Fail(e));
        }
        crate::ui::warn(format!(
            "{e}; resuming the upload in {:.1}s ({}/{})",
            delay.as_secs_f64(),
            failures + 1,
            self.opts.tuning.retries
        ));
        std::thread::sleep(delay);
        self.upload_status(repo, loc, size, action)
    }

    /// Close the chunked upload at `loc`: PUT with the digest and no body (retried).
    fn close_chunked(&self, repo: &str, d: &Digest, loc: &str, action: &str) -> Result<(), Step> {
        crate::ui::verbose(format!(
            "{}: closing chunked upload {}",
            self.host,
            shown_url(loc)
        ));
        let url = with_query(loc, "digest", &d.to_string());
        self.http
            .retry(|| {
                let mut resp = self.send(
                    &Request::empty("PUT", url.clone(), repo, action)
                        .header("Content-Type", "application/octet-stream".into()),
                )?;
                self.stored(&mut resp, d, action)
            })
            .map_err(on_session)
    }

    /// Count one setback of the upload of `d` (at byte `offset`) in `n`; past `retries.max(3)`
    /// of them the upload fails with an error that says so.
    fn setback(&self, n: &mut u32, d: &Digest, offset: u64, action: &str) -> Result<(), Step> {
        *n += 1;
        if *n <= self.opts.tuning.retries.max(3) {
            return Ok(());
        }
        Err(Step::Fail(RegistryError::Protocol {
            action: action.to_string(),
            registry: self.host.clone(),
            detail: format!(
                "a Range for {d} that did not hold what was sent, or went back, {n} times (last \
                 at byte {offset}): giving up on this upload (the registry may be broken or a proxy \
                 may drop request bodies)",
                n = *n
            ),
        }))
    }

    /// One PATCH of `len` bytes at `offset`.
    fn patch(
        &self,
        repo: &str,
        path: &Path,
        loc: &str,
        offset: u64,
        len: u64,
        action: &str,
    ) -> Result<Patched, RegistryError> {
        let mut resp = self.send(&Request {
            method: "PATCH",
            url: loc.to_string(),
            headers: vec![
                ("Content-Type", "application/octet-stream".into()),
                ("Content-Range", format!("{offset}-{}", offset + len - 1)),
            ],
            body: ReqBody::File { path, offset, len },
            repo: Some(repo),
            action,
        })?;
        let end = header(&resp, "range").and_then(|r| range_end(&r));
        match resp.status().as_u16() {
            202 | 204 => {
                let next = match header(&resp, "location") {
                    Some(l) => self.http.given_url(loc, &l, "an upload Location", action)?,
                    None => loc.to_string(),
                };
                Ok(Patched::Ok(next, end))
            }
            416 => Ok(Patched::Rewind(end)),
            _ => Err(self.http.status_error(action, &mut resp)),
        }
    }

    /// Where the session at `loc` stands (GET, retried): its next URL and the offset to continue
    /// from (`Range: 0-N` holds N + 1 bytes; `0-0` or no `Range` is read as an empty session).
    fn upload_status(
        &self,
        repo: &str,
        loc: &str,
        size: u64,
        action: &str,
    ) -> Result<(String, u64), Step> {
        self.http
            .retry(|| {
                let mut resp = self.send(&Request::empty("GET", loc.to_string(), repo, action))?;
                if !resp.status().is_success() {
                    return Err(self.http.status_error(action, &mut resp));
                }
                let offset = match header(&resp, "range").and_then(|r| range_end(&r)) {
                    Some(0) | None => 0,
                    Some(e) => e.saturating_add(1).min(size),
                };
                let next = match header(&resp, "location") {
                    Some(l) => self.http.given_url(loc, &l, "an upload Location", action)?,
                    None => loc.to_string(),
                };
                Ok((next, offset))
            })
            .map_err(on_session)
    }
}
