//! The layer and image step of a run: the shared base-files layer, and each image spec assembled
//! into the store (FROM scratch or on its base, the zoneinfo and application layers on top): one
//! manifest per platform, an index over several.

use super::built::Binaries;
use super::{app, pending, timezones};
use crate::base::BaseImage;
use crate::blob::{Artifact, BlobStore};
use crate::image::{rfc3339, Image, RunConfig, WrittenImage};
use crate::layer::{self, Layer, LayerCompression};
use crate::plan::{ImageSpec, Plan};
use crate::report::{LayerReport, ManifestReport};
use crate::rootfs;
use anyhow::{Context, Result};
use std::collections::BTreeMap;

pub(super) fn base_layer(
    store: &BlobStore,
    with_ca: bool,
    compression: LayerCompression,
) -> Result<Layer> {
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
    .with_context(|| shared_layer_failed("base-files", store))
}

/// The context of a shared layer's error (it is made on another thread, so nothing else says which
/// layer it was): the layer and the store it was written to, and what to do.
pub(super) fn shared_layer_failed(layer: &str, store: &BlobStore) -> String {
    format!(
        "making the shared {layer} layer in the blob cache {} (it must be writable and have free space; fix that, or give another --target-dir)",
        store.root().display()
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

/// One image spec built into the store.
pub(super) struct Assembled {
    /// Its manifest (one platform) or index, and every blob below it.
    pub artifact: Artifact,
    /// Per platform: the manifest, its config and its layers.
    pub manifests: Vec<ManifestReport>,
    /// The debug files split off its binaries.
    pub debug_files: Vec<crate::debuginfo::DebugFile>,
    /// The digest of each binary the application layers read whole, by name (the same file for
    /// every platform).
    pub read: BTreeMap<String, crate::digest::Digest>,
}

/// Build one image spec into the store: one manifest per platform, an index over several.
pub(super) fn assemble(
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
) -> Result<Assembled> {
    let mut written: Vec<WrittenImage> = Vec::new();
    let mut reports = Vec::new();
    let mut debug_files = Vec::new();
    let mut read = BTreeMap::new();
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
        debug_files.append(&mut debug.files);
        for (name, digest) in debug.read {
            note_read(&mut read, img, name, digest)?;
        }
        let created = rfc3339(plan.epoch);
        let Bottom {
            image: bottom,
            mut layers,
            run,
            annotations,
        } = bottom(store, img, platform, on, (base, tz), &created, compression)?;
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
        report.debuginfo = debug.reports;
        reports.push(report);
        written.push(w);
    }
    let artifact = if written.len() == 1 {
        written[0].artifact()
    } else {
        crate::image::write_index(store, &written, img.annotations.clone())?
    };
    Ok(Assembled {
        artifact,
        manifests: reports,
        debug_files,
        read,
    })
}

/// What an image's application layer goes on: the image below it, its layer rows, the run config
/// and the manifest annotations (the base's, then the image's own).
struct Bottom {
    image: Image,
    layers: Vec<LayerReport>,
    run: RunConfig,
    annotations: BTreeMap<String, String>,
}

/// FROM scratch: the shared base-files layer. On a base: its layers, plus what it lacks. Then the
/// image's annotations, and the zoneinfo layer if it asks for one.
fn bottom(
    store: &BlobStore,
    img: &ImageSpec,
    platform: crate::platform::Platform,
    on: Option<(&BaseImage, &crate::base::PlatformBase)>,
    (base, tz): (
        &pending::Pending<'_, Layer>,
        &pending::Pending<'_, Option<Layer>>,
    ),
    created: &str,
    compression: LayerCompression,
) -> Result<Bottom> {
    let mut bottom = match on {
        None => {
            let base = base.get()?;
            Bottom {
                image: Image::scratch(platform, created).append(base),
                layers: vec![LayerReport::new(
                    "base-files",
                    &base.descriptor,
                    base.uncompressed_size,
                )
                .at_level(base.compression.level())],
                run: run_config(img),
                annotations: BTreeMap::new(),
            }
        }
        Some((b, pb)) => {
            let (image, layers) =
                crate::base::assemble::bottom(store, b, pb, img, platform, created, compression)?;
            let run = crate::base::merge::run_config(
                &pb.config.config,
                run_config(img),
                crate::plan::DEFAULT_PATH,
            );
            Bottom {
                image,
                layers,
                run,
                annotations: crate::base::assemble::annotations(b, pb),
            }
        }
    };
    bottom.annotations.extend(img.annotations.clone());
    bottom.image = timezones::append(
        bottom.image,
        &mut bottom.layers,
        if img.timezones {
            tz.get()?.as_ref()
        } else {
            None
        },
        on,
        platform,
    );
    Ok(bottom)
}

/// Keep the digest of the prebuilt binary `name` as one platform's layer read it (a binary cargo
/// built is another file per platform, and the provenance names it otherwise). A prebuilt binary is
/// the same file for every platform: another digest means it was rewritten while this run packaged
/// it.
fn note_read(
    read: &mut BTreeMap<String, crate::digest::Digest>,
    img: &ImageSpec,
    name: String,
    digest: crate::digest::Digest,
) -> Result<()> {
    let Some(path) = img
        .binaries
        .iter()
        .find(|b| b.name == name)
        .and_then(|b| b.prebuilt.as_ref())
    else {
        return Ok(());
    };
    match read.get(&name) {
        Some(first) if *first != digest => {
            let path = path.display();
            anyhow::bail!(
                "{path} changed while it was being packaged (read as {first}, then as {digest}): \
                 run again once nothing writes to it; nothing was written"
            )
        }
        Some(_) => Ok(()),
        None => {
            read.insert(name, digest);
            Ok(())
        }
    }
}
