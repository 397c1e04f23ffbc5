//! What a registry client is set up with: [`ClientOptions`] (insecure hosts, extra CAs, where
//! credentials are looked up, timeouts and retries). Takes the flags' values; gives the settings
//! the transport, the authentication and the client read.

use super::credentials::CredentialEnv;
use super::tls::DEFAULT_CERTS_DIRS;
use super::tuning::Tuning;
use std::path::PathBuf;

/// What a registry `Client` needs to know besides the registry name.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Hosts (`host` or `host:port`) where plain http and unverified TLS are allowed.
    pub insecure_registries: Vec<String>,
    /// Extra CA files (PEM) trusted for every registry (`--registry-ca`).
    pub registry_ca: Vec<PathBuf>,
    /// Directories with per-registry CA files (`<dir>/<host[:port]>/*.crt`).
    pub certs_dirs: Vec<PathBuf>,
    /// Where credentials are looked up.
    pub credentials: CredentialEnv,
    /// Timeouts, retries and chunking.
    pub tuning: Tuning,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            insecure_registries: Vec::new(),
            registry_ca: Vec::new(),
            certs_dirs: DEFAULT_CERTS_DIRS.iter().map(PathBuf::from).collect(),
            credentials: CredentialEnv::from_process(),
            tuning: Tuning::default(),
        }
    }
}
