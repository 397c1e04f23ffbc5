//! SBOMs of a run: dependency graphs per (image, platform), documents staged next to the layout,
//! and the referrer artifacts the tarball and push sinks carry.
//!
//! Takes the [`Plan`] and each assembled image; gives one [`SbomOut`] per platform manifest (the
//! document's path and descriptor, and its referrer artifact in the blob store). `cargo metadata` runs
//! once per platform, not once per image.

use super::deps::{self, DepGraph, MetadataQuery};
use super::{referrer, Format, Subject};
use crate::blob::{Artifact, BlobStore, Descriptor};
use crate::compile::c_toolchain::Tools;
use crate::digest::Digest;
use crate::plan::{ImageSpec, Plan};
use crate::platform::Platform;
use crate::report::SbomReport;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Dependency graphs keyed by (image name, platform).
pub type Graphs = BTreeMap<(String, Platform), DepGraph>;

/// One SBOM made in this run.
#[derive(Debug, Clone)]
pub struct SbomOut {
    /// The platform of the manifest it describes.
    pub platform: Platform,
    /// Its format.
    pub format: Format,
    /// The file written next to the layout.
    pub path: PathBuf,
    /// Its file name (as written next to the layout and into a tarball).
    pub file_name: String,
    /// The document blob.
    pub document: Descriptor,
    /// The image manifest it describes.
    pub subject: Descriptor,
    /// The referrer artifact (artifact manifest + empty config + document).
    pub artifact: Artifact,
    /// Number of crates listed.
    pub crates: usize,
}

impl SbomOut {
    /// The report entry.
    pub fn report(&self) -> SbomReport {
        SbomReport {
            platform: self.platform.to_string(),
            format: self.format,
            path: self.path.clone(),
            digest: self.document.digest.clone(),
            artifact_digest: self.artifact.root.digest.clone(),
            subject: self.subject.digest.clone(),
            crates: self.crates,
        }
    }
}

/// The dependency graph of every (image, platform) that gets an SBOM (cargo builds only), from
/// `cargo metadata` for query `q`: taken from `metadata` (the build's) or run into it.
pub fn graphs(
    plan: &Plan,
    q: &MetadataQuery,
    metadata: &mut BTreeMap<Platform, cargo_metadata::Metadata>,
) -> Result<Graphs> {
    let mut out = Graphs::new();
    let Some(cargo) = &plan.cargo else {
        return Ok(out);
    };
    // What the one cargo build of the run really compiles (its features), per platform.
    let mut built = BTreeMap::new();
    for img in plan.images.iter().filter(|i| i.sbom.is_some()) {
        let mut roots: Vec<String> = img
            .binaries
            .iter()
            .filter_map(|b| b.package.clone())
            .collect();
        roots.sort();
        roots.dedup();
        for &p in &img.platforms {
            if let std::collections::btree_map::Entry::Vacant(e) = metadata.entry(p) {
                e.insert(deps::metadata(q, p)?);
            }
            if let std::collections::btree_map::Entry::Vacant(e) = built.entry(p) {
                e.insert(crate::compile::c_crates::built_edges(
                    q,
                    &cargo.packages,
                    p,
                )?);
            }
            let g = deps::graph(&metadata[&p], &roots, built.get(&p)).with_context(|| {
                format!("listing the crates of image {} for the SBOM", img.name)
            })?;
            out.insert((img.name.clone(), p), g);
        }
    }
    Ok(out)
}

/// The SBOM file beside `layout`: `<layout>.spdx.json`, or `<layout>.<os>-<arch>.spdx.json` when the
/// image has several platforms.
pub fn path_beside(layout: &Path, platform: Platform, several: bool, format: Format) -> PathBuf {
    crate::sink::beside::path(layout, platform, several, format.suffix())
}

/// Stage each SBOM document for the file next to its layout. [`crate::sink::layout::write`] commits
/// them together with the layout, under the layout's lock, so a layout and its SBOM always describe
/// the same image (and the layout records them as ours, [`crate::sink::beside`]).
pub fn stage_beside(
    store: &BlobStore,
    sboms: &[SbomOut],
) -> Result<Vec<crate::sink::beside::Staged>> {
    sboms
        .iter()
        .map(|s| {
            let file = crate::sink::beside::File {
                path: s.path.clone(),
                kind: crate::sink::commit::Kind::Sbom,
                noun: "SBOM".into(),
            };
            crate::sink::beside::stage(store, &s.document, file)
        })
        .collect()
}

/// Make and store the SBOMs of one assembled image (nothing when its SBOM is off), listing the crates
/// of `graphs` and the tools of `tools` (what built each platform); the files beside the layout are
/// staged by [`stage_beside`].
pub fn make(
    store: &BlobStore,
    img: &ImageSpec,
    artifact: &Artifact,
    (graphs, tools): (&Graphs, &BTreeMap<Platform, Tools>),
    created: &str,
    base: Option<(&str, &Digest)>,
) -> Result<Vec<SbomOut>> {
    let Some(format) = img.sbom else {
        return Ok(Vec::new());
    };
    let empty = DepGraph::default();
    let pairs = artifact.platform_manifests(&img.platforms);
    let several = pairs.len() > 1;
    let mut out = Vec::new();
    for (platform, manifest) in pairs {
        let deps = graphs.get(&(img.name.clone(), platform)).unwrap_or(&empty);
        let subject = Subject {
            name: &img.name,
            tag: img.tags.first().map(String::as_str).unwrap_or("latest"),
            platform,
            manifest: &manifest,
            deps,
            base,
            created,
            tools: tools.get(&platform),
            tzdata: img.timezones.then_some(crate::layer::zoneinfo::VERSION),
        };
        let bytes = super::document(&subject, format);
        let path = path_beside(&img.layout, platform, several, format);
        let file_name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let (document, art) = referrer::write(
            store,
            &manifest,
            format.media_type(),
            &file_name,
            &bytes,
            created,
        )?;
        out.push(SbomOut {
            platform,
            format,
            path,
            file_name,
            document,
            subject: manifest,
            artifact: art,
            crates: deps.crates.len(),
        });
    }
    Ok(out)
}
