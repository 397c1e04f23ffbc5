//! Registry credentials, found where docker and podman keep them; secrets that never print.
//!
//! Order: `SLIM_IMAGE_REGISTRY_USERNAME`/`SLIM_IMAGE_REGISTRY_PASSWORD` (CI; limited to one host when
//! `SLIM_IMAGE_REGISTRY_HOST` is set), then `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`
//! (without it `/run/containers/<uid>/auth.json`, where `podman login` as root writes),
//! `$XDG_CONFIG_HOME/containers/auth.json` (default `~/.config`), `$DOCKER_CONFIG/config.json` (or
//! `~/.docker/config.json`). In each
//! file: `credHelpers[host]`, then an `auths` entry, then `credsStore`; helpers are
//! `docker-credential-<name>` programs on `PATH` speaking the `get` protocol. Lookups read a
//! [`CredentialEnv`] snapshot, not the process environment, so tests (and callers) can isolate them.

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use std::fmt;
use std::path::{Path, PathBuf};

mod auth_file;
mod env;
mod helper;
mod known;

use auth_file::{read_auth_file, AuthFile};
pub use env::{CredentialEnv, PASSWORD_VAR};
pub use helper::TIMEOUT_VAR as HELPER_TIMEOUT_VAR;
pub use known::remember_known;

/// Key docker uses in config.json for Docker Hub.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// A secret string: no `Display`, and `Debug` prints `<redacted>`.
///
/// Every secret made is remembered by [`crate::ui::remember`], so any message that would echo it
/// (a registry quoting it in an error body, say) prints `<redacted>` instead.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret (and remember it for redaction).
    pub fn new(s: impl Into<String>) -> Secret {
        let s = s.into();
        crate::ui::remember(&s);
        Secret(s)
    }
    /// The secret itself: only for building a request header or body.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What a credential proves identity with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// A password (or access token used as one): sent with Basic auth.
    Password,
    /// A refresh token from `docker login` (`identitytoken`): exchanged at the token endpoint.
    IdentityToken,
}

/// Credentials for one registry, with where they came from (for messages).
#[derive(Clone, Debug)]
pub struct Credential {
    /// User name (may be empty for identity tokens).
    pub username: String,
    /// The password or identity token.
    pub secret: Secret,
    /// Which of the two `secret` is.
    pub kind: CredentialKind,
    /// Where it was found, e.g. `/root/.docker/config.json` or `docker-credential-pass`.
    pub source: String,
}

impl Credential {
    /// The `Authorization: Basic ...` value, for password credentials.
    pub fn basic_header(&self) -> Option<String> {
        (self.kind == CredentialKind::Password).then(|| {
            let raw = format!("{}:{}", self.username, self.secret.expose());
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        })
    }

    /// Every string that must never be printed: the secret and its base64 forms.
    pub fn secret_strings(&self) -> Vec<String> {
        let mut v = vec![self.secret.expose().to_string()];
        if let Some(h) = self.basic_header() {
            v.push(h.trim_start_matches("Basic ").to_string());
        }
        v.retain(|s| s.len() >= 3);
        v
    }
}

/// Find credentials for `registry` (a reference's registry, e.g. `docker.io` or `localhost:5000`).
///
/// What is found is remembered for redaction: the secret and the base64 `user:secret` of the Basic
/// header ([`crate::ui::remember_login`]).
pub fn lookup(registry: &str, env: &CredentialEnv) -> Result<Option<Credential>> {
    let found = lookup_unremembered(registry, env)?;
    if let Some(c) = &found {
        crate::ui::remember_login(&c.username, c.secret.expose());
    }
    Ok(found)
}

fn lookup_unremembered(registry: &str, env: &CredentialEnv) -> Result<Option<Credential>> {
    let registry = normalize_key(registry);
    if let (Some(user), Some(pass)) = (
        env.get("SLIM_IMAGE_REGISTRY_USERNAME"),
        env.get(PASSWORD_VAR),
    ) {
        let only = env.get("SLIM_IMAGE_REGISTRY_HOST").map(normalize_key);
        if only.as_deref().is_none_or(|h| h == registry) {
            return Ok(Some(Credential {
                username: user.to_string(),
                secret: Secret::new(pass),
                kind: CredentialKind::Password,
                source: "SLIM_IMAGE_REGISTRY_USERNAME/SLIM_IMAGE_REGISTRY_PASSWORD".into(),
            }));
        }
    }
    for file in env.auth_files() {
        let text = match read_auth_file(&file) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e) => {
                crate::ui::warn(format!(
                    "cannot read {} ({e:#}); skipping it",
                    file.display()
                ));
                continue;
            }
        };
        if let Some(c) = from_auth_file(&registry, &text, &file, env)? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// Where [`lookup`] looked, for "no credentials" messages.
pub fn searched_places(env: &CredentialEnv) -> String {
    let mut v = vec!["SLIM_IMAGE_REGISTRY_USERNAME/PASSWORD".to_string()];
    v.extend(env.auth_files().iter().map(|p| p.display().to_string()));
    v.join(", ")
}

fn from_auth_file(
    registry: &str,
    text: &str,
    file: &Path,
    env: &CredentialEnv,
) -> Result<Option<Credential>> {
    // Never echo the file's content in an error: it holds secrets.
    let parsed: AuthFile = serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not valid JSON (line {}, column {}): fix or remove it",
            file.display(),
            e.line(),
            e.column()
        )
    })?;
    if let Some((_, helper)) = parsed
        .cred_helpers
        .iter()
        .find(|(k, _)| normalize_key(k) == registry)
    {
        check_helper_name(helper, "credHelpers", file)?;
        return run_helper(helper, registry, env);
    }
    let source = file.display().to_string();
    if let Some((_, entry)) = parsed
        .auths
        .iter()
        .find(|(k, _)| normalize_key(k) == registry)
    {
        let (mut user, mut pass) = (entry.username.clone(), entry.password.clone());
        if let Some(a) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(a.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .with_context(|| {
                    format!(
                        "the `auth` value for {registry} in {source} is not base64 of \
                         user:password: run the login again"
                    )
                })?;
            let (u, p) = raw.split_once(':').with_context(|| {
                format!(
                    "the `auth` value for {registry} in {source} has no `:` between user \
                         and password: run the login again"
                )
            })?;
            (user, pass) = (Some(u.to_string()), Some(p.to_string()));
        }
        if let Some(tok) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credential {
                username: user.unwrap_or_default(),
                secret: Secret::new(tok),
                kind: CredentialKind::IdentityToken,
                source,
            }));
        }
        if let (Some(u), Some(p)) = (user, pass) {
            return Ok(Some(Credential {
                username: u,
                secret: Secret::new(p),
                kind: CredentialKind::Password,
                source,
            }));
        }
    }
    match &parsed.creds_store {
        Some(store) if !store.is_empty() => {
            check_helper_name(store, "credsStore", file)?;
            run_helper(store, registry, env)
        }
        _ => Ok(None),
    }
}

/// `https://index.docker.io/v1/`, `index.docker.io`, `registry-1.docker.io` -> `docker.io`; other keys
/// lose their scheme and path: `https://ghcr.io/v2/` -> `ghcr.io`.
pub fn normalize_key(key: &str) -> String {
    let k = key.trim();
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".into()
        }
        _ => host,
    }
}

/// Refuse a helper name from `key` in `file` that is not a plain name (letters, digits, `.`, `_`,
/// `-`): `docker-credential-x/../../tmp/evil` must not run a program from an arbitrary path.
fn check_helper_name(name: &str, key: &str, file: &Path) -> Result<()> {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if plain && !name.contains("..") {
        return Ok(());
    }
    bail!(
        "`{key}` in {} names the credential helper `{}`, which is not a plain name (letters, digits, \
         `.`, `_`, `-`): refusing to run it; set it to the helper's name (e.g. `pass` for \
         docker-credential-pass on PATH)",
        file.display(),
        name.escape_debug()
    )
}

/// Find `docker-credential-<name>` in the absolute directories of the snapshot's `PATH` (a relative
/// entry, `.` or empty, would run a program from wherever the tool was started, as Go's
/// `exec.LookPath` also refuses to).
fn find_helper(name: &str, env: &CredentialEnv) -> Option<PathBuf> {
    use crate::host::program::{find_in, path_dirs, Entries};
    let dirs = path_dirs(std::ffi::OsStr::new(env.get("PATH")?), Entries::Absolute);
    find_in(&format!("docker-credential-{name}"), &dirs)
}

/// The JSON a helper's `get` prints.
#[derive(serde::Deserialize)]
struct HelperOut {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

fn run_helper(name: &str, registry: &str, env: &CredentialEnv) -> Result<Option<Credential>> {
    let exe = format!("docker-credential-{name}");
    let Some(path) = find_helper(name, env) else {
        // Like a helper that has no entry: public images still pull anonymously; an auth failure
        // later says that no credentials were found.
        crate::ui::warn(format!(
            "the credential helper `{exe}` configured for {registry} is not on PATH: install it, or \
             remove it from your docker config and log in again; going on without its credentials"
        ));
        return Ok(None);
    };
    let server = if registry == "docker.io" {
        DOCKER_HUB_AUTH_KEY
    } else {
        registry
    };
    let limit = helper::time_limit(env)?;
    let out = helper::run_get(&path, &exe, server, env, limit)?;
    if !out.status.success() {
        // docker's helpers say "credentials not found" on stdout; anything else on stdout may be a
        // secret (a helper that printed its answer and then failed), so it is never shown.
        let stdout = String::from_utf8_lossy(&out.stdout);
        if stdout.contains("credentials not found") || stdout.trim().is_empty() {
            crate::ui::verbose(format!("{exe} has no credentials for {server}"));
            return Ok(None);
        }
        if let Ok(h) = serde_json::from_slice::<HelperOut>(&out.stdout) {
            // It printed an answer and failed anyway: its stderr may quote the secret too.
            crate::ui::remember_login(&h.username, &h.secret);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().map(str::trim).find(|l| !l.is_empty());
        let said = first.map_or(String::new(), |l| {
            let clean: String = l.chars().filter(|c| !c.is_control()).collect();
            format!(
                "; it said on stderr: {}",
                crate::ui::redact_and_cut(&clean, helper::MAX_STDERR_CHARS)
            )
        });
        bail!(
            "the credential helper {exe} failed for {server} ({}){said}. Its stdout is not shown (it \
             may hold a secret); run `echo {server} | {exe} get` to see it, or log in again",
            out.status
        );
    }
    let parsed: HelperOut = serde_json::from_slice(&out.stdout).map_err(|_| {
        anyhow::anyhow!(
            "the credential helper {exe} printed something that is not the JSON of the `get` \
             protocol"
        )
    })?;
    if parsed.secret.is_empty() {
        return Ok(None);
    }
    let (username, kind) = if parsed.username == "<token>" {
        (String::new(), CredentialKind::IdentityToken)
    } else {
        (parsed.username, CredentialKind::Password)
    };
    Ok(Some(Credential {
        username,
        secret: Secret::new(parsed.secret),
        kind,
        source: exe,
    }))
}

#[cfg(test)]
mod tests;
