//! The plan of the default build: the flags and the workspace's `cargo metadata` (or `--binary`
//! files) -> the [`Plan`]'s images, its cargo build and the rest, checked ([`resolve_with`]); then
//! each platform's C toolchain ([`plan`]).

use crate::cli::{BuildArgs, Cli};
use crate::compile::c_toolchain;
use crate::config::{parse_meta, Meta};
use crate::plan::*;
use anyhow::{bail, Context, Result};
use cargo_metadata::{Metadata, MetadataCommand, Package};
use std::collections::BTreeSet;

use super::ctx::{parse_platforms, Ctx, Resolved};
use super::outputs::assign_outputs;
use super::spec::{spec_for, Origin};
use super::{flags, pkgspec, platforms, prebuilt, toolchains};

/// `SOURCE_DATE_EPOCH`, else 0: the time written into layers and configs. Never the wall clock, which
/// would change every digest on every build.
pub fn source_date_epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.trim().is_empty() => s.trim().parse().with_context(|| {
            format!("SOURCE_DATE_EPOCH=`{s}` is not a number of seconds since 1970: unset it or set e.g. $(git log -1 --format=%ct)")
        }),
        _ => Ok(0),
    }
}

/// `--bin NAME` names no binary target of the selected packages (typed, so `resolve` can try NAME as
/// a package instead).
#[derive(Debug, thiserror::Error)]
#[error("--bin {0}: no binary target named `{0}` in the selected packages (try -p PACKAGE or --workspace)")]
pub struct NoSuchBin(pub String);

/// `-p SPEC` names no member of the workspace, or more than one (the message names the spec and
/// the candidates).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoSuchPackage(pub String);

/// `cargo metadata --no-deps` of the workspace the flags name.
pub fn load_metadata(cli: &BuildArgs) -> Result<Metadata> {
    let mut cmd = MetadataCommand::new();
    cmd.no_deps();
    if let Some(p) = &cli.manifest_path {
        cmd.manifest_path(p);
    }
    let lock = [
        (cli.locked, "--locked"),
        (cli.frozen, "--frozen"),
        (cli.offline, "--offline"),
    ];
    cmd.other_options(
        lock.iter()
            .filter(|(on, _)| *on)
            .map(|(_, f)| f.to_string())
            .collect::<Vec<_>>(),
    );
    cmd.exec().map_err(|e| match e {
        cargo_metadata::Error::CargoMetadata { stderr } => anyhow::anyhow!(
            "`cargo metadata` failed: {}\nnote: run cargo slim-image inside a Cargo project, or pass --manifest-path PATH/Cargo.toml (or --binary FILE to package a prebuilt binary)",
            stderr.trim()
        ),
        e => anyhow::Error::new(e).context("running `cargo metadata`"),
    })
}

/// The packages to build images for, and whether they were named (`-p`) rather than defaulted.
fn selected_packages<'a>(md: &'a Metadata, cli: &BuildArgs) -> Result<(Vec<&'a Package>, bool)> {
    let members = md.workspace_packages();
    if !cli.package.is_empty() {
        let candidates: Vec<pkgspec::Candidate> = members
            .iter()
            .map(|p| pkgspec::Candidate {
                name: p.name.to_string(),
                version: p.version.clone(),
                id: p.id.repr.clone(),
            })
            .collect();
        let mut out: Vec<&Package> = Vec::new();
        for spec in &cli.package {
            let c =
                pkgspec::select(spec, &candidates, "in this workspace").map_err(NoSuchPackage)?;
            let p = members.iter().copied().find(|p| p.id.repr == c.id);
            if let Some(p) = p.filter(|p| !out.iter().any(|o| o.id == p.id)) {
                out.push(p);
            }
        }
        return Ok((out, true));
    }
    if cli.workspace {
        return Ok((members, false));
    }
    if let Some(root) = md.root_package() {
        return Ok((vec![root], false));
    }
    let defaults: Vec<&Package> = members
        .iter()
        .copied()
        .filter(|p| md.workspace_default_members.contains(&p.id))
        .collect();
    Ok((
        if defaults.is_empty() {
            members
        } else {
            defaults
        },
        false,
    ))
}

fn bin_targets(p: &Package) -> Vec<String> {
    p.targets
        .iter()
        .filter(|t| t.is_bin())
        .map(|t| t.name.clone())
        .collect()
}

/// Resolve the plan of a build: [`resolve_with`] on the workspace's metadata (none with
/// `--binary`), then each platform's C toolchain (`toolchains::decide`), checked to be installed
/// unless this is a dry run.
pub fn plan(cli: &Cli) -> Result<Plan> {
    let md = match cli.build.binary.is_empty() {
        true => Some(load_metadata(&cli.build)?),
        false => None,
    };
    let mut plan = resolve_with(cli, md.as_ref())?;
    if let Some(md) = &md {
        toolchains::decide(cli, md, &mut plan)?;
    }
    if !plan.dry_run {
        for d in plan.cargo.iter().flat_map(|c| &c.toolchains) {
            c_toolchain::check_installed(d)?;
        }
    }
    Ok(plan)
}

/// Resolve the plan from the flags and the workspace's `cargo metadata` (`None` with `--binary`),
/// running no cargo: pure but for reading the files the flags and tables name (and `git rev-parse`
/// for the revision label). The C toolchains are left undecided (`cargo.toolchains` empty).
pub fn resolve_with(cli: &Cli, metadata: Option<&Metadata>) -> Result<Plan> {
    crate::reference::refuse_credentials("--push", &cli.output.push)?;
    crate::reference::refuse_credentials("--tag", &cli.build.tag)?;
    let ctx = Ctx {
        cli: &cli.build,
        epoch: source_date_epoch()?,
        cli_platforms: parse_platforms(&cli.build.platform, "--platform")?,
    };
    let compression = flags::layer_compression(&cli.output)?;
    let (images, cargo, target_dir) = match metadata {
        _ if !cli.build.binary.is_empty() => prebuilt::from_prebuilt(&ctx)?,
        Some(md) => from_workspace(&ctx, md)?,
        None => bail!("internal: a cargo build was planned without `cargo metadata`"),
    };
    let mut plan = Plan {
        images,
        cargo,
        target_dir,
        epoch: ctx.epoch,
        load: cli.output.load,
        min_size: cli.build.min_size,
        build: flags::build_flags(cli),
        compression,
        client: flags::client_options(&cli.output),
        tarball_format: flags::tarball_format(cli.output.tarball_format),
        image_refs: cli.output.image_refs.clone(),
        sign_key: cli.output.sign_key.clone(),
        dry_run: cli.dry_run,
        json: cli.message_format == crate::cli::MessageFormat::Json,
    };
    plan.min_size |= plan.images.iter().any(|i| i.min_size);
    if plan.images.iter().any(|i| i.default_platform) {
        if let Some(note) = platforms::default_note(&crate::host::Host::current()) {
            crate::ui::note(note);
        }
    }
    assign_outputs(&mut plan, cli)?;
    Ok(plan)
}

fn from_workspace(ctx: &Ctx<'_>, md: &Metadata) -> Result<Resolved> {
    let cli = ctx.cli;
    let ws_manifest = md.workspace_root.join("Cargo.toml");
    let ws_meta = parse_meta(
        &md.workspace_metadata,
        "workspace.metadata.slim-image",
        ws_manifest.as_std_path(),
    )?
    .unwrap_or_default();
    let mut images = Vec::new();
    let mut seen_bins = BTreeSet::new();
    // The `c-toolchain` of each package that gives an image: one cargo build serves them all.
    let mut c_choices: Vec<(String, String)> = Vec::new();
    let mut openssl_choices: Vec<(String, String)> = Vec::new();
    let (selected, named) = selected_packages(md, cli)?;
    for pkg in selected {
        let pkg_meta = parse_meta(
            &pkg.metadata,
            "package.metadata.slim-image",
            pkg.manifest_path.as_std_path(),
        )?
        .unwrap_or_default();
        let meta = ws_meta.clone().overlay(pkg_meta);
        let bins = bin_targets(pkg);
        if bins.is_empty() {
            if named {
                bail!("package `{}` has no binary target ([[bin]] or src/main.rs): there is nothing to put in an image", pkg.name);
            }
            crate::ui::verbose(format!("skipping package {}: no binary targets", pkg.name));
            continue;
        }
        let before = images.len();
        images.extend(package_images(ctx, pkg, &meta, &bins, &mut seen_bins)?);
        if let (true, Some(c)) = (images.len() > before, &meta.c_toolchain) {
            c_choices.push((pkg.name.to_string(), c.clone()));
        }
        if let (true, Some(o)) = (images.len() > before, &meta.openssl) {
            openssl_choices.push((pkg.name.to_string(), o.clone()));
        }
    }
    for b in &cli.bin {
        if !seen_bins.contains(b) {
            return Err(NoSuchBin(b.clone()).into());
        }
    }
    if images.is_empty() {
        bail!(
            "no binary targets to package in {}: add a src/main.rs or [[bin]], or select packages with -p/--workspace",
            ws_manifest
        );
    }
    let mut packages: Vec<String> = images.iter().filter_map(|i| i.package.clone()).collect();
    packages.sort();
    packages.dedup();
    let mut bins: Vec<String> = images
        .iter()
        .flat_map(|i| i.binaries.iter().map(|b| b.name.clone()))
        .collect();
    bins.sort();
    bins.dedup();
    let target_dir = cli
        .target_dir
        .clone()
        .unwrap_or_else(|| md.target_directory.clone().into_std_path_buf());
    let c_toolchain = c_choice(cli, &c_choices)?;
    let cargo = CargoPlan {
        manifest_path: cli.manifest_path.clone(),
        packages,
        bins,
        c_toolchain,
        openssl: openssl_choice(&openssl_choices)?,
        toolchains: Vec::new(),
    };
    Ok((images, Some(cargo), target_dir))
}

/// The images of one package: one per binary its `binaries` key or `--bin` select (`bins`: its bin
/// targets), or one for the `binaries` list; the binaries wanted are added to `seen_bins`.
fn package_images(
    ctx: &Ctx<'_>,
    pkg: &Package,
    meta: &Meta,
    bins: &[String],
    seen_bins: &mut BTreeSet<String>,
) -> Result<Vec<ImageSpec>> {
    let cli = ctx.cli;
    let wanted = |b: &String| cli.bin.is_empty() || cli.bin.contains(b);
    let spec = |name: &String| BinSpec {
        name: name.clone(),
        package: Some(pkg.name.to_string()),
        prebuilt: None,
    };
    let origin = Origin::of(pkg);
    let mut images = Vec::new();
    if let Some(list) = &meta.binaries {
        for b in list {
            if !bins.contains(b) {
                bail!(
                    "binaries = [..\"{b}\"..] in {}: package `{}` has no binary target `{b}` (it has: {})",
                    pkg.manifest_path, pkg.name, bins.join(", ")
                );
            }
        }
        if list.is_empty() {
            bail!(
                "binaries = [] in {}: list at least one binary, or remove the key",
                pkg.manifest_path
            );
        }
        if list.iter().any(wanted) {
            seen_bins.extend(list.iter().cloned());
            images.push(spec_for(
                ctx,
                meta,
                &origin,
                pkg.name.as_str(),
                list.iter().map(spec).collect(),
            )?);
        }
    } else {
        for b in bins.iter().filter(|b| wanted(b)) {
            seen_bins.insert(b.clone());
            images.push(spec_for(ctx, meta, &origin, b, vec![spec(b)])?);
        }
    }
    Ok(images)
}

/// The C toolchain choice: `--c-toolchain`, else the `c-toolchain` the packages' tables agree on
/// (`choices`: package name and value, already checked), else `auto`.
pub(super) fn c_choice(
    cli: &BuildArgs,
    choices: &[(String, String)],
) -> Result<c_toolchain::Choice> {
    if let Some(c) = cli.c_toolchain {
        return Ok(flags::c_toolchain(c));
    }
    let Some((first, value)) = choices.first() else {
        return Ok(c_toolchain::Choice::Auto);
    };
    if let Some((other, v)) = choices.iter().find(|(_, v)| v.trim() != value.trim()) {
        bail!(
            "c-toolchain is `{}` for package `{first}` but `{}` for package `{other}`: one cargo build makes every image of a run, so build them in separate runs (-p), or set c-toolchain once in [workspace.metadata.slim-image], or pass --c-toolchain",
            crate::config::check::shown(value),
            crate::config::check::shown(v)
        );
    }
    c_toolchain::Choice::parse(value).map_err(anyhow::Error::msg)
}

/// The `openssl` the packages' tables agree on (`choices`: package name and value, already
/// checked), else auto: one cargo build makes every image of a run.
fn openssl_choice(choices: &[(String, String)]) -> Result<crate::compile::c_libs::OpensslChoice> {
    use crate::compile::c_libs::OpensslChoice;
    let Some((first, value)) = choices.first() else {
        return Ok(OpensslChoice::Auto);
    };
    if let Some((other, v)) = choices.iter().find(|(_, v)| v.trim() != value.trim()) {
        bail!(
            "openssl is `{}` for package `{first}` but `{}` for package `{other}`: one cargo build makes every image of a run, so build them in separate runs (-p), or set openssl once in [workspace.metadata.slim-image]",
            crate::config::check::shown(value),
            crate::config::check::shown(v)
        );
    }
    OpensslChoice::parse(value).map_err(anyhow::Error::msg)
}
