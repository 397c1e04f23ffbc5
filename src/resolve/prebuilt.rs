//! A plan for `--binary` files: already-built static binaries, one image, no cargo build; the
//! platform is the one `--platform` names or the first binary's ELF header says.

use super::ctx::{Ctx, Resolved};
use super::spec::{spec_for, Origin};
use crate::config::Meta;
use crate::plan::BinSpec;
use crate::platform::Platform;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// The image of the `--binary` files.
pub(super) fn from_prebuilt(ctx: &Ctx<'_>) -> Result<Resolved> {
    let cli = ctx.cli;
    if !cli.package.is_empty() || cli.workspace || !cli.bin.is_empty() {
        bail!("--binary packages prebuilt files and runs no cargo build: drop -p/--workspace/--bin, or drop --binary");
    }
    if let Some(m) = &cli.manifest_path {
        // Its [package.metadata.slim-image] (name, user, files...) would be ignored in silence.
        bail!(
            "--binary packages prebuilt files and reads no Cargo.toml, so the [package.metadata.slim-image] of --manifest-path {} would not be used: drop --manifest-path (and give the image settings as flags), or drop --binary",
            m.display()
        );
    }
    let mut bins = Vec::new();
    for path in &cli.binary {
        if !path.is_file() {
            // A directory, FIFO or device would not be read as a file (a FIFO would block the run).
            let what = if path.exists() {
                "not a regular file (a directory, FIFO or device)"
            } else {
                "no such file"
            };
            bail!(
                "--binary {}: {what} (give the path of a built static executable)",
                path.display()
            );
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| {
                format!(
                    "--binary {}: the file name is not valid UTF-8",
                    path.display()
                )
            })?
            .to_string();
        if bins.iter().any(|b: &BinSpec| b.name == name) {
            bail!("--binary: two binaries are named `{name}`: each goes to /usr/local/bin/<file name>, so names must differ");
        }
        bins.push(BinSpec {
            name,
            package: None,
            prebuilt: Some(path.clone()),
        });
    }
    let mut ctx2 = Ctx {
        cli,
        epoch: ctx.epoch,
        cli_platforms: ctx.cli_platforms.clone(),
    };
    if ctx2.cli_platforms.len() > 1 {
        bail!("--binary takes binaries for one platform; build one image per platform and join them with an index");
    }
    if ctx2.cli_platforms.is_empty() {
        // The platform of a prebuilt binary is whatever its ELF header says.
        let info = crate::elf::inspect(&cli.binary[0])?;
        let p = Platform::ALL
            .into_iter()
            .find(|p| p.elf_machine() == info.machine)
            .with_context(|| {
                format!(
                    "--binary {}: ELF machine {} is neither x86_64 nor aarch64",
                    cli.binary[0].display(),
                    info.machine
                )
            })?;
        ctx2.cli_platforms = vec![p];
    }
    let origin = Origin {
        title: bins[0].name.clone(),
        ..Origin::default()
    };
    let default_name = bins[0].name.clone();
    let spec = spec_for(&ctx2, &Meta::default(), &origin, &default_name, bins)?;
    let target_dir = cli
        .target_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("target"));
    Ok((vec![spec], None, target_dir))
}
