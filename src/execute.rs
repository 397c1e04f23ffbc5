//! Execution: run a [`Plan`]: compile, check, layer, assemble, and hand each image to its sinks.
//!
//! The base-files layer is built once per run and shared by every image and platform (it does not
//! depend on either). Each (image, platform) gets its own application layer: the binaries at
//! `/usr/local/bin/<name>`, extra files, and the CA bundle when it is not the default one (`app`).

use crate::base::BaseImage;
use crate::blob::{Artifact, BlobStore};
use crate::cli::Cli;
use crate::compile::{self, BuildRequest};
use crate::image::{rfc3339, Image, RunConfig, WrittenImage};
use crate::layer::{self, Layer, LayerCompression};
use crate::plan::{ImageSpec, Plan};
use crate::platform::Platform;
use crate::report::{LayerReport, ManifestReport, Report};
use crate::rootfs;
use crate::sink;
use crate::ui;
use anyhow::Result;

mod app;
mod inputs;
mod local;
mod pending;
mod signing;
mod timezones;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// zstd level for `--compression zstd`: 3 is zstd's own default, smaller than gzip -6 and faster.
pub const ZSTD_LEVEL: i32 = 3;

/// The layer compression the flags ask for (`--compression`, `--compression-level`).
pub fn layer_compression(cli: &Cli) -> Result<LayerCompression> {
    use crate::cli::CompressionArg;
    use crate::compress::MAX_GZIP_LEVEL;
    const MAX_GZIP: i32 = MAX_GZIP_LEVEL as i32;
    Ok(match (cli.compression, cli.compression_level) {
        // The level by layer size (compress::GZIP_LEVEL_BY_SIZE), resolved per layer.
        (CompressionArg::Gzip, None) => LayerCompression::GzipBySize,
        (CompressionArg::Gzip, Some(l @ 1..=MAX_GZIP)) => LayerCompression::Gzip(l as u32),
        (CompressionArg::Zstd, None) => LayerCompression::Zstd(ZSTD_LEVEL),
        (CompressionArg::Zstd, Some(l @ 1..=19)) => LayerCompression::Zstd(l),
        (c, Some(l)) => anyhow::bail!(
            "--compression-level {l} is out of range for {}: use 1-{MAX_GZIP_LEVEL} for gzip, 1-19 for zstd",
            match c {
                CompressionArg::Gzip => "gzip",
                CompressionArg::Zstd => "zstd",
            }
        ),
    })
}

/// Binary paths per (platform, binary name).
pub(crate) type Binaries = BTreeMap<(Platform, String), PathBuf>;

/// Build every platform's binaries; `metadata` keeps each platform's `cargo metadata` for the SBOM.
fn compile_all(
    plan: &Plan,
    cli: &Cli,
    metadata: &mut inputs::Metadata,
    c_libs: &BTreeMap<Platform, compile::c_libs::Prepared>,
) -> Result<Binaries> {
    let mut out = Binaries::new();
    for img in &plan.images {
        for b in &img.binaries {
            if let Some(p) = &b.prebuilt {
                for &pl in &img.platforms {
                    out.insert((pl, b.name.clone()), p.clone());
                }
            }
        }
    }
    let Some(cargo) = &plan.cargo else {
        return Ok(out);
    };
    let mut platforms: Vec<Platform> = plan
        .images
        .iter()
        .flat_map(|i| i.platforms.clone())
        .collect();
    platforms.sort();
    platforms.dedup();
    let mut reqs = Vec::new();
    for platform in platforms {
        let mut req = BuildRequest::new(platform);
        req.manifest_path = cargo.manifest_path.clone();
        req.packages = cargo.packages.clone();
        req.bins = cargo.bins.clone();
        req.features = cli.features.clone();
        req.all_features = cli.all_features;
        req.no_default_features = cli.no_default_features;
        req.profile = cli.profile.clone();
        req.target_dir = Some(plan.target_dir.clone());
        req.locked = cli.locked;
        req.frozen = cli.frozen;
        req.offline = cli.offline;
        req.verbose = cli.verbose;
        req.quiet = cli.quiet;
        req.c_toolchain = cargo
            .toolchains
            .iter()
            .find(|d| d.platform == platform)
            .cloned();
        req.repro = inputs::reproducible(plan, cli, platform, metadata)?;
        if let Some(p) = c_libs.get(&platform) {
            req.extra_env.extend(p.env.iter().cloned());
        }
        reqs.push(req);
    }
    // Every platform in one cargo build where the toolchains allow (compile::build_all).
    let built = if plan.min_size {
        crate::size::build_min_size(reqs)?
    } else {
        compile::build_all(&reqs)?
    };
    for b in built {
        out.insert((b.platform, b.name), b.path);
    }
    Ok(out)
}

fn base_layer(store: &BlobStore, with_ca: bool, compression: LayerCompression) -> Result<Layer> {
    let mut entries = rootfs::base_entries();
    if with_ca {
        entries.push(rootfs::ca_entry(rootfs::mozilla_bundle()));
    }
    let what = if with_ca {
        "passwd, group, nsswitch.conf, /tmp, /home/nonroot, Mozilla CA roots"
    } else {
        "passwd, group, nsswitch.conf, /tmp, /home/nonroot"
    };
    // mtime 0, not SOURCE_DATE_EPOCH: this layer is the tool's own content and must be byte-identical
    // across every project built with this version, so registries and nodes store it once.
    layer::build(
        store,
        entries,
        0,
        compression,
        &format!(
            "cargo slim-image {}: base files ({what})",
            env!("CARGO_PKG_VERSION")
        ),
    )
}

fn run_config(img: &ImageSpec) -> RunConfig {
    RunConfig {
        user: Some(img.user.clone()),
        exposed_ports: img
            .ports
            .iter()
            .map(|p| (p.clone(), BTreeMap::new()))
            .collect(),
        env: img.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        entrypoint: Some(img.entrypoint.clone()),
        cmd: img.cmd.clone(),
        working_dir: Some(img.workdir.clone()),
        labels: img.labels.clone(),
        stop_signal: Some(img.stop_signal.clone()),
        other: BTreeMap::new(),
    }
}

/// Build one image spec into the store: one manifest per platform, an index over several.
fn assemble(
    store: &BlobStore,
    img: &ImageSpec,
    bins: &Binaries,
    plan: &Plan,
    (base, tz): (
        &pending::Pending<'_, Layer>,
        &pending::Pending<'_, Option<Layer>>,
    ),
    from: Option<&BaseImage>,
    compression: LayerCompression,
) -> Result<(
    Artifact,
    Vec<ManifestReport>,
    Vec<crate::debuginfo::DebugFile>,
)> {
    let mut written: Vec<WrittenImage> = Vec::new();
    let mut reports = Vec::new();
    let mut debug_files = Vec::new();
    for &platform in &img.platforms {
        let on = match from {
            Some(b) => Some((b, b.platform(platform)?)),
            None => None,
        };
        let mut debug = app::AppDebug::default();
        let app = app::app_layer(
            store,
            img,
            platform,
            bins,
            plan.epoch,
            on,
            compression,
            &mut debug,
        )?;
        debug_files.append(&mut debug.1);
        let created = rfc3339(plan.epoch);
        // FROM scratch: the shared base-files layer. On a base: its layers, plus what it lacks.
        let (bottom, mut layers, run, mut annotations) = match on {
            None => {
                let base = base.get()?;
                (
                    Image::scratch(platform, &created).append(base),
                    vec![
                        LayerReport::new("base-files", &base.descriptor, base.uncompressed_size)
                            .at_level(base.compression.level()),
                    ],
                    run_config(img),
                    BTreeMap::new(),
                )
            }
            Some((b, pb)) => {
                let (image, layers) = crate::base::assemble::bottom(
                    store,
                    b,
                    pb,
                    img,
                    platform,
                    &created,
                    compression,
                )?;
                let run = crate::base::merge::run_config(
                    &pb.config.config,
                    run_config(img),
                    crate::plan::DEFAULT_PATH,
                );
                (
                    image,
                    layers,
                    run,
                    crate::base::assemble::annotations(b, pb),
                )
            }
        };
        annotations.extend(img.annotations.clone());
        let bottom = timezones::append(
            bottom,
            &mut layers,
            if img.timezones {
                tz.get()?.as_ref()
            } else {
                None
            },
            on,
            platform,
        );
        layers.push(
            LayerReport::new("app", &app.descriptor, app.uncompressed_size)
                .at_level(app.compression.level()),
        );
        let w = bottom
            .append(&app)
            .with_run_config(run)
            .with_annotations(annotations)
            .write(store)?;
        let mut report = ManifestReport::new(platform, &w.manifest, &w.config, layers);
        report.debuginfo = debug.0;
        reports.push(report);
        written.push(w);
    }
    let artifact = if written.len() == 1 {
        written[0].artifact()
    } else {
        crate::image::write_index(store, &written, img.annotations.clone())?
    };
    Ok((artifact, reports, debug_files))
}

fn push_image(
    b: &Built<'_>,
    store: &BlobStore,
    cli: &Cli,
    mount_from: BTreeMap<crate::digest::Digest, Vec<crate::reference::Reference>>,
    signer: Option<&dyn crate::sign::Signer>,
) -> Result<(Vec<crate::sink::push::PushReport>, Vec<String>)> {
    let (artifact, img) = (&b.artifact, b.img);
    if img.push.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let client = client_options(cli);
    let opts = crate::sink::push::PushOptions {
        insecure_registries: client.insecure_registries,
        registry_ca: client.registry_ca,
        tuning: client.tuning,
        mount_from,
        mount_memory: crate::sink::mounts::MountMemory::in_user_cache(),
        ..Default::default()
    };
    // One client per registry for the image and its SBOMs: one ping, credential lookup and token.
    let mut clients = crate::registry::Clients::new(opts.client_options());
    let reports = crate::sink::push::push_with(&mut clients, artifact, store, &img.push, &opts)?;
    // SBOMs after their images: a referrer's subject must exist first on some registries.
    for s in &b.sboms {
        let kind = s.format.media_type();
        crate::sbom::referrer::push(
            "SBOM",
            &mut clients,
            &s.artifact,
            store,
            &s.subject,
            kind,
            &img.push,
            &opts,
        )?;
    }
    for p in &b.provenance {
        crate::sbom::referrer::push(
            "provenance",
            &mut clients,
            &p.artifact,
            store,
            &p.subject,
            crate::provenance::MEDIA_TYPE,
            &img.push,
            &opts,
        )?;
    }
    for d in &b.debug {
        crate::sbom::referrer::push(
            "debug info",
            &mut clients,
            &d.artifact,
            store,
            &d.subject,
            crate::debuginfo::output::ARTIFACT_TYPE,
            &img.push,
            &opts,
        )?;
    }
    // Signatures last: what they sign (the image, its referrers) is there first.
    let signed = match signer {
        Some(s) => signing::sign_pushed(s, b, store, &mut clients, &opts)?,
        None => Vec::new(),
    };
    Ok((reports, signed))
}

/// Registry client options from the command line (`--insecure-registry`, `--registry-ca`,
/// `--retries`, `--timeout`); credentials from the environment.
pub fn client_options(cli: &Cli) -> crate::registry::ClientOptions {
    crate::registry::ClientOptions {
        insecure_registries: cli.insecure_registry.clone(),
        registry_ca: cli.registry_ca.clone(),
        tuning: crate::registry::Tuning {
            retries: cli.retries,
            io_timeout: std::time::Duration::from_secs(cli.timeout.max(1)),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Resolve each image's base (one resolution per distinct base and platform set).
fn resolve_bases(plan: &Plan, cli: &Cli, store: &BlobStore) -> Result<Vec<Option<BaseImage>>> {
    let opts = client_options(cli);
    let mut done: Vec<(String, Vec<Platform>, Option<BaseImage>)> = Vec::new();
    let mut out = Vec::new();
    for img in &plan.images {
        let key = img.base.to_string();
        let hit = done
            .iter()
            .find(|(k, p, _)| *k == key && *p == img.platforms)
            .map(|d| d.2.clone());
        let b = match hit {
            Some(b) => b,
            None => {
                let b = crate::base::resolve(&img.base, &img.platforms, store, &opts)?;
                done.push((key, img.platforms.clone(), b.clone()));
                b
            }
        };
        out.push(b);
    }
    Ok(out)
}

/// One image built and checked, not yet written anywhere.
struct Built<'a> {
    img: &'a ImageSpec,
    from: Option<&'a BaseImage>,
    artifact: Artifact,
    manifests: Vec<ManifestReport>,
    sboms: Vec<crate::sbom::output::SbomOut>,
    /// The debug files split off its binaries (`debuginfo = "split"`), one referrer per platform.
    debug: Vec<crate::debuginfo::output::DebugOut>,
    /// Its provenance statements, one referrer per platform.
    provenance: Vec<crate::provenance::output::ProvOut>,
}

/// The layers every image of a run shares, made on other threads while the build runs and joined
/// only when an image needs them (after its application layer is made).
struct Shared<'scope> {
    /// The base-files layer with the CA bundle, and without it (for images that bring their own).
    with_ca: pending::Pending<'scope, Layer>,
    without_ca: pending::Pending<'scope, Layer>,
    zoneinfo: pending::Pending<'scope, Option<Layer>>,
}

impl Shared<'_> {
    /// The certificates' share of an image: the shared base layer with and without the CA bundle.
    fn certificates(&self) -> Result<u64> {
        Ok(self
            .with_ca
            .get()?
            .descriptor
            .size
            .saturating_sub(self.without_ca.get()?.descriptor.size))
    }
}

/// Assemble one image, check its size budget and make its SBOMs. `shared` holds the shared base
/// layer with and without the CA bundle, and the zoneinfo layer.
#[allow(clippy::too_many_arguments)]
fn build_one<'a>(
    store: &BlobStore,
    img: &'a ImageSpec,
    from: Option<&'a BaseImage>,
    plan: &Plan,
    bins: &Binaries,
    graphs: &crate::sbom::output::Graphs,
    tools: &BTreeMap<Platform, compile::c_toolchain::Tools>,
    compression: LayerCompression,
    shared: &Shared<'_>,
    run: &crate::provenance::Run,
) -> Result<Built<'a>> {
    ui::status(
        "Packaging",
        format!(
            "{} ({} binary(ies), {})",
            img.name,
            img.binaries.len(),
            img.platforms
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    // The provenance's hashes of the files the build read (a 34 MB --binary input: ~25 ms) are made
    // on another thread while the layers are.
    let (assembled, inputs) = std::thread::scope(|s| {
        let inputs = s.spawn(|| crate::provenance::output::inputs(img));
        let assembled = assemble(
            store,
            img,
            bins,
            plan,
            // FROM scratch only: the shared base layer, without the CA bundle when the image has its
            // own.
            (
                if img.ca.is_default() {
                    &shared.with_ca
                } else {
                    &shared.without_ca
                },
                &shared.zoneinfo,
            ),
            from,
            compression,
        );
        let inputs = inputs
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (assembled, inputs)
    });
    let (artifact, mut manifests, debug_files) = assembled?;
    let inputs = inputs?;
    // On a base image its layers count as "base", certificates included.
    let certs = if img.ca.is_default() && from.is_none() {
        shared.certificates()?
    } else {
        0
    };
    crate::size::annotate(&mut manifests, certs, img.size_budget);
    crate::size::enforce(&img.name, &manifests, img.size_budget)?;
    let created = rfc3339(plan.epoch);
    let base_ref = from.map(|b| (b.name.as_str(), &b.digest));
    let sboms =
        crate::sbom::output::make(store, img, &artifact, (graphs, tools), &created, base_ref)?;
    let debug = crate::debuginfo::output::make(store, img, &artifact, &debug_files, &created)?;
    let provenance =
        crate::provenance::output::make(store, img, &artifact, run, (from, inputs), &created)?;
    Ok(Built {
        img,
        from,
        artifact,
        manifests,
        sboms,
        debug,
        provenance,
    })
}

/// Run the plan and report what was made.
pub fn execute(plan: &Plan, cli: &Cli) -> Result<Report> {
    // Checked before anything is built: the --image-refs path, the signing key.
    if let Some(f) = &cli.image_refs {
        sink::refs::preflight(plan, f)?;
    }
    let signer = crate::sign::for_plan(plan, cli)?;
    build_then(plan, cli, |store, built| {
        let mut images = Vec::new();
        for b in built {
            images.push(local::write_local(store, b, plan, cli)?);
        }
        let pushed = built.iter().filter(|b| !b.img.push.is_empty());
        let bar = ui::progress::steps("Pushing", pushed.map(|b| b.img.platforms.len()));
        for (b, report) in built.iter().zip(images.iter_mut()) {
            bar.set_message(&b.img.name);
            let mounts = b.from.map(|f| f.mount_hints()).unwrap_or_default();
            (report.pushed, report.signatures) =
                push_image(b, store, cli, mounts, signer.as_deref())?;
            if !b.img.push.is_empty() {
                bar.inc(b.img.platforms.len() as u64);
            }
        }
        bar.finish();
        if let Some(f) = &cli.image_refs {
            sink::refs::write_pushed(f, &images)?;
        }
        Ok(Report {
            tool: format!("cargo-slim-image {}", env!("CARGO_PKG_VERSION")),
            images,
        })
    })
}

/// One image of a plan built into the blob store, handed to no sink (what `verify` compares).
#[derive(Debug, Clone)]
pub struct Rebuilt {
    /// The image's name, as in the plan.
    pub name: String,
    /// Its manifest (one platform) or index, and every blob below it, in the store.
    pub artifact: Artifact,
    /// Per platform: the manifest, its config and its layers.
    pub manifests: Vec<ManifestReport>,
}

/// Build every image of the plan exactly as [`execute`] does (bases, compile, layers, size budget,
/// SBOMs), but write, load and push nothing: the images are only in the returned blob store.
pub fn rebuild(plan: &Plan, cli: &Cli) -> Result<(BlobStore, Vec<Rebuilt>)> {
    build_then(plan, cli, |store, built| {
        let images = built
            .iter()
            .map(|b| Rebuilt {
                name: b.img.name.clone(),
                artifact: b.artifact.clone(),
                manifests: b.manifests.clone(),
            })
            .collect();
        Ok((store.clone(), images))
    })
}

/// The blob cache of a plan: `<target-dir>/slim-image/.cache/blobs`.
pub fn store_dir(plan: &Plan) -> PathBuf {
    plan.target_dir
        .join("slim-image")
        .join(".cache")
        .join("blobs")
}

/// Build and check every image of the plan into the blob store, then hand them to `sinks`.
fn build_then<T>(
    plan: &Plan,
    cli: &Cli,
    sinks: impl FnOnce(&BlobStore, &[Built<'_>]) -> Result<T>,
) -> Result<T> {
    // From here on temps are made: an interrupt removes them (see sink::commit).
    sink::commit::install_signal_cleanup()?;
    let store = BlobStore::open(store_dir(plan))?;
    // Bases first: a base that does not exist or lacks a platform fails before any compiling.
    let bases = resolve_bases(plan, cli, &store)?;
    let compression = layer_compression(cli)?;
    // Every platform's C toolchain is there before anything is compiled; the SBOMs record them.
    let mut tools = compile::c_toolchain::check_all(plan.cargo.iter().flat_map(|c| &c.toolchains))?;
    // C libraries the -sys crates look for on the host: hints, errors, and OpenSSL built (or found
    // in the user's cache) for each platform that needs it, all before anything is compiled.
    let c_libs = match &plan.cargo {
        Some(c) => {
            compile::c_libs::prepare_all(&c.toolchains, c.openssl, cli.offline || cli.frozen)?
        }
        None => BTreeMap::new(),
    };
    for (p, prepared) in &c_libs {
        if let Some(t) = tools.get_mut(p) {
            t.c_libraries = prepared.libraries.clone();
        }
    }
    // The shared layers do not depend on the build: they are made on other threads while cargo
    // builds (or, with --binary, while the first binary is checked, split and compressed), and
    // joined when the first image needs them.
    let mut metadata = inputs::Metadata::new();
    let built = std::thread::scope(|s| -> Result<Vec<Built<'_>>> {
        let shared = Shared {
            with_ca: pending::Pending::new(s.spawn(|| base_layer(&store, true, compression))),
            without_ca: pending::Pending::new(s.spawn(|| base_layer(&store, false, compression))),
            zoneinfo: pending::Pending::new(
                s.spawn(|| timezones::layer(plan, &store, compression)),
            ),
        };
        let bins = compile_all(plan, cli, &mut metadata, &c_libs)?;
        let graphs = crate::sbom::output::graphs(plan, &inputs::query(plan, cli), &mut metadata)?;
        let root = metadata
            .values()
            .next()
            .map(|m| m.workspace_root.clone().into_std_path_buf());
        let run = crate::provenance::Run::gather(plan, cli, root.as_deref(), compression, &tools);
        // Every image is built and checked (ELF, size budget) before any sink is written, and every
        // sink is written before anything is pushed: a later image's failure leaves nothing pushed.
        let mut built = Vec::new();
        let bar = ui::progress::steps("Packaging", plan.images.iter().map(|i| i.platforms.len()));
        for (img, from) in plan.images.iter().zip(&bases) {
            bar.set_message(&img.name);
            built.push(build_one(
                &store,
                img,
                from.as_ref(),
                plan,
                &bins,
                &graphs,
                &tools,
                compression,
                &shared,
                &run,
            )?);
            bar.inc(img.platforms.len() as u64);
        }
        bar.finish();
        // Every shared layer is checked, also one that no image used (an error is not dropped).
        shared.with_ca.get()?;
        shared.without_ca.get()?;
        shared.zoneinfo.get()?;
        Ok(built)
    })?;
    sinks(&store, &built)
}
