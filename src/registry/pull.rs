//! The read side of the registry client: manifests, indexes and blobs, verified before anyone uses them.
//!
//! Takes a repository and a tag or digest and gives the manifest bytes with their media type and digest
//! (checked against the requested digest, size-capped), or downloads a blob into a [`BlobStore`]
//! through a hashing reader so that only bytes matching the descriptor's digest and size are committed.
//! Blob downloads follow redirects to storage hosts without sending credentials there.

use super::client::Client;
use super::error::RegistryError;
use super::http::{header, strip_query, Request};
use crate::blob::{media, BlobStore, Descriptor};
use crate::digest::Digest;
use anyhow::Context;
use std::io::Read;

/// What we accept when asking for a manifest: OCI and Docker v2 schema 2 manifests and indexes.
pub const MANIFEST_ACCEPT: [&str; 4] = [
    media::MANIFEST,
    media::INDEX,
    media::DOCKER_MANIFEST,
    media::DOCKER_MANIFEST_LIST,
];

/// A manifest or index as the registry sent it.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The exact bytes (what the digest is over).
    pub bytes: Vec<u8>,
    /// The media type (`Content-Type`, or the JSON's `mediaType`).
    pub media_type: String,
    /// The sha256 of `bytes`.
    pub digest: Digest,
}

impl Manifest {
    /// A descriptor for this manifest.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            &self.media_type,
            self.digest.clone(),
            self.bytes.len() as u64,
        )
    }

    /// The `mediaType` its bytes give, when that is not the type it was served as (a lie, or a
    /// registry that kept the `Content-Type` of a push that lied): then it is not safe to take it
    /// for either.
    pub fn contradicting_media_type(&self) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct M {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
        }
        let served = self.media_type.split(';').next().unwrap_or("").trim();
        let m: M = serde_json::from_slice(&self.bytes).ok()?;
        m.media_type.filter(|t| t != served)
    }

    /// What it is, for a message: `a "<media type>"`, or, when its bytes say otherwise (see
    /// [`Manifest::contradicting_media_type`]), `a manifest served as "<type>" whose bytes say "<type>"`.
    pub fn what(&self) -> String {
        let served = self.media_type.split(';').next().unwrap_or("").trim();
        match self.contradicting_media_type() {
            Some(said) => format!("a manifest served as {served:?} whose bytes say {said:?}"),
            None => format!("a {served:?}"),
        }
    }
}

impl Client {
    /// GET a manifest or index by tag or digest; a digest reference is verified against the bytes.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<Manifest, RegistryError> {
        let action = format!("getting manifest {}/{repo}:{reference}", self.registry);
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let limit = self.opts.tuning.max_manifest_size;
        let protocol = |detail: String| RegistryError::Protocol {
            action: action.clone(),
            registry: self.host.clone(),
            detail,
        };
        self.http.retry(|| {
            let mut resp = self.send(&manifest_request("GET", &url, repo, &action))?;
            if !resp.status().is_success() {
                return Err(self.http.status_error(&action, &mut resp));
            }
            let bytes =
                crate::bounded::read_at_most(resp.body_mut().as_reader(), limit).map_err(|e| {
                    RegistryError::Connection {
                        action: action.clone(),
                        host: self.host.clone(),
                        detail: format!("reading the manifest: {e}"),
                        retriable: true,
                    }
                })?;
            if bytes.len() as u64 > limit {
                return Err(protocol(format!(
                    "a manifest larger than {limit} bytes: refusing it (not a sane image manifest)"
                )));
            }
            let digest = Digest::of(&bytes);
            if let Ok(want) = reference.parse::<Digest>() {
                if want != digest {
                    return Err(protocol(format!(
                        "manifest bytes whose digest is {digest}, not {want}"
                    )));
                }
            } else if let Some(claimed) = header(&resp, "docker-content-digest") {
                if claimed.parse::<Digest>().is_ok_and(|c| c != digest) {
                    // A short or altered body: worth another try.
                    return Err(RegistryError::Connection {
                        action: action.clone(),
                        host: self.host.clone(),
                        detail: format!(
                            "the manifest bytes hash to {digest}, but the registry says {claimed}"
                        ),
                        retriable: true,
                    });
                }
            }
            let media_type = header(&resp, "content-type")
                .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
                .filter(|c| MANIFEST_ACCEPT.contains(&c.as_str()))
                .or_else(|| json_media_type(&bytes))
                .ok_or_else(|| protocol("a manifest with no media type we understand".into()))?;
            Ok(Manifest {
                bytes,
                media_type,
                digest,
            })
        })
    }

    /// GET the manifest or index a descriptor points at (e.g. an index entry), refusing it before
    /// the download when the descriptor claims more than the size limit, and after it unless the
    /// bytes have exactly the descriptor's digest and size.
    pub fn get_manifest_for(
        &self,
        repo: &str,
        desc: &Descriptor,
    ) -> Result<Manifest, RegistryError> {
        let limit = self.opts.tuning.max_manifest_size;
        let refuse = |detail: String| RegistryError::Protocol {
            action: format!("getting manifest {}/{repo}@{}", self.registry, desc.digest),
            registry: self.host.clone(),
            detail,
        };
        if desc.size > limit {
            return Err(refuse(format!(
                "a descriptor of a {}-byte manifest, over the {limit}-byte limit: refusing it (not \
                 a sane image manifest)",
                desc.size
            )));
        }
        let m = self.get_manifest(repo, &desc.digest.to_string())?;
        if m.bytes.len() as u64 != desc.size {
            return Err(refuse(format!(
                "{} bytes for a manifest whose descriptor says {}",
                m.bytes.len(),
                desc.size
            )));
        }
        Ok(m)
    }

    /// HEAD a manifest: its descriptor if it exists (retried like every request).
    pub fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Descriptor>, RegistryError> {
        self.http.retry(|| self.probe_manifest(repo, reference))
    }

    /// HEAD a manifest once, without retries: for an optional check whose failure only means "do it
    /// the long way" (see `sink::push`), so a failing registry is not waited on twice.
    pub fn probe_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Descriptor>, RegistryError> {
        let sep = if reference.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        let action = format!("checking manifest {}/{repo}{sep}{reference}", self.registry);
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let mut resp = self.send(&manifest_request("HEAD", &url, repo, &action))?;
        match resp.status().as_u16() {
            404 => Ok(None),
            s if (200..300).contains(&s) => {
                let digest = header(&resp, "docker-content-digest").and_then(|d| d.parse().ok());
                let size = header(&resp, "content-length").and_then(|s| s.parse().ok());
                let mt = header(&resp, "content-type")
                    .map(|c| c.split(';').next().unwrap_or("").trim().to_string());
                match (digest, size, mt) {
                    (Some(d), Some(n), Some(m)) => Ok(Some(Descriptor::new(&m, d, n))),
                    _ => Err(RegistryError::Protocol {
                        action: action.clone(),
                        registry: self.host.clone(),
                        detail: "a manifest HEAD answer without Docker-Content-Digest, \
                                 Content-Length or Content-Type"
                            .into(),
                    }),
                }
            }
            _ => Err(self.http.status_error(&action, &mut resp)),
        }
    }

    /// HEAD a blob: its size if the repository has it.
    pub fn head_blob(&self, repo: &str, digest: &Digest) -> Result<Option<u64>, RegistryError> {
        let action = format!("checking blob {digest} in {}/{repo}", self.registry);
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"))?;
        self.http.retry(|| self.head_blob_once(repo, &url, &action))
    }

    /// One HEAD of a blob URL, no retries (the caller's retry loop covers it).
    pub(crate) fn head_blob_once(
        &self,
        repo: &str,
        url: &str,
        action: &str,
    ) -> Result<Option<u64>, RegistryError> {
        let mut resp = self.send(&Request::empty("HEAD", url.to_string(), repo, action))?;
        match resp.status().as_u16() {
            404 => Ok(None),
            // A `Docker-Content-Digest` that names another blob: the registry does not hold the
            // one asked for, whatever the status says.
            s if (200..300).contains(&s) && !names_digest_of(&resp, url) => Ok(None),
            s if (200..300).contains(&s) => Ok(Some(
                header(&resp, "content-length")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
            )),
            _ => Err(self.http.status_error(action, &mut resp)),
        }
    }

    /// Download a blob into `store`, verifying its digest and size; a no-op if the store has it.
    pub fn fetch_blob(
        &self,
        repo: &str,
        desc: &Descriptor,
        store: &BlobStore,
    ) -> anyhow::Result<()> {
        if store.contains(&desc.digest) {
            return Ok(());
        }
        let action = format!(
            "downloading blob {} from {}/{repo}",
            desc.digest, self.registry
        );
        let url = self.url(&format!("/v2/{repo}/blobs/{}", desc.digest))?;
        let local = self.http.retry(|| {
            let req = Request::empty("GET", url.clone(), repo, &action);
            let mut resp = self.send_expecting(&req, desc.size)?;
            if !resp.status().is_success() {
                return Err(self.http.status_error(&action, &mut resp));
            }
            let mut writer = match store.writer() {
                Ok(w) => w,
                Err(e) => return Ok(Err(e)),
            };
            // One byte more than promised, to notice a blob that is too long.
            let body = resp.body_mut().as_reader();
            let mut reader =
                crate::ui::progress::reading(body, 0).take(desc.size.saturating_add(1));
            if let Err(e) = std::io::copy(&mut reader, &mut writer) {
                return Err(RegistryError::Connection {
                    action: action.clone(),
                    host: self.host.clone(),
                    detail: format!("the download broke off: {e}"),
                    retriable: true,
                });
            }
            let (digest, size) = writer.peek();
            if size < desc.size {
                return Err(RegistryError::Connection {
                    action: action.clone(),
                    host: self.host.clone(),
                    detail: format!("the blob ended after {size} of {} bytes", desc.size),
                    retriable: true,
                });
            }
            if size != desc.size || digest != desc.digest {
                // Dropping the writer deletes the temp file: nothing unverified enters the store.
                return Err(RegistryError::Protocol {
                    action: action.clone(),
                    registry: self.host.clone(),
                    detail: format!(
                        "content that does not match the descriptor (expected {} bytes with \
                         digest {}; got {}{size} bytes with digest {digest})",
                        desc.size,
                        desc.digest,
                        if size > desc.size { "more than " } else { "" }
                    ),
                });
            }
            Ok(writer.commit().map(|_| ()))
        })?;
        local.with_context(|| format!("storing blob {} in {}", desc.digest, store.root().display()))
    }
}

/// The `mediaType` field of a manifest JSON, if it is one we accept.
fn json_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct M {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    let m: M = serde_json::from_slice(bytes).ok()?;
    m.media_type
        .filter(|t| MANIFEST_ACCEPT.contains(&t.as_str()))
}

/// A manifest request (GET or HEAD) that accepts every manifest and index type we read.
fn manifest_request<'a>(
    method: &'static str,
    url: &str,
    repo: &'a str,
    action: &'a str,
) -> Request<'a> {
    Request::empty(method, url.to_string(), repo, action)
        .header("Accept", MANIFEST_ACCEPT.join(", "))
}

/// Whether the answer to a request for the blob `url` (ending in its digest) either has no
/// `Docker-Content-Digest` or one that names that digest.
fn names_digest_of(resp: &ureq::http::Response<ureq::Body>, url: &str) -> bool {
    let asked = strip_query(url).rsplit('/').next().unwrap_or("");
    header(resp, "docker-content-digest").is_none_or(|h| h.trim() == asked)
}
