//! The output flags of a build: the OCI layout, the tarball, `--load`, `--push` and what goes with a
//! push (signing key, registry trust, layer compression, retries and timeouts); raw, as typed.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Where a build's images go.
#[derive(Debug, Args, Clone, Default)]
pub struct OutputArgs {
    /// OCI layout directory (default: <target-dir>/slim-image/<image>).
    #[arg(short, long, value_name = "DIR", help_heading = "Output")]
    pub output: Option<PathBuf>,
    /// Also write a tarball that `podman load` / `docker load` read; `-` writes it to stdout.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub tarball: Option<PathBuf>,
    /// Tarball format.
    #[arg(
        long,
        value_enum,
        default_value = "oci",
        value_name = "FORMAT",
        help_heading = "Output"
    )]
    pub tarball_format: TarballFormat,
    /// Load the image into podman or docker (whichever is found).
    #[arg(long, help_heading = "Output")]
    pub load: bool,
    /// Push to a registry: to the image's own name, or to REF (repeatable).
    #[arg(long, value_name = "REF", num_args = 0..=1, default_missing_value = "", help_heading = "Output")]
    pub push: Vec<String>,
    /// Write every reference pushed, with its digest, one per line (`registry/repo:tag@sha256:...`),
    /// to FILE (replaced atomically).
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub image_refs: Option<PathBuf>,
    /// Sign every pushed manifest (cosign's format, `sha256-<hex>.sig`) and attest its provenance and
    /// SBOM (`sha256-<hex>.att`) with this ECDSA P-256 key: PKCS#8 PEM, or cosign's encrypted
    /// cosign.key with the password in COSIGN_PASSWORD. Default: SLIM_IMAGE_SIGNING_KEY_FILE, then
    /// SLIM_IMAGE_SIGNING_KEY (the PEM itself).
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub sign_key: Option<PathBuf>,
    /// Registry that may be reached over plain HTTP, HOST[:PORT] (repeatable).
    #[arg(long, value_name = "HOST[:PORT]", help_heading = "Output")]
    pub insecure_registry: Vec<String>,
    /// Extra CA certificate (PEM) to trust for registries (repeatable).
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub registry_ca: Vec<PathBuf>,
    /// Layer compression: gzip (every runtime reads it) or zstd (smaller, faster to unpack; needs
    /// containerd 1.5+, podman 4+ or docker 23+ on the nodes).
    #[arg(
        long,
        value_enum,
        default_value = "gzip",
        value_name = "ALGO",
        help_heading = "Output"
    )]
    pub compression: CompressionArg,
    /// Compression level: gzip 1-12 (default by layer size: 12 up to 4 MB, 6 up to 16 MB, else 4; 10-12
    /// are slow and smallest), zstd 1-19 (default 3).
    #[arg(long, value_name = "N", help_heading = "Output")]
    pub compression_level: Option<i32>,
    /// How many times to retry each registry request, on its own, that failed in a way that may pass
    /// (5xx, 429, broken or timed-out connections), with exponential backoff; also how many times an
    /// upload session the registry lost is started again. No retry starts once 10 minutes passed
    /// without a successful answer from the registry.
    #[arg(long, value_name = "N", default_value_t = 6, help_heading = "Output")]
    pub retries: u32,
    /// Seconds a registry connection may stay silent (per read or write) before it counts as failed;
    /// every request must also finish within SECS plus 1 s per 64 KiB it sends or receives.
    #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Output")]
    pub timeout: u64,
}

/// `--tarball-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum TarballFormat {
    /// OCI layout in a tar (`podman load`, `skopeo copy oci-archive:`).
    #[default]
    Oci,
    /// docker-archive (`docker load`, `podman load`); also carries the OCI layout.
    Docker,
}

/// `--compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum CompressionArg {
    /// `tar+gzip` layers, compressed on every core (one gzip member per MiB of tar).
    #[default]
    Gzip,
    /// `tar+zstd` layers.
    Zstd,
}
