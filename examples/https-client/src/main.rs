//! An HTTPS client that trusts exactly the CA bundle of the image it runs in.
//!
//! `https-client --check-bundle` reads `$SSL_CERT_FILE` (default
//! `/etc/ssl/certs/ca-certificates.crt`), parses it as PEM and prints
//! `loaded N CA certificates from PATH`; it fails when the file is missing or holds no
//! certificate. `https-client URL` does a GET over rustls with that bundle as its only trust
//! store (no roots are compiled in) and prints the status line, e.g. `HTTP/1.1 200 OK`.
//! Any HTTP response counts as success; DNS, connection and TLS errors (such as an unknown
//! issuer) exit with status 1.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{parse_pem, Certificate, PemItem, RootCerts, TlsConfig};

/// Where the CA bundle lives in a slim-image (and on Debian) when `SSL_CERT_FILE` is unset.
const DEFAULT_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

const USAGE: &str = "usage: https-client --check-bundle | https-client URL
  --check-bundle  parse $SSL_CERT_FILE (default /etc/ssl/certs/ca-certificates.crt) and count its certificates
  URL             GET an https:// URL, trusting only that bundle, and print the status line";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--check-bundle"] => check_bundle(),
        ["-h" | "--help"] => {
            println!("{USAGE}");
            Ok(())
        }
        [url] if !url.starts_with('-') => get(url),
        _ => Err(format!("expected one argument\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("https-client: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The path of the CA bundle: `$SSL_CERT_FILE`, else the distroless default.
fn bundle_path() -> String {
    std::env::var("SSL_CERT_FILE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_BUNDLE.to_string())
}

/// Reads and parses the bundle; an unreadable file, bad PEM or zero certificates is an error.
fn load_bundle(path: &str) -> Result<Vec<Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read the CA bundle {path}: {e}"))?;
    let mut certs = Vec::new();
    for item in parse_pem(&pem) {
        // Private keys and other sections are not trust anchors: skip them.
        if let PemItem::Certificate(cert) =
            item.map_err(|e| format!("{path} is not valid PEM: {e}"))?
        {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err(format!("no CA certificates in {path}"));
    }
    Ok(certs)
}

/// `--check-bundle`: count the certificates in the bundle.
fn check_bundle() -> Result<(), String> {
    let path = bundle_path();
    let certs = load_bundle(&path)?;
    println!("loaded {} CA certificates from {path}", certs.len());
    Ok(())
}

/// `URL`: one GET, trusting only the bundle, printing e.g. `HTTP/1.1 200 OK`.
fn get(url: &str) -> Result<(), String> {
    let path = bundle_path();
    let certs = load_bundle(&path)?;
    eprintln!(
        "https-client: trusting {} CA certificates from {path}",
        certs.len()
    );

    // ring is the process-wide provider; ureq picks it up since we enable no provider feature.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::Specific(Arc::new(certs)))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();

    let response = agent
        .get(url)
        .call()
        .map_err(|e| format!("GET {url}: {e}"))?;
    println!("{:?} {}", response.version(), response.status());
    Ok(())
}
