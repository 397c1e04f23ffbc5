//! Secrets known before any lookup: what the environment and the auth files hold, remembered for
//! redaction at the start of a run (no credential helper is run for it).

use super::auth_file::{read_auth_file, AuthFile};
use super::env::{CredentialEnv, PASSWORD_VAR};
use base64::Engine as _;

/// Remember, before anything is contacted, every secret `env` holds without running a program: the
/// CI password (with its user) and every `auths` entry of every auth file. A registry can quote a
/// secret before it is looked up (in an error to the first request, in a token endpoint URL), and
/// an error made then is printed after; unreadable files are left to the lookup to report.
pub fn remember_known(env: &CredentialEnv) {
    if let Some(pass) = env.get(PASSWORD_VAR) {
        crate::ui::remember_login(env.get("SLIM_IMAGE_REGISTRY_USERNAME").unwrap_or(""), pass);
    }
    for file in env.auth_files() {
        let Some(parsed) = read_auth_file(&file)
            .ok()
            .flatten()
            .and_then(|t| serde_json::from_str::<AuthFile>(&t).ok())
        else {
            continue;
        };
        for entry in parsed.auths.values() {
            let decoded = entry.auth.as_deref().and_then(|a| {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(a.trim())
                    .ok()?;
                String::from_utf8(raw).ok()
            });
            let pair = decoded.as_deref().and_then(|d| d.split_once(':'));
            if let Some((u, p)) = pair.filter(|(_, p)| !p.is_empty()) {
                crate::ui::remember_login(u, p);
            }
            let user = entry.username.as_deref().unwrap_or("");
            let secrets = [&entry.password, &entry.identitytoken]
                .into_iter()
                .flatten();
            for secret in secrets.filter(|s| !s.is_empty()) {
                crate::ui::remember_login(user, secret);
            }
        }
    }
}
