//! What the steps of a run hand each other: the [`Binaries`] cargo built, and a [`Built`] image
//! not yet written anywhere. A leaf that `execute` and its children share.

use crate::base::BaseImage;
use crate::blob::Artifact;
use crate::plan::ImageSpec;
use crate::platform::Platform;
use crate::report::ManifestReport;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Binary paths per (platform, binary name).
pub(crate) type Binaries = BTreeMap<(Platform, String), PathBuf>;

/// One image built and checked, not yet written anywhere.
pub(super) struct Built<'a> {
    pub(super) img: &'a ImageSpec,
    pub(super) from: Option<&'a BaseImage>,
    pub(super) artifact: Artifact,
    pub(super) manifests: Vec<ManifestReport>,
    pub(super) sboms: Vec<crate::sbom::output::SbomOut>,
    /// The debug files split off its binaries (`debuginfo = "split"`), one referrer per platform.
    pub(super) debug: Vec<crate::debuginfo::output::DebugOut>,
    /// Its provenance statements, one referrer per platform.
    pub(super) provenance: Vec<crate::provenance::output::ProvOut>,
}
