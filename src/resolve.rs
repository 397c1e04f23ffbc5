//! Resolution: raw [`Cli`](crate::cli::Cli) + `cargo metadata` + `[*.metadata.slim-image]` ->
//! [`Plan`](crate::plan::Plan), and each subcommand's arguments -> its own plan ([`job`]). The only
//! step that reads `cli`. The default build's resolution is in `build`, what its pieces share in
//! `ctx`; this module only names them.
//!
//! Every default and override is decided here, once: which packages and binaries, image names and
//! tags (validated as references), entrypoint, env, labels and OCI annotations from Cargo metadata,
//! platforms, output paths, the cargo flags, the layer compression, the registry client options and
//! the sinks. Flags win over the package table, which wins over the workspace table. Everything is
//! checked here, before anything is built or any registry is asked. [`resolve_with`] is the pure
//! part (flags + metadata -> plan, no cargo run); [`plan`] loads the metadata and decides each
//! platform's C toolchain from the dependency tree.

mod build;
mod ctx;
pub mod flags;
pub mod job;
mod k8s;
mod outputs;
pub mod pkgspec;
pub mod platforms;
mod prebuilt;
mod push_targets;
mod spec;
mod toolchains;
pub use build::{load_metadata, plan, resolve_with, source_date_epoch, NoSuchBin, NoSuchPackage};
pub use job::{resolve, Job};

#[cfg(test)]
mod tests;
