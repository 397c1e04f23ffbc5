//! The build flags: what to build (cargo's own flags), the image's settings, its SBOM and size.
//! Taken by the default build and, themselves, by `resolve`, `init-k8s` and `verify`; raw, as typed.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// What to build and how the image looks: every flag of a build but its outputs ([`super::output::OutputArgs`]).
#[derive(Debug, Args, Clone, Default)]
pub struct BuildArgs {
    // ---- What to build (cargo's own flags) ----
    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH", help_heading = "Package selection")]
    pub manifest_path: Option<PathBuf>,
    /// Package(s) to build images for.
    #[arg(
        short,
        long = "package",
        value_name = "SPEC",
        help_heading = "Package selection"
    )]
    pub package: Vec<String>,
    /// Build images for every package of the workspace that has binaries.
    #[arg(long, help_heading = "Package selection")]
    pub workspace: bool,
    /// Only this binary target (repeatable).
    #[arg(long = "bin", value_name = "NAME", help_heading = "Package selection")]
    pub bin: Vec<String>,
    /// Package an already-built static binary instead of running cargo (repeatable: several binaries
    /// in one image).
    #[arg(long, value_name = "PATH", help_heading = "Package selection")]
    pub binary: Vec<PathBuf>,

    /// Features to activate (comma or space separated, repeatable).
    #[arg(
        short = 'F',
        long,
        value_name = "FEATURES",
        help_heading = "Feature selection"
    )]
    pub features: Vec<String>,
    /// Activate all features.
    #[arg(long, help_heading = "Feature selection")]
    pub all_features: bool,
    /// Do not activate the `default` feature.
    #[arg(long, help_heading = "Feature selection")]
    pub no_default_features: bool,

    /// Cargo profile to build with.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "release",
        help_heading = "Compilation"
    )]
    pub profile: String,
    /// Build with the release profile: accepted as cargo accepts it; it is already the default.
    #[arg(long, help_heading = "Compilation", conflicts_with = "profile")]
    pub release: bool,
    /// Cargo target directory.
    #[arg(long, value_name = "DIR", help_heading = "Compilation")]
    pub target_dir: Option<PathBuf>,
    /// Platforms to build, comma separated: linux/amd64, linux/arm64 (default: the host's).
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        help_heading = "Compilation"
    )]
    pub platform: Vec<String>,
    /// C toolchain for crates with C code (build scripts using the `cc` crate): auto (default:
    /// rust-lld for pure Rust, musl-gcc natively, zig when cross-compiling), musl-gcc, zig, rust-lld.
    #[arg(
        long,
        value_enum,
        value_name = "TOOLCHAIN",
        help_heading = "Compilation"
    )]
    pub c_toolchain: Option<CToolchainArg>,
    /// Require Cargo.lock to be up to date.
    #[arg(long, help_heading = "Manifest")]
    pub locked: bool,
    /// Require Cargo.lock and the cache to be up to date (no network).
    #[arg(long, help_heading = "Manifest")]
    pub frozen: bool,
    /// Run without accessing the network.
    #[arg(long, help_heading = "Manifest")]
    pub offline: bool,

    // ---- The image ----
    /// Image name and optional tag, NAME[:TAG] (repeatable: one name, several tags).
    #[arg(short, long, value_name = "NAME[:TAG]", help_heading = "Image")]
    pub tag: Vec<String>,
    /// Registry and path put in front of an image name that has no registry (as ko's
    /// KO_DOCKER_REPO): with ghcr.io/acme, `app` is pushed as ghcr.io/acme/app.
    #[arg(
        long,
        env = "SLIM_IMAGE_REPO",
        value_name = "REGISTRY/PATH",
        help_heading = "Image"
    )]
    pub repository_prefix: Option<String>,
    /// Set an environment variable, K=V (repeatable).
    #[arg(long, value_name = "K=V", help_heading = "Image")]
    pub env: Vec<String>,
    /// Add a label to the image config, K=V (repeatable).
    #[arg(long, value_name = "K=V", help_heading = "Image")]
    pub label: Vec<String>,
    /// Add an annotation to the manifest, K=V (repeatable).
    #[arg(long, value_name = "K=V", help_heading = "Image")]
    pub annotation: Vec<String>,
    /// Entrypoint: a binary name from the image, or an absolute path, with arguments separated by
    /// spaces (use metadata `entrypoint = [...]` for arguments containing spaces).
    #[arg(long, value_name = "CMD", help_heading = "Image")]
    pub entrypoint: Option<String>,
    /// User to run as, UID[:GID], numbers from 0 to 2147483647 (default 65532:65532, the nonroot user).
    #[arg(long, value_name = "USER", help_heading = "Image")]
    pub user: Option<String>,
    /// Base image: scratch (default), alpine[:TAG], REGISTRY/NAME[:TAG][@DIGEST], oci:DIR[:TAG],
    /// oci-archive:FILE, docker-archive:FILE.
    #[arg(long, value_name = "IMAGE", help_heading = "Image")]
    pub base: Option<String>,
    /// CA certificates: mozilla (built in, default), host, none.
    #[arg(long, value_name = "SOURCE", help_heading = "Image")]
    pub ca_certificates: Option<String>,
    /// Add the IANA time zone database (TZif files, tzdata from a pinned crate, never the host's)
    /// under /usr/share/zoneinfo, in a layer of its own, so `TZ=Europe/Berlin` works; same as
    /// `timezones = true`.
    #[arg(long, help_heading = "Image")]
    pub timezones: bool,

    // ---- SBOM and size ----
    /// SBOM to make for every image: spdx (SPDX 2.3 JSON, default), cyclonedx (CycloneDX 1.5 JSON),
    /// none. Written next to the layout, into the tarball, and pushed as an OCI referrer.
    #[arg(
        long,
        alias = "sbom-format",
        value_enum,
        value_name = "FORMAT",
        help_heading = "SBOM and size"
    )]
    pub sbom: Option<SbomArg>,
    /// Build provenance for every image: slsa (an in-toto Statement with a SLSA provenance v1
    /// predicate, default) or none. Written next to the layout, into the tarball, and pushed as an
    /// OCI referrer.
    #[arg(long, value_enum, value_name = "KIND", help_heading = "SBOM and size")]
    pub provenance: Option<ProvenanceArg>,
    /// Fail when an image's compressed size is over this, e.g. `2 MiB`, `1500KB`, `2000000`
    /// (nothing is pushed then).
    #[arg(long, value_name = "SIZE", help_heading = "SBOM and size")]
    pub size_budget: Option<String>,
    /// Build for size: opt-level="z", lto="fat", codegen-units=1, panic="abort", strip=true (through
    /// CARGO_PROFILE_<NAME>_* variables; Cargo.toml is not edited), and report the saving.
    #[arg(long, help_heading = "SBOM and size")]
    pub min_size: bool,
    /// Do not embed the dependency list (the `.dep-v0` section `cargo audit bin`, Trivy, Grype and
    /// Syft read) in the binaries; same as `embed-dependencies = false`.
    #[arg(long, help_heading = "SBOM and size")]
    pub no_embed_dependencies: bool,
    /// The binaries' DWARF: `split` (default: out of the image, into `<binary>.debug` files kept
    /// beside it and attached to it), `keep` (in the image, as built) or `drop` (thrown away). The
    /// symbol table stays in every case. Overrides `debuginfo` in metadata.
    #[arg(long, value_enum, value_name = "MODE", help_heading = "SBOM and size")]
    pub debuginfo: Option<DebuginfoArg>,
}

/// `--c-toolchain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CToolchainArg {
    /// By the rule: rust-lld for pure Rust, musl-gcc natively, zig when cross-compiling.
    Auto,
    /// `CC_<target>=musl-gcc`, linked with rust-lld (the machine's own platform only, on Linux).
    MuslGcc,
    /// `cargo zigbuild` (zig compiles the C code and links), for any platform.
    Zig,
    /// rust-lld and Rust's self-contained musl, no C compiler (pure Rust only).
    RustLld,
}

/// `--sbom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SbomArg {
    /// SPDX 2.3 JSON.
    Spdx,
    /// CycloneDX 1.5 JSON.
    Cyclonedx,
    /// No SBOM.
    None,
}

/// `--provenance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProvenanceArg {
    /// An in-toto Statement with a SLSA provenance v1 predicate (the default).
    Slsa,
    /// No provenance.
    None,
}

/// `--debuginfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DebuginfoArg {
    /// Out of the image, into a `<binary>.debug` file beside it (`.gnu_debuglink` to it).
    Split,
    /// In the image, as built.
    Keep,
    /// Out of the image and thrown away.
    Drop,
}
