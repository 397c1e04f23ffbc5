//! What the two ways of uploading a blob into an upload session share (the monolithic PUT in
//! `upload`, the PATCHes in `chunked`): [`Step`], why an attempt failed and whether the session is
//! lost; the `Range` header's end; and the check of the answer to a PUT that stores a blob or a
//! manifest ([`Client::stored`]).

use super::client::Client;
use super::error::RegistryError;
use super::http::header;
use crate::digest::Digest;

/// Why one attempt at uploading a blob failed.
pub(super) enum Step {
    /// The registry lost the upload session (404 on it, an offset it cannot continue from, a
    /// closing PUT that does not add up): start again from the HEAD.
    Lost(RegistryError),
    /// Anything else: the push fails with it.
    Fail(RegistryError),
}

impl From<RegistryError> for Step {
    fn from(e: RegistryError) -> Step {
        Step::Fail(e)
    }
}

/// Classify an error of a request on an upload session URL.
pub(super) fn on_session(e: RegistryError) -> Step {
    match e.status() {
        Some(400 | 404 | 416) => Step::Lost(e),
        _ => Step::Fail(e),
    }
}

impl Client {
    /// The answer to a PUT that stores `d` (a blob or a manifest): a success status, and a
    /// `Docker-Content-Digest` header, when present, that names what we sent.
    pub(super) fn stored(
        &self,
        resp: &mut ureq::http::Response<ureq::Body>,
        d: &Digest,
        action: &str,
    ) -> Result<(), RegistryError> {
        if !resp.status().is_success() {
            return Err(self.http.status_error(action, resp));
        }
        match header(resp, "docker-content-digest") {
            Some(h) if h.trim() != d.to_string() => Err(RegistryError::Protocol {
                action: action.to_string(),
                registry: self.host.clone(),
                detail: format!("Docker-Content-Digest {h} for content whose digest is {d}"),
            }),
            _ => Ok(()),
        }
    }
}

/// The last byte offset of a `Range: 0-1234` (or `bytes=0-1234`) header.
pub(super) fn range_end(v: &str) -> Option<u64> {
    v.rsplit('-').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(range_end("0-1234"), Some(1234));
        assert_eq!(range_end("bytes=0-9"), Some(9));
        assert_eq!(range_end("junk"), None);
    }
}
