//! The registry sink: one built image pushed to every reference of its plan entry (`--push`,
//! through [`super::push`]), then its referrers (SBOMs, provenance, debug info, each by digest with
//! the referrers tag fallback, [`crate::sbom::referrer::push`]), then, with a signing key, its
//! signatures and attestations ([`super::signatures`]). One registry client per registry serves all
//! of one image: one ping, credential lookup and token. An image with no reference is left alone.

use super::api::{BuiltImage, Sink};
use super::mounts::MountMemory;
use super::push::{self, PushOptions};
use crate::registry::{ClientOptions, Clients};
use crate::report::ImageReport;
use crate::sign::Signer;
use anyhow::Result;

/// Pushes each image (and what refers to it) to the references of its plan entry.
pub struct Registry<'a> {
    /// TLS, timeouts and retries of the run (`--insecure-registry`, `--registry-ca`, ...).
    client: &'a ClientOptions,
    /// Signs what was pushed, when a key was given.
    signer: Option<&'a dyn Signer>,
}

impl<'a> Registry<'a> {
    /// The sink for a run with these client options, signing with `signer` when there is one.
    pub fn new(client: &'a ClientOptions, signer: Option<&'a dyn Signer>) -> Registry<'a> {
        Registry { client, signer }
    }
}

impl Sink for Registry<'_> {
    fn write(&self, image: &BuiltImage<'_>, report: &mut ImageReport) -> Result<()> {
        let refs = &image.spec.push;
        if refs.is_empty() {
            return Ok(());
        }
        let store = image.named.store;
        let opts = PushOptions {
            insecure_registries: self.client.insecure_registries.clone(),
            registry_ca: self.client.registry_ca.clone(),
            tuning: self.client.tuning.clone(),
            mount_from: image.mount_from.clone(),
            mount_memory: MountMemory::in_user_cache(),
            ..Default::default()
        };
        // One client per registry for the image and its referrers: one ping, credential lookup and
        // token.
        let mut clients = Clients::new(opts.client_options());
        report.pushed = push::push_with(&mut clients, image.named.artifact, store, refs, &opts)?;
        // Referrers after their images: a referrer's subject must exist first on some registries.
        for r in &image.referrers {
            crate::sbom::referrer::push(
                r.about.what(),
                &mut clients,
                r.artifact,
                store,
                r.subject,
                r.about.artifact_type(),
                refs,
                &opts,
            )?;
        }
        // Signatures last: what they sign (the image, its referrers) is there first.
        if let Some(signer) = self.signer {
            report.signatures = super::signatures::sign_pushed(signer, image, &mut clients, &opts)?;
        }
        Ok(())
    }
}
