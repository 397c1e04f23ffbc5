//! The environment that credential lookup reads: a [`CredentialEnv`] snapshot of the variables (so
//! tests and callers can isolate a lookup from the process environment), and the CI password
//! variable's name. A leaf: the lookup, the helpers it runs and the redaction of known secrets import it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The CI password variable. Programs that run third-party code (cargo build: build scripts, proc
/// macros) are started without it, so none of them can print or send it.
pub const PASSWORD_VAR: &str = "SLIM_IMAGE_REGISTRY_PASSWORD";

/// A snapshot of the environment variables credential lookup reads (and helpers run with).
#[derive(Clone, Default)]
pub struct CredentialEnv {
    pub(super) vars: BTreeMap<String, String>,
    /// The user id, for podman's per-user auth file when `XDG_RUNTIME_DIR` is not set (`None`:
    /// that file is not read, as in a test's environment made from nothing).
    uid: Option<u32>,
}

impl fmt::Debug for CredentialEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets (SLIM_IMAGE_REGISTRY_PASSWORD): names only.
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

impl CredentialEnv {
    /// The current process environment.
    pub fn from_process() -> CredentialEnv {
        CredentialEnv {
            vars: utf8_vars(std::env::vars_os()),
            uid: Some(rustix::process::getuid().as_raw()),
        }
    }
    /// An empty environment (no credentials anywhere).
    pub fn empty() -> CredentialEnv {
        CredentialEnv::default()
    }
    /// This environment with `key` set to `value`.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> CredentialEnv {
        self.vars.insert(key.to_string(), value.into());
        self
    }
    /// A variable's value, when set and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// This environment as the user `uid` (for podman's per-user auth file, see [`Self::auth_files`]).
    pub fn with_uid(mut self, uid: u32) -> CredentialEnv {
        self.uid = Some(uid);
        self
    }

    /// The auth files to read, in order (whether or not they exist), as containers-auth.json(5)
    /// and docker read them: `$REGISTRY_AUTH_FILE`; podman's primary file,
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, or without that variable `/run/containers/<uid>/auth.json`
    /// (where `podman login` as root writes); `$XDG_CONFIG_HOME/containers/auth.json` (default
    /// `~/.config`); then docker's `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
    pub fn auth_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if let Some(f) = self.get("REGISTRY_AUTH_FILE") {
            files.push(PathBuf::from(f));
        }
        match (self.get("XDG_RUNTIME_DIR"), self.uid) {
            (Some(d), _) => files.push(Path::new(d).join("containers/auth.json")),
            (None, Some(uid)) => {
                files.push(PathBuf::from(format!("/run/containers/{uid}/auth.json")))
            }
            (None, None) => {}
        }
        let home = self.get("HOME").map(PathBuf::from);
        match (self.get("XDG_CONFIG_HOME"), &home) {
            (Some(c), _) => files.push(Path::new(c).join("containers/auth.json")),
            (None, Some(h)) => files.push(h.join(".config/containers/auth.json")),
            (None, None) => {}
        }
        match (self.get("DOCKER_CONFIG"), &home) {
            (Some(d), _) => files.push(Path::new(d).join("config.json")),
            (None, Some(h)) => files.push(h.join(".docker/config.json")),
            (None, None) => {}
        }
        files
    }
}

/// The variables of `vars` that are UTF-8 (`std::env::vars` would panic on any other, and no
/// credential setting can be one); of a `PATH` that is not, its UTF-8 directories stay, so a helper
/// there is still found (and runs with that `PATH`).
pub(super) fn utf8_vars(
    vars: impl Iterator<Item = (OsString, OsString)>,
) -> BTreeMap<String, String> {
    let utf8_dirs = |v: &OsString| {
        let dirs = std::env::split_paths(v).filter(|d| d.to_str().is_some());
        std::env::join_paths(dirs).ok()?.into_string().ok()
    };
    vars.filter_map(|(k, v)| {
        let k = k.into_string().ok()?;
        let v = match v.into_string() {
            Ok(v) => v,
            Err(v) if k == "PATH" => utf8_dirs(&v)?,
            Err(_) => return None,
        };
        Some((k, v))
    })
    .collect()
}
