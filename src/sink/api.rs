//! What every sink takes: the [`Sink`] trait and the values it is handed ([`BuiltImage`], its
//! [`Named`] artifact and its [`Referrer`]s). Below every sink (of them it names only `beside`, for
//! the staged files): the sinks import these from here, and `sink` re-exports them.

use super::beside::Staged;
use crate::blob::{Artifact, BlobStore, Descriptor};
use crate::digest::Digest;
use crate::plan::ImageSpec;
use crate::reference::Reference;
use crate::report::ImageReport;
use anyhow::Result;
use std::collections::BTreeMap;

/// Somewhere one built image is written to. A run builds its sinks from the plan once and hands
/// every image to each of them in a fixed order; a sink reads its destination from the image's
/// plan entry (and does nothing for an image that has none) and records what it wrote in `report`.
/// No sink keeps state between images, so `write` takes `&self`.
pub trait Sink {
    /// Write `image`; record its destination (path, engine, pushed references) in `report`.
    fn write(&self, image: &BuiltImage<'_>, report: &mut ImageReport) -> Result<()>;
}

/// One image built and checked, as the sinks see it.
pub struct BuiltImage<'a> {
    /// Its plan entry: where it goes (`layout`, `tarball`, `push`).
    pub spec: &'a ImageSpec,
    /// Its name, tags and artifact, and the store that holds its bytes.
    pub named: Named<'a>,
    /// The artifacts about it, in the order they are pushed and put into a tarball: SBOMs, then
    /// provenance, then debug info.
    pub referrers: Vec<Referrer<'a>>,
    /// Repositories known to hold some of its blobs (its base image's), for cross-repository
    /// mounts when it is pushed.
    pub mount_from: BTreeMap<Digest, Vec<Reference>>,
    /// Stages the files beside its layout (SBOM, provenance, debug files), which the layout sink
    /// commits with the layout as one unit (`layout::write`).
    pub stage_beside: &'a dyn Fn() -> Result<Vec<Staged>>,
}

/// An artifact about an image (an OCI 1.1 referrer): its manifest's `subject` is one of the image's
/// manifests. Its blobs travel with the image into the layout and a tarball, and it is pushed after
/// the image.
#[derive(Debug, Clone)]
pub struct Referrer<'a> {
    /// What it is.
    pub about: About,
    /// The artifact manifest, its config and its layers.
    pub artifact: &'a Artifact,
    /// The image manifest it is about.
    pub subject: &'a Descriptor,
    /// Its documents, each with the file name it has at the top of a tarball (as beside the layout):
    /// one for an SBOM or a provenance statement, one per binary for debug info.
    pub files: Vec<(&'a str, &'a Descriptor)>,
}

/// What a [`Referrer`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum About {
    /// An SBOM in this format.
    Sbom(crate::sbom::format::Format),
    /// A SLSA provenance statement (in-toto).
    Provenance,
    /// The debug files split off the binaries.
    Debug,
}

impl About {
    /// What it is, in status lines: `SBOM`, `provenance`, `debug info`.
    pub fn what(self) -> &'static str {
        match self {
            About::Sbom(_) => "SBOM",
            About::Provenance => "provenance",
            About::Debug => "debug info",
        }
    }

    /// The `artifactType` of its manifest.
    pub fn artifact_type(self) -> &'static str {
        match self {
            About::Sbom(f) => f.media_type(),
            About::Provenance => crate::provenance::choice::MEDIA_TYPE,
            About::Debug => crate::debuginfo::mode::ARTIFACT_TYPE,
        }
    }
}

/// What every local sink needs to know about one image: its name, tags, and the artifact.
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    /// The repository, e.g. `app` or `ghcr.io/acme/app` (no tag).
    pub name: &'a str,
    /// The tags, e.g. `["0.1.0", "latest"]`; never empty.
    pub tags: &'a [String],
    /// The image or index.
    pub artifact: &'a Artifact,
    /// Where the artifact's bytes are.
    pub store: &'a BlobStore,
}

impl Named<'_> {
    /// `name:tag` for every tag.
    pub fn full_refs(&self) -> Vec<String> {
        self.tags
            .iter()
            .map(|t| format!("{}:{t}", self.name))
            .collect()
    }
}
