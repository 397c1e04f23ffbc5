//! `cargo slim-image index`: its arguments, raw.

use std::path::PathBuf;

/// Arguments of `cargo slim-image index`.
#[derive(Debug, Clone, clap::Args)]
pub struct IndexArgs {
    /// Where to push the index, REGISTRY/NAME:TAG (repeatable).
    #[arg(long, value_name = "REF", required = true)]
    pub push: Vec<String>,
    /// The per-platform images, already pushed: REGISTRY/NAME:TAG or REGISTRY/NAME@sha256:...
    /// (an index among them contributes all of its platforms).
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
    /// Add an annotation to the index, K=V (repeatable).
    #[arg(long, value_name = "K=V")]
    pub annotation: Vec<String>,
    /// Registry that may be reached over plain HTTP, HOST[:PORT] (repeatable).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub insecure_registry: Vec<String>,
    /// Extra CA certificate (PEM) to trust for registries (repeatable).
    #[arg(long, value_name = "FILE")]
    pub registry_ca: Vec<PathBuf>,
    /// Sign the index (cosign's format, `sha256-<hex>.sig`) with this ECDSA P-256 key (PKCS#8 PEM
    /// or cosign.key with COSIGN_PASSWORD); default SLIM_IMAGE_SIGNING_KEY_FILE, then
    /// SLIM_IMAGE_SIGNING_KEY.
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
}
