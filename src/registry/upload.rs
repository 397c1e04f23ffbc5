//! The write side of the registry client: blobs (skip, mount, upload) and manifests.
//!
//! Takes a descriptor whose bytes are in a [`BlobStore`] and makes the registry hold it: HEAD first and
//! skip what exists; else try a cross-repository mount from the hinted repositories (201 mounted, 202
//! carry on with that upload session); else POST an upload session and either PUT the whole blob,
//! streamed from disk, or PATCH it in chunks (`Content-Range`, 416 answered from the `Range` header) and
//! close with a PUT. A failed attempt is retried from the HEAD, so a retry uploads only what is missing.

use super::client::Client;
use super::error::RegistryError;
use super::http::{header, resolve_url, strip_query, with_query, ReqBody, Request};
use crate::blob::{BlobStore, Descriptor};
use crate::digest::Digest;
use std::path::Path;

/// What [`Client::push_blob`] had to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobOutcome {
    /// The repository already had it.
    Skipped,
    /// Mounted from this repository of the same registry, without uploading.
    Mounted(String),
    /// Uploaded.
    Uploaded,
}

enum Started {
    Mounted,
    Session(String),
}

impl Client {
    /// Make `repo` hold the blob `desc` from `store` (see the module docs); `mount_from` are repositories
    /// of this registry that may hold it already.
    pub fn push_blob(
        &self,
        repo: &str,
        desc: &Descriptor,
        store: &BlobStore,
        mount_from: &[String],
    ) -> anyhow::Result<BlobOutcome> {
        let path = store.verified_path(desc)?;
        let d = &desc.digest;
        let action = format!("pushing blob {d} to {}/{repo}", self.registry);
        let head_url = self.url(&format!("/v2/{repo}/blobs/{d}"))?;
        let outcome = self.retry(|| {
            if self.head_blob_once(repo, &head_url, &action)?.is_some() {
                return Ok(BlobOutcome::Skipped);
            }
            // One mount attempt, from the first source: a refused mount (202) already opened the
            // upload session we use next, so trying further sources would only leave sessions behind.
            // A mount the token does not allow (no pull on the source) is refused with 401/403: upload
            // instead, and do not try that source again.
            let mut session = None;
            if let Some(from) = mount_from
                .iter()
                .find(|f| *f != repo && self.may_mount(repo, f))
            {
                match self.start_upload(repo, Some((d, from)), &action) {
                    Ok(Started::Mounted) => return Ok(BlobOutcome::Mounted(from.clone())),
                    Ok(Started::Session(loc)) => {
                        crate::ui::verbose(format!(
                            "{}: mounting {d} from {from} refused; uploading",
                            self.host
                        ));
                        session = Some(loc);
                    }
                    Err(e) if is_access_denied(&e) => self.mount_refused(repo, from, &e),
                    Err(e) => return Err(e),
                }
            }
            let loc = match session {
                Some(l) => l,
                None => match self.start_upload(repo, None, &action)? {
                    Started::Session(l) => l,
                    Started::Mounted => return Ok(BlobOutcome::Skipped),
                },
            };
            if desc.size > self.opts.tuning.chunk_threshold {
                self.upload_chunked(repo, d, &path, desc.size, loc, &action)?;
            } else {
                self.put_blob(repo, d, &path, desc.size, &loc, &action)?;
            }
            Ok(BlobOutcome::Uploaded)
        })?;
        Ok(outcome)
    }

    /// POST an upload session (a mount attempt when `mount` is given).
    fn start_upload(
        &self,
        repo: &str,
        mount: Option<(&Digest, &str)>,
        action: &str,
    ) -> Result<Started, RegistryError> {
        let mut url = self.url(&format!("/v2/{repo}/blobs/uploads/"))?;
        if let Some((d, from)) = mount {
            url = with_query(&with_query(&url, "mount", &d.to_string()), "from", from);
        }
        let mut resp = self.send(&Request::empty("POST", url.clone(), repo, action))?;
        match resp.status().as_u16() {
            201 if mount.is_some() => Ok(Started::Mounted),
            201 | 202 => {
                let loc = header(&resp, "location").ok_or_else(|| RegistryError::Protocol {
                    action: action.to_string(),
                    registry: self.host.clone(),
                    detail: "an upload session without a Location header".into(),
                })?;
                Ok(Started::Session(resolve_url(&url, &loc)))
            }
            _ => Err(self.status_error(action, &mut resp)),
        }
    }

    /// Monolithic upload: one PUT with the whole blob, streamed from disk.
    fn put_blob(
        &self,
        repo: &str,
        d: &Digest,
        path: &Path,
        size: u64,
        loc: &str,
        action: &str,
    ) -> Result<(), RegistryError> {
        let mut resp = self.send(&Request {
            method: "PUT",
            url: with_query(loc, "digest", &d.to_string()),
            headers: vec![("Content-Type", "application/octet-stream".into())],
            body: ReqBody::File {
                path,
                offset: 0,
                len: size,
            },
            repo: Some(repo),
            action,
        })?;
        self.stored(&mut resp, d, action)
    }

    /// Chunked upload: PATCH `chunk_size` pieces, then PUT with the digest and no body.
    fn upload_chunked(
        &self,
        repo: &str,
        d: &Digest,
        path: &Path,
        size: u64,
        mut loc: String,
        action: &str,
    ) -> Result<(), RegistryError> {
        let chunk = self.opts.tuning.chunk_size.max(1);
        let mut offset = 0u64;
        let mut rewinds = 0;
        while offset < size {
            let len = chunk.min(size - offset);
            let mut resp = self.send(&Request {
                method: "PATCH",
                url: loc.clone(),
                headers: vec![
                    ("Content-Type", "application/octet-stream".into()),
                    ("Content-Range", format!("{offset}-{}", offset + len - 1)),
                ],
                body: ReqBody::File { path, offset, len },
                repo: Some(repo),
                action,
            })?;
            let status = resp.status().as_u16();
            if let Some(l) = header(&resp, "location") {
                loc = resolve_url(&loc, &l);
            }
            let confirmed = header(&resp, "range").and_then(|r| range_end(&r));
            match status {
                202 | 204 => offset = confirmed.map_or(offset + len, |e| e + 1),
                416 if rewinds < 3 => {
                    // The registry holds a different amount than we thought: continue from its offset.
                    rewinds += 1;
                    offset = confirmed.map_or(0, |e| e + 1).min(size);
                    crate::ui::verbose(format!(
                        "{}: upload of {d} resumes at byte {offset} (416)",
                        self.host
                    ));
                }
                _ => return Err(self.status_error(action, &mut resp)),
            }
        }
        crate::ui::verbose(format!(
            "{}: closing chunked upload {}",
            self.host,
            strip_query(&loc)
        ));
        let url = with_query(&loc, "digest", &d.to_string());
        let mut resp = self.send(
            &Request::empty("PUT", url, repo, action)
                .header("Content-Type", "application/octet-stream".into()),
        )?;
        self.stored(&mut resp, d, action)
    }

    /// PUT a manifest or index under `reference` (a tag or its digest); returns its digest.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let d = Digest::of(bytes);
        let action = format!(
            "pushing manifest {d} as {}/{repo}:{reference}",
            self.registry
        );
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        self.retry(|| {
            let mut resp = self.send(&Request {
                method: "PUT",
                url: url.clone(),
                headers: vec![("Content-Type", media_type.to_string())],
                body: ReqBody::Bytes(bytes),
                repo: Some(repo),
                action: &action,
            })?;
            self.stored(&mut resp, &d, &action)
        })?;
        Ok(d)
    }

    /// The answer to a PUT that stores `d` (a blob or a manifest): a success status, and a
    /// `Docker-Content-Digest` header, when present, that names what we sent.
    fn stored(
        &self,
        resp: &mut ureq::http::Response<ureq::Body>,
        d: &Digest,
        action: &str,
    ) -> Result<(), RegistryError> {
        if !resp.status().is_success() {
            return Err(self.status_error(action, resp));
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

/// Whether `e` says the credentials lack access (401 after authenticating again, or 403).
fn is_access_denied(e: &RegistryError) -> bool {
    matches!(
        e,
        RegistryError::Auth { .. } | RegistryError::Status { status: 403, .. }
    )
}

/// The last byte offset of a `Range: 0-1234` (or `bytes=0-1234`) header.
fn range_end(v: &str) -> Option<u64> {
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
