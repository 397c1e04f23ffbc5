//! The per-user cache directory, shared by every workspace a user builds: the OpenSSL builds
//! (`compile::openssl`) and the registry mount memory (`sink::mounts`) live under it. A leaf: it
//! reads only the environment it is given.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The per-user cache root: `$SLIM_IMAGE_CACHE_DIR`, else `$XDG_CACHE_HOME/cargo-slim-image` (an
/// absolute path, as the XDG spec asks), else `$HOME/.cache/cargo-slim-image`. Always absolute (a
/// relative one against the current directory): it becomes `OPENSSL_DIR` (`compile::openssl`),
/// which openssl-sys's build script reads from its own directory.
pub fn root(env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf> {
    let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let absolute = |p: PathBuf| {
        std::path::absolute(&p)
            .with_context(|| format!("making the cache directory {} absolute", p.display()))
    };
    if let Some(d) = set("SLIM_IMAGE_CACHE_DIR") {
        return absolute(PathBuf::from(d));
    }
    if let Some(x) = set("XDG_CACHE_HOME").filter(|x| Path::new(x).is_absolute()) {
        return Ok(Path::new(&x).join("cargo-slim-image"));
    }
    match set("HOME") {
        Some(h) => absolute(Path::new(&h).join(".cache").join("cargo-slim-image")),
        None => bail!(
            "there is no per-user cache directory: neither SLIM_IMAGE_CACHE_DIR, XDG_CACHE_HOME nor HOME is set; set SLIM_IMAGE_CACHE_DIR to a directory for it"
        ),
    }
}
