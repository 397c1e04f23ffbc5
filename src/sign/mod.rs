//! Signing what is pushed, in cosign's formats, so `cosign verify --key` and the admission
//! controllers that follow it (Kyverno, sigstore policy-controller) accept it.
//!
//! Takes a [`Signer`] (the seam: [`key::KeySigner`] is the first implementation; a keyless signer,
//! OIDC + Fulcio certificate + Rekor entry, would be another, not written yet) and gives, through
//! [`cosign`], a simple-signing signature of every pushed manifest at `sha256-<hex>.sig` and the
//! provenance and SBOM as DSSE envelopes at `sha256-<hex>.att`. [`from_env`] finds the key:
//! `--sign-key FILE`, else `SLIM_IMAGE_SIGNING_KEY_FILE`, else `SLIM_IMAGE_SIGNING_KEY` (the PEM
//! itself, for CI secrets); an encrypted cosign.key opens with `COSIGN_PASSWORD`.

pub mod cosign;
pub mod key;

use anyhow::{Context, Result};
use std::path::Path;

/// What signs payloads: ECDSA P-256 with SHA-256 (cosign's default scheme).
pub trait Signer {
    /// Where the key came from, for status lines and errors; never any part of the key.
    fn describe(&self) -> String;
    /// The ASN.1 DER signature of `payload`.
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>>;
    /// The public key (PEM) that verifies the signatures.
    fn public_key_pem(&self) -> Result<String>;
    /// A certificate binding the key to an identity (keyless signing); a key has none.
    fn certificate(&self) -> Option<String> {
        None
    }
}

/// The variable holding a PEM key.
pub const KEY_VAR: &str = "SLIM_IMAGE_SIGNING_KEY";
/// The variable naming a key file.
pub const KEY_FILE_VAR: &str = "SLIM_IMAGE_SIGNING_KEY_FILE";

/// The password of an encrypted cosign.key.
pub const PASSWORD_VAR: &str = "COSIGN_PASSWORD";

/// Signing variables no child process gets (cargo, build scripts, toolchain probes): a build script
/// could read the key or its password and print or send it.
pub const SECRET_VARS: [&str; 3] = [KEY_VAR, KEY_FILE_VAR, PASSWORD_VAR];

/// The signer of this run: `--sign-key FILE` (`flag`), else the file `SLIM_IMAGE_SIGNING_KEY_FILE`
/// names, else the PEM in `SLIM_IMAGE_SIGNING_KEY`; `None` when none is given. `var` reads the
/// environment (`COSIGN_PASSWORD` too).
pub fn from_env(
    flag: Option<&Path>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<Box<dyn Signer>>> {
    let password = var(PASSWORD_VAR);
    let file = flag
        .map(|p| (p.to_path_buf(), format!("the signing key {}", p.display())))
        .or_else(|| {
            var(KEY_FILE_VAR).filter(|v| !v.is_empty()).map(|v| {
                let p = std::path::PathBuf::from(v);
                let origin = format!("the signing key {} ({KEY_FILE_VAR})", p.display());
                (p, origin)
            })
        });
    if let Some((path, origin)) = file {
        let f = std::fs::File::open(&path).with_context(|| format!("reading {origin}"))?;
        let bytes = crate::bounded::read_at_most(f, key::MAX_KEY)
            .with_context(|| format!("reading {origin} (at most {} bytes)", key::MAX_KEY))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("{origin} is not a text (PEM) file"))?;
        return Ok(Some(Box::new(key::load(
            &text,
            &origin,
            password.as_deref(),
        )?)));
    }
    match var(KEY_VAR).filter(|v| !v.trim().is_empty()) {
        Some(text) => {
            let origin = format!("the signing key in {KEY_VAR}");
            Ok(Some(Box::new(key::load(
                &text,
                &origin,
                password.as_deref(),
            )?)))
        }
        None => Ok(None),
    }
}

/// The signer of a run that pushes (`--sign-key`, `SLIM_IMAGE_SIGNING_KEY_FILE`,
/// `SLIM_IMAGE_SIGNING_KEY`), loaded before anything is built so a bad key fails first. A key in the
/// environment of a run that pushes nothing is not read; `--sign-key` there is an error.
pub fn for_plan(
    plan: &crate::plan::Plan,
    cli: &crate::cli::Cli,
) -> Result<Option<Box<dyn Signer>>> {
    if plan.images.iter().all(|i| i.push.is_empty()) {
        if let Some(k) = &cli.sign_key {
            anyhow::bail!(
                "--sign-key {} signs what is pushed, and this run pushes nothing: add --push",
                k.display()
            );
        }
        return Ok(None);
    }
    from_env(cli.sign_key.as_deref(), |k| std::env::var(k).ok())
}
