//! cargo slim-image: turn a Rust workspace into the smallest possible, reproducible OCI image.
//!
//! The pipeline, in module order: [`cli`] arguments -> [`config`] (cargo metadata + the
//! `[*.metadata.slim-image]` tables, resolved once) -> [`plan`] (images, binaries, platforms, sinks) ->
//! [`compile`] (static musl builds, ELF checks) -> [`rootfs`] + [`layer`] (deterministic tar.gz layers) ->
//! [`image`] (config, manifest, index as canonical JSON in a [`blob::BlobStore`]) -> [`sink`] (OCI layout,
//! oci-archive / docker-archive, load, push) -> [`report`] (what goes to stdout).

pub mod blob;
pub mod digest;
pub mod platform;
