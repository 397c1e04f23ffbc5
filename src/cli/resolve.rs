//! `cargo slim-image resolve`: its arguments, raw. It takes the build flags itself (after the
//! subcommand) as well as before it; `join` joins them.

use super::build::BuildArgs;
use super::output::OutputArgs;
use clap::Args;
use std::path::PathBuf;

/// `cargo slim-image resolve`.
#[derive(Debug, Args, Clone)]
pub struct ResolveArgs {
    /// YAML file, directory (its *.yaml, *.yml and *.json files), or `-` for stdin (repeatable).
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
    pub files: Vec<PathBuf>,
    /// Push each image to REPO/NAME (e.g. ghcr.io/acme); default: the image's own name, which then
    /// must include a registry.
    #[arg(long, value_name = "REPO")]
    pub repo: Option<String>,
    /// The build flags, as for a build (they may come before `resolve` too).
    #[command(flatten)]
    pub build: BuildArgs,
    /// The output flags, as for a build (`--push` is decided by `--repo`).
    #[command(flatten)]
    pub output: OutputArgs,
}
