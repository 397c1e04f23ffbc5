//! Execution: run a [`Plan`]: bases, compile (`binaries`), layers and images (`assemble`),
//! checks (ELF, size budget), SBOM / provenance / debug files, then each image to the sinks the
//! plan names (`outputs`: layout, tarball, `--load`, then registries). Takes nothing but the plan.
//!
//! The base-files layer is built once per run and shared by every image and platform (it does not
//! depend on either). Each (image, platform) gets its own application layer: the binaries at
//! `/usr/local/bin/<name>`, extra files, and the CA bundle when it is not the default one (`app`).

use crate::base::BaseImage;
use crate::blob::{Artifact, BlobStore};
use crate::compile;
use crate::image::rfc3339;
use crate::layer::Layer;
use crate::plan::{ImageSpec, Plan};
use crate::platform::Platform;
use crate::report::{ManifestReport, Report};
use crate::sink;
use crate::ui;
use anyhow::{Context, Result};

mod app;
mod assemble;
mod binaries;
mod built;
mod inputs;
mod outputs;
mod pending;
mod timezones;
use built::{Binaries, Built};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The C toolchain of each platform (the SBOMs and provenance record them).
type Tools = BTreeMap<Platform, compile::c_toolchain::Tools>;

/// Resolve each image's base (one resolution per distinct base and platform set).
fn resolve_bases(plan: &Plan, store: &BlobStore) -> Result<Vec<Option<BaseImage>>> {
    let opts = &plan.client;
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
                let b = crate::base::resolve(&img.base, &img.platforms, store, opts)?;
                done.push((key, img.platforms.clone(), b.clone()));
                b
            }
        };
        out.push(b);
    }
    Ok(out)
}

/// The layers every image of a run shares, made on other threads while the build runs and joined
/// only when an image needs them (after its application layer is made).
struct Shared<'scope> {
    /// The base-files layer with the CA bundle, and without it (for images that bring their own).
    with_ca: pending::Pending<'scope, Layer>,
    without_ca: pending::Pending<'scope, Layer>,
    zoneinfo: pending::Pending<'scope, Option<Layer>>,
}

impl<'scope> Shared<'scope> {
    /// Start making the shared layers on threads of `s`.
    fn spawn<'env>(
        s: &'scope std::thread::Scope<'scope, 'env>,
        plan: &'env Plan,
        store: &'env BlobStore,
    ) -> Shared<'scope> {
        let compression = plan.compression;
        Shared {
            with_ca: pending::Pending::new(
                s.spawn(move || assemble::base_layer(store, true, compression)),
            ),
            without_ca: pending::Pending::new(
                s.spawn(move || assemble::base_layer(store, false, compression)),
            ),
            zoneinfo: pending::Pending::new(s.spawn(move || {
                timezones::layer(plan, store, compression)
                    .with_context(|| assemble::shared_layer_failed("zoneinfo", store))
            })),
        }
    }

    /// Join every shared layer, also one that no image used, so that no error is dropped.
    fn check_all(&self) -> Result<()> {
        self.with_ca.get()?;
        self.without_ca.get()?;
        self.zoneinfo.get()?;
        Ok(())
    }

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

/// What every image of a run is built with, made once before the first image.
struct Common<'a, 'scope> {
    store: &'a BlobStore,
    plan: &'a Plan,
    bins: &'a Binaries,
    graphs: &'a crate::sbom::output::Graphs,
    tools: &'a Tools,
    shared: &'a Shared<'scope>,
    /// The facts every provenance statement of the run shares.
    run: &'a crate::provenance::Run,
}

/// Assemble one image, check its size budget and make its SBOMs, debug-info and provenance
/// referrers.
fn build_one<'a>(
    cx: &Common<'_, '_>,
    img: &'a ImageSpec,
    from: Option<&'a BaseImage>,
) -> Result<Built<'a>> {
    say_packaging(img);
    let (artifact, mut manifests, debug_files, inputs) = assemble_with_inputs(cx, img, from)?;
    check_size(cx.shared, img, from, &mut manifests)?;
    let (store, plan) = (cx.store, cx.plan);
    let created = rfc3339(plan.epoch);
    let base_ref = from.map(|b| (b.name.as_str(), &b.digest));
    let sboms = crate::sbom::output::make(
        store,
        img,
        &artifact,
        (cx.graphs, cx.tools),
        &created,
        base_ref,
    )?;
    let debug = crate::debuginfo::output::make(store, img, &artifact, &debug_files, &created)?;
    let provenance =
        crate::provenance::output::make(store, img, &artifact, cx.run, (from, inputs), &created)?;
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

/// The status line of an image being packaged: its name, binaries and platforms.
fn say_packaging(img: &ImageSpec) {
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
}

/// The image's layers and manifests (with its split-off debug files), and the provenance's hashes
/// of the files its build read.
fn assemble_with_inputs(
    cx: &Common<'_, '_>,
    img: &ImageSpec,
    from: Option<&BaseImage>,
) -> Result<(
    Artifact,
    Vec<ManifestReport>,
    Vec<crate::debuginfo::DebugFile>,
    crate::provenance::output::Inputs,
)> {
    let (store, plan, bins, shared) = (cx.store, cx.plan, cx.bins, cx.shared);
    // The provenance's hashes of the extra files the build read are made on another thread while
    // the layers are; the prebuilt binaries' come from the layers, which read them whole.
    let (assembled, inputs) = std::thread::scope(|s| {
        let inputs = s.spawn(|| crate::provenance::output::extra_files(img));
        let assembled = assemble::assemble(
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
            plan.compression,
        );
        let inputs = inputs
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (assembled, inputs)
    });
    let assemble::Assembled {
        artifact,
        manifests,
        debug_files,
        read,
    } = assembled?;
    let inputs = crate::provenance::output::with_read(inputs?, img, &read)?;
    Ok((artifact, manifests, debug_files, inputs))
}

/// Annotate each manifest's size report and enforce the image's size budget.
fn check_size(
    shared: &Shared<'_>,
    img: &ImageSpec,
    from: Option<&BaseImage>,
    manifests: &mut [ManifestReport],
) -> Result<()> {
    // On a base image its layers count as "base", certificates included.
    let certs = if img.ca.is_default() && from.is_none() {
        shared.certificates()?
    } else {
        0
    };
    crate::size::annotate(manifests, certs, img.size_budget);
    crate::size::enforce(&img.name, manifests, img.size_budget)
}

/// Run the plan and report what was made.
pub fn execute(plan: &Plan) -> Result<Report> {
    // Checked before anything is built: the --image-refs path, the --load engine, the signing key.
    if let Some(f) = &plan.image_refs {
        sink::refs::preflight(plan, f)?;
    }
    if plan.load {
        sink::load::engine()?;
    }
    let signer = crate::sign::for_run(plan.sign_key.as_deref(), plan.pushes())?;
    build_then(plan, |store, built| {
        let images = outputs::write_all(plan, store, built, signer.as_deref())?;
        if let Some(f) = &plan.image_refs {
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
pub fn rebuild(plan: &Plan) -> Result<(BlobStore, Vec<Rebuilt>)> {
    build_then(plan, |store, built| {
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
    sinks: impl FnOnce(&BlobStore, &[Built<'_>]) -> Result<T>,
) -> Result<T> {
    // From here on temps are made: an interrupt removes them (see sink::commit).
    sink::commit::install_signal_cleanup()?;
    let store = BlobStore::open(store_dir(plan))?;
    // Bases first: a base that does not exist or lacks a platform fails before any compiling.
    let bases = resolve_bases(plan, &store)?;
    let (tools, c_libs) = prepare_toolchains(plan)?;
    // The shared layers do not depend on the build: they are made on other threads while cargo
    // builds (or, with --binary, while the first binary is checked, split and compressed), and
    // joined when the first image needs them.
    let mut metadata = inputs::Metadata::new();
    let built = std::thread::scope(|s| -> Result<Vec<Built<'_>>> {
        let shared = Shared::spawn(s, plan, &store);
        let bins = binaries::compile_all(plan, &mut metadata, &c_libs)?;
        let graphs = crate::sbom::output::graphs(plan, &inputs::query(plan), &mut metadata)?;
        let root = metadata
            .values()
            .next()
            .map(|m| m.workspace_root.clone().into_std_path_buf());
        let run = crate::provenance::Run::gather(plan, root.as_deref(), &tools);
        let cx = Common {
            store: &store,
            plan,
            bins: &bins,
            graphs: &graphs,
            tools: &tools,
            shared: &shared,
            run: &run,
        };
        let built = build_all(&cx, &plan.images, &bases)?;
        // Every shared layer is checked, also one that no image used (an error is not dropped).
        shared.check_all()?;
        Ok(built)
    })?;
    sinks(&store, &built)
}

/// Every platform's C toolchain, checked before anything is compiled (the SBOMs record them), with
/// the C libraries the -sys crates look for on the host: hints, errors, and OpenSSL built (or found
/// in the user's cache) for each platform that needs it, all before anything is compiled.
fn prepare_toolchains(
    plan: &Plan,
) -> Result<(Tools, BTreeMap<Platform, compile::c_libs::Prepared>)> {
    let mut tools = compile::c_toolchain::check_all(plan.cargo.iter().flat_map(|c| &c.toolchains))?;
    let c_libs = match &plan.cargo {
        Some(c) => compile::c_libs::prepare_all(
            &c.toolchains,
            c.openssl,
            plan.build.offline || plan.build.frozen,
        )?,
        None => BTreeMap::new(),
    };
    for (p, prepared) in &c_libs {
        if let Some(t) = tools.get_mut(p) {
            t.c_libraries = prepared.libraries.clone();
        }
    }
    Ok((tools, c_libs))
}

/// Build and check every image of `images` (the plan's, each with its base from `bases`), in order.
fn build_all<'p>(
    cx: &Common<'_, '_>,
    images: &'p [ImageSpec],
    bases: &'p [Option<BaseImage>],
) -> Result<Vec<Built<'p>>> {
    // Every image is built and checked (ELF, size budget) before any sink is written, and every
    // sink is written before anything is pushed: a later image's failure leaves nothing pushed.
    let mut built = Vec::new();
    let bar = ui::progress::steps("Packaging", images.iter().map(|i| i.platforms.len()));
    for (img, from) in images.iter().zip(bases) {
        bar.set_message(&img.name);
        built.push(build_one(cx, img, from.as_ref())?);
        bar.inc(img.platforms.len() as u64);
    }
    bar.finish();
    Ok(built)
}
