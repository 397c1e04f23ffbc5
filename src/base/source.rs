//! What `--base` / `base = "..."` may say, parsed into a [`BaseSource`].
//!
//! Takes the text a user wrote and gives one of: `scratch` (the empty image), a registry reference
//! (`alpine`, `alpine:3.20`, `ghcr.io/acme/base@sha256:...`; short names are Docker Hub's), an OCI layout
//! directory (`oci:DIR[:TAG]`), an oci-archive (`oci-archive:FILE[:TAG]`) or a docker-archive
//! (`docker-archive:FILE[:TAG]`). Local paths are checked to exist here, so a typo fails before any build.

use crate::reference::Reference;
use anyhow::{bail, Context, Result};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a base image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSource {
    /// The empty image (the default).
    Scratch,
    /// A registry reference, tag or digest.
    Registry(Reference),
    /// An OCI image layout directory, optionally one tag of it.
    OciDir(PathBuf, Option<String>),
    /// An oci-archive tarball, optionally one tag of it.
    OciArchive(PathBuf, Option<String>),
    /// A docker-archive tarball (`docker save`), optionally one `name:tag` of it.
    DockerArchive(PathBuf, Option<String>),
}

impl fmt::Display for BaseSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tagged = |f: &mut fmt::Formatter<'_>, kind: &str, p: &Path, t: &Option<String>| {
            write!(f, "{kind}:{}", p.display())?;
            match t {
                Some(t) => write!(f, ":{t}"),
                None => Ok(()),
            }
        };
        match self {
            BaseSource::Scratch => write!(f, "scratch"),
            BaseSource::Registry(r) => write!(f, "{r}"),
            BaseSource::OciDir(p, t) => tagged(f, "oci", p, t),
            BaseSource::OciArchive(p, t) => tagged(f, "oci-archive", p, t),
            BaseSource::DockerArchive(p, t) => tagged(f, "docker-archive", p, t),
        }
    }
}

/// `PATH[:TAG]`: the whole string when that path exists, else split at the last `:` when what follows
/// has no `/` (a tag never does).
pub(crate) fn path_and_tag(rest: &str, want_dir: bool) -> (PathBuf, Option<String>) {
    let exists = |p: &Path| if want_dir { p.is_dir() } else { p.is_file() };
    if exists(Path::new(rest)) {
        return (PathBuf::from(rest), None);
    }
    match rest.rsplit_once(':') {
        Some((p, t)) if !t.is_empty() && !t.contains('/') && !p.is_empty() => {
            (PathBuf::from(p), Some(t.to_string()))
        }
        _ => (PathBuf::from(rest), None),
    }
}

/// Parse a base image specification; `origin` names where it came from in errors.
pub fn parse(text: &str, origin: &str) -> Result<BaseSource> {
    let s = text.trim();
    if s.is_empty() || s == "scratch" {
        return Ok(BaseSource::Scratch);
    }
    let local = |kind: &str, rest: &str, dir: bool| -> Result<(PathBuf, Option<String>)> {
        if rest.is_empty() {
            bail!(
                "{origin} `{s}`: give a path after `{kind}:`, e.g. {kind}:./base{}",
                if dir { "" } else { ".tar" }
            );
        }
        let (p, t) = path_and_tag(rest, dir);
        let ok = if dir { p.is_dir() } else { p.is_file() };
        if !ok {
            bail!(
                "{origin} `{s}`: {} is not an existing {} (paths are relative to the current directory)",
                p.display(),
                if dir { "OCI layout directory" } else { "file" }
            );
        }
        Ok((p, t))
    };
    if let Some(rest) = s.strip_prefix("oci:") {
        let (p, t) = local("oci", rest, true)?;
        return Ok(BaseSource::OciDir(p, t));
    }
    if let Some(rest) = s.strip_prefix("oci-archive:") {
        let (p, t) = local("oci-archive", rest, false)?;
        return Ok(BaseSource::OciArchive(p, t));
    }
    if let Some(rest) = s.strip_prefix("docker-archive:") {
        let (p, t) = local("docker-archive", rest, false)?;
        return Ok(BaseSource::DockerArchive(p, t));
    }
    if let Some(rest) = s.strip_prefix("docker://") {
        return parse(rest, origin);
    }
    let r: Reference = s.parse().with_context(|| {
        format!(
            "{origin} `{s}` is not a base image: write scratch, alpine[:TAG], a registry reference \
             (REGISTRY/NAME[:TAG][@sha256:...]), oci:DIR[:TAG], oci-archive:FILE or docker-archive:FILE"
        )
    })?;
    Ok(BaseSource::Registry(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse("", "--base").unwrap(), BaseSource::Scratch);
        assert_eq!(parse("scratch", "--base").unwrap(), BaseSource::Scratch);
        let BaseSource::Registry(r) = parse("alpine", "--base").unwrap() else {
            panic!()
        };
        assert_eq!(r.to_string(), "docker.io/library/alpine:latest");
        let BaseSource::Registry(r) = parse("alpine:3.20", "--base").unwrap() else {
            panic!()
        };
        assert_eq!(r.tag.as_deref(), Some("3.20"));
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        assert_eq!(
            parse(&format!("oci:{d}:v1"), "--base").unwrap(),
            BaseSource::OciDir(dir.path().to_path_buf(), Some("v1".into()))
        );
        assert_eq!(
            parse(&format!("oci:{d}"), "--base").unwrap(),
            BaseSource::OciDir(dir.path().to_path_buf(), None)
        );
        let err = parse("oci-archive:/nope/x.tar", "--base").unwrap_err();
        assert!(err.to_string().contains("/nope/x.tar"), "{err}");
        assert!(parse("Not A Ref", "--base").is_err());
    }
}
