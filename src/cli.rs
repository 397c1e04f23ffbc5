//! Raw command-line arguments (clap derive). Nothing here is validated beyond syntax: `config` turns
//! these, together with Cargo metadata, into resolved image specs exactly once.

use crate::sink::archive::Format;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `cargo slim-image`: as cargo runs it, with the subcommand name first.
#[derive(Debug, Parser)]
// cargo's help colours, under the same choice as everything else (`parse_from`).
#[command(name = "cargo", bin_name = "cargo", styles = crate::ui::colour::CLAP_STYLES)]
pub enum CargoCli {
    /// Build the smallest possible OCI image from a Rust workspace: static musl binaries FROM scratch.
    #[command(name = "slim-image", version, about, long_about = None)]
    SlimImage(Cli),
}

/// All options of `cargo slim-image`.
#[derive(Debug, Args, Clone, Default)]
#[command(next_line_help = false)]
pub struct Cli {
    /// A subcommand; without one, `cargo slim-image` builds the images.
    #[command(subcommand)]
    pub command: Option<Command>,

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
    pub c_toolchain: Option<crate::compile::c_toolchain::Choice>,
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

    // ---- Outputs ----
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
    pub tarball_format: Format,
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
    /// Print the plan and stop: nothing is built, written or pushed (subcommands too; JSON with
    /// --message-format json).
    // `global`: also taken after a subcommand (`resolve -f k8s.yaml --dry-run`), like cargo's flags.
    #[arg(long, global = true, help_heading = "Output")]
    pub dry_run: bool,
    /// Output format of the results on stdout.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "human",
        value_name = "FMT",
        help_heading = "Output"
    )]
    pub message_format: MessageFormat,

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
    pub sbom: Option<crate::sbom::Choice>,
    /// Build provenance for every image: slsa (an in-toto Statement with a SLSA provenance v1
    /// predicate, default) or none. Written next to the layout, into the tarball, and pushed as an
    /// OCI referrer.
    #[arg(long, value_enum, value_name = "KIND", help_heading = "SBOM and size")]
    pub provenance: Option<crate::provenance::Choice>,
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
    pub debuginfo: Option<crate::debuginfo::Mode>,
    /// Add the IANA time zone database (TZif files, tzdata from a pinned crate, never the host's)
    /// under /usr/share/zoneinfo, in a layer of its own, so `TZ=Europe/Berlin` works; same as
    /// `timezones = true`.
    #[arg(long, help_heading = "Image")]
    pub timezones: bool,

    /// Use verbose output (-vv very verbose).
    #[arg(short, long, action = clap::ArgAction::Count, help_heading = "Display")]
    pub verbose: u8,
    /// Print nothing but results and errors.
    #[arg(short, long, help_heading = "Display")]
    pub quiet: bool,
    /// Colour on stderr: auto (when stderr is a terminal and NO_COLOR is not set), always, never.
    /// Default: CARGO_TERM_COLOR, else auto.
    // `global`: taken after a subcommand too. CARGO_TERM_COLOR is read by `ui::colour::set`, not by
    // clap, so that an empty one means auto.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        help_heading = "Display"
    )]
    pub color: Option<crate::ui::colour::When>,
}

impl Cli {
    /// `--locked`, `--frozen` and `--offline` as given, to pass on to cargo.
    pub fn lock_flags(&self) -> Vec<String> {
        [
            (self.locked, "--locked"),
            (self.frozen, "--frozen"),
            (self.offline, "--offline"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| f.to_string())
        .collect()
    }
}

/// Subcommands besides the default build.
#[derive(Debug, Subcommand, Clone)]
pub enum Command {
    /// Assemble one multi-platform index from per-platform images built and pushed separately.
    Index(crate::index_cmd::IndexArgs),
    /// Build and push every `slim-image://NAME` image named in Kubernetes YAML and print the YAML with
    /// each replaced by `registry/repo@sha256:...`.
    Resolve(crate::k8s::ResolveArgs),
    /// Write a starter Kubernetes manifest (Deployment + Service) for an image.
    InitK8s(crate::k8s::InitArgs),
    /// Rebuild an image from this workspace with the flags it was built with and compare digests:
    /// exit 0 when they match, 1 when not (naming the layer, file and config fields that differ).
    Verify(crate::verify::VerifyArgs),
    /// Print a shell completion script for `cargo-slim-image` (bash, zsh, fish, powershell, elvish):
    /// e.g. `cargo slim-image completions bash > ~/.local/share/bash-completion/completions/cargo-slim-image`.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Fetch the debug files split off an image's binaries (`debuginfo = "split"`) from a registry,
    /// an OCI layout or an oci-archive, into a new or empty directory, as `<binary>.debug`.
    Debuginfo(crate::debuginfo::fetch::DebuginfoArgs),
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

/// `--message-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum MessageFormat {
    /// One `name@sha256:...` line per image.
    #[default]
    Human,
    /// One JSON document.
    Json,
}

/// Parse arguments as cargo passes them (`cargo-slim-image slim-image ...`), also accepting a direct
/// call without the subcommand name.
pub fn parse_from<I, T>(args: I) -> CargoCli
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    if args.get(1).map(|a| a != "slim-image").unwrap_or(true) {
        args.insert(1, "slim-image".into());
    }
    let command = CargoCli::command().color(crate::ui::colour::for_clap(&args));
    match command
        .try_get_matches_from(&args)
        .and_then(|mut m| CargoCli::from_arg_matches_mut(&mut m))
    {
        Ok(c) => c,
        // clap quotes the argument it could not place: `--sign-key "$(cat key.pem)"` (a value
        // starting with `-`) would print the key. Such arguments go to the redaction step first.
        Err(e) if e.use_stderr() => {
            let keys: Vec<String> = args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .filter(|a| a.contains("-----BEGIN"))
                .collect();
            if keys.is_empty() {
                e.exit()
            }
            keys.iter()
                .for_each(|k| crate::sign::key::remember_secret(k));
            eprint!("{}", crate::ui::redact(&e.to_string()));
            std::process::exit(e.exit_code())
        }
        Err(e) => e.exit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Cli {
        let CargoCli::SlimImage(c) = parse_from(a.iter().copied());
        c
    }

    #[test]
    fn cargo_style_and_direct_invocation() {
        let c = parse(&["cargo-slim-image", "slim-image", "-p", "x", "--bin", "y"]);
        assert_eq!(c.package, ["x"]);
        assert_eq!(c.bin, ["y"]);
        let c = parse(&["cargo-slim-image", "--tarball", "a.tar"]);
        assert_eq!(c.tarball.unwrap().to_str(), Some("a.tar"));
        assert_eq!(c.profile, "release");
    }

    #[test]
    fn push_with_and_without_value() {
        assert_eq!(parse(&["c", "--push"]).push, [""]);
        assert_eq!(
            parse(&["c", "--push", "r/x:1", "--push", "r/y"]).push,
            ["r/x:1", "r/y"]
        );
        assert!(parse(&["c"]).push.is_empty());
    }

    #[test]
    fn platforms_split_on_commas() {
        assert_eq!(
            parse(&["c", "--platform", "linux/amd64,linux/arm64"]).platform,
            ["linux/amd64", "linux/arm64"]
        );
    }
}
