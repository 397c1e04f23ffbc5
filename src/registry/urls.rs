//! URLs: the ones we build (query parameters) and the ones a registry gives us.
//!
//! Every URL a registry hands out (an upload `Location` after POST or PATCH, a redirect `Location`,
//! a session URL from an upload-status GET) goes through `given_url`: it is resolved against the URL
//! of the request it answered and checked by one rule, the same for all of them. https is never
//! downgraded to plain http, except to a host the user named with `--insecure-registry`; plain http
//! goes only to hosts where plain http is allowed at all (loopback, `--insecure-registry`); and no
//! scheme other than http and https is followed. Credentials are a separate rule, kept by
//! `Client::send`: they go only to URLs under the registry's own base.

use super::tls::{is_insecure, is_loopback};

/// `host[:port]` of an absolute http(s) URL (lowercase, without any `user@`).
pub(crate) fn url_host(url: &str) -> Option<String> {
    let rest = strip_scheme(url, "https").or_else(|| strip_scheme(url, "http"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = &rest[..end];
    Some(
        auth.rsplit_once('@')
            .map_or(auth, |(_, h)| h)
            .to_ascii_lowercase(),
    )
}

/// `url` after `scheme://` (scheme compared without case), if it has that scheme.
fn strip_scheme<'a>(url: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, rest) = url.split_once("://")?;
    s.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// The scheme of an absolute URL (`scheme:` as RFC 3986 spells it), lowercase.
fn scheme_of(url: &str) -> Option<String> {
    let (s, _) = url.split_once(':')?;
    let mut chars = s.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then(|| s.to_ascii_lowercase())
}

/// Resolve a `Location` against the URL it came from (absolute, `//host/...`, `/path` or relative).
/// An absolute http(s) URL gets its scheme in lowercase; other schemes are kept as they are (and
/// refused by [`given_url`]).
pub(crate) fn resolve_url(base: &str, loc: &str) -> String {
    // A fragment is never sent (RFC 9110 7.1); kept, it would swallow the `?digest=` we append.
    let loc = loc.split('#').next().unwrap_or(loc).trim();
    if let Some(scheme) = scheme_of(loc) {
        return match loc.split_once(':') {
            Some((_, rest)) if scheme == "http" || scheme == "https" => format!("{scheme}:{rest}"),
            _ => loc.to_string(),
        };
    }
    let scheme = if strip_scheme(base, "https").is_some() {
        "https:"
    } else {
        "http:"
    };
    if loc.starts_with("//") {
        return format!("{scheme}{loc}");
    }
    let origin_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[origin_end..]
        .find('/')
        .map_or(base.len(), |i| origin_end + i);
    let origin = &base[..path_start];
    if loc.starts_with('/') {
        return format!("{origin}{loc}");
    }
    let path = strip_query(&base[path_start..]);
    let dir = path.rfind('/').map_or("/", |i| &path[..=i]);
    format!("{origin}{dir}{loc}")
}

/// A URL a registry gave in answer to a request to `from`, resolved and checked (see the module
/// docs); `insecure` is the `--insecure-registry` list. The error says what is wrong with it.
pub(crate) fn given_url(from: &str, given: &str, insecure: &[String]) -> Result<String, String> {
    let url = resolve_url(from, given);
    let shown = shown_url(&url);
    if strip_scheme(&url, "https").is_some() {
        return Ok(url);
    }
    let Some(host) = strip_scheme(&url, "http").and_then(|_| url_host(&url)) else {
        return Err(format!(
            "`{shown}`, which is neither https nor http: refusing to follow it"
        ));
    };
    let listed = is_insecure(&host, insecure);
    if strip_scheme(from, "https").is_some() && !listed {
        return Err(format!(
            "`{shown}`, a plain-http URL in answer to an https request: refusing to downgrade, \
             nothing was sent there (if {host} is meant to be reached without TLS, add \
             --insecure-registry {host})"
        ));
    }
    if !(listed || is_loopback(&host) || url_host(from).as_deref() == Some(host.as_str())) {
        return Err(format!(
            "`{shown}`, a plain-http URL on {host}, where plain http is not allowed: nothing was \
             sent there (add --insecure-registry {host} if that is intended)"
        ));
    }
    Ok(url)
}

/// `url` with `key=value` appended to its query (`&` when it has one already, else `?`).
pub(crate) fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={}", urlencode(value))
}

/// Percent-encode a query value (everything but RFC 3986 unreserved characters).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `url` without its query (for messages: upload URLs carry opaque state).
pub(crate) fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// `url` as messages name it: without its query ([`strip_query`]; a signed URL's signature) and
/// without a `user:password@` part (credentials a registry put into a URL it hands out).
pub(crate) fn shown_url(url: &str) -> String {
    let url = strip_query(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{}", &rest[end..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let b = "https://r.io/v2/a/blobs/uploads/x?_state=1";
        assert_eq!(
            resolve_url(b, "/v2/a/blobs/uploads/y?s=2"),
            "https://r.io/v2/a/blobs/uploads/y?s=2"
        );
        assert_eq!(resolve_url(b, "https://s3.x/b"), "https://s3.x/b");
        assert_eq!(resolve_url(b, "HTTP://s3.x/b"), "http://s3.x/b");
        assert_eq!(resolve_url(b, "//cdn.x/b"), "https://cdn.x/b");
        assert_eq!(resolve_url(b, "z"), "https://r.io/v2/a/blobs/uploads/z");
        assert_eq!(
            with_query("http://h/u?a=1", "digest", "sha256:ab"),
            "http://h/u?a=1&digest=sha256%3Aab"
        );
        assert_eq!(
            with_query("http://h/u", "digest", "x"),
            "http://h/u?digest=x"
        );
        assert_eq!(
            url_host("https://u:p@Reg.io:5000/v2/").as_deref(),
            Some("reg.io:5000")
        );
        assert_eq!(strip_query(b), "https://r.io/v2/a/blobs/uploads/x");
        assert_eq!(
            shown_url("http://u:p@w@s3.x:9/b/c?sig=1"),
            "http://s3.x:9/b/c"
        );
        assert_eq!(shown_url("https://s3.x/u@b"), "https://s3.x/u@b");
    }

    #[test]
    fn a_fragment_in_a_given_url_is_dropped() {
        let b = "https://r.io/v2/a/blobs/uploads/x?_state=1";
        let none: Vec<String> = vec![];
        let url = given_url(b, "/v2/a/u/1#frag", &none).unwrap();
        // The digest query appended for the closing PUT is sent, not swallowed by the fragment.
        assert_eq!(
            with_query(&url, "digest", "d"),
            "https://r.io/v2/a/u/1?digest=d"
        );
        assert_eq!(
            given_url(b, "https://s3.x/b?sig=1#f", &none).unwrap(),
            "https://s3.x/b?sig=1"
        );
    }

    #[test]
    fn registry_given_urls_never_downgrade() {
        let tls = "https://127.0.0.1:5000/v2/a/blobs/uploads/";
        let plain = "http://127.0.0.1:5000/v2/a/blobs/uploads/";
        let none: Vec<String> = vec![];
        let ok = |from, to, ins: &[String]| given_url(from, to, ins).unwrap();
        let refused = |from, to, ins: &[String]| given_url(from, to, ins).unwrap_err();
        // https stays https, relative URLs keep the scheme, upgrades are fine.
        assert_eq!(
            ok(tls, "/v2/a/u/1", &none),
            "https://127.0.0.1:5000/v2/a/u/1"
        );
        assert_eq!(ok(tls, "https://s3.x/b", &none), "https://s3.x/b");
        assert_eq!(ok(plain, "https://s3.x/b", &none), "https://s3.x/b");
        // https -> http: refused, even to a loopback host, unless the user listed the host.
        let e = refused(tls, "http://127.0.0.1:6000/v2/a/u/1?_state=secret", &none);
        assert!(
            e.contains("http://127.0.0.1:6000/v2/a/u/1") && !e.contains("secret"),
            "{e}"
        );
        assert!(e.contains("downgrade"), "{e}");
        refused(tls, "HTTP://other.example/x", &none);
        assert_eq!(ok(tls, "//cdn.x/b", &none), "https://cdn.x/b");
        let listed = vec!["other.example".to_string()];
        assert_eq!(
            ok(tls, "http://other.example/x", &listed),
            "http://other.example/x"
        );
        // http -> http: only where plain http is allowed (loopback, listed, the same host).
        assert_eq!(
            ok(plain, "http://localhost:7000/x", &none),
            "http://localhost:7000/x"
        );
        let e = refused(plain, "http://storage.example/x", &none);
        assert!(e.contains("--insecure-registry storage.example"), "{e}");
        let reg = "http://reg.lan:5000/v2/";
        assert_eq!(ok(reg, "/v2/x", &none), "http://reg.lan:5000/v2/x");
        // Other schemes are never followed.
        assert!(refused(tls, "ftp://x/y", &none).contains("neither https nor http"));
        assert!(refused(tls, "file:///etc/passwd", &none).contains("neither"));
    }
}
