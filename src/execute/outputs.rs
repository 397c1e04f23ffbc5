//! The sinks of a run ([`crate::sink`]): built from the plan once, then every built image handed to
//! each of them in a fixed order. Every image goes to the local sinks (OCI layout with the files
//! beside it, tarball, `--load`) before any image goes to the registries (`--push`, its referrers,
//! signatures), so a later image's failure leaves nothing pushed. Gives each image's report.

use super::built::Built;
use crate::blob::BlobStore;
use crate::plan::Plan;
use crate::report::ImageReport;
use crate::sink::{self, About, BuiltImage, Named, Referrer, Sink};
use crate::ui;
use anyhow::Result;

/// Write every image of `built` to the sinks of `plan`, signing what is pushed with `signer`.
pub(super) fn write_all(
    plan: &Plan,
    store: &BlobStore,
    built: &[Built<'_>],
    signer: Option<&dyn crate::sign::Signer>,
) -> Result<Vec<ImageReport>> {
    let local = local_sinks(plan);
    let registry = sink::registry::Registry::new(&plan.client, signer);
    let stages: Vec<_> = built
        .iter()
        .map(|b| move || stage_beside(store, b))
        .collect();
    let images: Vec<BuiltImage<'_>> = built
        .iter()
        .zip(&stages)
        .map(|(b, stage)| for_sinks(b, store, stage))
        .collect();
    let mut reports: Vec<ImageReport> = built.iter().map(report).collect();
    for (image, report) in images.iter().zip(&mut reports) {
        local.write(image, report)?;
    }
    let pushed = built.iter().filter(|b| !b.img.push.is_empty());
    let bar = ui::progress::steps("Pushing", pushed.map(|b| b.img.platforms.len()));
    for (image, report) in images.iter().zip(&mut reports) {
        bar.set_message(&image.spec.name);
        registry.write(image, report)?;
        if !image.spec.push.is_empty() {
            bar.inc(image.spec.platforms.len() as u64);
        }
    }
    bar.finish();
    Ok(reports)
}

/// The local sinks the plan asks for, in the order each image goes through them: the OCI layout
/// (always), the tarball, `--load`.
fn local_sinks(plan: &Plan) -> sink::Tee<'static> {
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(sink::layout::Layout)];
    if plan.images.iter().any(|i| i.tarball.is_some()) {
        sinks.push(Box::new(sink::archive::Tarball {
            format: plan.tarball_format,
        }));
    }
    if plan.load {
        sinks.push(Box::new(sink::load::Load));
    }
    sink::Tee(sinks)
}

/// `b` as the sinks see it; `stage_beside` stages the files beside its layout.
fn for_sinks<'a>(
    b: &'a Built<'a>,
    store: &'a BlobStore,
    stage_beside: &'a dyn Fn() -> Result<Vec<sink::beside::Staged>>,
) -> BuiltImage<'a> {
    let mut referrers: Vec<Referrer<'a>> = b
        .sboms
        .iter()
        .map(|s| Referrer {
            about: About::Sbom(s.format),
            artifact: &s.artifact,
            subject: &s.subject,
            files: vec![(s.file_name.as_str(), &s.document)],
        })
        .collect();
    referrers.extend(b.provenance.iter().map(|p| Referrer {
        about: About::Provenance,
        artifact: &p.artifact,
        subject: &p.subject,
        files: vec![(p.file_name.as_str(), &p.document)],
    }));
    // The debug files travel as the SBOM does: each file under the name it has beside the layout.
    referrers.extend(b.debug.iter().map(|d| {
        Referrer {
            about: About::Debug,
            artifact: &d.artifact,
            subject: &d.subject,
            files: d
                .files
                .iter()
                .map(|(_, path, blob)| {
                    let name = path.file_name().and_then(|n| n.to_str());
                    (name.unwrap_or_default(), blob)
                })
                .collect(),
        }
    }));
    BuiltImage {
        spec: b.img,
        named: Named {
            name: &b.img.name,
            tags: &b.img.tags,
            artifact: &b.artifact,
            store,
        },
        referrers,
        mount_from: b.from.map(|f| f.mount_hints()).unwrap_or_default(),
        stage_beside,
    }
}

/// Stage the files beside the layout of `b`: its SBOMs, debug files and provenance statements
/// (committed with the layout by its sink, [`sink::layout::write`]).
fn stage_beside(store: &BlobStore, b: &Built<'_>) -> Result<Vec<sink::beside::Staged>> {
    let mut beside = crate::sbom::output::stage_beside(store, &b.sboms)?;
    beside.extend(crate::debuginfo::output::stage_beside(store, &b.debug)?);
    beside.extend(crate::provenance::output::stage_beside(
        store,
        &b.provenance,
    )?);
    Ok(beside)
}

/// The report of `b` before any sink wrote it: where it goes is filled in by each sink.
fn report(b: &Built<'_>) -> ImageReport {
    let img = b.img;
    ImageReport {
        name: img.name.clone(),
        tags: img.tags.clone(),
        binaries: img.binaries.iter().map(|b| b.name.clone()).collect(),
        platforms: img.platforms.iter().map(|p| p.to_string()).collect(),
        default_platform: img.default_platform,
        digest: b.artifact.root.digest.clone(),
        media_type: b.artifact.root.media_type.clone(),
        manifests: b.manifests.clone(),
        layout: img.layout.clone(),
        tarball: None,
        loaded_into: None,
        pushed: Vec::new(),
        sbom: b.sboms.iter().map(|s| s.report()).collect(),
        debuginfo: b.debug.iter().flat_map(|d| d.report()).collect(),
        provenance: b.provenance.iter().map(|p| p.report()).collect(),
        signatures: Vec::new(),
        base: b.from.map(crate::base::BaseImage::report),
    }
}
