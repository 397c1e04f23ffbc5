//! cargo slim-image: turn a Rust workspace into the smallest possible, reproducible OCI image.
//!
//! The pipeline, in module order: `cli` arguments -> `config` (cargo metadata + the
//! `[*.metadata.slim-image]` tables, resolved once) -> `plan` (images, binaries, platforms, sinks) ->
//! [`compile`] (static musl builds) + [`elf`] (static checks) -> `rootfs` + `layer` (deterministic tar.gz
//! layers) -> `image` (config, manifest, index as canonical JSON in a [`blob::BlobStore`]) -> [`sink`]
//! (OCI layout, oci-archive / docker-archive, load, push through [`registry`]) -> `report` (stdout).

pub mod blob;
pub mod compile;
pub mod digest;
pub mod elf;
pub mod platform;
pub mod reference;
pub mod registry;
pub mod sink;
pub mod ui;
