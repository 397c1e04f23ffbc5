//! The push step of a run: one built image, then its SBOM, provenance and debug-info referrers,
//! then the signatures, to every registry reference of the image, one client per registry.

use super::{signing, Built};
use crate::blob::BlobStore;
use crate::plan::Plan;
use anyhow::Result;
use std::collections::BTreeMap;

pub(super) fn push_image(
    b: &Built<'_>,
    store: &BlobStore,
    plan: &Plan,
    mount_from: BTreeMap<crate::digest::Digest, Vec<crate::reference::Reference>>,
    signer: Option<&dyn crate::sign::Signer>,
) -> Result<(Vec<crate::sink::push::PushReport>, Vec<String>)> {
    let (artifact, img) = (&b.artifact, b.img);
    if img.push.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let client = &plan.client;
    let opts = crate::sink::push::PushOptions {
        insecure_registries: client.insecure_registries.clone(),
        registry_ca: client.registry_ca.clone(),
        tuning: client.tuning.clone(),
        mount_from,
        mount_memory: crate::sink::mounts::MountMemory::in_user_cache(),
        ..Default::default()
    };
    // One client per registry for the image and its SBOMs: one ping, credential lookup and token.
    let mut clients = crate::registry::Clients::new(opts.client_options());
    let reports = crate::sink::push::push_with(&mut clients, artifact, store, &img.push, &opts)?;
    // SBOMs after their images: a referrer's subject must exist first on some registries.
    for s in &b.sboms {
        let kind = s.format.media_type();
        crate::sbom::referrer::push(
            "SBOM",
            &mut clients,
            &s.artifact,
            store,
            &s.subject,
            kind,
            &img.push,
            &opts,
        )?;
    }
    for p in &b.provenance {
        crate::sbom::referrer::push(
            "provenance",
            &mut clients,
            &p.artifact,
            store,
            &p.subject,
            crate::provenance::MEDIA_TYPE,
            &img.push,
            &opts,
        )?;
    }
    for d in &b.debug {
        crate::sbom::referrer::push(
            "debug info",
            &mut clients,
            &d.artifact,
            store,
            &d.subject,
            crate::debuginfo::output::ARTIFACT_TYPE,
            &img.push,
            &opts,
        )?;
    }
    // Signatures last: what they sign (the image, its referrers) is there first.
    let signed = match signer {
        Some(s) => signing::sign_pushed(s, b, store, &mut clients, &opts)?,
        None => Vec::new(),
    };
    Ok((reports, signed))
}
