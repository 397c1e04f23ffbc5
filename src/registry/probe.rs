//! Finding how to talk to a registry: its `/v2/` endpoint, asked once per client.
//!
//! Takes the registry's `Transport` and its name (as in references, for `--insecure-registry`);
//! gives a `Found`: the base URL (`https://host`, or `http://host` where plain http is allowed and
//! answers), whether TLS goes unverified, and the authentication [`Challenge`] the answer carries.
//! Warns when TLS is not verified or plain http is used off loopback.

use super::auth::{challenge_from_header, Challenge};
use super::error::{RegistryError, MAX_DETAIL_CHARS};
use super::http::{header, Transport};
use super::tls::{host_without_port, is_insecure, is_loopback};

/// What the registry's `/v2/` answer told.
pub(crate) struct Found {
    /// `https://host` or `http://host`.
    pub base: String,
    /// TLS without verification (an `--insecure-registry` host that does speak TLS).
    pub unverified: bool,
    /// How it wants to be authenticated.
    pub challenge: Challenge,
}

/// Check the registry `registry` (reached through `http`) answers `/v2/`, retried as every request
/// is; learn its scheme and auth challenge.
pub(crate) fn probe(http: &Transport, registry: &str) -> Result<Found, RegistryError> {
    let host = http.host();
    let action = format!("contacting registry {host}");
    if host_without_port(host).ends_with(".invalid") {
        // RFC 6761: `.invalid` names never resolve; answer without asking DNS.
        return Err(RegistryError::UnknownHost {
            action,
            host: host.to_string(),
        });
    }
    let insecure = is_insecure(host, http.insecure()) || is_insecure(registry, http.insecure());
    let plain_ok = insecure || is_loopback(host);
    // Where plain http is allowed, ask it first: an https server answers a plain request at once
    // (400), while a plain server may sit on a TLS ClientHello until a timeout. Both cannot work on
    // one host:port, so the order decides nothing else.
    let (base, unverified, challenge) = http.retry(|| {
        let https = format!("https://{host}");
        let mut plain_failed = None;
        if plain_ok {
            let plain = format!("http://{host}");
            match ping_once(http, &plain, false, &action) {
                Ok(ch) => return Ok((plain, false, ch)),
                Err(e @ RegistryError::UnknownHost { .. }) => return Err(e),
                // A plain-http server that is busy (5xx, 429): ask it again, not over TLS.
                Err(e @ RegistryError::Status { .. }) if e.is_retriable() => return Err(e),
                Err(e) => {
                    crate::ui::verbose(format!(
                        "{host}: plain http did not work ({e}); trying https"
                    ));
                    plain_failed = Some(e);
                }
            }
        }
        match (ping_once(http, &https, insecure, &action), plain_failed) {
            (Ok(ch), _) => Ok((https, insecure, ch)),
            // No TLS there either, but plain http broke off in a way that may pass (a reset):
            // that is the error worth retrying.
            (Err(RegistryError::Tls { .. }), Some(p)) if p.is_retriable() => Err(p),
            (Err(e), _) => Err(e),
        }
    })?;
    if unverified {
        crate::ui::warn(format!(
            "{host}: TLS certificate not verified (--insecure-registry)"
        ));
    }
    if base.starts_with("http://") && !is_loopback(host) {
        crate::ui::warn(format!("{host}: using plain http (--insecure-registry)"));
    }
    Ok(Found {
        base,
        unverified,
        challenge,
    })
}

/// One `GET {base}/v2/`: 200 is anonymous access, 401 names the challenge.
fn ping_once(
    http: &Transport,
    base: &str,
    unverified: bool,
    action: &str,
) -> Result<Challenge, RegistryError> {
    let agent = http.agent_with(unverified, base);
    let req = ureq::http::Request::get(format!("{base}/v2/"))
        .body(())
        .map_err(|e| http.bad_url(action, e))?;
    let mut resp = http.run_timed(agent, req, 0, http.host(), action)?;
    match resp.status().as_u16() {
        200 => Ok(Challenge::None),
        401 => {
            let h = header(&resp, "www-authenticate").unwrap_or_default();
            // Quoted as error bodies are: redacted, then cut (a header may be 64 KiB).
            let quoted = crate::ui::redact_and_cut(&h, MAX_DETAIL_CHARS);
            challenge_from_header(&h)
                .map(|(c, _)| c)
                .ok_or_else(|| RegistryError::Auth {
                    action: action.to_string(),
                    detail: format!(
                        "{} asks for authentication with an unsupported scheme (`{quoted}`)",
                        http.host()
                    ),
                })
        }
        _ => Err(http.status_error(action, &mut resp)),
    }
}
