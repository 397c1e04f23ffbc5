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
mod signer;

pub use crate::secret_env::{without_secrets, KEY_FILE_VAR, KEY_VAR, PASSWORD_VAR, SECRET_VARS};
pub use signer::Signer;

use anyhow::{Context, Result};
use std::path::Path;

/// The signing variables as the process started with them, once [`take_from_process`] ran.
static TAKEN: std::sync::OnceLock<Vec<(&'static str, String)>> = std::sync::OnceLock::new();

/// Take [`SECRET_VARS`] out of this process's environment, keeping their values for [`env_var`], and
/// hand them to the redaction step: no child process (cargo and build scripts, rustc wrappers and
/// probes, the OpenSSL build, git, the `--load` engine) can inherit them, whichever spawns it. `main`
/// calls it first, before any thread is started.
pub fn take_from_process() {
    let taken: Vec<(&'static str, String)> = SECRET_VARS
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (*k, v)))
        .collect();
    for k in SECRET_VARS {
        std::env::remove_var(k);
    }
    for (k, v) in &taken {
        match *k {
            KEY_VAR => key::remember_secret(v),
            PASSWORD_VAR => crate::ui::remember(v),
            _ => {}
        }
    }
    let _ = TAKEN.set(taken);
}

/// A signing variable: its value when the process started ([`take_from_process`]), else (library
/// use) the environment's.
pub fn env_var(name: &str) -> Option<String> {
    match TAKEN.get() {
        Some(t) => t.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()),
        None => std::env::var(name).ok(),
    }
}

/// The signer of this run: `--sign-key FILE` (`flag`), else the file `SLIM_IMAGE_SIGNING_KEY_FILE`
/// names, else the PEM in `SLIM_IMAGE_SIGNING_KEY`; `None` when none is given. `var` reads the
/// environment (`COSIGN_PASSWORD` too).
pub fn from_env(
    flag: Option<&Path>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<Box<dyn Signer>>> {
    let password = var(PASSWORD_VAR);
    // The PEM itself where a file name goes (`--sign-key "$(cat key.pem)"`, the CI secret put in
    // the _FILE variable): the name would be printed in "reading ..." errors, so it is a secret.
    let named = match flag {
        Some(p) => Some(("--sign-key", p.to_string_lossy().into_owned())),
        None => var(KEY_FILE_VAR).map(|v| (KEY_FILE_VAR, v)),
    };
    if let Some((name, value)) = named {
        not_a_key(name, &value)?;
    }
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
        let text = read_key_file(&path, &origin)?;
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

/// Refuse the PEM itself given where a key file's name goes (`--sign-key "$(cat key.pem)"`, the
/// CI secret put in the _FILE variable): every error naming the file would print it, so it is
/// handed to the redaction step and named by `name` only.
fn not_a_key(name: &str, value: &str) -> Result<()> {
    if value.contains("-----") || value.contains('\n') {
        key::remember_secret(value);
        anyhow::bail!(
            "{name} holds a key, not the name of a key file: give the PEM text in {KEY_VAR}, or \
             write it to a file and name that file in {name}"
        );
    }
    Ok(())
}

/// The text of the key file at `path` (`origin` names it in errors), read bounded: opened without
/// blocking (a FIFO with no writer would hang the run; one with a writer, `<(echo "$KEY")`, is
/// read), a directory refused, a file or device longer than [`key::MAX_KEY`] refused, not cut.
fn read_key_file(path: &Path, origin: &str) -> Result<String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .with_context(|| format!("reading {origin}"))?;
    let t = f
        .metadata()
        .with_context(|| format!("reading {origin}"))?
        .file_type();
    if t.is_dir() {
        anyhow::bail!("{origin} is a directory: name the key file");
    }
    // Blocking reads again: a pipe's writer may not have written yet (no writer: end of file).
    rustix::fs::fcntl_setfl(&f, rustix::fs::OFlags::empty())
        .with_context(|| format!("reading {origin}"))?;
    let bytes = crate::bounded::read_at_most(f, key::MAX_KEY)
        .with_context(|| format!("reading {origin}"))?;
    if bytes.len() as u64 > key::MAX_KEY {
        anyhow::bail!(
            "{origin} is larger than {} bytes: it is not a key file (a P-256 key, even \
             encrypted, is under 1 KiB)",
            key::MAX_KEY
        );
    }
    if bytes.is_empty() {
        anyhow::bail!("{origin} is empty");
    }
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{origin} is not a text (PEM) file"))
}

/// The signer of a run that pushes (`--sign-key`, `SLIM_IMAGE_SIGNING_KEY_FILE`,
/// `SLIM_IMAGE_SIGNING_KEY`), loaded before anything is built so a bad key fails first. A key in the
/// environment of a run that pushes nothing is not read; `--sign-key` there is an error.
pub fn for_run(sign_key: Option<&Path>, pushes: bool) -> Result<Option<Box<dyn Signer>>> {
    if !pushes {
        if let Some(k) = sign_key {
            not_a_key("--sign-key", &k.to_string_lossy())?;
            anyhow::bail!(
                "--sign-key {} signs what is pushed, and this run pushes nothing: add --push",
                k.display()
            );
        }
        return Ok(None);
    }
    from_env(sign_key, env_var)
}
