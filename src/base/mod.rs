//! Base images: `--base` (or `base = "..."`) -> a [`BaseImage`] whose blobs are verified in our
//! [`BlobStore`].
//!
//! Takes a [`BaseSource`] and the platforms to build, and gives per platform the base's manifest
//! descriptor, its config, its layers (media types normalised to OCI, bytes untouched, so they are
//! referenced and never recompressed) and the set of paths its filesystem holds (to know whether it has
//! a CA bundle, a passwd file or a musl loader). A registry base is resolved to a digest first, and an
//! index is narrowed to each requested platform; a platform the base lacks is an error that lists the
//! platforms it has. Sources live in [`remote`] (registries) and [`local`] (OCI layout, oci-archive,
//! docker-archive, taken apart by [`archive`]); [`merge`] lays our runtime config over the base's.
//! Every length a base claims is bounded by [`bounded`] before it is read, and layers are read by
//! [`tarread`].

mod accounts;
pub mod archive;
pub mod assemble;
pub mod bounded;
mod fetch;
mod image;
pub mod local;
pub mod merge;
pub mod remote;
mod scan;
pub mod source;
pub mod tarread;

pub use image::{Accounts, BaseImage, PlatformBase, BASE_DIGEST, BASE_NAME, LAYER_TAR};
pub use source::BaseSource;

use crate::blob::BlobStore;
use crate::platform::Platform;
use crate::registry::ClientOptions;
use anyhow::{Context, Result};

/// Resolve `source` for `platforms`, fetching and verifying every blob into `store`. `None` for scratch.
pub fn resolve(
    source: &BaseSource,
    platforms: &[Platform],
    store: &BlobStore,
    client: &ClientOptions,
) -> Result<Option<BaseImage>> {
    // Local bases are reported as `TRANSPORT:PATH[:TAG]`, which is what `source` displays as.
    let name = source.to_string();
    let base = match source {
        BaseSource::Scratch => return Ok(None),
        BaseSource::Registry(r) => remote::resolve(r, platforms, store, client),
        BaseSource::OciDir(dir, tag) => {
            local::resolve_layout(dir, tag.as_deref(), platforms, store, name)
        }
        BaseSource::OciArchive(file, tag) => {
            local::resolve_oci_archive(file, tag.as_deref(), platforms, store, name)
        }
        BaseSource::DockerArchive(file, tag) => {
            local::resolve_docker_archive(file, tag.as_deref(), platforms, store, name)
        }
    }
    .with_context(|| format!("resolving the base image {source}"))?;
    Ok(Some(base))
}
