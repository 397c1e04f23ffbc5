//! The command line -> the [`Job`] to run: the default build's [`Plan`], or a subcommand's own
//! plan. Every subcommand's arguments are checked here, before any build or network request, and
//! each plan carries `--dry-run` and `--message-format` as values.

use super::flags;
use crate::cli::{Cli, Command, DebuginfoArgs, IndexArgs, VerifyArgs};
use crate::plan::Plan;
use crate::reference::Reference;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

/// What a run does, resolved.
#[derive(Debug)]
pub enum Job {
    /// Build the images (`--dry-run`: print the plan).
    Build(Plan),
    /// `index`.
    Index(crate::index_cmd::IndexPlan),
    /// `resolve`.
    Resolve(crate::k8s::ResolvePlan),
    /// `init-k8s`.
    InitK8s(crate::k8s::InitPlan),
    /// `verify`.
    Verify(crate::verify::VerifyPlan),
    /// `debuginfo`.
    Debuginfo(crate::debuginfo::fetch::FetchPlan),
    /// `completions SHELL`: the script needs nothing but the command line's definition, which the
    /// caller has.
    Completions(clap_complete::Shell),
}

/// Resolve the command line into its job.
pub fn resolve(cli: &Cli) -> Result<Job> {
    crate::reference::refuse_credentials("--push", &cli.output.push)?;
    crate::reference::refuse_credentials("--tag", &cli.build.tag)?;
    Ok(match &cli.command {
        None => Job::Build(super::build::plan(cli)?),
        Some(Command::Index(args)) => Job::Index(index(args, cli)?),
        Some(Command::Resolve(args)) => Job::Resolve(super::k8s::resolve(args, cli)?),
        Some(Command::InitK8s(args)) => Job::InitK8s(super::k8s::init(args, cli)?),
        Some(Command::Verify(args)) => Job::Verify(verify(args, cli)?),
        Some(Command::Debuginfo(args)) => Job::Debuginfo(debuginfo(args, cli)?),
        Some(Command::Completions(args)) => Job::Completions(args.shell),
    })
}

fn json(cli: &Cli) -> bool {
    cli.message_format == crate::cli::MessageFormat::Json
}

/// `index`: the targets, inputs and annotations checked; the registry options of the flags before
/// the subcommand plus its own.
fn index(args: &IndexArgs, cli: &Cli) -> Result<crate::index_cmd::IndexPlan> {
    let targets = args
        .push
        .iter()
        .map(|t| {
            let r: Reference = t.parse().map_err(|e| anyhow::anyhow!("--push: {e}"))?;
            crate::config::check::push_target(t)
                .map_err(|why| anyhow::anyhow!("index --push {t}: {why}"))?;
            if r.digest.is_some() {
                bail!("--push {t}: a push target cannot pin a digest (the digest is the result); give REGISTRY/NAME:TAG");
            }
            Ok(r)
        })
        .collect::<Result<Vec<_>>>()?;
    let inputs = args
        .images
        .iter()
        .map(|s| s.parse::<Reference>().map_err(anyhow::Error::from))
        .collect::<Result<Vec<_>>>()?;
    let annotations = args
        .annotation
        .iter()
        .map(|a| crate::config::parse_kv(a, "--annotation"))
        .collect::<Result<BTreeMap<_, _>>>()?;
    // --retries/--timeout and the flags before the subcommand, plus the subcommand's own.
    let mut client = flags::client_options(&cli.output);
    client
        .insecure_registries
        .extend(args.insecure_registry.iter().cloned());
    client.registry_ca.extend(args.registry_ca.iter().cloned());
    Ok(crate::index_cmd::IndexPlan {
        targets,
        inputs,
        annotations,
        client,
        sign_key: args.sign_key.clone().or(cli.output.sign_key.clone()),
        dry_run: cli.dry_run,
        json: json(cli),
    })
}

/// `debuginfo`: IMAGE parsed, DIR checked to be new or empty.
fn debuginfo(args: &DebuginfoArgs, cli: &Cli) -> Result<crate::debuginfo::fetch::FetchPlan> {
    crate::reference::refuse_credentials("debuginfo IMAGE", [&args.image])?;
    crate::debuginfo::fetch::check_new_or_empty(&args.output)?;
    Ok(crate::debuginfo::fetch::FetchPlan {
        image: crate::verify::source::parse(&args.image)?,
        output: args.output.clone(),
        client: flags::client_options(&cli.output),
        dry_run: cli.dry_run,
        json: json(cli),
    })
}

/// `verify`: the build flags before `verify` and after IMAGE joined, every sink turned off, and the
/// plan of the rebuild.
fn verify(args: &VerifyArgs, outer: &Cli) -> Result<crate::verify::VerifyPlan> {
    let cli = crate::cli::join::build_flags(&args.build, outer)?;
    crate::ui::set_level(if cli.quiet { -1 } else { cli.verbose as i8 });
    crate::reference::refuse_credentials("verify IMAGE", [&args.image])?;
    crate::reference::refuse_credentials("--tag", &cli.build.tag)?;
    let image = crate::verify::source::parse(&args.image)?;
    // A path that does not exist, given as `--output` so that the plan's output checks never look
    // at the user's layout; verify writes nothing there.
    let unused = tempfile::tempdir().context("creating a temp dir")?;
    let cli = without_sinks(cli, unused.path().join("not-written"));
    Ok(crate::verify::VerifyPlan {
        image,
        plan: super::build::plan(&cli)?,
    })
}

/// The flags with every sink turned off (said in a note); `unused` becomes `--output`.
fn without_sinks(mut cli: Cli, unused: std::path::PathBuf) -> Cli {
    let o = &mut cli.output;
    let mut ignored = Vec::new();
    if !o.push.is_empty() {
        ignored.push("--push");
        o.push.clear();
    }
    if o.tarball.take().is_some() {
        ignored.push("--tarball");
    }
    if o.image_refs.take().is_some() {
        ignored.push("--image-refs");
    }
    if o.sign_key.take().is_some() {
        ignored.push("--sign-key");
    }
    if std::mem::take(&mut o.load) {
        ignored.push("--load");
    }
    if o.output.replace(unused).is_some() {
        ignored.push("--output");
    }
    if !ignored.is_empty() {
        crate::ui::note(format!(
            "verify writes, loads and pushes nothing: {} ignored",
            ignored.join(", ")
        ));
    }
    cli
}
