//! The plan: which images, with which binaries, for which platforms, into which sinks.
//!
//! A [`Plan`] is pure data, made once by `resolve` from the flags and the workspace: `--dry-run`
//! prints it ([`Plan::describe`], or [`Plan::to_json`] with `--message-format json`), `run` executes
//! it. Nothing after this step reads flags or TOML.

mod describe;

use crate::platform::Platform;
use crate::reference::Reference;
use crate::report::path_json;
use crate::rootfs::CaConfig;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Where the binaries go in the image (a fact of the image's file system, kept in [`crate::rootfs`]).
pub use crate::rootfs::BIN_DIR;
/// The default user: distroless's nonroot.
pub const DEFAULT_USER: &str = "65532:65532";
/// The default PATH.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One binary in an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinSpec {
    /// Name in the image (`/usr/local/bin/<name>`), and the cargo bin target name.
    pub name: String,
    /// Package that builds it (cargo mode).
    pub package: Option<String>,
    /// An already-built binary (`--binary`).
    pub prebuilt: Option<PathBuf>,
}

/// An extra file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Source on disk.
    pub src: PathBuf,
    /// Absolute path in the image.
    pub dest: String,
    /// Permission bits.
    pub mode: u32,
}

/// Everything about one image, resolved.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// Repository, e.g. `app` or `ghcr.io/acme/app`.
    pub name: String,
    /// Tags, never empty.
    pub tags: Vec<String>,
    /// Package the image comes from (cargo mode).
    pub package: Option<String>,
    /// Binaries, the entrypoint's first.
    pub binaries: Vec<BinSpec>,
    /// Platforms (one image each; an index when several).
    pub platforms: Vec<Platform>,
    /// No `--platform` and no `platforms` key: [`Platform::DEFAULT`] (said in the plan and the
    /// summary).
    pub default_platform: bool,
    /// Entrypoint.
    pub entrypoint: Vec<String>,
    /// Cmd.
    pub cmd: Option<Vec<String>>,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub workdir: String,
    /// User.
    pub user: String,
    /// `port/proto`.
    pub ports: BTreeSet<String>,
    /// Config labels.
    pub labels: BTreeMap<String, String>,
    /// Manifest (and index) annotations.
    pub annotations: BTreeMap<String, String>,
    /// Stop signal.
    pub stop_signal: String,
    /// Extra files.
    pub files: Vec<FileSpec>,
    /// CA bundle settings.
    pub ca: CaConfig,
    /// OCI layout output directory.
    pub layout: PathBuf,
    /// Tarball output.
    pub tarball: Option<PathBuf>,
    /// Registry references to push to (each with a tag).
    pub push: Vec<Reference>,
    /// The base image (`scratch` by default).
    pub base: crate::base::BaseSource,
    /// The SBOM to make (`None`: `--sbom none`).
    pub sbom: Option<crate::sbom::format::Format>,
    /// The provenance to make (`--provenance`, then `provenance`, then `slsa`).
    pub provenance: crate::provenance::choice::Choice,
    /// Fail when a platform's compressed image is over this many bytes.
    pub size_budget: Option<u64>,
    /// `profile = "min-size"` in this image's metadata.
    pub min_size: bool,
    /// Its binaries carry their dependency list (`.dep-v0`): `embed-dependencies`, unless
    /// `--no-embed-dependencies`.
    pub embed_dependencies: bool,
    /// What happens to the binaries' DWARF: `--debuginfo`, then `debuginfo`, then `split`.
    pub debuginfo: crate::debuginfo::mode::Mode,
    /// The zoneinfo layer goes in (`--timezones`, else `timezones`, else off).
    pub timezones: bool,
    /// Note a multi-threaded binary on musl's malloc (`allocator-check`, default on).
    pub allocator_check: bool,
}

/// How to run cargo (absent with `--binary`).
#[derive(Debug, Clone)]
pub struct CargoPlan {
    /// `--manifest-path`.
    pub manifest_path: Option<PathBuf>,
    /// Packages to build.
    pub packages: Vec<String>,
    /// Binaries to build.
    pub bins: Vec<String>,
    /// The C toolchain choice (`--c-toolchain`, else metadata `c-toolchain`, else auto).
    pub c_toolchain: crate::compile::c_toolchain::Choice,
    /// Who provides OpenSSL to openssl-sys (metadata `openssl`, else auto).
    pub openssl: crate::compile::c_libs::OpensslChoice,
    /// The C toolchain of each platform's build, decided from the workspace and that choice (empty
    /// in a dry run of a workspace without Cargo.lock: the build decides then).
    pub toolchains: Vec<crate::compile::c_toolchain::Decision>,
}

/// The cargo flags of a run (`-F`, `--all-features`, `--no-default-features`, `--profile`,
/// `--locked`, `--frozen`, `--offline`, `-v`, `-q`): the build, the SBOM's `cargo metadata` and the
/// provenance read them from here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFlags {
    /// `-F` values as given.
    pub features: Vec<String>,
    /// `--all-features`.
    pub all_features: bool,
    /// `--no-default-features`.
    pub no_default_features: bool,
    /// `--profile` (`release` by default).
    pub profile: String,
    /// `--locked`.
    pub locked: bool,
    /// `--frozen`.
    pub frozen: bool,
    /// `--offline`.
    pub offline: bool,
    /// How many `-v` to pass on to cargo.
    pub verbose: u8,
    /// `-q`.
    pub quiet: bool,
}

impl BuildFlags {
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

/// The whole plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The images.
    pub images: Vec<ImageSpec>,
    /// The cargo build, unless every binary is prebuilt.
    pub cargo: Option<CargoPlan>,
    /// Cargo's target directory (our cache lives in `<target>/slim-image/`).
    pub target_dir: PathBuf,
    /// mtime of the application layer and `created` of the config (SOURCE_DATE_EPOCH, else 0).
    pub epoch: u64,
    /// Load into podman/docker.
    pub load: bool,
    /// Build with the `--min-size` profile overrides (the flag, or any image's `profile = "min-size"`).
    pub min_size: bool,
    /// The cargo flags.
    pub build: BuildFlags,
    /// How layers are compressed (`--compression`, `--compression-level`, checked).
    pub compression: crate::layer::LayerCompression,
    /// How registries are reached (`--insecure-registry`, `--registry-ca`, `--retries`,
    /// `--timeout`; credentials from the environment): bases, pushes.
    pub client: crate::registry::ClientOptions,
    /// The format of every image's tarball (`--tarball-format`).
    pub tarball_format: crate::sink::tarball_format::Format,
    /// Where the list of pushed references goes (`--image-refs`).
    pub image_refs: Option<PathBuf>,
    /// The signing key file (`--sign-key`; else the environment's, read when signing).
    pub sign_key: Option<PathBuf>,
    /// Print the plan and stop (`--dry-run`).
    pub dry_run: bool,
    /// Results on stdout as one JSON document (`--message-format json`).
    pub json: bool,
}

impl Plan {
    /// Whether any image is pushed (the signing key is read only then).
    pub fn pushes(&self) -> bool {
        self.images.iter().any(|i| !i.push.is_empty())
    }

    /// Every platform of the plan's images, once, in order.
    pub fn platforms(&self) -> Vec<Platform> {
        let mut platforms: Vec<Platform> = self
            .images
            .iter()
            .flat_map(|i| i.platforms.clone())
            .collect();
        platforms.sort();
        platforms.dedup();
        platforms
    }

    /// The cargo build of each platform (none with `--binary`): the run's cargo flags and the
    /// platform's C toolchain, when decided. The build adds what it learns from `cargo metadata`
    /// (the wrapper's inputs) and the C libraries' environment.
    pub fn build_requests(&self) -> Vec<crate::compile::BuildRequest> {
        let Some(cargo) = &self.cargo else {
            return Vec::new();
        };
        let b = &self.build;
        let request = |platform: Platform| {
            let mut req = crate::compile::BuildRequest::new(platform);
            req.manifest_path = cargo.manifest_path.clone();
            req.packages = cargo.packages.clone();
            req.bins = cargo.bins.clone();
            req.features = b.features.clone();
            req.all_features = b.all_features;
            req.no_default_features = b.no_default_features;
            req.profile = b.profile.clone();
            req.target_dir = Some(self.target_dir.clone());
            req.locked = b.locked;
            req.frozen = b.frozen;
            req.offline = b.offline;
            req.verbose = b.verbose;
            req.quiet = b.quiet;
            req.c_toolchain = cargo
                .toolchains
                .iter()
                .find(|d| d.platform == platform)
                .cloned();
            req
        };
        self.platforms().into_iter().map(request).collect()
    }

    /// The plan as one JSON value, for `--dry-run --message-format json`: the same facts as
    /// [`Plan::describe`], with `"dry_run": true`.
    pub fn to_json(&self) -> Value {
        let images: Vec<Value> = self
            .images
            .iter()
            .map(|i| image_json(i, self.load))
            .collect();
        json!({
            "tool": format!("cargo-slim-image {}", env!("CARGO_PKG_VERSION")),
            "dry_run": true,
            "cargo": self.cargo.as_ref().map(|c| json!({
                "commands": crate::compile::command_lines(&self.build_requests()),
                "manifest_path": c.manifest_path.as_deref().map(path_json),
                "packages": c.packages,
                "bins": c.bins,
                "c_toolchain": c.c_toolchain.name(),
                "toolchains": c.toolchains.iter().map(|d| json!({
                    "platform": d.platform.to_string(),
                    "c_toolchain": d.toolchain.name(),
                    "c_crates": d.c_crates,
                })).collect::<Vec<_>>(),
            })),
            "target_dir": path_json(&self.target_dir),
            "compression": compression_name(self.compression),
            "tarball_format": self.tarball_format.name(),
            "epoch": self.epoch,
            "min_size": self.min_size,
            "images": images,
        })
    }
}

fn image_json(img: &ImageSpec, load: bool) -> Value {
    json!({
        "name": img.name,
        "tags": img.tags,
        "platforms": img.platforms.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "default_platform": img.default_platform,
        "binaries": img.binaries.iter().map(|b| json!({
            "name": b.name,
            "path": format!("{BIN_DIR}/{}", b.name),
            "package": b.package,
            "prebuilt": b.prebuilt.as_deref().map(path_json),
        })).collect::<Vec<_>>(),
        "files": img.files.iter().map(|f| json!({
            "src": path_json(&f.src),
            "dest": f.dest,
            "mode": format!("{:04o}", f.mode),
        })).collect::<Vec<_>>(),
        "base": img.base.to_string(),
        "entrypoint": img.entrypoint,
        "cmd": img.cmd,
        "env": img.env,
        "workdir": img.workdir,
        "user": img.user,
        "ports": img.ports,
        "labels": img.labels,
        "annotations": img.annotations,
        "stop_signal": img.stop_signal,
        "ca_certificates": ca_name(&img.ca.source),
        "extra_ca_certificates": img.ca.extra.iter().map(|p| path_json(p)).collect::<Vec<_>>(),
        "layout": path_json(&img.layout),
        "tarball": img.tarball.as_deref().map(path_json),
        "load": load,
        "push": img.push.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "sbom": img.sbom.map(sbom_name),
        "provenance": img.provenance.as_str(),
        "embed_dependencies": img.embed_dependencies,
        "debuginfo": img.debuginfo.as_str(),
        "size_budget": img.size_budget,
        "timezones": img.timezones.then(|| json!({
            "path": crate::layer::zoneinfo::DIR,
            "tzdata": crate::layer::zoneinfo::VERSION,
            "names": crate::layer::zoneinfo::zones().len(),
        })),
        "allocator_check": img.allocator_check,
    })
}

/// The `--ca-certificates` spelling of a CA source.
fn ca_name(c: &crate::rootfs::CaSource) -> &'static str {
    match c {
        crate::rootfs::CaSource::Mozilla => "mozilla",
        crate::rootfs::CaSource::Host => "host",
        crate::rootfs::CaSource::None => "none",
    }
}

/// The `--sbom` spelling of an SBOM format.
fn sbom_name(f: crate::sbom::format::Format) -> &'static str {
    match f {
        crate::sbom::format::Format::Spdx => "spdx",
        crate::sbom::format::Format::Cyclonedx => "cyclonedx",
    }
}

/// The `--compression` (and level) of the layers, for [`Plan::describe`].
fn compression_name(c: crate::layer::LayerCompression) -> String {
    use crate::layer::LayerCompression;
    match c {
        LayerCompression::GzipBySize => "gzip (level by layer size)".into(),
        LayerCompression::Gzip(l) => format!("gzip level {l}"),
        LayerCompression::Zstd(l) => format!("zstd level {l}"),
    }
}
