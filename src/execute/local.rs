//! The local sinks of one built image: the OCI layout with its SBOM and debug files (one unit), the tarball,
//! `--load`; gives the image's report with nothing pushed yet.

use super::Built;
use crate::blob::BlobStore;
use crate::plan::Plan;
use crate::report::ImageReport;
use crate::sink::{self, Named};
use crate::ui;
use anyhow::Result;

/// Write one built image to its local sinks: the layout with its SBOM files (one unit), the tarball,
/// `--load`. Returns its report, with nothing pushed yet.
pub(super) fn write_local(store: &BlobStore, b: &Built<'_>, plan: &Plan) -> Result<ImageReport> {
    let img = b.img;
    let named = Named {
        name: &img.name,
        tags: &img.tags,
        artifact: &b.artifact,
        store,
    };
    // The files beside the layout go with it, as one unit; which of the files there are ours
    // (replaced, or removed when this run does not write them) is decided by sink::beside.
    let mut beside = crate::sbom::output::stage_beside(store, &b.sboms)?;
    beside.extend(crate::debuginfo::output::stage_beside(store, &b.debug)?);
    beside.extend(crate::provenance::output::stage_beside(
        store,
        &b.provenance,
    )?);
    // Their artifacts go into the layout's blobs: the record of which files beside it are ours.
    let mut referrers: Vec<&crate::blob::Artifact> = b.debug.iter().map(|d| &d.artifact).collect();
    referrers.extend(b.sboms.iter().map(|s| &s.artifact));
    referrers.extend(b.provenance.iter().map(|p| &p.artifact));
    let layout = sink::layout::write(&named, &img.layout, beside, &referrers)?;
    ui::status("Wrote", format!("OCI layout {}", layout.display()));
    if let Some(t) = &img.tarball {
        let mut referrers: Vec<sink::archive::Referrer<'_>> = b
            .sboms
            .iter()
            .map(|s| sink::archive::Referrer {
                artifact: &s.artifact,
                file_name: &s.file_name,
                document: &s.document,
            })
            .collect();
        referrers.extend(b.provenance.iter().map(|p| sink::archive::Referrer {
            artifact: &p.artifact,
            file_name: &p.file_name,
            document: &p.document,
        }));
        // The debug files travel as the SBOM does: their artifact under blobs/, each file at the
        // top of the tar under the name it has beside the layout.
        for d in &b.debug {
            for (_, path, blob) in &d.files {
                referrers.push(sink::archive::Referrer {
                    artifact: &d.artifact,
                    file_name: path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default(),
                    document: blob,
                });
            }
        }
        sink::archive::write(&named, plan.tarball_format, t, &referrers)?;
        ui::status(
            "Wrote",
            format!("{} archive {}", plan.tarball_format.name(), t.display()),
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
    Ok(ImageReport {
        name: img.name.clone(),
        tags: img.tags.clone(),
        binaries: img.binaries.iter().map(|b| b.name.clone()).collect(),
        platforms: img.platforms.iter().map(|p| p.to_string()).collect(),
        default_platform: img.default_platform,
        digest: b.artifact.root.digest.clone(),
        media_type: b.artifact.root.media_type.clone(),
        manifests: b.manifests.clone(),
        layout,
        tarball: img.tarball.clone(),
        loaded_into,
        pushed: Vec::new(),
        sbom: b.sboms.iter().map(|s| s.report()).collect(),
        debuginfo: b.debug.iter().flat_map(|d| d.report()).collect(),
        provenance: b.provenance.iter().map(|p| p.report()).collect(),
        signatures: Vec::new(),
        base: b.from.map(crate::base::BaseImage::report),
    })
}
