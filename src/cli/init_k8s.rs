//! `cargo slim-image init-k8s`: its arguments, raw. It takes the build flags itself (after the
//! subcommand) as well as before it; `join` joins them.

use super::build::BuildArgs;
use clap::Args;
use std::path::PathBuf;

/// `cargo slim-image init-k8s`.
#[derive(Debug, Args, Clone)]
pub struct InitArgs {
    /// The binary (or package) the manifest runs; default: the workspace's only binary.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Container port (default: the image's first exposed port, else 8080).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Write to FILE instead of stdout (`-`: stdout; refuses to overwrite an existing file).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The build flags, as for a build (they may come before `init-k8s` too).
    #[command(flatten)]
    pub build: BuildArgs,
}
