//! The files a distroless-static image has, generated: CA bundle, passwd/group, nsswitch.conf, /tmp,
//! /home/nonroot.
//!
//! Gives the entries of the *base-files* layer. With the default certificate source the layer holds
//! only content that ships inside this tool (templates/ and the Mozilla roots compiled in), and is
//! written with mtime 0 whatever SOURCE_DATE_EPOCH says, so it is byte-identical for every image built
//! by the same version of the tool: registries and nodes store it once.

use crate::layer::{Entry, Source};
use anyhow::{Context, Result};
use base64::Engine as _;
use std::path::{Path, PathBuf};

/// Where the CA bundle lives in the image (Debian/Alpine/distroless path, what `SSL_CERT_FILE` names).
pub const CA_BUNDLE_PATH: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Where the binaries go in the image.
pub const BIN_DIR: &str = "/usr/local/bin";

/// The non-root user images run as by default (distroless convention).
pub const NONROOT_UID: u64 = 65532;

const PASSWD: &str = include_str!("../templates/passwd");
const GROUP: &str = include_str!("../templates/group");
const NSSWITCH: &str = include_str!("../templates/nsswitch.conf");

/// Where the CA bundle comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaSource {
    /// The Mozilla roots compiled into this tool (reproducible; the default).
    Mozilla,
    /// The build machine's bundle (first of the usual paths that exists).
    Host,
    /// No bundle.
    None,
}

/// The CA settings of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaConfig {
    /// Base bundle.
    pub source: CaSource,
    /// Extra PEM files (private CAs), appended in the order given.
    pub extra: Vec<PathBuf>,
}

impl CaConfig {
    /// Whether the bundle is the tool's own, unchanged: then it can live in the shared base-files layer.
    pub fn is_default(&self) -> bool {
        self.source == CaSource::Mozilla && self.extra.is_empty()
    }
}

/// The Mozilla root certificates shipped in this tool, as one PEM bundle (fixed per tool version).
pub fn mozilla_bundle() -> Vec<u8> {
    let mut out = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out.into_bytes()
}

const HOST_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Build the bundle for `ca`, or `None` when the image gets no bundle.
pub fn ca_bundle(ca: &CaConfig) -> Result<Option<Vec<u8>>> {
    let mut bundle = match ca.source {
        CaSource::Mozilla => mozilla_bundle(),
        CaSource::None => Vec::new(),
        CaSource::Host => {
            let path = HOST_BUNDLES
                .iter()
                .map(Path::new)
                .find(|p| p.is_file())
                .context(
                    "ca-certificates = \"host\" but this machine has no CA bundle at any of \
                     /etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/ca-bundle.crt, \
                     /etc/ssl/ca-bundle.pem, /etc/ssl/cert.pem: install ca-certificates or use \
                     ca-certificates = \"mozilla\"",
                )?;
            std::fs::read(path)
                .with_context(|| format!("reading the host CA bundle {}", path.display()))?
        }
    };
    for extra in &ca.extra {
        let pem = std::fs::read(extra)
            .with_context(|| format!("reading extra CA certificate file {}", extra.display()))?;
        let text = String::from_utf8_lossy(&pem);
        if !text.contains("-----BEGIN CERTIFICATE-----") {
            anyhow::bail!(
                "extra CA certificate file {} holds no PEM certificate (no `-----BEGIN CERTIFICATE-----` line): \
                 convert it with `openssl x509 -inform der -in FILE -out FILE.pem`",
                extra.display()
            );
        }
        if !bundle.is_empty() && !bundle.ends_with(b"\n") {
            bundle.push(b'\n');
        }
        bundle.extend_from_slice(&pem);
    }
    if ca.source == CaSource::None && bundle.is_empty() {
        return Ok(None);
    }
    Ok(Some(bundle))
}

/// The nonroot account's line of our passwd (or, with `group`, of our group) template, without its
/// newline: what is added to a base's file that lacks the user.
pub fn nonroot_line(group: bool) -> &'static str {
    let template = if group { GROUP } else { PASSWD };
    template
        .lines()
        .find(|l| l.starts_with("nonroot:"))
        .unwrap_or_default()
}

/// The CA bundle entry for the image.
pub fn ca_entry(bundle: Vec<u8>) -> Entry {
    Entry::file(CA_BUNDLE_PATH, 0o644, Source::Bytes(bundle))
}

/// The entries of the base-files layer (without the CA bundle; add [`ca_entry`] when it is shared).
pub fn base_entries() -> Vec<Entry> {
    vec![
        Entry::dir("/etc", 0o755),
        Entry::file(
            "/etc/passwd",
            0o644,
            Source::Bytes(PASSWD.as_bytes().to_vec()),
        ),
        Entry::file(
            "/etc/group",
            0o644,
            Source::Bytes(GROUP.as_bytes().to_vec()),
        ),
        Entry::file(
            "/etc/nsswitch.conf",
            0o644,
            Source::Bytes(NSSWITCH.as_bytes().to_vec()),
        ),
        Entry::dir("/etc/ssl", 0o755),
        Entry::dir("/etc/ssl/certs", 0o755),
        Entry::dir("/home", 0o755),
        Entry::dir("/home/nonroot", 0o700).owned(NONROOT_UID, NONROOT_UID),
        Entry::dir("/root", 0o700),
        Entry::dir("/tmp", 0o1777),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mozilla_bundle_is_pem_and_stable() {
        let a = mozilla_bundle();
        assert_eq!(a, mozilla_bundle());
        let text = String::from_utf8(a).unwrap();
        let n = text.matches("-----BEGIN CERTIFICATE-----").count();
        assert!(n > 100, "only {n} roots");
        assert!(text
            .lines()
            .all(|l| l.len() <= 64 || l.starts_with("-----")));
    }

    #[test]
    fn passwd_has_the_three_users() {
        for u in [
            "root:x:0:0",
            "nonroot:x:65532:65532",
            "nobody:x:65534:65534",
        ] {
            assert!(PASSWD.contains(u), "{u}");
        }
        for g in ["root:x:0:", "nonroot:x:65532:", "nobody:x:65534:"] {
            assert!(GROUP.contains(g), "{g}");
        }
        assert_eq!(
            nonroot_line(false),
            "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin"
        );
        assert_eq!(nonroot_line(true), "nonroot:x:65532:");
    }

    #[test]
    fn extra_ca_must_be_pem() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("ca.der");
        std::fs::write(&bad, [0x30, 0x82]).unwrap();
        let err = ca_bundle(&CaConfig {
            source: CaSource::None,
            extra: vec![bad.clone()],
        })
        .unwrap_err();
        assert!(err.to_string().contains("ca.der"), "{err}");
        let good = dir.path().join("ca.pem");
        std::fs::write(
            &good,
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let b = ca_bundle(&CaConfig {
            source: CaSource::None,
            extra: vec![good],
        })
        .unwrap()
        .unwrap();
        assert!(b.starts_with(b"-----BEGIN"));
        assert_eq!(
            ca_bundle(&CaConfig {
                source: CaSource::None,
                extra: vec![]
            })
            .unwrap(),
            None
        );
    }
}
