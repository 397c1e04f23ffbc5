//! cosign's formats (sigstore/cosign `specs/SIGNATURE_SPEC.md`, `specs/ATTESTATION_SPEC.md`) and
//! pushing them next to an image.
//!
//! Takes a [`Signer`], a pushed manifest's digest and its repository; gives the simple-signing
//! payload ([`payload`]), its signature as a layer of media type [`SIMPLE_SIGNING`] with the base64
//! signature in the annotation [`SIGNATURE_ANNOTATION`], stored in an image manifest at the tag
//! `sha256-<hex>.sig`; and in-toto statements as DSSE envelopes ([`envelope`], payload type
//! `application/vnd.in-toto+json`, signed over DSSE's pre-authentication encoding) as layers of
//! media type [`DSSE`] at `sha256-<hex>.att`. Layers already at such a tag (another signer's, an
//! earlier run's) are kept and ours added once, as cosign does. The signatures are deterministic
//! (RFC 6979), so a re-run adds nothing and pushes the same bytes.

use super::Signer;
use crate::blob::{media, Artifact, BlobStore, Descriptor};
use crate::digest::Digest;
use crate::image::Manifest;
use crate::reference::Reference;
use crate::registry::Clients;
use crate::sink::push::{self, PushOptions};
use anyhow::{Context, Result};
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Layer media type of a simple-signing payload.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Layer media type of a DSSE envelope.
pub const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
/// DSSE payload type of an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The most layers kept from a signature or attestation image already in the registry.
const MAX_LAYERS: usize = 256;
/// The most bytes of such layers fetched back (into the blob store, not memory), all together.
const MAX_LAYER_BYTES: u64 = 64 << 20;

/// The simple-signing payload for `digest` in `repository` (`registry/repo`), as cosign writes it.
pub fn payload(repository: &str, digest: &Digest) -> Vec<u8> {
    crate::blob::canonical_json(&json!({
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest.to_string()},
            "type": "cosign container image signature",
        },
        "optional": null,
    }))
}

/// DSSE's pre-authentication encoding: `DSSEv1 <len type> <type> <len body> <body>`.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The DSSE envelope of the in-toto `statement`, signed by `signer`.
pub fn envelope(signer: &dyn Signer, statement: &[u8]) -> Result<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let sig = signer.sign(&pae(IN_TOTO, statement))?;
    Ok(crate::blob::canonical_json(&json!({
        "payloadType": IN_TOTO,
        "payload": b64.encode(statement),
        "signatures": [{"keyid": "", "sig": b64.encode(sig)}],
    })))
}

/// An in-toto Statement v1 whose predicate is the SBOM `document` (cosign's `spdxjson` /
/// `cyclonedx` attestation types), about `digest` of image `name`.
pub fn sbom_statement(
    name: &str,
    digest: &Digest,
    format: crate::sbom::format::Format,
    document: &[u8],
) -> Result<Vec<u8>> {
    let predicate: Value =
        serde_json::from_slice(document).context("reading the SBOM back to attest it")?;
    let predicate_type = sbom_predicate_type(format);
    Ok(crate::blob::canonical_json(&json!({
        "_type": crate::provenance::choice::STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {digest.algorithm(): digest.hex()}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    })))
}

/// The predicate type of an SBOM attestation (cosign `--type spdxjson` / `cyclonedx`).
pub fn sbom_predicate_type(format: crate::sbom::format::Format) -> &'static str {
    match format {
        crate::sbom::format::Format::Spdx => "https://spdx.dev/Document",
        crate::sbom::format::Format::Cyclonedx => "https://cyclonedx.org/bom",
    }
}

/// One layer to add: media type, bytes, annotations.
pub type Layer = (&'static str, Vec<u8>, BTreeMap<String, String>);

/// The signature layer of `digest` in `repository`.
pub fn signature_layer(signer: &dyn Signer, repository: &str, digest: &Digest) -> Result<Layer> {
    let p = payload(repository, digest);
    let sig = signer.sign(&p)?;
    let mut a = BTreeMap::from([(
        SIGNATURE_ANNOTATION.to_string(),
        base64::engine::general_purpose::STANDARD.encode(sig),
    )]);
    if let Some(c) = signer.certificate() {
        a.insert("dev.sigstore.cosign/certificate".into(), c);
    }
    Ok((SIMPLE_SIGNING, p, a))
}

/// The attestation layer of an in-toto `statement` whose `predicateType` is `predicate_type`.
pub fn attestation_layer(
    signer: &dyn Signer,
    statement: &[u8],
    predicate_type: &str,
) -> Result<Layer> {
    let env = envelope(signer, statement)?;
    // As cosign attest: the predicate type, and an empty signature annotation (it is in the envelope).
    let a = BTreeMap::from([
        ("predicateType".to_string(), predicate_type.to_string()),
        (SIGNATURE_ANNOTATION.to_string(), String::new()),
    ]);
    Ok((DSSE, env, a))
}

/// The tag of `digest`'s `suffix` (`sig`, `att`) image: `sha256-<hex>.<suffix>`.
pub fn tag(digest: &Digest, suffix: &str) -> String {
    format!("{}-{}.{suffix}", digest.algorithm(), digest.hex())
}

/// Add `layers` to the image at `sha256-<hex of subject>.<suffix>` in `registry/repository`:
/// the layers already there are kept (fetched into `store`, bounded), ours appended unless the same
/// layer is there; then the image is pushed under that tag. Gives `registry/repo:tag@digest` of the
/// signature or attestation image.
#[allow(clippy::too_many_arguments)]
pub fn attach(
    clients: &mut Clients,
    store: &BlobStore,
    (registry, repository): (&str, &str),
    subject: &Digest,
    suffix: &str,
    layers: Vec<Layer>,
    opts: &PushOptions,
) -> Result<String> {
    let tag = tag(subject, suffix);
    let client = clients.get(registry)?;
    client.declare_push(repository, &[]);
    let mut all = kept_layers(&client, store, (registry, repository), &tag, suffix)?;
    let before = all.len();
    for (media_type, bytes, annotations) in layers {
        let mut d = store.put_bytes(media_type, &bytes)?;
        d.annotations = annotations;
        if !all
            .iter()
            .any(|o| o.digest == d.digest && o.annotations == d.annotations)
        {
            all.push(d);
        }
    }
    if all.len() == before && before > 0 {
        crate::ui::status("Present", format!("{registry}/{repository}:{tag}"));
        let d = Digest::of(&client.get_manifest(repository, &tag)?.bytes);
        return Ok(format!("{registry}/{repository}:{tag}@{d}"));
    }
    let artifact = cosign_image(store, all)?;
    let target = Reference {
        registry: registry.to_string(),
        repository: repository.to_string(),
        tag: Some(tag.clone()),
        digest: None,
    };
    push::push_with(clients, &artifact, store, &[target], opts)?;
    Ok(format!(
        "{registry}/{repository}:{tag}@{}",
        artifact.root.digest
    ))
}

/// The layers of the `suffix` image already at `registry/repository:tag` (none when the tag is
/// absent), fetched into `store`; more than [`MAX_LAYER_BYTES`] of them is an error.
fn kept_layers(
    client: &crate::registry::Client,
    store: &BlobStore,
    (registry, repository): (&str, &str),
    tag: &str,
    suffix: &str,
) -> Result<Vec<Descriptor>> {
    let doing = format!("reading {registry}/{repository}:{tag}");
    let all: Vec<Descriptor> = match client.get_manifest(repository, tag) {
        Ok(m) => existing_layers(&m, &format!("{registry}/{repository}:{tag}"), suffix)?,
        Err(e) if e.status() == Some(404) => Vec::new(),
        Err(e) => return Err(anyhow::Error::new(e).context(doing)),
    };
    let total = all.iter().fold(0u64, |n, d| n.saturating_add(d.size));
    if total > MAX_LAYER_BYTES {
        anyhow::bail!(
            "{registry}/{repository}:{tag} already has {total} bytes of layers (at most \
             {MAX_LAYER_BYTES} are read back to keep them): delete the tag or clean it up with \
             `cosign clean`"
        );
    }
    for d in &all {
        client
            .fetch_blob(repository, d, store)
            .with_context(|| format!("{doing}: layer {}", d.digest))?;
    }
    Ok(all)
}

/// The cosign image of the layers `all`, its config and manifest put into `store`: what to push.
fn cosign_image(store: &BlobStore, all: Vec<Descriptor>) -> Result<Artifact> {
    // cosign's config: the layers (uncompressed: diff_id = digest), no platform, time zero.
    let zero = "0001-01-01T00:00:00Z";
    let config = json!({
        "architecture": "",
        "config": {},
        "created": zero,
        "history": all.iter().map(|_| json!({"created": zero})).collect::<Vec<_>>(),
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": all.iter().map(|d| d.digest.to_string()).collect::<Vec<_>>()},
    });
    let config = store.put_bytes(media::CONFIG, &crate::blob::canonical_json(&config))?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media::MANIFEST.to_string()),
        config: config.clone(),
        layers: all.clone(),
        annotations: BTreeMap::new(),
        artifact_type: None,
        subject: None,
    };
    let (root, _) = store.put_json(media::MANIFEST, &manifest)?;
    let mut blobs = vec![config];
    blobs.extend(all);
    Ok(Artifact {
        root,
        manifests: Vec::new(),
        blobs,
    })
}

/// The layers of the cosign `suffix` (`sig`, `att`) image `m` found at `at` (`registry/repo:tag`),
/// to keep beside ours. Anything else under that tag (an index, an artifact, an image with other
/// layers, bytes that are no manifest) is an error naming the tag and what it holds: pushing our
/// image there would replace it.
fn existing_layers(
    m: &crate::registry::Manifest,
    at: &str,
    suffix: &str,
) -> Result<Vec<Descriptor>> {
    let (kind, layer_type) = match suffix {
        "att" => ("attestation", DSSE),
        _ => ("signature", SIMPLE_SIGNING),
    };
    let media_type = m.media_type.split(';').next().unwrap_or("").trim();
    // Served as an image manifest, and its bytes say nothing else (an index served as a manifest
    // that also carries signature layers is not one to replace).
    let lie = m.contradicting_media_type().is_some();
    let image = [media::MANIFEST, media::DOCKER_MANIFEST].contains(&media_type) && !lie;
    let parsed = serde_json::from_slice::<Manifest>(&m.bytes)
        .ok()
        .filter(|_| image);
    let what = match parsed {
        None if lie => m.what(),
        None if image => "a manifest that does not parse as an image manifest".to_string(),
        None => format!("{}, not an image manifest", m.what()),
        Some(old) => match (
            &old.artifact_type,
            old.layers.iter().find(|l| l.media_type != layer_type),
        ) {
            (Some(t), _) => format!("an artifact of type {t:?}"),
            (None, Some(l)) => format!("an image with a layer of type {:?}", l.media_type),
            (None, None) if old.layers.len() > MAX_LAYERS => anyhow::bail!(
                "{at} already has {} layers (at most {MAX_LAYERS} are kept): delete the tag or \
                 clean it up with `cosign clean`",
                old.layers.len()
            ),
            (None, None) => return Ok(old.layers),
        },
    };
    anyhow::bail!(
        "{at} already names {what} ({}), not a cosign {kind} image: adding the {kind} would \
         replace it. Move that tag elsewhere or delete it, then push again",
        m.digest
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_and_pae_are_byte_exact() {
        let d = Digest::of(b"m");
        let p = String::from_utf8(payload("r.example/a/b", &d)).unwrap();
        assert_eq!(
            p,
            format!(
                "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"r.example/a/b\"}},\"image\":{{\"docker-manifest-digest\":\"{d}\"}},\"type\":\"cosign container image signature\"}},\"optional\":null}}"
            )
        );
        // The example of the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(tag(&d, "sig"), format!("sha256-{}.sig", d.hex()));
    }
}
