//! `resolve` and `init-k8s`: the YAML read, every `slim-image://NAME` it names resolved into the
//! plan of its image (NAME a binary, else a package, of the workspace), and the starter manifest
//! rendered, all before anything is built or pushed. The build flags after the subcommand are
//! joined with those before it ([`crate::cli::join`]); `cargo metadata` runs once.

use crate::cli::{BuildArgs, Cli, InitArgs, OutputArgs, ResolveArgs};
use crate::k8s::{InitPlan, ResolvePlan, SCHEME};
use crate::plan::Plan;
use anyhow::{bail, Context, Result};
use cargo_metadata::Metadata;

/// The command line of a subcommand that takes the build flags itself: those before it joined with
/// its own (`--release` on one side and `--profile NAME` on the other refused).
fn joined(top: &Cli, build: &BuildArgs, output: Option<&OutputArgs>) -> Result<Cli> {
    let mut cli = top.clone();
    cli.command = None;
    cli.build = crate::cli::join::build(top.build.clone(), build.clone())?;
    if let Some(o) = output {
        cli.output = crate::cli::join::output(top.output.clone(), o.clone());
    }
    Ok(cli)
}

/// The workspace's metadata, unless the flags package `--binary` files.
fn metadata(cli: &Cli) -> Result<Option<Metadata>> {
    match cli.build.binary.is_empty() {
        true => super::build::load_metadata(&cli.build).map(Some),
        false => Ok(None),
    }
}

/// `resolve`: the inputs and the plan of each image they name, in the order first named.
pub(super) fn resolve(args: &ResolveArgs, top: &Cli) -> Result<ResolvePlan> {
    let cli = joined(top, &args.build, Some(&args.output))?;
    let inputs = crate::k8s::read_inputs(&args.files)?;
    let md = metadata(&cli)?;
    let mut images: Vec<(String, Plan)> = Vec::new();
    for (origin, text) in &inputs {
        for m in crate::k8s::mentions(text) {
            if images.iter().any(|(n, _)| *n == m.name) {
                continue;
            }
            let plan = plan_one(&m.name, args.repo.as_deref(), &cli, md.as_ref())
                .with_context(|| format!("resolving {SCHEME}{} in {origin}", m.name))?;
            images.push((m.name, plan));
        }
    }
    Ok(ResolvePlan {
        inputs,
        images,
        dry_run: cli.dry_run,
        json: cli.message_format == crate::cli::MessageFormat::Json,
    })
}

/// Where the image of `name` is pushed: `--repo`/NAME, else (`""`) its own name.
fn push_target(name: &str, repo: Option<&str>) -> Result<String> {
    let Some(repo) = repo else {
        return Ok(String::new());
    };
    let prefix = repo.trim_end_matches('/');
    if prefix.is_empty() {
        bail!("--repo is empty: give the registry (and namespace) to push to, e.g. --repo ghcr.io/acme or --repo localhost:5000");
    }
    let target = format!("{prefix}/{name}");
    target
        .parse::<crate::reference::Reference>()
        .with_context(|| format!("--repo {repo}: images go to {repo}/NAME, so it must be REGISTRY[/NAMESPACE] without a tag or digest"))?;
    crate::config::check::push_target(&target)
        .map_err(|why| anyhow::anyhow!("--repo {repo}: {why}"))?;
    Ok(target)
}

/// The plan for the image of `name` (a binary, else a package), pushed to `--repo`/NAME or its own
/// name, with its C toolchains decided.
fn plan_one(name: &str, repo: Option<&str>, cli: &Cli, md: Option<&Metadata>) -> Result<Plan> {
    let mut c = cli.clone();
    c.output.push = vec![push_target(name, repo)?];
    c.build.bin = vec![name.to_string()];
    let mut plan = match super::build::resolve_with(&c, md) {
        Ok(p) => p,
        // Not a binary: perhaps a package (whose error then counts only if it is one).
        Err(e) if e.downcast_ref::<super::build::NoSuchBin>().is_some() => {
            c.build.bin.clear();
            c.build.package = vec![name.to_string()];
            super::build::resolve_with(&c, md).map_err(|as_pkg| {
                if as_pkg
                    .downcast_ref::<super::build::NoSuchPackage>()
                    .is_some()
                {
                    e.context(format!(
                        "{SCHEME}{name}: no binary or package of that name in the workspace"
                    ))
                } else {
                    as_pkg
                }
            })?
        }
        Err(e) => return Err(e),
    };
    if plan.images.len() != 1 {
        bail!("{SCHEME}{name} names {} images (package with several binaries): name one binary instead", plan.images.len());
    }
    if let Some(md) = md {
        super::toolchains::decide(&c, md, &mut plan)?;
    }
    if !plan.dry_run {
        for d in plan.cargo.iter().flat_map(|c| &c.toolchains) {
            crate::compile::c_toolchain::check_installed(d)?;
        }
    }
    Ok(plan)
}

/// `init-k8s`: the manifest for the one image the flags (and NAME) select, and where it goes.
pub(super) fn init(args: &InitArgs, top: &Cli) -> Result<InitPlan> {
    let mut cli = joined(top, &args.build, None)?;
    if let Some(n) = &args.name {
        cli.build.bin = vec![n.clone()];
    }
    let plan = super::build::resolve_with(&cli, metadata(&cli)?.as_ref())?;
    if plan.images.len() != 1 {
        let names: Vec<&str> = plan
            .images
            .iter()
            .map(|i| i.binaries[0].name.as_str())
            .collect();
        bail!(
            "init-k8s makes a manifest for one image, and this workspace has {}: {} (name one: cargo slim-image init-k8s NAME)",
            names.len(),
            names.join(", ")
        );
    }
    let img = &plan.images[0];
    let binary = &img.binaries[0].name;
    let port = match args.port {
        Some(p) => p,
        None => img
            .ports
            .iter()
            .find_map(|p| p.split('/').next()?.parse().ok())
            .unwrap_or(8080),
    };
    let name = binary.to_ascii_lowercase().replace('_', "-");
    // `-o -` is stdout, as `--tarball -` is (not a file named `-`).
    let output = args.output.clone().filter(|p| p.as_os_str() != "-");
    // Refused before anything is written, in a dry run too.
    if let Some(path) = output.as_ref().filter(|p| p.exists()) {
        bail!(
            "init-k8s: {} exists; remove it or pick another -o FILE",
            path.display()
        );
    }
    Ok(InitPlan {
        manifest: crate::k8s::render(&name, binary, port),
        output,
        dry_run: plan.dry_run,
        json: plan.json,
    })
}
