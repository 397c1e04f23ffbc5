//! The registry client: one [`Client`] per registry host, safe to share across threads, on top of
//! the transport ([`super::http`]), the token logic ([`super::auth`]) and the ping ([`super::probe`]).
//!
//! Takes requests against the distribution API and gives responses: picks https (or plain http where it
//! is allowed), adds `Authorization` for the registry host only, re-authenticates once on a 401, follows
//! redirects by hand (dropping credentials on the way to another host), retries what may succeed later
//! (5xx, 429 with `Retry-After`, broken connections) with capped exponential backoff, and turns every
//! failure into a [`RegistryError`] that names the registry and what to try. No secret leaves these
//! modules except in an `Authorization` header or a token request sent to where it belongs.

use super::auth::{challenge_from_header, Challenge, TokenAsk, Tokens};
use super::credentials::{lookup, searched_places, Credential};
use super::error::RegistryError;
use super::http::{header, ReqBody, Request, Transport};
use super::probe::probe;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use ureq::http::{Response, StatusCode};
use ureq::Body;

pub use super::options::ClientOptions;
pub use super::tuning::Tuning;

/// One shared [`Client`] per registry, made on first use: a run that talks to a registry several times
/// (an image push, then its SBOM push) pings it, looks up its credentials and gets its tokens once.
pub struct Clients {
    opts: ClientOptions,
    by_registry: HashMap<String, Arc<Client>>,
}

impl Clients {
    /// No clients yet; each one made later gets `opts`.
    pub fn new(opts: ClientOptions) -> Clients {
        Clients {
            opts,
            by_registry: HashMap::new(),
        }
    }

    /// The client for `registry`, made now if this is the first request for it.
    pub fn get(&mut self, registry: &str) -> anyhow::Result<Arc<Client>> {
        use anyhow::Context as _;
        if let Some(c) = self.by_registry.get(registry) {
            return Ok(c.clone());
        }
        let c = Arc::new(
            Client::new(registry, &self.opts)
                .with_context(|| format!("setting up a client for registry {registry}"))?,
        );
        self.by_registry.insert(registry.to_string(), c.clone());
        Ok(c)
    }
}

/// What a client may do in a repository; decides the token scope.
#[derive(Debug, Clone, Default)]
struct Access {
    push: bool,
    mount_sources: BTreeSet<String>,
    extra: BTreeSet<String>,
}

/// A distribution API client for one registry.
pub struct Client {
    /// The registry, as in references.
    pub(super) registry: String,
    /// Its API host (`host[:port]`).
    pub(super) host: String,
    pub(super) opts: ClientOptions,
    /// The HTTP side: agents, deadlines, retries, redaction.
    pub(super) http: Transport,
    /// The token cache and what the token service refused.
    pub(super) tokens: Tokens,
    state: Mutex<State>,
    ping_lock: Mutex<()>,
    creds: Mutex<Option<Option<Credential>>>,
    access: Mutex<BTreeMap<String, Access>>,
}

struct State {
    /// `https://host` or `http://host`, once pinged.
    base: Option<String>,
    challenge: Challenge,
}

impl Client {
    /// A client for `registry` (as in a reference: `docker.io`, `ghcr.io`, `localhost:5000`).
    pub fn new(registry: &str, opts: &ClientOptions) -> anyhow::Result<Client> {
        let host = crate::reference::api_host(registry).to_string();
        let http = Transport::new(&host, opts)?;
        Ok(Client {
            registry: registry.to_string(),
            http,
            host,
            opts: opts.clone(),
            tokens: Tokens::default(),
            state: Mutex::new(State {
                base: None,
                challenge: Challenge::Unknown,
            }),
            ping_lock: Mutex::new(()),
            creds: Mutex::new(None),
            access: Mutex::new(BTreeMap::new()),
        })
    }

    /// Start the retry budget of one push: from now on, retries (of every request, and restarts of
    /// upload sessions) are started only until `retry_budget` has passed without a successful
    /// answer from the registry (each success starts it again: see `Transport::progressed`).
    pub fn start_budget(&self) {
        self.http.start_budget();
    }

    /// The registry name this client talks to (as in references).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Ask for push access to `repo` (and pull access to `mount_sources`) in tokens from now on.
    pub fn declare_push(&self, repo: &str, mount_sources: &[String]) {
        let mut access = self.access.lock().unwrap_or_else(|p| p.into_inner());
        let a = access.entry(repo.to_string()).or_default();
        a.push = true;
        a.mount_sources
            .extend(mount_sources.iter().filter(|s| *s != repo).cloned());
    }

    /// Token scopes for a request on `repo`, sorted.
    fn scopes_for(&self, repo: Option<&str>) -> Vec<String> {
        let Some(repo) = repo else { return Vec::new() };
        let access = self.access.lock().unwrap_or_else(|p| p.into_inner());
        let a = access.get(repo).cloned().unwrap_or_default();
        let mut v = BTreeSet::new();
        v.insert(format!(
            "repository:{repo}:{}",
            if a.push { "pull,push" } else { "pull" }
        ));
        v.extend(
            a.mount_sources
                .iter()
                .map(|s| format!("repository:{s}:pull")),
        );
        v.extend(a.extra);
        v.into_iter().collect()
    }

    /// How the registry wants to be authenticated, as last learnt.
    fn challenge(&self) -> Challenge {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .challenge
            .clone()
    }

    /// The credentials for this registry, looked up once.
    fn credentials(&self, action: &str) -> Result<Option<Credential>, RegistryError> {
        let mut slot = self.creds.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let found =
            lookup(&self.registry, &self.opts.credentials).map_err(|e| RegistryError::Auth {
                action: action.to_string(),
                detail: format!("looking up credentials for {}: {e:#}", self.registry),
            })?;
        if let Some(c) = &found {
            crate::ui::verbose(format!(
                "using credentials for {} from {}",
                self.registry, c.source
            ));
            for s in c.secret_strings() {
                self.http.add_secret(&s);
            }
        }
        *slot = Some(found.clone());
        Ok(found)
    }

    /// `https://host/v2/...` (or http where allowed) for an API path starting with `/v2/`.
    pub(crate) fn url(&self, path: &str) -> Result<String, RegistryError> {
        Ok(format!("{}{path}", self.ping()?))
    }

    /// Check the registry answers `/v2/`; learn its scheme and auth challenge (`probe`). Cached
    /// after the first call.
    pub fn ping(&self) -> Result<String, RegistryError> {
        if let Some(b) = &self.state.lock().unwrap_or_else(|p| p.into_inner()).base {
            return Ok(b.clone());
        }
        // One ping at a time: parallel uploads wait for the first instead of each pinging.
        let _one = self.ping_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = &self.state.lock().unwrap_or_else(|p| p.into_inner()).base {
            return Ok(b.clone());
        }
        let found = probe(&self.http, &self.registry)?;
        // Before the base is visible: a request that finds the base picks its agent by this.
        self.http.set_unverified_tls(found.unverified);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.challenge = found.challenge;
        st.base = Some(found.base.clone());
        Ok(found.base)
    }

    /// The `Authorization` value for a request on `repo` (None for anonymous); `base` is the
    /// registry's base URL (pinged).
    fn authorization(
        &self,
        base: &str,
        repo: Option<&str>,
        action: &str,
    ) -> Result<Option<String>, RegistryError> {
        match self.challenge() {
            Challenge::Unknown | Challenge::None => Ok(None),
            Challenge::Basic => Ok(self.credentials(action)?.and_then(|c| c.basic_header())),
            Challenge::Bearer { realm, service } => {
                let scopes = self.scopes_for(repo);
                let fetch = || {
                    let ask = TokenAsk {
                        http: &self.http,
                        registry: &self.registry,
                        v2: &format!("{base}/v2/"),
                        credentials: &|| self.credentials(action),
                        env: &self.opts.credentials,
                        login_hint: &self.login_hint(),
                    };
                    let endpoint = (realm.as_str(), service.as_deref());
                    self.tokens.fetch(&ask, endpoint, &scopes, action)
                };
                self.tokens
                    .bearer(scopes.join(" "), action, fetch)
                    .map(Some)
            }
        }
    }

    /// Send one request: authorization, one re-authentication on 401, redirects. No retries.
    pub(crate) fn send(&self, req: &Request) -> Result<Response<Body>, RegistryError> {
        self.send_expecting(req, 0)
    }

    /// [`Client::send`] for a request whose answer carries about `expect` bytes (a blob download):
    /// its deadline allows for them.
    pub(crate) fn send_expecting(
        &self,
        req: &Request,
        expect: u64,
    ) -> Result<Response<Body>, RegistryError> {
        let base = self.ping()?;
        let mut url = req.url.clone();
        let mut method = req.method;
        let mut body = req.body;
        let mut reauthenticated = false;
        for _hop in 0..6 {
            let ours = url.starts_with(&base) && url[base.len()..].starts_with('/');
            let auth = if ours {
                self.authorization(&base, req.repo, req.action)?
            } else {
                None
            };
            let hop = Request {
                method,
                url: url.clone(),
                headers: req.headers.clone(),
                body,
                repo: req.repo,
                action: req.action,
            };
            let resp = self.http.raw_expecting(&hop, auth.as_deref(), expect)?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && ours {
                if reauthenticated {
                    return Err(self.auth_failed(req, auth.is_some()));
                }
                reauthenticated = true;
                self.on_unauthorized(&resp, req, auth.as_deref())?;
                continue;
            }
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let loc = header(&resp, "location").ok_or_else(|| RegistryError::Protocol {
                    action: req.action.to_string(),
                    registry: self.host.clone(),
                    detail: format!("a redirect ({status}) without a Location"),
                })?;
                url = self
                    .http
                    .given_url(&url, &loc, "a redirect to", req.action)?;
                if status == StatusCode::SEE_OTHER || (status.as_u16() <= 302 && method == "POST") {
                    (method, body) = ("GET", ReqBody::Empty);
                }
                continue;
            }
            if status.is_success() {
                self.http.progressed();
            }
            return Ok(resp);
        }
        Err(RegistryError::Protocol {
            action: req.action.to_string(),
            registry: self.host.clone(),
            detail: "too many redirects".into(),
        })
    }

    fn on_unauthorized(
        &self,
        resp: &Response<Body>,
        req: &Request,
        sent: Option<&str>,
    ) -> Result<(), RegistryError> {
        let sent_auth = sent.is_some();
        let h = header(resp, "www-authenticate").unwrap_or_default();
        let Some((challenge, scope)) = challenge_from_header(&h) else {
            return Err(self.auth_failed(req, sent_auth));
        };
        if challenge == Challenge::Basic && (sent_auth || self.credentials(req.action)?.is_none()) {
            return Err(self.auth_failed(req, sent_auth));
        }
        self.tokens
            .forget(&self.scopes_for(req.repo).join(" "), sent);
        if let (Some(scope), Some(repo)) = (scope, req.repo) {
            let mut access = self.access.lock().unwrap_or_else(|p| p.into_inner());
            let a = access.entry(repo.to_string()).or_default();
            a.extra.extend(
                scope
                    .split(' ')
                    .filter(|s| s.starts_with("repository:"))
                    .map(str::to_string),
            );
        }
        crate::ui::verbose(format!("{}: 401, authenticating again", self.host));
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .challenge = challenge;
        Ok(())
    }

    /// The login commands to suggest for this registry, as they work against it: podman needs
    /// `--tls-verify=false` for a plain-http (or unverified-TLS) registry, docker does not for a
    /// loopback one.
    pub fn login_hint(&self) -> String {
        let registry = &self.registry;
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let plain = st.base.as_deref().is_some_and(|b| b.starts_with("http://"))
            || self.http.unverified_tls();
        if plain {
            format!("`podman login --tls-verify=false {registry}` or `docker login {registry}`")
        } else {
            format!("`podman login {registry}` or `docker login {registry}`")
        }
    }

    fn auth_failed(&self, req: &Request, sent_auth: bool) -> RegistryError {
        let registry = &self.registry;
        let creds = self.credentials(req.action).ok().flatten();
        let repo = req.repo.map(|r| format!(" to {r}")).unwrap_or_default();
        let detail = match creds {
            None => format!(
                "{registry} requires authentication and no credentials were found (looked in {}): log in \
                 with {}, or set SLIM_IMAGE_REGISTRY_USERNAME and SLIM_IMAGE_REGISTRY_PASSWORD",
                searched_places(&self.opts.credentials),
                self.login_hint()
            ),
            Some(c) if sent_auth => format!(
                "{registry} rejected the credentials of user `{}` (from {}), or that user has no \
                 access{repo}: check them, e.g. log in again with {}",
                c.username,
                c.source,
                self.login_hint()
            ),
            Some(c) => format!(
                "{registry} did not accept the credentials of user `{}` (from {}) for this request{repo}",
                c.username, c.source
            ),
        };
        RegistryError::Auth {
            action: req.action.to_string(),
            detail,
        }
    }
}
