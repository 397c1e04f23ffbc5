//! Signing one pushed image (a key was given): cosign signatures of the root and, for an index, of
//! each platform manifest; the provenance and SBOM of each platform manifest as attestations. In
//! every repository the image was pushed to, after the image and its referrers
//! (`sink::registry`).

use super::api::{About, BuiltImage, Referrer};
use crate::registry::Clients;
use crate::sign::{cosign, Signer};
use crate::sink::push::PushOptions;
use anyhow::Result;

/// Sign `image` (already pushed to the references of its plan entry) with `signer`: the
/// `registry/repo:tag@digest` of every signature and attestation image.
pub fn sign_pushed(
    signer: &dyn Signer,
    image: &BuiltImage<'_>,
    clients: &mut Clients,
    opts: &PushOptions,
) -> Result<Vec<String>> {
    let (store, artifact) = (image.named.store, image.named.artifact);
    let mut out = Vec::new();
    let mut repos: Vec<(String, String)> = image
        .spec
        .push
        .iter()
        .map(|r| (r.registry.clone(), r.repository.clone()))
        .collect();
    repos.sort();
    repos.dedup();
    let mut manifests = vec![artifact.root.digest.clone()];
    manifests.extend(artifact.manifests.iter().map(|m| m.digest.clone()));
    for (registry, repository) in &repos {
        let full = format!("{registry}/{repository}");
        for d in &manifests {
            let layer = cosign::signature_layer(signer, &full, d)?;
            out.push(cosign::attach(
                clients,
                store,
                (registry, repository),
                d,
                "sig",
                vec![layer],
                opts,
            )?);
            crate::ui::status("Signed", format!("{full}@{d} ({})", signer.describe()));
        }
        for d in &manifests {
            let layers = attestations(signer, image, d)?;
            if layers.is_empty() {
                continue;
            }
            let n = layers.len();
            out.push(cosign::attach(
                clients,
                store,
                (registry, repository),
                d,
                "att",
                layers,
                opts,
            )?);
            crate::ui::status("Attested", format!("{full}@{d} ({n} attestation(s))"));
        }
    }
    Ok(out)
}

/// The attestation layers of the manifest `d` of `image`: its provenance statements, then its SBOMs
/// (each wrapped in an in-toto statement), as DSSE envelopes signed by `signer`.
fn attestations(
    signer: &dyn Signer,
    image: &BuiltImage<'_>,
    d: &crate::digest::Digest,
) -> Result<Vec<cosign::Layer>> {
    let store = image.named.store;
    let about_d: Vec<&Referrer<'_>> = image
        .referrers
        .iter()
        .filter(|r| r.subject.digest == *d)
        .collect();
    let mut layers = Vec::new();
    for r in about_d.iter().filter(|r| r.about == About::Provenance) {
        for (_, document) in &r.files {
            let statement = store.read(&document.digest)?;
            layers.push(cosign::attestation_layer(
                signer,
                &statement,
                crate::provenance::choice::PREDICATE_TYPE,
            )?);
        }
    }
    for r in &about_d {
        let About::Sbom(format) = r.about else {
            continue;
        };
        for (_, document) in &r.files {
            let doc = store.read(&document.digest)?;
            let statement = cosign::sbom_statement(image.named.name, d, format, &doc)?;
            let kind = cosign::sbom_predicate_type(format);
            layers.push(cosign::attestation_layer(signer, &statement, kind)?);
        }
    }
    Ok(layers)
}
