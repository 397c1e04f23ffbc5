//! `cargo slim-image completions SHELL`: a completion script from the clap definition of the
//! command line (`clap_complete`), so it never drifts from `--help`.
//!
//! The script completes `cargo-slim-image` (the binary, which runs exactly as `cargo slim-image`
//! when called directly): cargo's own completion does not hand `cargo slim-image ...` to a
//! subcommand's script, and a script for `cargo` would replace cargo's.

use anyhow::Context;

/// The name the script completes.
pub const BIN: &str = "cargo-slim-image";

/// Print the completion script for `shell` on stdout; `cargo` is the command line's definition (the
/// `cargo` wrapper whose `slim-image` subcommand is the command line itself).
pub fn print(cargo: clap::Command, shell: clap_complete::Shell) -> anyhow::Result<()> {
    let Some(sub) = cargo.find_subcommand("slim-image") else {
        anyhow::bail!("internal: no slim-image subcommand in the command line definition");
    };
    let mut cmd = sub.clone().name(BIN).bin_name(BIN);
    // Into memory first: clap_complete panics on a write error (a full disk, a closed pipe); the
    // script is a few KiB, and our write's error is reported like any other.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut script);
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .context("writing the completion script to stdout")?;
    Ok(())
}
