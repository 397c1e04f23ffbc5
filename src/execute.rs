//! Execution: run a [`Plan`]: compile, check, layer, assemble, and hand each image to its sinks.
//!
//! The base-files layer is built once per run and shared by every image and platform (it does not
//! depend on either). Each (image, platform) gets its own application layer: the binaries at
//! `/usr/local/bin/<name>`, extra files, and the CA bundle when it is not the default one.

use crate::blob::{Artifact, BlobStore};
use crate::cli::Cli;
use crate::compile::{self, BuildRequest};
use crate::image::{rfc3339, Image, RunConfig, WrittenImage};
use crate::layer::{self, Entry, Layer, LayerCompression, Source};
use crate::plan::{ImageSpec, Plan, BIN_DIR};
use crate::platform::Platform;
use crate::report::{ImageReport, LayerReport, ManifestReport, Report};
use crate::rootfs;
use crate::sink::{self, Named};
use crate::ui;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// gzip level for layers. 9 would shave about 1% off for twice the time; the packaging speed target
/// (issue: performance) favours 6, zlib's own default.
pub const GZIP_LEVEL: u32 = 6;

/// Binary paths per (platform, binary name).
type Binaries = BTreeMap<(Platform, String), PathBuf>;

fn compile_all(plan: &Plan, cli: &Cli) -> Result<Binaries> {
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
        for built in compile::build(&req)? {
            out.insert((platform, built.name), built.path);
        }
    }
    Ok(out)
}

fn base_layer(store: &BlobStore, with_ca: bool) -> Result<Layer> {
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
        LayerCompression::Gzip(GZIP_LEVEL),
        &format!(
            "cargo slim-image {}: base files ({what})",
            env!("CARGO_PKG_VERSION")
        ),
    )
}

fn app_layer(
    store: &BlobStore,
    img: &ImageSpec,
    platform: Platform,
    bins: &Binaries,
    epoch: u64,
) -> Result<Layer> {
    let mut entries = Vec::new();
    for b in &img.binaries {
        let path = bins.get(&(platform, b.name.clone())).with_context(|| {
            format!("cargo did not report a binary `{}` for {platform}", b.name)
        })?;
        crate::elf::require_static(path, platform)?;
        entries.push(Entry::file(
            &format!("{BIN_DIR}/{}", b.name),
            0o755,
            Source::Path(path.clone()),
        ));
    }
    for f in &img.files {
        entries.push(Entry::file(&f.dest, f.mode, Source::Path(f.src.clone())));
    }
    if !img.ca.is_default() {
        if let Some(bundle) = rootfs::ca_bundle(&img.ca)? {
            entries.push(rootfs::ca_entry(bundle));
        }
    }
    let names: Vec<&str> = img.binaries.iter().map(|b| b.name.as_str()).collect();
    layer::build(
        store,
        entries,
        epoch,
        LayerCompression::Gzip(GZIP_LEVEL),
        &format!("cargo slim-image: {BIN_DIR}/{}", names.join(", ")),
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

fn layer_report(role: &str, l: &Layer) -> LayerReport {
    LayerReport {
        role: role.into(),
        digest: l.descriptor.digest.clone(),
        media_type: l.descriptor.media_type.clone(),
        size: l.descriptor.size,
        uncompressed_size: l.uncompressed_size,
    }
}

/// Build one image spec into the store: one manifest per platform, an index over several.
fn assemble(
    store: &BlobStore,
    img: &ImageSpec,
    bins: &Binaries,
    plan: &Plan,
    shared_base: &Layer,
) -> Result<(Artifact, Vec<ManifestReport>)> {
    let mut written: Vec<WrittenImage> = Vec::new();
    let mut reports = Vec::new();
    let base = if img.ca.is_default() {
        shared_base.clone()
    } else {
        base_layer(store, false)?
    };
    for &platform in &img.platforms {
        let app = app_layer(store, img, platform, bins, plan.epoch)?;
        let w = Image::scratch(platform, &rfc3339(plan.epoch))
            .append(&base)
            .append(&app)
            .with_run_config(run_config(img))
            .with_annotations(img.annotations.clone())
            .write(store)?;
        reports.push(ManifestReport::new(
            platform,
            &w.manifest,
            &w.config,
            vec![layer_report("base-files", &base), layer_report("app", &app)],
        ));
        written.push(w);
    }
    let artifact = if written.len() == 1 {
        written[0].artifact()
    } else {
        crate::image::write_index(store, &written, img.annotations.clone())?
    };
    Ok((artifact, reports))
}

fn push_image(
    artifact: &Artifact,
    store: &BlobStore,
    img: &ImageSpec,
    cli: &Cli,
) -> Result<Vec<crate::sink::push::PushReport>> {
    if img.push.is_empty() {
        return Ok(Vec::new());
    }
    let opts = crate::sink::push::PushOptions {
        insecure_registries: cli.insecure_registry.clone(),
        registry_ca: cli.registry_ca.clone(),
        ..Default::default()
    };
    let reports = crate::sink::push::push(artifact, store, &img.push, &opts)?;
    for r in &reports {
        ui::status("Pushed", format!("{}@{}", r.reference, r.digest));
    }
    Ok(reports)
}

/// Run the plan and report what was made.
pub fn execute(plan: &Plan, cli: &Cli) -> Result<Report> {
    let bins = compile_all(plan, cli)?;
    let store = BlobStore::open(
        plan.target_dir
            .join("slim-image")
            .join(".cache")
            .join("blobs"),
    )?;
    let shared_base = base_layer(&store, true)?;
    let mut images = Vec::new();
    for img in &plan.images {
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
        let (artifact, manifests) = assemble(&store, img, &bins, plan, &shared_base)?;
        let named = Named {
            name: &img.name,
            tags: &img.tags,
            artifact: &artifact,
            store: &store,
        };
        let layout = sink::layout::write(&named, &img.layout)?;
        ui::status("Wrote", format!("OCI layout {}", layout.display()));
        if let Some(t) = &img.tarball {
            sink::archive::write(&named, cli.tarball_format, t)?;
            ui::status(
                "Wrote",
                format!("{:?} archive {}", cli.tarball_format, t.display()).to_lowercase(),
            );
        }
        let loaded_into = if plan.load {
            let engine = sink::load::load(&named)?;
            ui::status(
                "Loaded",
                format!("{}:{} into {engine}", img.name, img.tags[0]),
            );
            Some(engine)
        } else {
            None
        };
        let pushed = push_image(&artifact, &store, img, cli)?;
        images.push(ImageReport {
            name: img.name.clone(),
            tags: img.tags.clone(),
            binaries: img.binaries.iter().map(|b| b.name.clone()).collect(),
            platforms: img.platforms.iter().map(|p| p.to_string()).collect(),
            digest: artifact.root.digest.clone(),
            media_type: artifact.root.media_type.clone(),
            manifests,
            layout,
            tarball: img.tarball.clone(),
            loaded_into,
            pushed,
        });
    }
    Ok(Report {
        tool: format!("cargo-slim-image {}", env!("CARGO_PKG_VERSION")),
        images,
    })
}
