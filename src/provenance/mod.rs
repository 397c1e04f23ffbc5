//! Build provenance: an in-toto Statement v1 with a SLSA provenance v1 predicate for every image
//! manifest, saying what was built, from what, with which parameters.
//!
//! Takes one platform manifest of an image ([`Subject`]) and the facts of the run ([`Run`]); gives
//! the statement as canonical JSON ([`statement`]). [`output`] stores it as an OCI 1.1 referrer of
//! the manifest (the SBOM's referrer code) and stages the file beside the layout. The statement is
//! reproducible: no clock (times only from `SOURCE_DATE_EPOCH`), no absolute path, no host or user
//! name, and of the environment only the CI variables [`source::invocation_id`] names. The build
//! type and the fields are documented in README.md ("Build provenance").

pub mod choice;
pub mod output;
pub mod source;

pub use choice::{Choice, MEDIA_TYPE, PREDICATE_TYPE, STATEMENT_TYPE};

use crate::digest::Digest;
use crate::platform::Platform;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// `buildDefinition.buildType`: this tool's build, as README.md documents it.
pub const BUILD_TYPE: &str =
    "https://github.com/slim-image/cargo-slim-image/blob/main/README.md#build-type-v1";
/// The repository of this tool (`runDetails.builder.id` is it at this version).
const TOOL_REPO: &str = "https://github.com/slim-image/cargo-slim-image";

/// `runDetails.builder.id`: this tool at this version.
pub fn builder_id() -> String {
    format!("{TOOL_REPO}@v{}", env!("CARGO_PKG_VERSION"))
}

/// The facts of a run every statement shares.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Where the workspace came from (git, Cargo.lock).
    pub source: source::Source,
    /// `-F` features as given (split on commas and spaces, sorted, deduplicated).
    pub features: Vec<String>,
    /// `--all-features`.
    pub all_features: bool,
    /// `--no-default-features`.
    pub no_default_features: bool,
    /// `--profile`.
    pub profile: String,
    /// The build used the `--min-size` overrides.
    pub min_size: bool,
    /// Layer compression and level, e.g. (`gzip`, 4); the level is `None` for the default gzip
    /// level chosen per layer from its size (`compressionLevel` is then `"by-size"`).
    pub compression: (String, Option<i64>),
    /// The C toolchain choice of the build (`auto`, `zig`, ...), for cargo builds.
    pub c_toolchain: Option<String>,
    /// Per platform: what compiled and linked the binaries (cargo builds only).
    pub tools: BTreeMap<Platform, crate::compile::c_toolchain::Tools>,
    /// The CI run ([`source::invocation_id`]).
    pub invocation_id: Option<String>,
    /// `SOURCE_DATE_EPOCH` as RFC 3339, when set (and not 0).
    pub time: Option<String>,
    /// `SOURCE_DATE_EPOCH` (0 when unset): the layers' mtimes and the config's `created`.
    pub epoch: u64,
}

/// What one statement is about: one platform's manifest of an image.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// The image spec.
    pub img: &'a crate::plan::ImageSpec,
    /// The platform of the manifest.
    pub platform: Platform,
    /// The manifest's digest.
    pub manifest: &'a Digest,
    /// The base image (as a URI: `docker://<name as resolved>`, `oci:<dir name>[:tag]`, ...; the
    /// digest it resolved to; this platform's manifest digest).
    pub base: Option<(&'a str, &'a Digest, &'a Digest)>,
    /// Prebuilt binaries (`--binary`): name and the digest of the file.
    pub prebuilt: Vec<(String, Digest)>,
    /// Extra files: destination in the image and the digest of the source file; then the extra CA
    /// files (`ca:<n>`, in bundle order).
    pub files: Vec<(String, Digest)>,
}

fn digest_set(d: &Digest) -> Value {
    json!({ d.algorithm(): d.hex() })
}

/// The base image as a parameter: a registry reference as resolved; for a local base only its kind
/// and file name (a path on the build machine would make the statement depend on the machine).
pub(crate) fn base_param(img: &crate::plan::ImageSpec) -> String {
    use crate::base::BaseSource;
    let local = |kind: &str, p: &std::path::Path, t: &Option<String>| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        match t {
            Some(t) => format!("{kind}:{name}:{t}"),
            None => format!("{kind}:{name}"),
        }
    };
    match &img.base {
        BaseSource::OciDir(p, t) => local("oci", p, t),
        BaseSource::OciArchive(p, t) => local("oci-archive", p, t),
        BaseSource::DockerArchive(p, t) => local("docker-archive", p, t),
        other => other.to_string(),
    }
}

/// `buildDefinition.externalParameters`: everything given to the build that changes the image.
/// Environment values are left out (they are in the image's config, which the subject digest pins;
/// a value given on the command line may be a secret the image needs): only the names are listed.
fn external(s: &Subject<'_>, run: &Run) -> Value {
    let img = s.img;
    let ca = match img.ca.source {
        crate::rootfs::CaSource::Mozilla => "mozilla",
        crate::rootfs::CaSource::Host => "host",
        crate::rootfs::CaSource::None => "none",
    };
    let mut p = Map::new();
    if let Some(pkg) = &img.package {
        p.insert("package".into(), json!(pkg));
    }
    p.insert(
        "binaries".into(),
        json!(img.binaries.iter().map(|b| &b.name).collect::<Vec<_>>()),
    );
    p.insert("features".into(), json!(run.features));
    p.insert("allFeatures".into(), json!(run.all_features));
    p.insert("noDefaultFeatures".into(), json!(run.no_default_features));
    p.insert("profile".into(), json!(run.profile));
    p.insert("minSize".into(), json!(run.min_size || img.min_size));
    p.insert("platform".into(), json!(s.platform.to_string()));
    p.insert("base".into(), json!(base_param(img)));
    p.insert("entrypoint".into(), json!(img.entrypoint));
    if let Some(cmd) = &img.cmd {
        p.insert("cmd".into(), json!(cmd));
    }
    p.insert("envNames".into(), json!(img.env.keys().collect::<Vec<_>>()));
    p.insert("workdir".into(), json!(img.workdir));
    p.insert("user".into(), json!(img.user));
    p.insert("ports".into(), json!(img.ports));
    p.insert("labels".into(), json!(img.labels));
    p.insert("annotations".into(), json!(img.annotations));
    p.insert("stopSignal".into(), json!(img.stop_signal));
    p.insert(
        "files".into(),
        json!(img
            .files
            .iter()
            .map(|f| json!({"dest": f.dest, "mode": format!("{:04o}", f.mode)}))
            .collect::<Vec<_>>()),
    );
    p.insert("caCertificates".into(), json!(ca));
    p.insert("extraCaCertificates".into(), json!(img.ca.extra.len()));
    p.insert("debuginfo".into(), json!(img.debuginfo.as_str()));
    p.insert("embedDependencies".into(), json!(img.embed_dependencies));
    if img.timezones {
        // Only when on: the statements of images without it stay the bytes they were.
        p.insert("timezones".into(), json!(true));
    }
    p.insert("sourceDateEpoch".into(), json!(run.epoch));
    p.insert("compression".into(), json!(run.compression.0));
    p.insert(
        "compressionLevel".into(),
        run.compression
            .1
            .map_or_else(|| json!("by-size"), |l| json!(l)),
    );
    if let Some(c) = &run.c_toolchain {
        p.insert("cToolchain".into(), json!(c));
    }
    Value::Object(p)
}

/// `buildDefinition.resolvedDependencies`: the git commit, Cargo.lock, the toolchains, the base
/// image by digest, prebuilt binaries and extra files by digest.
fn resolved(s: &Subject<'_>, run: &Run) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(g) = &run.source.git {
        let mut d = json!({"name": "source", "digest": {"gitCommit": g.commit}});
        if let Some(url) = &g.url {
            d["uri"] = match &g.reference {
                Some(r) => json!(format!("git+{url}@{r}")),
                None => json!(format!("git+{url}")),
            };
        }
        out.push(d);
    }
    if let Some(lock) = &run.source.cargo_lock {
        out.push(json!({"name": "Cargo.lock", "digest": digest_set(lock)}));
    }
    if let Some(t) = run.tools.get(&s.platform) {
        if let Some(r) = &t.rustc {
            let v = r.strip_prefix("rustc ").unwrap_or(r);
            let short = v.split_whitespace().next().unwrap_or(v);
            out.push(json!({
                "name": "rustc",
                "uri": format!("pkg:generic/rustc@{short}"),
                "annotations": {"version": r},
            }));
        }
        // The user's own C toolchain has no version (and its name may hold a path): not listed.
        if let Some(v) = &t.c_version {
            out.push(json!({
                "name": "c-toolchain",
                "uri": format!("pkg:generic/{}", t.c_toolchain.replace(['/', ' ', ':'], "-")),
                "annotations": {"toolchain": t.c_toolchain, "version": v},
            }));
        }
    }
    if let Some((name, digest, platform_manifest)) = s.base {
        out.push(json!({
            "name": "base",
            "uri": name,
            "digest": digest_set(digest),
            "annotations": {"platformManifest": platform_manifest.to_string()},
        }));
    }
    for (name, d) in &s.prebuilt {
        out.push(json!({"name": format!("binary:{name}"), "digest": digest_set(d)}));
    }
    for (dest, d) in &s.files {
        let name = match dest.strip_prefix("ca:") {
            Some(n) => format!("extra-ca-certificate:{n}"),
            None => format!("file:{dest}"),
        };
        out.push(json!({"name": name, "digest": digest_set(d)}));
    }
    out
}

/// The statement about `s`, as canonical JSON with a final newline.
pub fn statement(s: &Subject<'_>, run: &Run) -> Vec<u8> {
    let mut metadata = Map::new();
    if let Some(id) = &run.invocation_id {
        metadata.insert("invocationId".into(), json!(id));
    }
    if let Some(t) = &run.time {
        metadata.insert("startedOn".into(), json!(t));
        metadata.insert("finishedOn".into(), json!(t));
    }
    let mut run_details = json!({
        "builder": {
            "id": builder_id(),
            "version": {"cargo-slim-image": env!("CARGO_PKG_VERSION")},
        },
    });
    if !metadata.is_empty() {
        run_details["metadata"] = Value::Object(metadata);
    }
    let v = json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": s.img.name, "digest": digest_set(s.manifest)}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external(s, run),
                "internalParameters": {"cargo-slim-image": env!("CARGO_PKG_VERSION")},
                "resolvedDependencies": resolved(s, run),
            },
            "runDetails": run_details,
        },
    });
    let mut bytes = crate::blob::canonical_json(&v);
    bytes.push(b'\n');
    bytes
}

impl Run {
    /// The run's facts: the plan's cargo flags and layer compression, the workspace at
    /// `workspace_root` (cargo builds), the toolchains, the CI environment and `SOURCE_DATE_EPOCH`
    /// (the plan's `epoch`).
    pub fn gather(
        plan: &crate::plan::Plan,
        workspace_root: Option<&std::path::Path>,
        tools: &BTreeMap<Platform, crate::compile::c_toolchain::Tools>,
    ) -> Run {
        use crate::layer::LayerCompression;
        let b = &plan.build;
        Run {
            source: workspace_root.map(source::Source::read).unwrap_or_default(),
            features: features(&b.features),
            all_features: b.all_features,
            no_default_features: b.no_default_features,
            profile: b.profile.clone(),
            min_size: plan.min_size,
            compression: match plan.compression {
                LayerCompression::Gzip(l) => ("gzip".into(), Some(l.into())),
                LayerCompression::GzipBySize => ("gzip".into(), None),
                LayerCompression::Zstd(l) => ("zstd".into(), Some(l.into())),
            },
            c_toolchain: plan
                .cargo
                .as_ref()
                .map(|c| c.c_toolchain.name().to_string()),
            tools: tools.clone(),
            invocation_id: source::invocation_id(|k| std::env::var(k).ok()),
            time: (plan.epoch != 0).then(|| crate::image::rfc3339(plan.epoch)),
            epoch: plan.epoch,
        }
    }
}

/// `-F` values as one sorted list: each value split on commas and spaces, as cargo does.
pub fn features(given: &[String]) -> Vec<String> {
    let mut out: Vec<String> = given
        .iter()
        .flat_map(|f| f.split([',', ' ']))
        .filter(|f| !f.is_empty())
        .map(String::from)
        .collect();
    out.sort();
    out.dedup();
    out
}
