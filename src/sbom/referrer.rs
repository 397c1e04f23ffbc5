//! An SBOM (or the debug files, [`write_files`]) as an OCI 1.1 artifact that refers to its image, and
//! pushing it so scanners (and `cargo slim-image debuginfo`) find it.
//!
//! Takes the SBOM bytes and the image manifest they describe; gives an [`Artifact`] whose root is an
//! image manifest with `artifactType` = the SBOM's media type, the empty config, one layer (the
//! document) and `subject` = the image manifest. Pushing it also maintains the referrers tag schema
//! fallback, an index tagged `sha256-<hex of the subject digest>` listing every referrer, for
//! registries without the referrers API (distribution 2.8 is one); a registry that answers
//! `GET /v2/<name>/referrers/<digest>` with an index gets no tag.

use crate::blob::{media, Artifact, BlobStore, Descriptor};
use crate::image::Manifest;
use crate::reference::Reference;
use crate::registry::{Client, Clients};
use crate::sink::push::{self, PushOptions};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The media type of the empty config of an artifact manifest.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// The referrers fallback tag of a subject digest: `sha256-<hex>`.
pub fn fallback_tag(subject: &Descriptor) -> String {
    format!("{}-{}", subject.digest.algorithm(), subject.digest.hex())
}

/// Write the document and its artifact manifest into `store`: (document descriptor, artifact).
pub fn write(
    store: &BlobStore,
    subject: &Descriptor,
    media_type: &str,
    file_name: &str,
    document: &[u8],
    created: &str,
) -> Result<(Descriptor, Artifact)> {
    let (mut docs, artifact) = write_files(
        store,
        subject,
        media_type,
        &[(media_type, file_name, document)],
        created,
    )?;
    Ok((docs.remove(0), artifact))
}

/// Write an artifact of type `artifact_type` about `subject` whose layers are `files` (media type,
/// file name for `org.opencontainers.image.title`, bytes), in that order: (their descriptors,
/// artifact). [`write()`] is the one-document case (an SBOM); debug info has one file per binary.
pub fn write_files(
    store: &BlobStore,
    subject: &Descriptor,
    artifact_type: &str,
    files: &[(&str, &str, &[u8])],
    created: &str,
) -> Result<(Vec<Descriptor>, Artifact)> {
    let mut stored = Vec::new();
    for (media_type, file_name, bytes) in files {
        stored.push((*file_name, store.put_bytes(media_type, bytes)?));
    }
    write_stored(store, subject, artifact_type, &stored, created)
}

/// [`write_files`] for files already in `store`: `(file name, its blob)`.
pub fn write_stored(
    store: &BlobStore,
    subject: &Descriptor,
    artifact_type: &str,
    files: &[(&str, Descriptor)],
    created: &str,
) -> Result<(Vec<Descriptor>, Artifact)> {
    let empty = store.put_bytes(EMPTY_MEDIA_TYPE, b"{}")?;
    let mut docs = Vec::new();
    for (file_name, blob) in files {
        let mut doc = blob.clone();
        doc.annotations.insert(
            "org.opencontainers.image.title".to_string(),
            file_name.to_string(),
        );
        docs.push(doc);
    }
    let mut subject = subject.clone();
    subject.platform = None;
    subject.annotations.clear();
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media::MANIFEST.to_string()),
        config: empty.clone(),
        layers: docs.clone(),
        annotations: BTreeMap::from([(
            "org.opencontainers.image.created".to_string(),
            created.to_string(),
        )]),
        artifact_type: Some(artifact_type.to_string()),
        subject: Some(subject),
    };
    let (root, _) = store.put_json(media::MANIFEST, &manifest)?;
    let mut blobs = vec![empty];
    blobs.extend(docs.iter().cloned());
    Ok((
        docs,
        Artifact {
            root,
            manifests: Vec::new(),
            blobs,
        },
    ))
}

/// Push the referrer `artifact` (of type `artifact_type`, about `subject`) into every repository of
/// `refs` by digest, then add it to each repository's `sha256-<hex>` fallback index. The registry
/// clients come from `clients` (made from `opts.client_options()`); `what` names the artifact in the
/// status lines (`SBOM`, `debug info`).
#[allow(clippy::too_many_arguments)]
pub fn push(
    what: &str,
    clients: &mut Clients,
    artifact: &Artifact,
    store: &BlobStore,
    subject: &Descriptor,
    artifact_type: &str,
    refs: &[Reference],
    opts: &PushOptions,
) -> Result<()> {
    let mut repos: Vec<(String, String)> = refs
        .iter()
        .map(|r| (r.registry.clone(), r.repository.clone()))
        .collect();
    repos.dedup();
    let tag = fallback_tag(subject);
    for (registry, repository) in repos {
        let by_digest = Reference {
            registry: registry.clone(),
            repository: repository.clone(),
            tag: None,
            digest: Some(artifact.root.digest.clone()),
        };
        push::push_with(clients, artifact, store, &[by_digest], opts)?;
        let client = clients.get(&registry)?;
        client.declare_push(&repository, &[]);
        if has_referrers_api(&client, &repository, subject) {
            crate::ui::status(
                "Attached",
                format!(
                    "{what} {} to {registry}/{repository}@{} (referrers API)",
                    artifact.root.digest, subject.digest
                ),
            );
            continue;
        }
        let doing = format!("updating the referrers tag {registry}/{repository}:{tag}");
        let mut index = match client.get_manifest(&repository, &tag) {
            Ok(m) => referrers_index(&m, &format!("{registry}/{repository}:{tag}"))?,
            Err(e) if e.status() == Some(404) => empty_index(),
            Err(e) => return Err(anyhow::Error::new(e).context(doing)),
        };
        let entry = json!({
            "mediaType": artifact.root.media_type,
            "digest": artifact.root.digest,
            "size": artifact.root.size,
            "artifactType": artifact_type,
        });
        let list = index["manifests"]
            .as_array_mut()
            .context("index manifests")?;
        if list.iter().any(|m| m["digest"] == entry["digest"]) {
            // Already listed: no PUT, so an unchanged re-push rewrites no tag (registries with
            // immutable tags refuse that).
            crate::ui::status(
                "Present",
                format!(
                    "{what} {} at {registry}/{repository}@{} (tag {tag})",
                    artifact.root.digest, subject.digest
                ),
            );
            continue;
        }
        list.push(entry);
        let bytes = crate::blob::canonical_json(&index);
        client
            .put_manifest(&repository, &tag, media::INDEX, &bytes)
            .with_context(|| doing.clone())?;
        crate::ui::status(
            "Attached",
            format!(
                "{what} {} to {registry}/{repository}@{} (tag {tag})",
                artifact.root.digest, subject.digest
            ),
        );
    }
    Ok(())
}

/// Whether the registry serves `GET /v2/<repo>/referrers/<digest>` (OCI 1.1): then it indexes the
/// artifact's `subject` itself and the fallback tag is not needed. Any failure means "no".
fn has_referrers_api(client: &Client, repo: &str, subject: &Descriptor) -> bool {
    use crate::registry::http::{header, Request};
    let action = format!("checking the referrers API of {}", client.registry());
    let Ok(url) = client.url(&format!("/v2/{repo}/referrers/{}", subject.digest)) else {
        return false;
    };
    let req = Request::empty("GET", url, repo, &action).header("Accept", media::INDEX.to_string());
    match client.send(&req) {
        Ok(resp) => {
            resp.status().as_u16() == 200
                && header(&resp, "content-type").is_some_and(|c| c.starts_with(media::INDEX))
        }
        Err(_) => false,
    }
}

/// One entry of a referrers list: the artifact manifest and its `artifactType`.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The artifact manifest.
    pub descriptor: Descriptor,
    /// Its `artifactType`, as the list gives it.
    pub artifact_type: Option<String>,
}

/// The referrers of `subject` in `repo`: the referrers API's index when the registry serves one,
/// else the `sha256-<hex>` fallback tag's (none when that tag does not exist). At most
/// [`crate::base::bounded::MAX_JSON`] bytes either way.
pub fn list(client: &Client, repo: &str, subject: &Descriptor) -> Result<Vec<Listed>> {
    use crate::registry::http::{header, Request};
    let action = format!("listing the referrers of {}", subject.digest);
    let mut index = None;
    if let Ok(url) = client.url(&format!("/v2/{repo}/referrers/{}", subject.digest)) {
        let req =
            Request::empty("GET", url, repo, &action).header("Accept", media::INDEX.to_string());
        if let Ok(mut resp) = client.send(&req) {
            if resp.status().as_u16() == 200
                && header(&resp, "content-type").is_some_and(|c| c.starts_with(media::INDEX))
            {
                let limit = crate::base::bounded::MAX_JSON;
                let bytes = crate::bounded::read_at_most(resp.body_mut().as_reader(), limit)
                    .with_context(|| format!("{action}: reading the answer"))?;
                index = serde_json::from_slice::<Value>(&bytes).ok();
            }
        }
    }
    let index = match index {
        Some(i) => i,
        None => match client.get_manifest(repo, &fallback_tag(subject)) {
            Ok(m) => serde_json::from_slice(&m.bytes)
                .with_context(|| format!("{action}: parsing the referrers tag"))?,
            Err(e) if e.status() == Some(404) => return Ok(Vec::new()),
            Err(e) => return Err(anyhow::Error::new(e).context(action)),
        },
    };
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    Ok(entries
        .into_iter()
        .filter_map(|e| {
            let artifact_type = e["artifactType"].as_str().map(String::from);
            let descriptor = serde_json::from_value::<Descriptor>(e).ok()?;
            (descriptor.media_type == media::MANIFEST).then_some(Listed {
                descriptor,
                artifact_type,
            })
        })
        .collect())
}

/// The referrers index `m` found at the fallback tag `at` (`registry/repo:sha256-<hex>`). Anything
/// else there (an image, a signature, bytes that are no index) is an error naming the tag and its
/// digest: writing the index would replace it.
fn referrers_index(m: &crate::registry::Manifest, at: &str) -> Result<Value> {
    let media_type = m.media_type.split(';').next().unwrap_or("").trim();
    serde_json::from_slice::<Value>(&m.bytes)
        .ok()
        .filter(|v| {
            media_type == media::INDEX
                && v["manifests"].is_array()
                && m.contradicting_media_type().is_none()
        })
        .with_context(|| {
            format!(
                "{at} already names {} ({}), not the image index of referrers that tag is for (the \
                 OCI referrers tag schema): adding to it would replace it. Move that tag elsewhere \
                 or delete it, then push again",
                m.what(),
                m.digest
            )
        })
}

fn empty_index() -> Value {
    json!({"schemaVersion": 2, "mediaType": media::INDEX, "manifests": []})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_manifest_has_subject_and_type() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let subject = store.put_bytes(media::MANIFEST, b"{\"x\":1}").unwrap();
        let (doc, a) = write(
            &store,
            &subject,
            "application/spdx+json",
            "sbom.spdx.json",
            b"{}\n",
            "1970-01-01T00:00:00Z",
        )
        .unwrap();
        let m: Value = serde_json::from_slice(&store.read(&a.root.digest).unwrap()).unwrap();
        assert_eq!(m["artifactType"], "application/spdx+json");
        assert_eq!(m["subject"]["digest"], subject.digest.to_string());
        assert_eq!(m["config"]["mediaType"], EMPTY_MEDIA_TYPE);
        assert_eq!(m["layers"][0]["digest"], doc.digest.to_string());
        assert_eq!(
            fallback_tag(&subject),
            format!("sha256-{}", subject.digest.hex())
        );
    }
}
