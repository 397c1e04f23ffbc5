//! Token endpoint answers: read bounded in size and time, parsed, and their lifetime clamped.
//!
//! Takes the body of a 200 from a token endpoint; gives the token (visible ASCII only, as it goes into
//! an `Authorization` header) and how long to trust it, or a sentence saying what is wrong.

use std::time::{Duration, Instant};

#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    /// Any JSON: a hostile or sloppy service may send a negative, fractional or huge number, or a
    /// string; see [`token_life`].
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// How long to trust a token whose answer said `expires_in`: a whole number of seconds (at least 1,
/// at most [`MAX_TOKEN_SECS`]); anything else is the default.
fn token_life(expires_in: Option<&serde_json::Value>) -> Duration {
    let secs = expires_in
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(DEFAULT_TOKEN_SECS);
    Duration::from_secs(secs.clamp(1, MAX_TOKEN_SECS))
}

/// Token lifetime when the endpoint does not say (the distribution spec's default).
const DEFAULT_TOKEN_SECS: u64 = 60;
/// Longest a token is kept, whatever `expires_in` says (a day; a huge value must not overflow).
const MAX_TOKEN_SECS: u64 = 24 * 60 * 60;
/// The most of a token endpoint's answer that is read (a token is a few KiB).
const MAX_TOKEN_RESPONSE: usize = 1 << 20;

/// A token endpoint's answer body: at most [`MAX_TOKEN_RESPONSE`] bytes, all of it within `within`
/// (the `--timeout`): each read is bounded by the agent, but a body that drips a byte per read must
/// not hold the run forever, nor one that never ends fill memory.
pub(super) fn read_token_body(
    mut body: impl std::io::Read,
    within: Duration,
) -> Result<Vec<u8>, String> {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 16 << 10];
    let too_slow = || {
        format!(
            "a token response that did not end within {} s (--timeout): the token service is too \
             slow or stuck",
            within.as_secs_f64()
        )
    };
    loop {
        // The request's own overall deadline (registry::http) may end the body first: the same case.
        let n = body.read(&mut buf).map_err(|e| {
            let deadline = e.kind() == std::io::ErrorKind::TimedOut
                || e.get_ref()
                    .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                    .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)));
            if deadline {
                too_slow()
            } else {
                format!("a token response that broke off ({e})")
            }
        })?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > MAX_TOKEN_RESPONSE {
            return Err(format!(
                "a token response larger than {} MiB: the token service is broken or not a token \
                 service",
                MAX_TOKEN_RESPONSE >> 20
            ));
        }
        out.extend_from_slice(&buf[..n]);
        if start.elapsed() > within {
            return Err(too_slow());
        }
    }
}

/// The token and how long to trust it, from a token endpoint's answer; else what is wrong with it.
pub(super) fn parse_token(bytes: &[u8]) -> Result<(String, Duration), &'static str> {
    let parsed: TokenResponse =
        serde_json::from_slice(bytes).map_err(|_| "a token response that is not JSON")?;
    let value = parsed
        .token
        .filter(|t| !t.is_empty())
        .or(parsed.access_token.filter(|t| !t.is_empty()))
        .ok_or("a token response without `token` or `access_token`")?;
    // It goes into `Authorization: Bearer ...`: visible ASCII only (RFC 6750 `b64token` and more),
    // so no line break can inject a header and no odd byte turns into a misleading "bad URL" later.
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "a token that cannot be sent in an HTTP header (it holds spaces, control or \
                    non-ASCII characters): the token service is broken or not a token service",
        );
    }
    Ok((value, token_life(parsed.expires_in.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lifetimes_are_bounded() {
        use serde_json::json;
        let life = |v: serde_json::Value| token_life(Some(&v)).as_secs();
        assert_eq!(life(json!(300)), 300);
        assert_eq!(life(json!(u64::MAX)), MAX_TOKEN_SECS);
        assert_eq!(life(json!(0)), 1);
        for odd in [json!(-5), json!(1.5), json!("300"), json!(null)] {
            assert_eq!(life(odd), DEFAULT_TOKEN_SECS);
        }
        assert_eq!(token_life(None).as_secs(), DEFAULT_TOKEN_SECS);
    }
}
