//! The HTTP side of the registry client: one [`Client`] per registry host, safe to share across threads.
//!
//! Takes requests against the distribution API and gives responses: picks https (or plain http where it
//! is allowed), adds `Authorization` for the registry host only, re-authenticates once on a 401, follows
//! redirects by hand (dropping credentials on the way to another host), retries what may succeed later
//! (5xx, 429 with `Retry-After`, broken connections) with capped exponential backoff, and turns every
//! failure into a [`RegistryError`] that names the registry and what to try. No secret leaves this file
//! except in an `Authorization` header or a token request sent to where it belongs.

use super::auth::{challenge_from_header, Challenge, Token};
use super::credentials::{lookup, searched_places, Credential, CredentialEnv};
use super::error::RegistryError;
use super::http::{header, ReqBody, Request};
use super::tls::{extra_roots_for, is_insecure, is_loopback, with_base_roots, DEFAULT_CERTS_DIRS};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use ureq::http::{Response, StatusCode};
use ureq::tls::{RootCerts, TlsConfig};
use ureq::{Agent, Body};

pub use super::tuning::Tuning;

/// What a [`Client`] needs to know besides the registry name.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Hosts (`host` or `host:port`) where plain http and unverified TLS are allowed.
    pub insecure_registries: Vec<String>,
    /// Extra CA files (PEM) trusted for every registry (`--registry-ca`).
    pub registry_ca: Vec<PathBuf>,
    /// Directories with per-registry CA files (`<dir>/<host[:port]>/*.crt`).
    pub certs_dirs: Vec<PathBuf>,
    /// Where credentials are looked up.
    pub credentials: CredentialEnv,
    /// Timeouts, retries and chunking.
    pub tuning: Tuning,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            insecure_registries: Vec::new(),
            registry_ca: Vec::new(),
            certs_dirs: DEFAULT_CERTS_DIRS.iter().map(PathBuf::from).collect(),
            credentials: CredentialEnv::from_process(),
            tuning: Tuning::default(),
        }
    }
}

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
    pub(crate) registry: String,
    pub(crate) host: String,
    pub(crate) opts: ClientOptions,
    /// Verifying TLS agent, made on first use: loading the system's roots costs a few ms that a
    /// plain-http registry never needs (see [`Client::verified`]).
    agent: OnceLock<Agent>,
    extra_roots: Vec<ureq::tls::Certificate<'static>>,
    /// Without TLS verification; also carries plain-http requests, where no TLS happens at all.
    unverified: Agent,
    state: Mutex<State>,
    ping_lock: Mutex<()>,
    creds: Mutex<Option<Option<Credential>>>,
    pub(crate) tokens: Mutex<HashMap<String, Token>>,
    /// `(target, source)` repositories whose mounts were refused for want of access (auth.rs).
    pub(crate) refused_mounts: Mutex<BTreeSet<(String, String)>>,
    /// Why the token service refused our credentials, once it has (auth.rs): never asked again.
    pub(crate) token_refusal: Mutex<Option<String>>,
    access: Mutex<BTreeMap<String, Access>>,
    secrets: Mutex<Vec<String>>,
    /// When retries stop being started (set per push by [`Client::start_budget`]).
    pub(crate) retry_until: Mutex<Option<std::time::Instant>>,
}

struct State {
    /// `https://host` or `http://host`, once pinged.
    base: Option<String>,
    /// TLS without verification (an `--insecure-registry` host that does speak TLS).
    unverified_tls: bool,
    challenge: Challenge,
}

fn agent(tuning: &Tuning, tls: TlsConfig) -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("cargo-slim-image/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(tuning.connect_timeout))
        .timeout_per_read(Some(tuning.io_timeout))
        .timeout_per_write(Some(tuning.io_timeout))
        .tls_config(tls)
        .build()
        .new_agent()
}

impl Client {
    /// A client for `registry` (as in a reference: `docker.io`, `ghcr.io`, `localhost:5000`).
    pub fn new(registry: &str, opts: &ClientOptions) -> anyhow::Result<Client> {
        let host = crate::reference::api_host(registry).to_string();
        let extra_roots = extra_roots_for(&host, &opts.registry_ca, &opts.certs_dirs)?;
        let unverified = TlsConfig::builder().disable_verification(true).build();
        Ok(Client {
            registry: registry.to_string(),
            agent: OnceLock::new(),
            extra_roots,
            unverified: agent(&opts.tuning, unverified),
            host,
            opts: opts.clone(),
            state: Mutex::new(State {
                base: None,
                unverified_tls: false,
                challenge: Challenge::Unknown,
            }),
            ping_lock: Mutex::new(()),
            creds: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
            refused_mounts: Mutex::new(BTreeSet::new()),
            token_refusal: Mutex::new(None),
            access: Mutex::new(BTreeMap::new()),
            secrets: Mutex::new(Vec::new()),
            retry_until: Mutex::new(None),
        })
    }

    /// The agent that verifies TLS against Mozilla's, the system's and the user's roots.
    fn verified(&self) -> &Agent {
        self.agent.get_or_init(|| {
            let roots = with_base_roots(&self.extra_roots);
            let tls = TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&roots))
                .build();
            agent(&self.opts.tuning, tls)
        })
    }

    /// The agent for a request to `url` on `host`: unverified TLS only for our own
    /// `--insecure-registry` host; plain http has no TLS to verify, so it skips loading the roots.
    pub(crate) fn agent_for(&self, host: &str, url: &str) -> &Agent {
        if url.starts_with("http://") {
            return &self.unverified;
        }
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if host == self.host && st.unverified_tls {
            &self.unverified
        } else {
            self.verified()
        }
    }

    /// Start the retry budget of one push: from now on, retries (of every request, and restarts of
    /// upload sessions) are started only until `retry_budget` has passed without a successful
    /// answer from the registry (each success starts it again: see `Client::progressed`).
    pub fn start_budget(&self) {
        let end = std::time::Instant::now() + self.opts.tuning.retry_budget;
        *self.retry_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(end);
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
    pub(crate) fn scopes_for(&self, repo: Option<&str>) -> Vec<String> {
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

    pub(crate) fn challenge(&self) -> Challenge {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .challenge
            .clone()
    }

    /// The credentials for this registry, looked up once.
    pub(crate) fn credentials(&self, action: &str) -> Result<Option<Credential>, RegistryError> {
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
                self.add_secret(&s);
            }
        }
        *slot = Some(found.clone());
        Ok(found)
    }

    /// Remember a secret so that [`Client::redact`] removes it from any text.
    pub(crate) fn add_secret(&self, s: &str) {
        if s.len() >= 3 {
            self.secrets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(s.to_string());
        }
    }

    /// `text` with every known secret replaced by `<redacted>`.
    pub(crate) fn redact(&self, text: String) -> String {
        let secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        secrets.iter().fold(crate::ui::redact(&text), |t, s| {
            t.replace(s.as_str(), "<redacted>")
        })
    }

    /// `https://host/v2/...` (or http where allowed) for an API path starting with `/v2/`.
    pub(crate) fn url(&self, path: &str) -> Result<String, RegistryError> {
        Ok(format!("{}{path}", self.ping()?))
    }

    /// Check the registry answers `/v2/`; learn its scheme and auth challenge. Cached after the first call.
    pub fn ping(&self) -> Result<String, RegistryError> {
        if let Some(b) = &self.state.lock().unwrap_or_else(|p| p.into_inner()).base {
            return Ok(b.clone());
        }
        // One ping at a time: parallel uploads wait for the first instead of each pinging.
        let _one = self.ping_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = &self.state.lock().unwrap_or_else(|p| p.into_inner()).base {
            return Ok(b.clone());
        }
        let action = format!("contacting registry {}", self.host);
        if super::tls::host_without_port(&self.host).ends_with(".invalid") {
            // RFC 6761: `.invalid` names never resolve; answer without asking DNS.
            return Err(RegistryError::UnknownHost {
                action,
                host: self.host.clone(),
            });
        }
        let insecure = is_insecure(&self.host, &self.opts.insecure_registries)
            || is_insecure(&self.registry, &self.opts.insecure_registries);
        let plain_ok = insecure || is_loopback(&self.host);
        // Where plain http is allowed, ask it first: an https server answers a plain request at once
        // (400), while a plain server may sit on a TLS ClientHello until a timeout. Both cannot work on
        // one host:port, so the order decides nothing else.
        let (base, unverified, challenge) = self.retry(|| {
            let https = format!("https://{}", self.host);
            let mut plain_failed = None;
            if plain_ok {
                let http = format!("http://{}", self.host);
                match self.ping_once(&http, false, &action) {
                    Ok(ch) => return Ok((http, false, ch)),
                    Err(e @ RegistryError::UnknownHost { .. }) => return Err(e),
                    // A plain-http server that is busy (5xx, 429): ask it again, not over TLS.
                    Err(e @ RegistryError::Status { .. }) if e.is_retriable() => return Err(e),
                    Err(e) => {
                        crate::ui::verbose(format!(
                            "{}: plain http did not work ({e}); trying https",
                            self.host
                        ));
                        plain_failed = Some(e);
                    }
                }
            }
            match (self.ping_once(&https, insecure, &action), plain_failed) {
                (Ok(ch), _) => Ok((https, insecure, ch)),
                // No TLS there either, but plain http broke off in a way that may pass (a reset):
                // that is the error worth retrying.
                (Err(RegistryError::Tls { .. }), Some(p)) if p.is_retriable() => Err(p),
                (Err(e), _) => Err(e),
            }
        })?;
        if unverified {
            crate::ui::warn(format!(
                "{}: TLS certificate not verified (--insecure-registry)",
                self.host
            ));
        }
        if base.starts_with("http://") && !is_loopback(&self.host) {
            crate::ui::warn(format!(
                "{}: using plain http (--insecure-registry)",
                self.host
            ));
        }
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.unverified_tls = unverified;
        st.challenge = challenge;
        st.base = Some(base.clone());
        Ok(base)
    }

    fn ping_once(
        &self,
        base: &str,
        unverified: bool,
        action: &str,
    ) -> Result<Challenge, RegistryError> {
        let agent = if unverified || base.starts_with("http://") {
            &self.unverified
        } else {
            self.verified()
        };
        let req = ureq::http::Request::get(format!("{base}/v2/"))
            .body(())
            .map_err(|e| self.bad_url(action, e))?;
        let mut resp = self.run_timed(agent, req, 0, &self.host, action)?;
        match resp.status().as_u16() {
            200 => Ok(Challenge::None),
            401 => {
                let h = header(&resp, "www-authenticate").unwrap_or_default();
                challenge_from_header(&h)
                    .map(|(c, _)| c)
                    .ok_or_else(|| RegistryError::Auth {
                        action: action.to_string(),
                        detail: format!(
                            "{} asks for authentication with an unsupported scheme (`{h}`)",
                            self.host
                        ),
                    })
            }
            _ => Err(self.status_error(action, &mut resp)),
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
                self.authorization(req.repo, req.action)?
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
            let resp = self.raw_expecting(&hop, auth.as_deref(), expect)?;
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
                url = self.given_url(&url, &loc, "a redirect to", req.action)?;
                if status == StatusCode::SEE_OTHER || (status.as_u16() <= 302 && method == "POST") {
                    (method, body) = ("GET", ReqBody::Empty);
                }
                continue;
            }
            if status.is_success() {
                self.progressed();
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
        self.forget_token(req.repo, sent);
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
        let plain =
            st.base.as_deref().is_some_and(|b| b.starts_with("http://")) || st.unverified_tls;
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
