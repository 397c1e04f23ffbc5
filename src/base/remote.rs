//! Registry bases: a [`Reference`] -> its digest, the index narrowed to our platforms, every blob
//! downloaded through [`crate::registry::Client`] (digest- and size-checked) into the blob store.
//!
//! Manifests are fetched by digest once the root is known, so what we build on is exactly what the
//! recorded digest names. Manifests and blobs are kept in the store: a base pinned by digest
//! (`NAME@sha256:...`) that was used once is built on again without asking the registry anything.

use super::bounded;
use super::fetch::{per_platform, Fetch};
use super::image::BaseImage;
use crate::blob::{BlobStore, Descriptor};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::registry::{Client, ClientOptions};
use anyhow::{Context, Result};

struct Remote {
    client: Client,
    reference: Reference,
}

impl Fetch for Remote {
    fn name(&self) -> String {
        self.reference.to_string()
    }

    fn pulls(&self) -> bool {
        true
    }

    fn fetch(&self, desc: &Descriptor, store: &BlobStore) -> Result<()> {
        self.client
            .fetch_blob(&self.reference.repository, desc, store)
            .with_context(|| {
                format!(
                    "fetching blob {} of base image {}",
                    desc.digest, self.reference
                )
            })
    }

    fn manifest(&self, desc: &Descriptor, store: &BlobStore) -> Result<Vec<u8>> {
        let what = format!("manifest {} of base image {}", desc.digest, self.reference);
        bounded::check_size(&what, desc.size, bounded::MAX_JSON)?;
        if store.contains(&desc.digest) {
            // Any verified blob may have that digest (a layer of an earlier build): bounded too.
            return bounded::read_blob(store, &desc.digest, &what);
        }
        // Checked against the index entry's digest and size (a size over the limit before download).
        let m = self
            .client
            .get_manifest_for(&self.reference.repository, desc)
            .with_context(|| {
                format!(
                    "fetching manifest {} of base image {}",
                    desc.digest, self.reference
                )
            })?;
        store.put_bytes(&desc.media_type, &m.bytes)?;
        Ok(m.bytes)
    }
}

/// Resolve a registry base.
pub fn resolve(
    reference: &Reference,
    platforms: &[Platform],
    store: &BlobStore,
    opts: &ClientOptions,
) -> Result<BaseImage> {
    let client = Client::new(&reference.registry, opts)
        .with_context(|| format!("setting up a client for registry {}", reference.registry))?;
    let src = Remote {
        client,
        reference: reference.clone(),
    };
    if let Some(d) = reference.digest.as_ref().filter(|d| store.contains(d)) {
        // Pinned and seen before: everything below a digest is immutable, and verified when stored.
        let bytes =
            bounded::read_blob(store, d, &format!("the cached manifest {d} of {reference}"))?;
        let media_type = media_type_of(&bytes)
            .with_context(|| format!("the cached manifest {d} of {reference} has no media type"))?;
        let desc = Descriptor::new(&media_type, d.clone(), bytes.len() as u64);
        crate::ui::status("Base", format!("{reference} (cached)"));
        let platforms = per_platform(&src, &desc, &bytes, platforms, store)?;
        return Ok(BaseImage {
            name: reference.to_string(),
            digest: d.clone(),
            registry: Some(reference.clone()),
            platforms,
        });
    }
    let root = src
        .client
        .get_manifest(&reference.repository, &reference.tag_or_digest())
        .map_err(|e| {
            let hint = match e.status() {
                Some(404) => format!(
                    ": {reference} does not exist; check the name and tag (`skopeo inspect docker://{reference}`)"
                ),
                Some(401 | 403) => format!(
                    ": {reference} does not exist or needs credentials; check the name, or log in \
                     ({})",
                    src.client.login_hint()
                ),
                _ => String::new(),
            };
            anyhow::Error::new(e).context(format!("looking up base image {reference}{hint}"))
        })?;
    crate::ui::status("Base", format!("{reference}@{}", root.digest));
    store.put_bytes(&root.media_type, &root.bytes)?;
    let desc = root.descriptor();
    let platforms = per_platform(&src, &desc, &root.bytes, platforms, store)?;
    let mut pinned = reference.clone();
    pinned.digest = Some(root.digest.clone());
    Ok(BaseImage {
        name: reference.to_string(),
        digest: root.digest,
        registry: Some(pinned),
        platforms,
    })
}

/// The media type of a stored manifest or index: its `mediaType`, else what its shape says.
fn media_type_of(bytes: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if let Some(m) = v.get("mediaType").and_then(|m| m.as_str()) {
        return Some(m.to_string());
    }
    Some(if v.get("manifests").is_some() {
        crate::blob::media::INDEX.to_string()
    } else {
        crate::blob::media::MANIFEST.to_string()
    })
}
