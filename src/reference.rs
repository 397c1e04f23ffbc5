//! Image references (`registry/repository:tag@digest`): parsing and normalisation as docker and podman do.
//!
//! Takes what a user types (`alpine`, `ghcr.io/acme/app:1.2.0`, `localhost:5000/x@sha256:...`) and gives a
//! [`Reference`] with every part filled in: `alpine` is `docker.io/library/alpine:latest`. Invalid input
//! (upper-case repository, bad tag, bad digest, empty parts) is a [`BadReference`] that says what to fix.

use crate::digest::Digest;
use std::fmt;
use std::str::FromStr;

/// The registry used when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The host that serves the distribution API for `docker.io`.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// The tag used when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// The host that serves the distribution API for `registry` (`registry-1.docker.io` for `docker.io`).
pub fn api_host(registry: &str) -> &str {
    if registry == DEFAULT_REGISTRY {
        DOCKER_HUB_API_HOST
    } else {
        registry
    }
}

/// A fully normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Registry host, with its port when one was given (`docker.io`, `localhost:5000`).
    pub registry: String,
    /// Repository path inside the registry (`library/alpine`, `acme/app`).
    pub repository: String,
    /// The tag; `latest` when the input had neither tag nor digest.
    pub tag: Option<String>,
    /// The digest, when the input pinned one.
    pub digest: Option<Digest>,
}

/// Error for a string that is not a valid image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference `{input}`: {reason}")]
pub struct BadReference {
    /// What the user gave.
    pub input: String,
    /// What is wrong with it and what to try.
    pub reason: String,
}

impl Reference {
    /// The same repository under another tag (without a digest).
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        }
    }

    /// The host that serves the distribution API (`registry-1.docker.io` for `docker.io`).
    pub fn api_host(&self) -> &str {
        api_host(&self.registry)
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What goes after `/manifests/`: the digest when pinned, else the tag.
    pub fn tag_or_digest(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }

    /// `registry/repository:tag` (or `@digest` when there is no tag).
    pub fn tagged_name(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(t), _) => format!("{}:{t}", self.name()),
            (None, Some(d)) => format!("{}@{d}", self.name()),
            (None, None) => format!("{}:{DEFAULT_TAG}", self.name()),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = BadReference;

    fn from_str(input: &str) -> Result<Reference, BadReference> {
        let bad = |reason: String| BadReference {
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(bad(
                "it is empty; expected e.g. `ghcr.io/acme/app:1.0`".into()
            ));
        }
        if let Some(userinfo) = userinfo(s) {
            return Err(credentials_refused(s, userinfo, None));
        }
        if s.contains("://") {
            return Err(bad(
                "drop the scheme: write `host/repository:tag`, not a URL".into(),
            ));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let digest = d.parse::<Digest>().map_err(|_| {
                    bad(format!(
                        "`{d}` is not a digest: expected sha256:<64 lowercase hex>"
                    ))
                })?;
                (r, Some(digest))
            }
            None => (s, None),
        };
        let (name, tag) = split_tag(rest);
        if let Some(t) = tag {
            check_tag(t).map_err(bad)?;
        }
        let (registry, repository) = split_registry(name).map_err(bad)?;
        check_registry(&registry).map_err(bad)?;
        check_repository(&repository, name).map_err(bad)?;
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_string()),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

/// The `user:password` (or `user`) part of a reference typed as `[scheme://]user:password@host/...`,
/// if it has one. A digest never holds `/`, so an `@` with a `/` after it is userinfo; with no `/`,
/// the part after the `@` is userinfo's host when it is not a digest and a `:` comes before the `@`.
fn userinfo(s: &str) -> Option<&str> {
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    let (before, after) = s.split_once('@')?;
    let is_userinfo =
        after.contains('/') || (after.parse::<Digest>().is_err() && before.contains(':'));
    is_userinfo.then_some(before)
}

/// The error for a reference with credentials in it: it names the host, never the credentials, and
/// says where credentials go. The credentials are remembered for redaction
/// ([`crate::ui::remember`]), so a caller that echoes the raw input prints `<redacted>` instead.
fn credentials_refused(s: &str, userinfo: &str, flag: Option<&str>) -> BadReference {
    crate::ui::remember(userinfo);
    if let Some((_, password)) = userinfo.split_once(':') {
        crate::ui::remember(password);
    }
    let rest = s.split_once("://").map_or(s, |(_, r)| r);
    let host_and_path = rest.split_once('@').map_or("", |(_, h)| h);
    let host = host_and_path.split('/').next().unwrap_or("");
    BadReference {
        input: format!("{}@{host_and_path}", crate::ui::REDACTED),
        reason: format!(
            "credentials in an image reference{} are not accepted (and are not shown here): write \
             the reference without `user:password@`, and log in with `podman login {host}` or \
             `docker login {host}`, or set SLIM_IMAGE_REGISTRY_USERNAME and \
             SLIM_IMAGE_REGISTRY_PASSWORD",
            flag.map_or(String::new(), |f| format!(" given to {f}"))
        ),
    }
}

/// Refuse any of `values` (what the user gave to `flag`) that carries `user:password@`, before
/// anything else can echo it: the error names the flag and the host, never the credentials.
pub fn refuse_credentials<'a>(
    flag: &str,
    values: impl IntoIterator<Item = &'a String>,
) -> Result<(), BadReference> {
    for v in values {
        if let Some(userinfo) = userinfo(v.trim()) {
            return Err(credentials_refused(v.trim(), userinfo, Some(flag)));
        }
    }
    Ok(())
}

/// Split `NAME[:TAG]`: a tag follows the last `:` that comes after the last `/` (a `:` before it is a
/// registry port).
pub fn split_tag(s: &str) -> (&str, Option<&str>) {
    let last_slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[last_slash..].rfind(':') {
        Some(i) => (&s[..last_slash + i], Some(&s[last_slash + i + 1..])),
        None => (s, None),
    }
}

/// The registry `name` (`NAME[:TAG]`, no digest) starts with, if it names one, by docker's rule: the
/// first component is a registry if it contains `.` or `:`, is `localhost`, or has upper-case letters.
/// `app` and `acme/app` name none (they mean docker.io).
pub fn registry_host(name: &str) -> Option<&str> {
    let (first, _) = name.split_once('/')?;
    (first.contains(['.', ':'])
        || first == "localhost"
        || first.chars().any(|c| c.is_ascii_uppercase()))
    .then_some(first)
}

/// Split `name` into registry and repository with docker's rule ([`registry_host`]).
fn split_registry(name: &str) -> Result<(String, String), String> {
    let (registry, repo) = match registry_host(name) {
        Some(first) => {
            let rest = &name[first.len() + 1..];
            // Host names are case-insensitive: lower-case them, except a dotless host that only its
            // upper-case letters mark as a registry (`MyReg/app`): lower-cased, it would print as
            // `myreg/app`, which means docker.io/myreg/app (a fuzzing finding).
            let lower = first.to_ascii_lowercase();
            let host = if lower.contains(['.', ':']) || lower == "localhost" {
                lower
            } else {
                first.to_string()
            };
            (host, rest.to_string())
        }
        _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
    };
    let registry = match registry.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DEFAULT_REGISTRY.to_string(),
        _ => registry,
    };
    let repo = if registry == DEFAULT_REGISTRY && !repo.contains('/') && !repo.is_empty() {
        format!("library/{repo}")
    } else {
        repo
    };
    if repo.is_empty() {
        return Err("the repository name is missing after the registry".into());
    }
    Ok((registry, repo))
}

fn check_registry(registry: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("registry `{registry}` has an unclosed `[`"))?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("registry `{registry}` is not a valid IPv6 address"));
        }
        (None, after.strip_prefix(':'))
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        let ok_label = |l: &str| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if host.is_empty() || !host.split('.').all(ok_label) {
            return Err(format!(
                "registry host `{host}` is not a valid host name (letters, digits, `-` and `.`)"
            ));
        }
    }
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |n| n == 0) {
            return Err(format!(
                "registry port `{p}` is not a port number (1-65535)"
            ));
        }
    }
    Ok(())
}

/// Check the repository part; `name` is the reference as written (without tag and digest), for the
/// hint, which keeps the registry the user wrote: `ghcr.io/Acme/app` -> `ghcr.io/acme/app`, not
/// `acme/app` (which would mean Docker Hub).
fn check_repository(repo: &str, name: &str) -> Result<(), String> {
    if repo.chars().any(|c| c.is_ascii_uppercase()) {
        let hint = match registry_host(name) {
            Some(h) => format!("{h}/{}", name[h.len() + 1..].to_ascii_lowercase()),
            None => name.to_ascii_lowercase(),
        };
        return Err(format!("repository names must be lowercase: try `{hint}`"));
    }
    if repo.len() > MAX_NAME_LEN {
        return Err(format!(
            "the repository name is longer than {MAX_NAME_LEN} characters"
        ));
    }
    for comp in repo.split('/') {
        if !valid_path_component(comp) {
            return Err(format!(
                "`{comp}` is not a valid repository path component: use lowercase letters and digits, \
                 separated by single `.`, `_`, `__` or runs of `-`, with no empty components"
            ));
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn check_tag(tag: &str) -> Result<(), String> {
    let b = tag.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    if b.is_empty() {
        return Err("the tag after `:` is empty".into());
    }
    if b.len() > MAX_TAG_LEN {
        return Err(format!("the tag is longer than {MAX_TAG_LEN} characters"));
    }
    if !word(b[0]) || !b.iter().all(|&x| word(x) || x == b'.' || x == b'-') {
        return Err(format!(
            "tag `{tag}` is invalid: use letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Reference {
        s.parse().unwrap()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(p("alpine").to_string(), "docker.io/library/alpine:latest");
        assert_eq!(p("alpine").api_host(), "registry-1.docker.io");
        assert_eq!(p("acme/app:1.0").to_string(), "docker.io/acme/app:1.0");
        assert_eq!(
            p("index.docker.io/acme/app").to_string(),
            "docker.io/acme/app:latest"
        );
        assert_eq!(
            p("ghcr.io/acme/app:1.2.0").to_string(),
            "ghcr.io/acme/app:1.2.0"
        );
        let r = p("localhost:5000/a/b/c:v1");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost:5000", "a/b/c")
        );
        assert_eq!(r.api_host(), "localhost:5000");
        assert_eq!(p("localhost/x").registry, "localhost");
        assert_eq!(p("[::1]:5000/x:y").registry, "[::1]:5000");
        assert_eq!(p("127.0.0.1:5000/x").tag.as_deref(), Some("latest"));
    }

    #[test]
    fn digests_and_tags() {
        let d = Digest::of(b"x");
        let r = p(&format!("ghcr.io/a/b@{d}"));
        assert_eq!((r.tag.clone(), r.digest.clone()), (None, Some(d.clone())));
        assert_eq!(r.tag_or_digest(), d.to_string());
        assert_eq!(r.to_string(), format!("ghcr.io/a/b@{d}"));
        let r = p(&format!("ghcr.io/a/b:v2@{d}"));
        assert_eq!(r.tag.as_deref(), Some("v2"));
        assert_eq!(r.to_string(), format!("ghcr.io/a/b:v2@{d}"));
        assert_eq!(r.with_tag("v3").to_string(), "ghcr.io/a/b:v3");
        assert_eq!(r.tagged_name(), "ghcr.io/a/b:v2");
    }

    #[test]
    fn a_dotless_upper_case_registry_prints_as_itself() {
        let r = p("localhost0G0/a/0b");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost0G0", "a/0b")
        );
        assert_eq!(p(&r.to_string()), r);
        assert_eq!(p("GHCR.io/a/b").registry, "ghcr.io");
    }

    #[test]
    fn clear_errors() {
        let e = "ghcr.io/Acme/App".parse::<Reference>().unwrap_err();
        assert!(
            e.to_string().contains("lowercase: try `ghcr.io/acme/app`"),
            "{e}"
        );
        for bad in [
            "",
            "a:",
            "a:-x",
            "a@sha256:zz",
            "https://ghcr.io/a",
            "ghcr.io/",
            "a//b",
            "a/-b",
            "host:0/a",
            "bad_host.io/a",
        ] {
            assert!(
                bad.parse::<Reference>().is_err(),
                "{bad} should be rejected"
            );
        }
        assert!("a..b".parse::<Reference>().is_err());
    }

    #[test]
    fn credentials_are_refused_without_echo() {
        for input in [
            "bob:Pw-In-Ref-77@ghcr.io/acme/app:1",
            "bob:Pw-In-Ref-77@ghcr.io",
            "https://bob:Pw-In-Ref-77@ghcr.io/acme/app",
            "bob:Pw/In@Ref-77@localhost:5000/a",
            "bob@ghcr.io/acme/app",
        ] {
            let e = input.parse::<Reference>().unwrap_err().to_string();
            assert!(e.contains("credentials in an image reference"), "{e}");
            assert!(!e.contains("Pw") && !e.contains("bob"), "{e}");
        }
        // Digests and tags with digests are not credentials.
        let d = Digest::of(b"x");
        assert!(p(&format!("alpine:3@{d}")).digest.is_some());
        assert!(p(&format!("alpine@{d}")).digest.is_some());
        let e = refuse_credentials("--tag", &["u:Pw-Flag-1@h/a:1".to_string()]).unwrap_err();
        assert!(e.to_string().contains("given to --tag"), "{e}");
        assert!(!e.to_string().contains("Pw-Flag"), "{e}");
        assert!(refuse_credentials("--push", &[String::new(), "h/a:1".into()]).is_ok());
        let e = "a@sha256:zz".parse::<Reference>().unwrap_err().to_string();
        assert!(e.contains("is not a digest"), "{e}");
        assert!(p("a__b/c-d/e--f/g.h").repository.ends_with("g.h"));
    }
}
