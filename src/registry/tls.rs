//! Trust for registry TLS: Mozilla's roots, the system's roots, and per-registry CA files.
//!
//! Takes a registry host plus the user's `--registry-ca` files and gives the root certificates a client
//! for that host trusts. Per-registry CAs come from `<certs.d>/<host[:port]>/*.crt` as podman and docker
//! read them (`/etc/containers/certs.d`, `/etc/docker/certs.d`). Also decides where plain http is allowed.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use ureq::tls::{Certificate, PemItem};

/// The directories podman and docker read per-registry CA files from.
pub const DEFAULT_CERTS_DIRS: [&str; 2] = ["/etc/containers/certs.d", "/etc/docker/certs.d"];

/// Mozilla's roots plus the system's, loaded once per process.
fn base_roots() -> Arc<Vec<Certificate<'static>>> {
    static ROOTS: OnceLock<Arc<Vec<Certificate<'static>>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut v: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            let native = rustls_native_certs::load_native_certs();
            for e in &native.errors {
                crate::ui::verbose(format!("could not load some system CA certificates: {e}"));
            }
            v.extend(
                native
                    .certs
                    .iter()
                    .map(|c| Certificate::from_der(c.as_ref()).to_owned()),
            );
            Arc::new(v)
        })
        .clone()
}

/// Every certificate in a PEM file; an error if it holds none.
pub fn read_pem_certs(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading the CA file {}", path.display()))?;
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        match item {
            Ok(PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => bail!(
                "{} is not a valid PEM file ({e}): give a CA certificate in PEM format",
                path.display()
            ),
        }
    }
    if out.is_empty() {
        bail!(
            "{} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`): give the registry's CA certificate",
            path.display()
        );
    }
    Ok(out)
}

/// The CA files for `host` (`host` or `host:port`) under the given certs.d directories, sorted.
pub fn certs_d_files(host: &str, certs_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in certs_dirs {
        let Ok(entries) = std::fs::read_dir(dir.join(host)) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

/// Mozilla's and the system's roots together with `extra` (the certs.d and `--registry-ca` files,
/// read beforehand by [`extra_roots_for`]): all a client for a host trusts. Loading the system's roots reads and parses
/// some 150 files, so clients call this only once they make a TLS connection.
pub fn with_base_roots(extra: &[Certificate<'static>]) -> Vec<Certificate<'static>> {
    let mut roots: Vec<Certificate<'static>> = base_roots().as_ref().clone();
    roots.extend(extra.iter().cloned());
    roots
}

/// The certs.d files and `extra_ca` files trusted for `host` (cheap, and where bad files are
/// reported: read them up front).
pub fn extra_roots_for(
    host: &str,
    extra_ca: &[PathBuf],
    certs_dirs: &[PathBuf],
) -> Result<Vec<Certificate<'static>>> {
    let mut roots = Vec::new();
    for f in certs_d_files(host, certs_dirs) {
        crate::ui::verbose(format!("trusting CA file {} for {host}", f.display()));
        roots.extend(read_pem_certs(&f)?);
    }
    for f in extra_ca {
        roots.extend(read_pem_certs(f).context("loading --registry-ca")?);
    }
    Ok(roots)
}

/// Whether `host` (`name[:port]`) is a loopback address: plain http is always allowed there.
pub fn is_loopback(host: &str) -> bool {
    let name = host_without_port(host);
    matches!(name, "localhost" | "::1" | "[::1]")
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `host` without a trailing `:port` (IPv6 brackets kept).
pub fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    host.split_once(':').map_or(host, |(h, _)| h)
}

/// Whether `host` is listed in `insecure` (an entry `name` matches any port, `name:port` only that one).
pub fn is_insecure(host: &str, insecure: &[String]) -> bool {
    insecure.iter().any(|e| {
        let e = e.trim().trim_end_matches('/');
        let e = e
            .strip_prefix("http://")
            .or_else(|| e.strip_prefix("https://"))
            .unwrap_or(e);
        e.eq_ignore_ascii_case(host) || e.eq_ignore_ascii_case(host_without_port(host))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_insecure() {
        assert!(
            is_loopback("localhost:5000") && is_loopback("127.0.0.1") && is_loopback("[::1]:80")
        );
        assert!(!is_loopback("ghcr.io") && !is_loopback("10.0.0.1:5000"));
        let list = vec!["reg.lan".to_string(), "other:5000".to_string()];
        assert!(is_insecure("reg.lan:443", &list) && is_insecure("other:5000", &list));
        assert!(!is_insecure("other:5001", &list) && !is_insecure("ghcr.io", &list));
    }

    #[test]
    fn bad_ca_files_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.crt");
        std::fs::write(&f, "not a cert").unwrap();
        let e = read_pem_certs(&f).unwrap_err().to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
        assert!(!base_roots().is_empty());
    }
}
