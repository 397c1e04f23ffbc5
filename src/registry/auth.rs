//! Registry authentication: `WWW-Authenticate` challenges, bearer tokens and their cache.
//!
//! Takes the challenge a registry answers with (`Basic realm=...` or `Bearer realm=...,service=...`)
//! and the credentials found for it, and gives the `Authorization` value for a request on a repository.
//! Bearer tokens come from the token endpoint: anonymously, with Basic credentials (GET), or with an
//! identity token as an OAuth2 refresh token (POST `grant_type=refresh_token`); they are cached per
//! registry and scope until shortly before `expires_in` (1 s to a day) runs out. A 401 drops the cached
//! token only if the request carried it, so parallel requests share one renewal. Credentials the
//! token service refused are not sent again by this client (one failed login per run), and a mount
//! the token does not allow is remembered, so the upload side stops trying it.

mod token;

use super::credentials::{searched_places, Credential, CredentialEnv, CredentialKind, Secret};
use super::error::RegistryError;
use super::http::{url_host, with_query, ReqBody, Request, Transport};
use super::urls::given_url;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use token::{parse_token, read_token_body};
use ureq::http::Response;
use ureq::Body;

pub use super::urls::urlencode;

/// How a registry wants to be authenticated, learnt from its `/v2/` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// Not asked yet.
    Unknown,
    /// Anonymous access (`/v2/` answered 200).
    None,
    /// HTTP Basic with the user's credentials.
    Basic,
    /// Bearer tokens from a token endpoint.
    Bearer {
        /// Token endpoint URL.
        realm: String,
        /// The `service` parameter to send.
        service: Option<String>,
    },
}

/// A cached bearer token.
#[derive(Debug, Clone)]
pub struct Token {
    /// The token.
    pub value: Secret,
    /// When to stop using it.
    pub expires: Instant,
}

/// Parse a `WWW-Authenticate` header into `(lowercase scheme, params)` challenges.
pub fn parse_www_authenticate(header: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    let s = header.as_bytes();
    let mut i = 0;
    let skip = |i: &mut usize, f: &dyn Fn(u8) -> bool| {
        while *i < s.len() && f(s[*i]) {
            *i += 1;
        }
    };
    let token_char = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/".contains(&c);
    while i < s.len() {
        skip(&mut i, &|c| c == b' ' || c == b',' || c == b'\t');
        let start = i;
        skip(&mut i, &token_char);
        if i == start {
            i += 1; // stray character: skip it
            continue;
        }
        let word = &header[start..i];
        let save = i;
        skip(&mut i, &|c| c == b' ' || c == b'\t');
        if i < s.len() && s[i] == b'=' && !out.is_empty() {
            // `key=value` of the current challenge.
            i += 1;
            skip(&mut i, &|c| c == b' ' || c == b'\t');
            let value = if i < s.len() && s[i] == b'"' {
                i += 1;
                let mut v = String::new();
                while i < s.len() && s[i] != b'"' {
                    if s[i] == b'\\' && i + 1 < s.len() {
                        i += 1;
                    }
                    let ch = header[i..].chars().next().unwrap_or(' ');
                    v.push(ch);
                    i += ch.len_utf8();
                }
                i += 1;
                v
            } else {
                let vs = i;
                skip(&mut i, &|c| c != b',' && c != b' ');
                header[vs..i].to_string()
            };
            if let Some(last) = out.last_mut() {
                last.1.insert(word.to_ascii_lowercase(), value);
            }
        } else {
            i = save;
            out.push((word.to_ascii_lowercase(), BTreeMap::new()));
        }
    }
    out
}

/// The challenge to follow from a `WWW-Authenticate` header (Bearer preferred over Basic), plus the
/// scope the registry asked for, if any.
pub fn challenge_from_header(header: &str) -> Option<(Challenge, Option<String>)> {
    let all = parse_www_authenticate(header);
    if let Some((_, p)) = all
        .iter()
        .find(|(s, p)| s == "bearer" && p.contains_key("realm"))
    {
        let realm = p.get("realm").cloned().unwrap_or_default();
        return Some((
            Challenge::Bearer {
                realm,
                service: p.get("service").cloned(),
            },
            p.get("scope").cloned(),
        ));
    }
    all.iter()
        .any(|(s, _)| s == "basic")
        .then_some((Challenge::Basic, None))
}

/// Tokens are dropped this long before they expire, so one never runs out in the middle of a request.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// What one registry's token service gave and refused: the cached tokens (by scope), the mounts
/// the token did not allow, and the refusal of our credentials. Shared by the client's threads.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    cache: Mutex<HashMap<String, Token>>,
    /// `(target, source)` repositories whose mounts were refused for want of access.
    refused_mounts: Mutex<BTreeSet<(String, String)>>,
    /// Why the token service refused our credentials, once it has: never asked again.
    refusal: Mutex<Option<String>>,
}

/// What a token request needs besides the endpoint: the client's transport, names for messages,
/// and the credentials (looked up only when a token is fetched).
pub(crate) struct TokenAsk<'a> {
    /// The transport to the registry (and its token endpoint).
    pub http: &'a Transport,
    /// The registry, as in references.
    pub registry: &'a str,
    /// The registry's `/v2/` URL, which the token endpoint is checked against.
    pub v2: &'a str,
    /// The credentials for the registry, if any.
    pub credentials: &'a dyn Fn() -> Result<Option<Credential>, RegistryError>,
    /// Where credentials were looked for, for messages.
    pub env: &'a CredentialEnv,
    /// The login commands to suggest.
    pub login_hint: &'a str,
}

impl Tokens {
    /// The `Authorization` value for a request whose token scope is `key`: the cached token, else
    /// one `fetch` gives (then cached). Fetched under the lock: parallel uploads wait for one token
    /// instead of each asking.
    pub(crate) fn bearer(
        &self,
        key: String,
        action: &str,
        fetch: impl FnOnce() -> Result<Token, RegistryError>,
    ) -> Result<String, RegistryError> {
        let mut tokens = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = tokens.get(&key).filter(|t| t.expires > Instant::now()) {
            return Ok(format!("Bearer {}", t.value.expose()));
        }
        // Credentials the token service refused once are not sent again: every retry would
        // be another failed login (which gets accounts locked on Harbor, Quay, Docker Hub).
        if let Some(detail) = self.refusal().clone() {
            return Err(RegistryError::Auth {
                action: action.to_string(),
                detail,
            });
        }
        let t = fetch()?;
        let header = format!("Bearer {}", t.value.expose());
        tokens.insert(key, t);
        Ok(header)
    }

    /// Forget the cached token for the scope `key` after a 401 to a request that carried `sent` (its
    /// `Authorization` value): only if it is still that token. Parallel requests that all met the
    /// same expired token then share the one renewal instead of each dropping the other's.
    pub(crate) fn forget(&self, key: &str, sent: Option<&str>) {
        let mut tokens = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let same =
            |t: &Token| sent.is_none_or(|s| s.strip_prefix("Bearer ") == Some(t.value.expose()));
        if tokens.get(key).is_some_and(same) {
            tokens.remove(key);
        }
    }

    /// Whether a cross-repository mount into `repo` from `from` is worth trying: not once the
    /// registry refused one for want of access (a token service grants only the scopes a user has,
    /// so a user without pull on `from` gets a token that cannot mount from it).
    pub(crate) fn may_mount(&self, repo: &str, from: &str) -> bool {
        !self
            .refused_mounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(repo.to_string(), from.to_string()))
    }

    /// Remember that mounting into `repo` from `from` on `host` was refused with `e` (the caller
    /// uploads).
    pub(crate) fn mount_refused(&self, host: &str, repo: &str, from: &str, e: &RegistryError) {
        crate::ui::verbose(format!(
            "{host}: no access for mounting from {from} into {repo} ({e}); uploading instead"
        ));
        self.refused_mounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((repo.to_string(), from.to_string()));
    }

    fn refusal(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.refusal.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remember the token service's refusal `e` (an `Auth` error), so no later request asks again.
    fn refuse_tokens(&self, e: RegistryError) -> RegistryError {
        if let RegistryError::Auth { detail, .. } = &e {
            *self.refusal() = Some(detail.clone());
        }
        e
    }

    /// Ask the token endpoint `realm` for a token with `scopes`.
    pub(crate) fn fetch(
        &self,
        ask: &TokenAsk,
        (realm, service): (&str, Option<&str>),
        scopes: &[String],
        action: &str,
    ) -> Result<Token, RegistryError> {
        let auth_err = |detail: String| RegistryError::Auth {
            action: action.to_string(),
            detail,
        };
        let realm = &check_realm(ask, realm).map_err(auth_err)?;
        let realm_host = url_host(realm).unwrap_or_default();
        let creds = (ask.credentials)()?;
        let action_t = format!("{action} (getting a token from {realm_host})");
        let mut resp = self.request_token(
            ask,
            realm,
            creds.as_ref(),
            (service, scopes),
            (action, &action_t),
        )?;
        let protocol = |detail: String| RegistryError::Protocol {
            action: action_t.clone(),
            registry: realm_host.clone(),
            detail,
        };
        let within = ask.http.tuning().io_timeout;
        let bytes = read_token_body(resp.body_mut().as_reader(), within).map_err(protocol)?;
        let (value, life) = parse_token(&bytes).map_err(|d| protocol(d.into()))?;
        ask.http.add_secret(&value);
        crate::ui::verbose(format!(
            "got a token from {realm_host} for {} ({}s)",
            scopes.join(" "),
            life.as_secs()
        ));
        Ok(Token {
            value: Secret::new(value),
            expires: Instant::now()
                + life
                    .saturating_sub(EXPIRY_MARGIN)
                    .max(Duration::from_secs(1)),
        })
    }

    /// The token request to the checked `realm`, retried, until it is answered 200; a 401 or 403
    /// is the refusal of `creds`, remembered. `action_t` names the request, `action` what it is for.
    fn request_token(
        &self,
        ask: &TokenAsk,
        realm: &str,
        creds: Option<&Credential>,
        (service, scopes): (Option<&str>, &[String]),
        (action, action_t): (&str, &str),
    ) -> Result<Response<Body>, RegistryError> {
        let realm_host = url_host(realm).unwrap_or_default();
        let TokenRequest {
            method,
            url,
            body,
            auth,
        } = token_request(realm, creds, service, scopes);
        let who = who(creds);
        ask.http.retry(|| {
            let mut headers = vec![("Accept", "application/json".to_string())];
            if body.is_some() {
                headers.push(("Content-Type", "application/x-www-form-urlencoded".into()));
            }
            let req = Request {
                method,
                url: url.clone(),
                headers,
                body: body.as_deref().map_or(ReqBody::Empty, ReqBody::Bytes),
                repo: None,
                action: action_t,
            };
            let mut resp = ask.http.raw(&req, auth.as_deref())?;
            match resp.status().as_u16() {
                200 => Ok(resp),
                401 | 403 => Err(self.refuse_tokens(RegistryError::Auth {
                    action: action.to_string(),
                    detail: refused(ask, &realm_host, creds.is_some(), &who),
                })),
                _ => Err(ask.http.status_error(action_t, &mut resp)),
            }
        })
    }
}

/// Why the token service at `realm_host` refused (`with_creds`: the credentials of `who`).
fn refused(ask: &TokenAsk, realm_host: &str, with_creds: bool, who: &str) -> String {
    if with_creds {
        format!(
            "the token service at {realm_host} rejected {who}: check the credentials \
             (e.g. log in again with {})",
            ask.login_hint
        )
    } else {
        format!(
            "{} requires credentials and none were found (looked in {}): log in with \
             {}, or set SLIM_IMAGE_REGISTRY_USERNAME and SLIM_IMAGE_REGISTRY_PASSWORD",
            ask.registry,
            searched_places(ask.env),
            ask.login_hint
        )
    }
}

/// The token endpoint `realm`, checked as every URL a registry gives is
/// ([`super::urls::given_url`], against the registry's `/v2/`): an https registry cannot send
/// the credentials to a plain-http realm (not even on loopback) unless the user listed its host.
fn check_realm(ask: &TokenAsk, realm: &str) -> Result<String, String> {
    given_url(ask.v2, realm, ask.http.insecure()).map_err(|detail| {
        format!(
            "{} sent the token endpoint {detail}; no credentials were sent",
            ask.http.host()
        )
    })
}

/// A request to a token endpoint, before it is sent.
struct TokenRequest {
    method: &'static str,
    url: String,
    body: Option<Vec<u8>>,
    /// The `Authorization` value (Basic credentials), if any.
    auth: Option<String>,
}

/// The request for a token with `scopes` at `realm`: an identity token is exchanged by POST
/// (`grant_type=refresh_token`, scopes space-separated, nothing in the URL); otherwise a GET with one
/// `scope` parameter per scope and the password as Basic credentials (none for anonymous access).
fn token_request(
    realm: &str,
    creds: Option<&Credential>,
    service: Option<&str>,
    scopes: &[String],
) -> TokenRequest {
    let mut query: Vec<(String, String)> = Vec::new();
    if let Some(s) = service {
        query.push(("service".into(), s.to_string()));
    }
    let (method, body, auth) = match creds {
        Some(c) if c.kind == CredentialKind::IdentityToken => {
            let mut form = std::mem::take(&mut query);
            form.push(("grant_type".into(), "refresh_token".into()));
            form.push(("client_id".into(), "cargo-slim-image".into()));
            form.push(("refresh_token".into(), c.secret.expose().to_string()));
            if !scopes.is_empty() {
                form.push(("scope".into(), scopes.join(" ")));
            }
            let enc: Vec<String> = form
                .iter()
                .map(|(k, v)| format!("{k}={}", urlencode(v)))
                .collect();
            ("POST", Some(enc.join("&").into_bytes()), None)
        }
        _ => {
            query.extend(scopes.iter().map(|s| ("scope".to_string(), s.clone())));
            ("GET", None, creds.and_then(Credential::basic_header))
        }
    };
    let url = query
        .iter()
        .fold(realm.to_string(), |url, (k, v)| with_query(&url, k, v));
    TokenRequest {
        method,
        url,
        body,
        auth,
    }
}

/// Who asks for a token, for messages: never the secret, only the user and where it was found.
fn who(creds: Option<&Credential>) -> String {
    match creds {
        Some(c) if c.kind == CredentialKind::IdentityToken && c.username.is_empty() => {
            format!("the identity token from {}", c.source)
        }
        Some(c) if c.kind == CredentialKind::IdentityToken => format!(
            "the identity token of user `{}` (from {})",
            c.username, c.source
        ),
        Some(c) => format!("user `{}` (from {})", c.username, c.source),
        None => "anonymous access".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let h = concat!(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io","#,
            r#"scope="repository:library/alpine:pull""#
        );
        let (c, scope) = challenge_from_header(h).unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            }
        );
        assert_eq!(scope.as_deref(), Some("repository:library/alpine:pull"));
        assert_eq!(
            challenge_from_header(r#"Basic realm="basic-realm""#)
                .unwrap()
                .0,
            Challenge::Basic
        );
        let both = parse_www_authenticate(
            r#"Basic realm="a, b", Bearer realm="x\"y",error=insufficient_scope"#,
        );
        assert_eq!(both.len(), 2);
        assert_eq!(both[0].1["realm"], "a, b");
        assert_eq!(both[1].1["realm"], "x\"y");
        assert_eq!(both[1].1["error"], "insufficient_scope");
        assert!(challenge_from_header("Negotiate").is_none());
        assert!(parse_www_authenticate("=,\"\"=").len() <= 1);
    }

    #[test]
    fn a_401_forgets_only_the_token_it_was_sent_with() {
        let tokens = Tokens::default();
        let key = "repository:app:pull";
        let cache = |value: &str| {
            let token = Token {
                value: Secret::new(value),
                expires: Instant::now() + Duration::from_secs(60),
            };
            tokens.cache.lock().unwrap().insert(key.to_string(), token);
        };
        let cached = || tokens.cache.lock().unwrap().len();
        // Another request already replaced the token this one was refused with: keep the new one.
        cache("new-token");
        tokens.forget(key, Some("Bearer old-token"));
        assert_eq!(cached(), 1);
        tokens.forget(key, Some("Bearer new-token"));
        assert_eq!(cached(), 0);
        cache("new-token");
        tokens.forget(key, None);
        assert_eq!(cached(), 0);
    }

    #[test]
    fn encodes() {
        assert_eq!(
            urlencode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
