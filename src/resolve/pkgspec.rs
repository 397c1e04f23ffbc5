//! `-p SPEC` as cargo reads it: a package ID specification (cargo's `PackageIdSpec` grammar), matched
//! against the workspace members' package ids from `cargo metadata`.
//!
//! ```text
//! spec     := pkgname | [kind "+"] proto "://" host-and-path ["?" query] ["#" (pkgname | version)]
//! pkgname  := name ["@" partial-version]
//! kind     := "path" | "registry" | "sparse" | "git"
//! ```
//!
//! `hello`, `hello@0.1`, `hello@0.1.0`, `path+file:///w/hello#0.1.0`, `file:///w/hello`,
//! `path+file:///w/crates/x#hello@0.1.0`, `registry+https://github.com/rust-lang/crates.io-index#serde@1.0.200`.
//! A partial version (`1`, `1.4`) matches every version it is a prefix of, as in cargo. Parsing is
//! pure; [`select`] gives the one member a spec names, or an error that names the spec and the
//! candidates.

use std::fmt;

/// A parsed package ID spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The package name (from the fragment, else the URL's last path segment).
    pub name: String,
    /// The version or its prefix.
    pub version: Option<PartialVersion>,
    /// The source URL without kind, query or fragment (`file:///w/hello`).
    pub url: Option<String>,
    /// `path`, `registry`, `sparse` or `git`, when the spec says.
    pub kind: Option<String>,
}

/// `major[.minor[.patch[-pre][+build]]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialVersion {
    major: u64,
    minor: Option<u64>,
    patch: Option<u64>,
    pre: Option<String>,
    build: Option<String>,
}

impl fmt::Display for PartialVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.major)?;
        for n in [self.minor, self.patch].into_iter().flatten() {
            write!(f, ".{n}")?;
        }
        if let Some(p) = &self.pre {
            write!(f, "-{p}")?;
        }
        if let Some(b) = &self.build {
            write!(f, "+{b}")?;
        }
        Ok(())
    }
}

impl PartialVersion {
    fn parse(s: &str) -> Result<PartialVersion, String> {
        let bad = || {
            format!("`{s}` is not a version: write MAJOR[.MINOR[.PATCH]] (e.g. 1, 1.4, 1.4.3, 1.0.0-rc.1)")
        };
        let (rest, build) = match s.split_once('+') {
            Some((r, b)) => (r, Some(b.to_string())),
            None => (s, None),
        };
        let (nums, pre) = match rest.split_once('-') {
            Some((n, p)) => (n, Some(p.to_string())),
            None => (rest, None),
        };
        let parts: Vec<&str> = nums.split('.').collect();
        if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let num = |i: usize| -> Result<Option<u64>, String> {
            parts
                .get(i)
                .map(|p| p.parse().map_err(|_| bad()))
                .transpose()
        };
        let v = PartialVersion {
            major: num(0)?.ok_or_else(bad)?,
            minor: num(1)?,
            patch: num(2)?,
            pre,
            build,
        };
        // A pre-release or build needs the whole version before it, as in semver.
        if (v.pre.is_some() || v.build.is_some()) && v.patch.is_none() {
            return Err(bad());
        }
        Ok(v)
    }

    /// Whether `v` is this version or one it is a prefix of.
    pub fn matches(&self, v: &semver::Version) -> bool {
        self.major == v.major
            && self.minor.is_none_or(|m| m == v.minor)
            && self.patch.is_none_or(|p| p == v.patch)
            && self.pre.as_ref().is_none_or(|p| *p == v.pre.as_str())
            && self.build.as_ref().is_none_or(|b| *b == v.build.as_str())
    }
}

/// `name` or `name@version`.
fn name_version(s: &str, spec: &str) -> Result<(String, Option<PartialVersion>), String> {
    let (name, version) = match s.rsplit_once('@') {
        Some((n, v)) => (
            n,
            Some(PartialVersion::parse(v).map_err(|e| format!("-p {spec}: {e}"))?),
        ),
        None => (s, None),
    };
    check_name(name, spec)?;
    Ok((name.to_string(), version))
}

fn check_name(name: &str, spec: &str) -> Result<(), String> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "-p {spec}: `{name}` is not a package name: write NAME, NAME@VERSION or a package ID URL such as path+file:///PATH#NAME@VERSION (see `cargo help pkgid`)"
        ))
    }
}

/// Parse `spec` as cargo does (see the module docs); the error names the spec and what to write.
pub fn parse(spec: &str) -> Result<Spec, String> {
    let s = spec.trim();
    let Some((scheme, rest)) = s.split_once("://") else {
        if s.contains('/') || s.contains('\\') {
            return Err(format!(
                "-p {spec}: a path is not a package ID spec: write the package's name, or its URL as file:///ABSOLUTE/PATH (or path+file:///ABSOLUTE/PATH#NAME@VERSION)"
            ));
        }
        let (name, version) = name_version(s, spec)?;
        return Ok(Spec {
            name,
            version,
            url: None,
            kind: None,
        });
    };
    let (kind, proto) = match scheme.split_once('+') {
        Some((k @ ("path" | "registry" | "git"), p)) => (Some(k.to_string()), p.to_string()),
        // sparse+https://...: `sparse` stays part of the URL, as in the package id.
        Some(("sparse", _)) => (Some("sparse".to_string()), scheme.to_string()),
        Some((k, _)) => {
            return Err(format!(
            "-p {spec}: unknown source kind `{k}`: use path+, registry+, sparse+ or git+ (or none)"
        ))
        }
        None => (None, scheme.to_string()),
    };
    let (before_frag, fragment) = match rest.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (rest, None),
    };
    let (path, query) = match before_frag.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (before_frag, None),
    };
    if query.is_some() && kind.as_deref() != Some("git") {
        return Err(format!(
            "-p {spec}: only a git+ spec may have a query (?branch=...): remove it"
        ));
    }
    let url = format!("{proto}://{}", path.trim_end_matches('/'));
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let (name, version) = match fragment {
        Some(f) if f.contains('@') => name_version(f, spec)?,
        Some(f) if f.starts_with(|c: char| c.is_alphabetic()) => name_version(f, spec)?,
        Some(f) => {
            let v = PartialVersion::parse(f).map_err(|e| format!("-p {spec}: {e}"))?;
            (decode(last), Some(v))
        }
        None => (decode(last), None),
    };
    if name.is_empty() {
        return Err(format!(
            "-p {spec}: the URL has no path to take the package name from: add #NAME"
        ));
    }
    check_name(&name, spec)?;
    Ok(Spec {
        name,
        version,
        url: Some(url),
        kind,
    })
}

/// `%XX` escapes decoded (package ids percent-encode their URLs; a spec may or may not).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, ..) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A package as a spec sees it: name, version, and its source from the package id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The package name.
    pub name: String,
    /// Its version.
    pub version: semver::Version,
    /// cargo's package id, as `cargo metadata` gives it.
    pub id: String,
}

impl Candidate {
    /// The source kind and URL of the id: `path+file:///w/x#0.1.0` -> (`path`, `file:///w/x`); the
    /// old `x 0.1.0 (path+file:///w/x)` form too.
    fn source(&self) -> (Option<&str>, String) {
        let src = match self.id.split_once(" (") {
            Some((_, rest)) => rest.trim_end_matches(')'),
            None => self.id.split('#').next().unwrap_or(&self.id),
        };
        let src = src.split('?').next().unwrap_or(src);
        match src.split_once('+') {
            Some(("sparse", _)) => (Some("sparse"), src.trim_end_matches('/').to_string()),
            Some((k, url)) if !k.contains(':') => (Some(k), url.trim_end_matches('/').to_string()),
            _ => (None, src.trim_end_matches('/').to_string()),
        }
    }

    /// `name@version`, how candidates are listed.
    fn short(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

impl Spec {
    /// Whether `c` is a package this spec names (cargo's `PackageIdSpec::matches`).
    pub fn matches(&self, c: &Candidate) -> bool {
        if self.name != c.name {
            return false;
        }
        if self
            .version
            .as_ref()
            .is_some_and(|v| !v.matches(&c.version))
        {
            return false;
        }
        let (kind, url) = c.source();
        if let Some(u) = &self.url {
            if decode(u) != decode(&url) {
                return false;
            }
        }
        if let (Some(k), Some(ck)) = (&self.kind, kind) {
            if k != ck {
                return false;
            }
        }
        true
    }
}

/// The one candidate `spec` names; else an error naming the spec and the candidates (`what`: where
/// they come from, e.g. "in this workspace").
pub fn select<'a>(
    spec: &str,
    candidates: &'a [Candidate],
    what: &str,
) -> Result<&'a Candidate, String> {
    let parsed = parse(spec)?;
    let found: Vec<&Candidate> = candidates.iter().filter(|c| parsed.matches(c)).collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => {
            let same_name: Vec<&Candidate> = candidates
                .iter()
                .filter(|c| c.name == parsed.name)
                .collect();
            let listed = |cs: &[&Candidate], long: bool| {
                cs.iter()
                    .map(|c| if long { c.id.clone() } else { c.short() })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if same_name.is_empty() {
                let all: Vec<&Candidate> = candidates.iter().collect();
                Err(format!(
                    "-p {spec}: no package named `{}` {what} (members: {})",
                    parsed.name,
                    listed(&all, false)
                ))
            } else {
                Err(format!(
                    "-p {spec}: no package {what} matches that spec; `{}` is {}: write -p {} (or its full id)",
                    parsed.name,
                    listed(&same_name, true),
                    same_name[0].short()
                ))
            }
        }
        many => Err(format!(
            "-p {spec} is ambiguous: it matches {}; write one of them in full: {}",
            many.iter()
                .map(|c| c.short())
                .collect::<Vec<_>>()
                .join(", "),
            many.iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: &str) -> Candidate {
        let (name, version) = if let Some((n, rest)) = id.split_once(' ') {
            (n.to_string(), rest.split(' ').next().unwrap().to_string())
        } else {
            let frag = id.rsplit_once('#').unwrap().1;
            match frag.split_once('@') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (
                    id.split('#')
                        .next()
                        .unwrap()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_string(),
                    frag.to_string(),
                ),
            }
        };
        Candidate {
            name,
            version: version.parse().unwrap(),
            id: id.into(),
        }
    }

    fn members() -> Vec<Candidate> {
        [
            "path+file:///w/hello#0.1.0",
            "path+file:///w/crates/bye-dir#bye@0.2.3",
            "path+file:///w/my%20lib#greeting@1.0.0-rc.1",
            "registry+https://github.com/rust-lang/crates.io-index#serde@1.0.200",
            "serde 1.0.100 (registry+https://github.com/rust-lang/crates.io-index)",
            "sparse+https://index.crates.io/#regex@1.4.3",
            "git+https://github.com/acme/tool?branch=main#tool@0.5.0",
        ]
        .into_iter()
        .map(cand)
        .collect()
    }

    fn pick(spec: &str) -> Result<String, String> {
        let m = members();
        select(spec, &m, "in this workspace").map(|c| c.id.clone())
    }

    #[test]
    fn names_and_versions_select_like_cargo() {
        assert_eq!(pick("hello").unwrap(), "path+file:///w/hello#0.1.0");
        assert_eq!(pick("hello@0.1.0").unwrap(), "path+file:///w/hello#0.1.0");
        assert_eq!(pick("hello@0.1").unwrap(), "path+file:///w/hello#0.1.0");
        assert_eq!(pick("hello@0").unwrap(), "path+file:///w/hello#0.1.0");
        assert_eq!(
            pick("bye@0.2.3").unwrap(),
            "path+file:///w/crates/bye-dir#bye@0.2.3"
        );
        assert_eq!(
            pick("greeting@1.0.0-rc.1").unwrap(),
            "path+file:///w/my%20lib#greeting@1.0.0-rc.1"
        );
        assert_eq!(
            pick("serde@1.0.200").unwrap(),
            "registry+https://github.com/rust-lang/crates.io-index#serde@1.0.200"
        );
        assert_eq!(
            pick("regex@1.4").unwrap(),
            "sparse+https://index.crates.io/#regex@1.4.3"
        );
    }

    #[test]
    fn urls_select_by_source_kind_and_fragment() {
        for spec in [
            "path+file:///w/hello",
            "path+file:///w/hello#0.1.0",
            "path+file:///w/hello#hello@0.1.0",
            "path+file:///w/hello/#hello",
            "file:///w/hello",
            "file:///w/hello#0.1",
        ] {
            assert_eq!(pick(spec).unwrap(), "path+file:///w/hello#0.1.0", "{spec}");
        }
        assert_eq!(
            pick("path+file:///w/crates/bye-dir#bye").unwrap(),
            "path+file:///w/crates/bye-dir#bye@0.2.3"
        );
        // Percent-encoded or not.
        assert_eq!(
            pick("path+file:///w/my lib#greeting").unwrap(),
            "path+file:///w/my%20lib#greeting@1.0.0-rc.1"
        );
        assert_eq!(
            pick("registry+https://github.com/rust-lang/crates.io-index#serde@1.0.100").unwrap(),
            "serde 1.0.100 (registry+https://github.com/rust-lang/crates.io-index)"
        );
        assert_eq!(
            pick("https://github.com/rust-lang/crates.io-index#serde@1.0.200").unwrap(),
            "registry+https://github.com/rust-lang/crates.io-index#serde@1.0.200"
        );
        assert_eq!(
            pick("sparse+https://index.crates.io/#regex").unwrap(),
            "sparse+https://index.crates.io/#regex@1.4.3"
        );
        assert_eq!(
            pick("git+https://github.com/acme/tool?branch=main#0.5.0").unwrap(),
            "git+https://github.com/acme/tool?branch=main#tool@0.5.0"
        );
    }

    #[test]
    fn errors_name_the_spec_and_the_candidates() {
        let err = pick("nope").unwrap_err();
        assert!(
            err.starts_with("-p nope: no package named `nope` in this workspace"),
            "{err}"
        );
        assert!(err.contains("hello@0.1.0, bye@0.2.3"), "{err}");
        let err = pick("hello@0.2").unwrap_err();
        assert!(
            err.contains("`hello` is path+file:///w/hello#0.1.0"),
            "{err}"
        );
        assert!(err.contains("write -p hello@0.1.0"), "{err}");
        let err = pick("registry+file:///w/hello").unwrap_err();
        assert!(err.contains("matches that spec"), "{err}");
        let err = pick("path+file:///elsewhere/hello").unwrap_err();
        assert!(err.contains("matches that spec"), "{err}");
        let err = pick("serde").unwrap_err();
        assert!(err.starts_with("-p serde is ambiguous"), "{err}");
        assert!(err.contains("serde@1.0.200, serde@1.0.100"), "{err}");
        let err = pick("serde@1.0").unwrap_err();
        assert!(err.contains("ambiguous"), "{err}");
        for (spec, says) in [
            ("hello@x", "`x` is not a version"),
            ("hello@1.2.3.4", "is not a version"),
            ("hello@1.2-rc", "is not a version"),
            ("./hello", "a path is not a package ID spec"),
            ("svn+https://x/y", "unknown source kind `svn`"),
            (
                "path+file:///w/hello?x=1",
                "only a git+ spec may have a query",
            ),
            ("he llo", "is not a package name"),
            ("@1.0", "is not a package name"),
        ] {
            let err = pick(spec).unwrap_err();
            assert!(err.contains(says), "{spec}: {err}");
            assert!(err.starts_with(&format!("-p {spec}")), "{spec}: {err}");
        }
    }
}
