//! Token authentication for the tests, the way Docker Hub, GHCR, Quay and Harbor do it: the real
//! `docker-registry` configured with `auth: token` checks JWTs issued by `token_server.py` (beside
//! this file), which checks Basic credentials or a refresh token and grants per repository only what
//! each [`User`] is allowed.
//!
//! [`TokenRegistry::start`] starts the token server (which writes its signing certificate), then the
//! registry with that certificate as its `rootcertbundle`; both bind 127.0.0.1 on a free port and are
//! killed on drop. The token server's request log ([`TokenServer::requests`], one JSON object per
//! request, never a password) lets tests count and check token requests. Returns `None` (after
//! printing `SKIP: ...`) only when python3, its `cryptography` module or docker-registry is missing
//! outside CI. Below them, helpers for the tests: docker config dirs, the tool with credentials from
//! one, skopeo as an independent client, and checks over both logs.

use super::registry::{b64, RealRegistry};
use super::{peers, slim};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The `service` the registry and the token server agree on (the token's `aud`).
pub const SERVICE: &str = "test-registry";
/// The token issuer (`iss`).
pub const ISSUER: &str = "test-issuer";
/// How long past its `exp` claim distribution (2.8) still accepts a token, for clock skew: a token
/// the registry should take for `n` seconds has `exp` at `n - REGISTRY_LEEWAY` from now.
pub const REGISTRY_LEEWAY: i64 = 60;

/// A user the token server knows.
#[derive(Debug, Clone)]
pub struct User {
    /// User name.
    pub name: &'static str,
    /// Password (Basic credentials or `grant_type=password`).
    pub password: &'static str,
    /// Refresh token (an `identitytoken` in config.json), exchanged with `grant_type=refresh_token`.
    pub refresh_token: Option<&'static str>,
    /// Per repository, the actions this user may be granted (`pull`, `push`).
    pub access: Vec<(&'static str, &'static [&'static str])>,
    /// The `exp` claim of the JWTs issued to this user, in seconds from now (default 300; see
    /// [`REGISTRY_LEEWAY`] for a token that dies within seconds).
    pub exp_secs: Option<i64>,
    /// What the answer says as `expires_in`, any JSON (default: `exp_secs`).
    pub expires_in: Option<Value>,
    /// Only the first this many tokens get `exp_secs`; later ones live 300 s (default: all).
    pub short_tokens: Option<u32>,
}

impl User {
    /// A user with a password and `access`, whose tokens live the server's default (300 s).
    pub fn new(
        name: &'static str,
        password: &'static str,
        access: &[(&'static str, &'static [&'static str])],
    ) -> User {
        User {
            name,
            password,
            refresh_token: None,
            access: access.to_vec(),
            exp_secs: None,
            expires_in: None,
            short_tokens: None,
        }
    }

    fn to_json(&self) -> Value {
        let access: serde_json::Map<String, Value> = self
            .access
            .iter()
            .map(|(repo, actions)| (repo.to_string(), json!(actions)))
            .collect();
        let mut v = json!({"password": self.password, "access": access});
        if let Some(t) = self.refresh_token {
            v["refresh_token"] = json!(t);
        }
        if let Some(s) = self.exp_secs {
            v["exp_secs"] = json!(s);
        }
        if let Some(s) = &self.expires_in {
            v["expires_in"] = s.clone();
        }
        if let Some(n) = self.short_tokens {
            v["short_tokens"] = json!(n);
        }
        v
    }
}

/// A running `token_server.py`, killed on drop.
pub struct TokenServer {
    child: Child,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT/token`.
    pub realm: String,
}

impl TokenServer {
    /// Start it for `users`, granting `anonymous` (per repository, the actions) to requests without
    /// credentials; None (with a SKIP line) when python3 or `cryptography` is missing.
    pub fn start(users: &[User], anonymous: &[(&str, &[&str])], test: &str) -> Option<TokenServer> {
        if !super::peers::check_python_modules(test, &["cryptography"]) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let users: serde_json::Map<String, Value> = users
            .iter()
            .map(|u| (u.name.to_string(), u.to_json()))
            .collect();
        let config = json!({
            "service": SERVICE, "issuer": ISSUER, "users": users,
            "cert": dir.path().join("signer.pem"), "log": dir.path().join("token.log"),
            "anonymous": anonymous.iter().map(|(r, a)| (r.to_string(), json!(a))).collect::<serde_json::Map<_, _>>(),
        });
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/common/token_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir.path().join("config.json"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("stderr.txt")).unwrap())
            .spawn()
            .expect("starting python3 token_server.py");
        let mut first = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let _ = stdout.read_line(&mut first);
        let Some(port) = first.trim().strip_prefix("PORT ") else {
            let _ = child.kill();
            let _ = child.wait();
            let err = std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default();
            panic!("token_server.py did not start (printed {first:?}):\n{err}");
        };
        Some(TokenServer {
            realm: format!("http://127.0.0.1:{port}/token"),
            child,
            dir,
        })
    }

    /// The signing certificate (PEM): the registry's `rootcertbundle`.
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("signer.pem")
    }

    /// Every request so far, oldest first: `method`, `path`, `user` (who was authenticated, or
    /// null), `scopes` (as sent), `granted` (the token's `access`), `status`; for POST also
    /// `grant_type`, `refresh_token`, `has_password`, `client_id`, `service`, `content_type`.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("token.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("token log line is JSON"))
            .collect()
    }

    /// The requests so far for which `user` was authenticated.
    pub fn requests_of(&self, user: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["user"] == user)
            .collect()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real registry that wants tokens from its own [`TokenServer`].
pub struct TokenRegistry {
    /// The token server (its log says who asked for what).
    pub tokens: TokenServer,
    /// The registry (its log says which requests were answered how).
    pub registry: RealRegistry,
}

impl TokenRegistry {
    /// Start both for `users`; None (with a SKIP line) when a tool is missing outside CI.
    pub fn start(users: &[User], test: &str) -> Option<TokenRegistry> {
        TokenRegistry::with_anonymous(users, &[], test)
    }

    /// Like [`TokenRegistry::start`], with `anonymous` access (e.g. pull on a public repository).
    pub fn with_anonymous(
        users: &[User],
        anonymous: &[(&str, &[&str])],
        test: &str,
    ) -> Option<TokenRegistry> {
        let tokens = TokenServer::start(users, anonymous, test)?;
        let auth = format!(
            "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    \
             rootcertbundle: {}\n",
            tokens.realm,
            tokens.cert().display()
        );
        let registry = RealRegistry::start_with_auth(&auth, test)?;
        Some(TokenRegistry { tokens, registry })
    }

    /// `127.0.0.1:PORT` of the registry.
    pub fn host(&self) -> &str {
        &self.registry.host
    }
}

/// A docker config dir `dir/name` whose config.json has one `auths` entry for `host`.
pub fn docker_config(dir: &Path, name: &str, host: &str, entry: Value) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let config = serde_json::json!({ "auths": { host: entry } });
    std::fs::write(d.join("config.json"), config.to_string()).unwrap();
    d
}

/// The `auths` entry docker writes for `user:password`.
pub fn password_entry(user: &str, password: &str) -> Value {
    serde_json::json!({ "auth": b64(&format!("{user}:{password}")) })
}

/// `cargo slim-image` on hello-http with `rest`, credentials only from `config` (a docker config dir).
pub fn tool(config: &Path, rest: &[&str]) -> Command {
    let mut c = slim::on_hello_http(rest);
    c.env("DOCKER_CONFIG", config)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("SLIM_IMAGE_REGISTRY_USERNAME")
        .env_remove("SLIM_IMAGE_REGISTRY_PASSWORD");
    c
}

/// Panics if `text` holds `secret` or the base64 of `user:secret`.
pub fn assert_no_secret(text: &str, user: &str, secret: &str) {
    assert!(!text.contains(secret), "a secret leaked:\n{text}");
    assert!(
        !text.contains(&b64(&format!("{user}:{secret}"))),
        "a secret leaked (base64):\n{text}"
    );
}

/// The digest skopeo (authenticating on its own, as `user`) sees for `reference`.
pub fn skopeo_digest(reference: &str, user: &str, password: &str) -> String {
    let info = peers::skopeo_inspect(
        &format!("docker://{reference}"),
        &[
            "--tls-verify=false",
            "--creds",
            &format!("{user}:{password}"),
        ],
    )
    .unwrap();
    info["Digest"].as_str().unwrap().to_string()
}

/// The registry's answers to requests whose URI contains `part`, as (method, status).
pub fn answers(reg: &TokenRegistry, part: &str) -> Vec<(String, u16)> {
    reg.registry
        .requests()
        .into_iter()
        .filter(|r| r.uri.contains(part))
        .map(|r| (r.method, r.status))
        .collect()
}

/// Whether a token request asked for (and got) `scope` (`repository:NAME:ACTIONS`).
pub fn granted(request: &Value, name: &str, actions: &[&str]) -> bool {
    request["granted"].as_array().is_some_and(|g| {
        g.iter()
            .any(|a| a["name"] == name && a["actions"] == serde_json::json!(actions))
    })
}
