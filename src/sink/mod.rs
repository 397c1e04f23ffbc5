//! Sinks: where a built [`crate::blob::Artifact`] goes. One file per sink: an OCI layout directory
//! ([`layout`]), an oci-archive or docker-archive tarball ([`archive`]), a local container engine
//! ([`load`]), a registry ([`push`], which remembers where it pushed blobs in [`mounts`]); the files
//! beside a layout and which of them are ours ([`beside`]).

pub mod archive;
pub mod beside;
pub mod commit;
pub mod layout;
pub mod load;
pub mod lock;
pub mod mounts;
pub mod push;
pub mod refs;
pub mod signals;
pub mod sweep;
pub mod sync;
pub mod tarball_format;
pub mod temp;

use crate::blob::{Artifact, BlobStore};

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
