//! The auth files docker and podman write (`config.json`, `auth.json`): reading one (bounded, a
//! regular file only) and its JSON shape (`auths`, `credsStore`, `credHelpers`). A leaf of
//! credentials, which the lookup and the redaction of known secrets both read.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The text of the auth file at `path`, `None` when there is none. Read as every file an input names
/// is read: only a regular file (links followed; a FIFO would block the run for ever, `/dev/zero` never
/// end), at most [`crate::base::bounded::MAX_JSON`] bytes.
pub(super) fn read_auth_file(path: &Path) -> Result<Option<String>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::Error::new(e)),
    };
    if !meta.is_file() {
        bail!("it is not a regular file (a directory, FIFO or device)");
    }
    let f = std::fs::File::open(path)?;
    let what = format!("the auth file {}", path.display());
    let bytes = crate::base::bounded::read_all(f, crate::base::bounded::MAX_JSON, &what)?;
    Ok(Some(
        String::from_utf8(bytes).context("it is not UTF-8 text")?,
    ))
}

/// One auth file's JSON: what docker and podman write there that the lookup reads.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct AuthFile {
    #[serde(default)]
    pub(super) auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    pub(super) creds_store: Option<String>,
    #[serde(default)]
    pub(super) cred_helpers: BTreeMap<String, String>,
}

/// One `auths` entry: a base64 `user:password`, or its parts, or an identity token.
#[derive(serde::Deserialize, Default)]
pub(super) struct AuthEntry {
    #[serde(default)]
    pub(super) auth: Option<String>,
    #[serde(default)]
    pub(super) username: Option<String>,
    #[serde(default)]
    pub(super) password: Option<String>,
    #[serde(default)]
    pub(super) identitytoken: Option<String>,
}
