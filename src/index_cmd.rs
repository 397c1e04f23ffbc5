//! `cargo slim-image index`: assemble an OCI image index from per-platform images that were built and
//! pushed on different machines (the way a release pipeline spreads work over runners).

use anyhow::Result;

/// Arguments of `cargo slim-image index`.
#[derive(Debug, Clone, clap::Args)]
pub struct IndexArgs {}

/// Run `cargo slim-image index`.
pub fn run(_args: &IndexArgs, _cli: &crate::cli::Cli) -> Result<()> {
    anyhow::bail!("`cargo slim-image index` is being built (issue 4)")
}
