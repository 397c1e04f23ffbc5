//! Signing one pushed image (a key was given): cosign signatures of the root and, for an index, of
//! each platform manifest; the provenance and SBOM of each platform manifest as attestations. In
//! every repository the image was pushed to, after the image and its referrers.

use super::Built;
use crate::blob::BlobStore;
use crate::registry::Clients;
use crate::sign::{cosign, Signer};
use crate::sink::push::PushOptions;
use anyhow::Result;

/// Sign `b` (already pushed to `b.img.push`) with `signer`: the `registry/repo:tag@digest` of
/// every signature and attestation image.
pub(super) fn sign_pushed(
    signer: &dyn Signer,
    b: &Built<'_>,
    store: &BlobStore,
    clients: &mut Clients,
    opts: &PushOptions,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut repos: Vec<(String, String)> = b
        .img
        .push
        .iter()
        .map(|r| (r.registry.clone(), r.repository.clone()))
        .collect();
    repos.sort();
    repos.dedup();
    let mut manifests = vec![b.artifact.root.digest.clone()];
    manifests.extend(b.artifact.manifests.iter().map(|m| m.digest.clone()));
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
            let mut layers = Vec::new();
            for p in b.provenance.iter().filter(|p| p.subject.digest == *d) {
                let statement = store.read(&p.document.digest)?;
                layers.push(cosign::attestation_layer(
                    signer,
                    &statement,
                    crate::provenance::PREDICATE_TYPE,
                )?);
            }
            for s in b.sboms.iter().filter(|s| s.subject.digest == *d) {
                let doc = store.read(&s.document.digest)?;
                let statement = cosign::sbom_statement(&b.img.name, d, s.format, &doc)?;
                let kind = cosign::sbom_predicate_type(s.format);
                layers.push(cosign::attestation_layer(signer, &statement, kind)?);
            }
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
