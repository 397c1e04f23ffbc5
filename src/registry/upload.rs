//! The write side of the registry client: blobs (skip, mount, upload) and manifests.
//!
//! Takes a descriptor whose bytes are in a [`BlobStore`] and makes the registry hold it: HEAD first and
//! skip what exists; else try a cross-repository mount from the hinted repositories (201 mounted, once a
//! HEAD finds the blob there; 202 carry on with that upload session); else POST an upload session and either PUT the whole blob,
//! streamed from disk, or PATCH it in chunks (`super::chunked`) and close with a PUT. Every request
//! is retried on its own (`Client::retry`), a failed PUT or PATCH on the same session; only when the
//! registry lost the session (404 on it, 416 it cannot resolve, a 400 on the closing PUT) does the
//! blob start again from the HEAD, at most `retries` times, so a retry uploads only what is missing.

use super::client::Client;
use super::error::RegistryError;
use super::http::{header, with_query, ReqBody, Request};
use super::session::{on_session, Step};
use crate::blob::{BlobStore, Descriptor};
use crate::digest::Digest;
use std::path::Path;
use std::time::Duration;

/// What [`Client::push_blob`] had to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobOutcome {
    /// The repository already had it.
    Skipped,
    /// Mounted from this repository of the same registry, without uploading.
    Mounted(String),
    /// Uploaded.
    Uploaded,
    /// Uploaded, in the session the registry opened when asked to mount from this repository (a
    /// 202, not a 201: that repository does not hold the blob).
    NotMounted(String),
}

enum Started {
    /// A 201 to a mount, with the `Docker-Content-Digest` it carried, if any.
    Mounted(Option<String>),
    Session(String),
}

/// What [`Client::try_mount`] did: mounted the blob from this repository, or left it to upload,
/// in the session a refused mount opened (if any), naming the source that did not mount it.
enum MountTry {
    Mounted(String),
    Upload {
        session: Option<String>,
        refused: Option<String>,
    },
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
        let action = format!("pushing blob {} to {}/{repo}", desc.digest, self.registry);
        let (mut restarts, mut sent) = (0, false);
        loop {
            match self.push_blob_once(repo, desc, &path, mount_from, &action, &mut sent) {
                Ok(outcome) => return Ok(outcome),
                Err(Step::Lost(e))
                    if restarts < self.opts.tuning.retries
                        && self.http.may_retry_after(Duration::ZERO) =>
                {
                    restarts += 1;
                    crate::ui::warn(format!(
                        "{e}; the upload session is lost, starting it again ({restarts}/{})",
                        self.opts.tuning.retries
                    ));
                }
                Err(Step::Lost(e) | Step::Fail(e)) => return Err(e.into()),
            }
        }
    }

    /// One attempt: HEAD, mount or upload session, upload. Each request is retried on its own;
    /// `sent` records that blob bytes went out (a later attempt that finds the blob reports it as
    /// uploaded, not as skipped).
    fn push_blob_once(
        &self,
        repo: &str,
        desc: &Descriptor,
        path: &Path,
        mount_from: &[String],
        action: &str,
        sent: &mut bool,
    ) -> Result<BlobOutcome, Step> {
        let d = &desc.digest;
        let head_url = self.url(&format!("/v2/{repo}/blobs/{d}"))?;
        if self.head_has(repo, desc, &head_url, action)? {
            return Ok(if *sent {
                BlobOutcome::Uploaded
            } else {
                BlobOutcome::Skipped
            });
        }
        let (session, refused) = match self.try_mount(repo, desc, mount_from, &head_url, action)? {
            MountTry::Mounted(from) => return Ok(BlobOutcome::Mounted(from)),
            MountTry::Upload { session, refused } => (session, refused),
        };
        let loc = match session {
            Some(l) => l,
            None => match self.http.retry(|| self.start_upload(repo, None, action))? {
                Started::Session(l) => l,
                Started::Mounted(_) => return Ok(BlobOutcome::Skipped),
            },
        };
        *sent = true;
        if desc.size > self.opts.tuning.chunk_threshold {
            self.upload_chunked(repo, d, path, desc.size, loc, action)?;
        } else {
            self.put_blob(repo, d, path, desc.size, &loc, action)?;
        }
        Ok(refused.map_or(BlobOutcome::Uploaded, BlobOutcome::NotMounted))
    }

    /// HEAD the blob at `head_url`: true when `repo` holds it with the descriptor's size.
    fn head_has(
        &self,
        repo: &str,
        desc: &Descriptor,
        head_url: &str,
        action: &str,
    ) -> Result<bool, Step> {
        // A HEAD that says "present" with another size is not believed: skipping the upload on
        // its word could leave a manifest pointing at a blob the registry does not hold.
        match self
            .http
            .retry(|| self.head_blob_once(repo, head_url, action))?
        {
            Some(n) if n == desc.size => return Ok(true),
            Some(n) => crate::ui::verbose(format!(
                "{}: the HEAD of {} says {n} bytes, not {}: uploading it",
                self.host, desc.digest, desc.size
            )),
            None => {}
        }
        Ok(false)
    }

    /// Try to mount the blob into `repo` from the first of `mount_from` this token may mount from.
    fn try_mount(
        &self,
        repo: &str,
        desc: &Descriptor,
        mount_from: &[String],
        head_url: &str,
        action: &str,
    ) -> Result<MountTry, Step> {
        let d = &desc.digest;
        // One mount attempt, from the first source: a refused mount (202) already opened the
        // upload session we use next, so trying further sources would only leave sessions behind.
        // A mount the token does not allow (no pull on the source) is refused with 401/403: upload
        // instead, and do not try that source again.
        let (mut session, mut refused) = (None, None);
        if let Some(from) = mount_from
            .iter()
            .find(|f| *f != repo && self.tokens.may_mount(repo, f))
        {
            match self
                .http
                .retry(|| self.start_upload(repo, Some((d, from)), action))
            {
                Ok(Started::Mounted(claimed)) => {
                    let Some(why) = self.mount_lacks(repo, desc, claimed, head_url, action)? else {
                        return Ok(MountTry::Mounted(from.clone()));
                    };
                    // Uploaded in a session of its own, and the source forgotten: a manifest
                    // pushed on the word of that 201 would point at a blob the registry lacks.
                    crate::ui::verbose(format!(
                        "{}: mounting {d} from {from} was answered 201, but {why}; uploading it",
                        self.host
                    ));
                    refused = Some(from.clone());
                }
                Ok(Started::Session(loc)) => {
                    crate::ui::verbose(format!(
                        "{}: mounting {d} from {from} refused; uploading",
                        self.host
                    ));
                    session = Some(loc);
                    refused = Some(from.clone());
                }
                Err(e) if is_access_denied(&e) => {
                    self.tokens.mount_refused(&self.host, repo, from, &e)
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(MountTry::Upload { session, refused })
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
            201 if mount.is_some() => Ok(Started::Mounted(header(&resp, "docker-content-digest"))),
            201 | 202 => {
                let loc = header(&resp, "location").ok_or_else(|| RegistryError::Protocol {
                    action: action.to_string(),
                    registry: self.host.clone(),
                    detail: "an upload session without a Location header".into(),
                })?;
                Ok(Started::Session(self.http.given_url(
                    &url,
                    &loc,
                    "an upload Location",
                    action,
                )?))
            }
            _ => Err(self.http.status_error(action, &mut resp)),
        }
    }

    /// Why the blob `desc`, which a mount into `repo` was answered 201 for (with the
    /// `Docker-Content-Digest` `claimed`), is not there after all, if it is not: the answer names
    /// another digest, or a HEAD (at `head_url`) does not find it with its size. The spec says a 201
    /// means the blob is there; a registry that says so wrongly would otherwise get a manifest that
    /// points at a missing blob, and the memory would keep the source for the next push.
    fn mount_lacks(
        &self,
        repo: &str,
        desc: &Descriptor,
        claimed: Option<String>,
        head_url: &str,
        action: &str,
    ) -> Result<Option<String>, RegistryError> {
        if let Some(c) = claimed.filter(|c| c.trim() != desc.digest.to_string()) {
            return Ok(Some(format!("with the Docker-Content-Digest {}", c.trim())));
        }
        Ok(
            match self
                .http
                .retry(|| self.head_blob_once(repo, head_url, action))?
            {
                Some(n) if n == desc.size => None,
                Some(n) => Some(format!("its HEAD says {n} bytes, not {}", desc.size)),
                None => Some("its HEAD does not find it".into()),
            },
        )
    }

    /// Monolithic upload: one PUT with the whole blob, streamed from disk, retried on the same
    /// session (a request that failed on the way never reached it).
    fn put_blob(
        &self,
        repo: &str,
        d: &Digest,
        path: &Path,
        size: u64,
        loc: &str,
        action: &str,
    ) -> Result<(), Step> {
        let url = with_query(loc, "digest", &d.to_string());
        self.http
            .retry(|| {
                let mut resp = self.send(&Request {
                    method: "PUT",
                    url: url.clone(),
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
            })
            .map_err(on_session)
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
        self.http.retry(|| {
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
}

/// Whether `e` says the credentials lack access (401 after authenticating again, or 403).
fn is_access_denied(e: &RegistryError) -> bool {
    matches!(
        e,
        RegistryError::Auth { .. } | RegistryError::Status { status: 403, .. }
    )
}
