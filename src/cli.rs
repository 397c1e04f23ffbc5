//! Raw command-line arguments (clap derive), and nothing else: this module and `cli/` import
//! nothing from the rest of the crate. Nothing here is validated beyond syntax: `resolve` turns
//! these, together with Cargo metadata, into a checked plan exactly once.
//!
//! The default build takes [`BuildArgs`] and [`OutputArgs`]; each subcommand is a sibling with
//! its own arguments ([`IndexArgs`], [`ResolveArgs`], [`InitArgs`], [`VerifyArgs`],
//! [`DebuginfoArgs`], [`CompletionsArgs`]). `--dry-run`, `--message-format` and `--color` are
//! global: taken before or after a subcommand.

// The doc comments of cli/ are clap's --help text, written for a terminal (`NAME[:TAG]`,
// `<target-dir>`), not rustdoc links or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

mod build;
mod completions;
mod debuginfo;
mod index;
mod init_k8s;
pub mod join;
mod output;
mod resolve;
mod verify;

pub use build::{BuildArgs, CToolchainArg, DebuginfoArg, ProvenanceArg, SbomArg};
pub use completions::CompletionsArgs;
pub use debuginfo::DebuginfoArgs;
pub use index::IndexArgs;
pub use init_k8s::InitArgs;
pub use output::{CompressionArg, OutputArgs, TarballFormat};
pub use resolve::ResolveArgs;
pub use verify::VerifyArgs;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `cargo slim-image`: as cargo runs it, with the subcommand name first.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo")]
pub enum CargoCli {
    /// Build the smallest possible OCI image from a Rust workspace: static musl binaries FROM scratch.
    #[command(name = "slim-image", version, about, long_about = None)]
    SlimImage(Cli),
}

/// All options of `cargo slim-image`.
#[derive(Debug, Args, Clone, Default)]
#[command(next_line_help = false)]
pub struct Cli {
    /// A subcommand; without one, `cargo slim-image` builds the images.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// What to build, and the image.
    #[command(flatten)]
    pub build: BuildArgs,
    /// Where the images go.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Print the plan and stop: nothing is built, written or pushed (subcommands too; JSON with
    /// --message-format json).
    // `global`: also taken after a subcommand (`resolve -f k8s.yaml --dry-run`), like cargo's flags.
    #[arg(long, global = true, help_heading = "Output")]
    pub dry_run: bool,
    /// Output format of the results on stdout.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "human",
        value_name = "FMT",
        help_heading = "Output"
    )]
    pub message_format: MessageFormat,
    /// Use verbose output (-vv very verbose).
    #[arg(short, long, action = clap::ArgAction::Count, help_heading = "Display")]
    pub verbose: u8,
    /// Print nothing but results and errors.
    #[arg(short, long, help_heading = "Display")]
    pub quiet: bool,
    /// Colour on stderr: auto (when stderr is a terminal and NO_COLOR is not set), always, never.
    /// Default: CARGO_TERM_COLOR, else auto.
    // `global`: taken after a subcommand too. CARGO_TERM_COLOR is read by `ui::colour::set`, not by
    // clap, so that an empty one means auto.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        help_heading = "Display"
    )]
    pub color: Option<ColorArg>,
}

/// Subcommands besides the default build.
#[derive(Debug, Subcommand, Clone)]
pub enum Command {
    /// Assemble one multi-platform index from per-platform images built and pushed separately.
    Index(IndexArgs),
    /// Build and push every `slim-image://NAME` image named in Kubernetes YAML and print the YAML with
    /// each replaced by `registry/repo@sha256:...`.
    Resolve(ResolveArgs),
    /// Write a starter Kubernetes manifest (Deployment + Service) for an image.
    InitK8s(InitArgs),
    /// Rebuild an image from this workspace with the flags it was built with and compare digests:
    /// exit 0 when they match, 1 when not (naming the layer, file and config fields that differ).
    Verify(VerifyArgs),
    /// Print a shell completion script for `cargo-slim-image` (bash, zsh, fish, powershell, elvish):
    /// e.g. `cargo slim-image completions bash > ~/.local/share/bash-completion/completions/cargo-slim-image`.
    Completions(CompletionsArgs),
    /// Fetch the debug files split off an image's binaries (`debuginfo = "split"`) from a registry,
    /// an OCI layout or an oci-archive, into a new or empty directory, as `<binary>.debug`.
    Debuginfo(DebuginfoArgs),
}

/// `--message-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum MessageFormat {
    /// One `name@sha256:...` line per image.
    #[default]
    Human,
    /// One JSON document.
    Json,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// Colour when stderr is a terminal (and `NO_COLOR` is not set).
    Auto,
    /// Always colour, even into a pipe or a file.
    Always,
    /// Never colour.
    Never,
}

/// The arguments as clap is to see them: cargo passes `cargo-slim-image slim-image ...`; a direct
/// call without the subcommand name gets it inserted.
pub fn as_cargo_runs_it<I, T>(args: I) -> Vec<std::ffi::OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString>,
{
    let mut args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    if args.get(1).map(|a| a != "slim-image").unwrap_or(true) {
        args.insert(1, "slim-image".into());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Cli {
        let CargoCli::SlimImage(c) = CargoCli::try_parse_from(as_cargo_runs_it(a.iter().copied()))
            .expect("the arguments parse");
        c
    }

    #[test]
    fn cargo_style_and_direct_invocation() {
        let c = parse(&["cargo-slim-image", "slim-image", "-p", "x", "--bin", "y"]);
        assert_eq!(c.build.package, ["x"]);
        assert_eq!(c.build.bin, ["y"]);
        let c = parse(&["cargo-slim-image", "--tarball", "a.tar"]);
        assert_eq!(c.output.tarball.unwrap().to_str(), Some("a.tar"));
        assert_eq!(c.build.profile, "release");
    }

    #[test]
    fn push_with_and_without_value() {
        assert_eq!(parse(&["c", "--push"]).output.push, [""]);
        assert_eq!(
            parse(&["c", "--push", "r/x:1", "--push", "r/y"])
                .output
                .push,
            ["r/x:1", "r/y"]
        );
        assert!(parse(&["c"]).output.push.is_empty());
    }

    #[test]
    fn platforms_split_on_commas() {
        assert_eq!(
            parse(&["c", "--platform", "linux/amd64,linux/arm64"])
                .build
                .platform,
            ["linux/amd64", "linux/arm64"]
        );
    }
}
