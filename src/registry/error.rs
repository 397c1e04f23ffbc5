//! Typed registry errors: what the client was doing, with which registry, what went wrong, what to try.
//!
//! The retry loop reads [`RegistryError::is_retriable`] and [`RegistryError::retry_after`]; everything else
//! reads the message. No variant ever carries a password, token or `Authorization` value: error bodies
//! from registries are redacted ([`crate::ui::redact`]) before they are capped, and land here redacted.

use std::time::Duration;

/// A failure talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with an HTTP status we did not expect.
    #[error("{action}: {registry} answered HTTP {status}{detail}")]
    Status {
        /// What we were doing, e.g. `uploading blob sha256:... to acme/app`.
        action: String,
        /// The registry host.
        registry: String,
        /// The HTTP status code.
        status: u16,
        /// A short summary of the error body (prefixed with `: `), or empty.
        detail: String,
        /// The `Retry-After` delay the registry asked for, if any.
        retry_after: Option<Duration>,
    },
    /// The host name does not resolve: nothing was sent.
    #[error(
        "{action}: cannot resolve registry host `{host}`: check the registry name in the image \
         reference (and DNS)"
    )]
    UnknownHost {
        /// What we were doing.
        action: String,
        /// The host that did not resolve.
        host: String,
    },
    /// The TLS handshake failed (certificate not trusted, wrong name, ...).
    #[error(
        "{action}: TLS with {host} failed: {detail}. If the registry uses a private CA, pass \
         --registry-ca FILE (PEM) or put it in /etc/containers/certs.d/{host}/ca.crt; for a registry \
         that has no TLS at all use --insecure-registry {host}"
    )]
    Tls {
        /// What we were doing.
        action: String,
        /// The host we talked to.
        host: String,
        /// What rustls said.
        detail: String,
    },
    /// The connection failed, broke or timed out.
    #[error("{action}: connection to {host} failed: {detail}")]
    Connection {
        /// What we were doing.
        action: String,
        /// The host we talked to.
        host: String,
        /// What happened (refused, reset, timed out, ...).
        detail: String,
        /// Whether trying again may help.
        retriable: bool,
    },
    /// Authentication failed or is missing; the message says where credentials were looked for.
    #[error("{action}: {detail}")]
    Auth {
        /// What we were doing.
        action: String,
        /// What went wrong and what to try (never a secret).
        detail: String,
    },
    /// The registry sent something that breaks the protocol or does not match what we asked for.
    #[error("{action}: {registry} sent {detail}")]
    Protocol {
        /// What we were doing.
        action: String,
        /// The registry host.
        registry: String,
        /// What was wrong with it.
        detail: String,
    },
}

impl RegistryError {
    /// Whether the same request may succeed if tried again (5xx, 429, 408, broken connections).
    pub fn is_retriable(&self) -> bool {
        match self {
            RegistryError::Status { status, .. } => {
                matches!(status, 408 | 429) || (*status >= 500 && !matches!(status, 501 | 505))
            }
            RegistryError::Connection { retriable, .. } => *retriable,
            _ => false,
        }
    }

    /// The delay the registry asked for with `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RegistryError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, for errors that carry one.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Parse a `Retry-After` value: delay seconds, or an HTTP date (treated as a short wait: we do not
/// trust clocks to agree, and the retry loop caps the delay anyway).
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    (!v.is_empty()).then(|| Duration::from_secs(5))
}

/// The most of a registry's error body that goes into a message, in characters.
pub(crate) const MAX_DETAIL_CHARS: usize = 300;

/// Summarise an error body: the distribution `errors` array as `CODE: message`, else the first line
/// of text; at most [`MAX_DETAIL_CHARS`] characters. Empty when the body says nothing useful.
///
/// The body is redacted ([`crate::ui::redact`]) whole before anything is picked from it, and the
/// summary again before it is cut: a registry that echoes the `Authorization` header after padding
/// must not get part of the secret past a cut, nor split it across lines or JSON escapes.
pub(crate) fn summarize_body(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errs {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let body = crate::ui::redact(&String::from_utf8_lossy(body));
    let text = match serde_json::from_str::<Errs>(&body) {
        Ok(e) if !e.errors.is_empty() => e
            .errors
            .iter()
            .map(|i| format!("{}: {}", i.code, i.message))
            .collect::<Vec<_>>()
            .join("; "),
        _ => body
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_string(),
    };
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    let clean = crate::ui::redact_and_cut(&clean, MAX_DETAIL_CHARS);
    if clean.is_empty() {
        clean
    } else {
        format!(": {clean}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_and_summarises() {
        let e = |status| RegistryError::Status {
            action: "x".into(),
            registry: "r".into(),
            status,
            detail: String::new(),
            retry_after: None,
        };
        assert!(e(503).is_retriable() && e(429).is_retriable() && e(500).is_retriable());
        assert!(!e(404).is_retriable() && !e(401).is_retriable() && !e(501).is_retriable());
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            summarize_body(br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}"#),
            ": BLOB_UNKNOWN: blob unknown"
        );
        assert_eq!(summarize_body(b"\n oops \n more"), ": oops");
        assert_eq!(summarize_body(b""), "");
    }

    #[test]
    fn redacts_before_cutting() {
        crate::ui::remember("Cut-Here-Secret-0123456789abcdef");
        let body = format!(
            r#"{{"errors":[{{"code":"DENIED","message":"{}Cut-Here-Secret-0123456789abcdef"}}]}}"#,
            "p".repeat(280)
        );
        let s = summarize_body(body.as_bytes());
        assert!(!s.contains("Cut-Here"), "{s}");
        assert!(s.ends_with("<redacted>"), "{s}");
    }
}
