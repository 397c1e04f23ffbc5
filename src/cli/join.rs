//! Flags given in two places joined as one command line would be: the build flags before a
//! subcommand (`cargo slim-image --manifest-path x/Cargo.toml resolve ...`, the old order) with
//! those after it (`resolve --manifest-path x/Cargo.toml ...`), and `verify`'s flags before
//! `verify` with those after IMAGE.
//!
//! Lists (`-p`, `--bin`, `--env`, ...) add up, a flag that takes one value is the later one when it
//! is given in both places, switches are on when either place turns them on. [`build`] and
//! [`output`] destructure their structs field by field, so a flag added to the CLI does not compile
//! until this file says how it joins.

use super::{BuildArgs, CargoCli, Cli, OutputArgs};
use anyhow::{bail, Result};
use clap::Parser;

/// `after` when it is not the default `default`, else `before`.
fn pick<T: PartialEq>(before: T, after: T, default: T) -> T {
    if after != default {
        after
    } else {
        before
    }
}

/// Lists add up.
fn both<T>(mut before: Vec<T>, after: Vec<T>) -> Vec<T> {
    before.extend(after);
    before
}

/// Every flag at its default (as `cargo slim-image` alone parses).
fn defaults() -> Cli {
    let CargoCli::SlimImage(d) = CargoCli::parse_from(["cargo", "slim-image"]);
    d
}

/// `--release` on one side of the subcommand and `--profile NAME` (not `default`) on the other are
/// refused, as clap refuses them side by side.
fn check_release_profile(before: &BuildArgs, after: &BuildArgs, default: &str) -> Result<()> {
    for (release, profile) in [
        (before.release, &after.profile),
        (after.release, &before.profile),
    ] {
        if release && *profile != default {
            bail!(
                "--release cannot be used with --profile {profile} (one before the \
                 subcommand, one after it): --release is the release profile; give one of them"
            );
        }
    }
    Ok(())
}

/// The build flags `before` joined with `after`. `--release` on one side and `--profile NAME` on
/// the other are refused, as clap refuses them side by side.
pub fn build(before: BuildArgs, after: BuildArgs) -> Result<BuildArgs> {
    let d = defaults().build;
    check_release_profile(&before, &after, &d.profile)?;
    let BuildArgs {
        manifest_path,
        package,
        workspace,
        bin,
        binary,
        features,
        all_features,
        no_default_features,
        profile,
        release,
        target_dir,
        platform,
        c_toolchain,
        locked,
        frozen,
        offline,
        tag,
        repository_prefix,
        env,
        label,
        annotation,
        entrypoint,
        user,
        base,
        ca_certificates,
        timezones,
        sbom,
        provenance,
        size_budget,
        min_size,
        no_embed_dependencies,
        debuginfo,
    } = after;
    Ok(BuildArgs {
        manifest_path: manifest_path.or(before.manifest_path),
        package: both(before.package, package),
        workspace: workspace || before.workspace,
        bin: both(before.bin, bin),
        binary: both(before.binary, binary),
        features: both(before.features, features),
        all_features: all_features || before.all_features,
        no_default_features: no_default_features || before.no_default_features,
        profile: pick(before.profile, profile, d.profile),
        release: release || before.release,
        target_dir: target_dir.or(before.target_dir),
        platform: both(before.platform, platform),
        c_toolchain: c_toolchain.or(before.c_toolchain),
        locked: locked || before.locked,
        frozen: frozen || before.frozen,
        offline: offline || before.offline,
        tag: both(before.tag, tag),
        repository_prefix: repository_prefix.or(before.repository_prefix),
        env: both(before.env, env),
        label: both(before.label, label),
        annotation: both(before.annotation, annotation),
        entrypoint: entrypoint.or(before.entrypoint),
        user: user.or(before.user),
        base: base.or(before.base),
        ca_certificates: ca_certificates.or(before.ca_certificates),
        timezones: timezones || before.timezones,
        sbom: sbom.or(before.sbom),
        provenance: provenance.or(before.provenance),
        size_budget: size_budget.or(before.size_budget),
        min_size: min_size || before.min_size,
        no_embed_dependencies: no_embed_dependencies || before.no_embed_dependencies,
        debuginfo: debuginfo.or(before.debuginfo),
    })
}

/// The output flags `before` joined with `after`.
pub fn output(before: OutputArgs, after: OutputArgs) -> OutputArgs {
    let d = defaults().output;
    let OutputArgs {
        output,
        tarball,
        tarball_format,
        load,
        push,
        image_refs,
        sign_key,
        insecure_registry,
        registry_ca,
        compression,
        compression_level,
        retries,
        timeout,
    } = after;
    OutputArgs {
        output: output.or(before.output),
        tarball: tarball.or(before.tarball),
        tarball_format: pick(before.tarball_format, tarball_format, d.tarball_format),
        load: load || before.load,
        push: both(before.push, push),
        image_refs: image_refs.or(before.image_refs),
        sign_key: sign_key.or(before.sign_key),
        insecure_registry: both(before.insecure_registry, insecure_registry),
        registry_ca: both(before.registry_ca, registry_ca),
        compression: pick(before.compression, compression, d.compression),
        compression_level: compression_level.or(before.compression_level),
        retries: pick(before.retries, retries, d.retries),
        timeout: pick(before.timeout, timeout, d.timeout),
    }
}

/// The whole command line `before` (its subcommand dropped) joined with `after`.
fn all(before: Cli, after: Cli) -> Result<Cli> {
    let d = defaults();
    let Cli {
        command: _,
        build: b,
        output: o,
        dry_run,
        message_format,
        verbose,
        quiet,
        color,
    } = after;
    Ok(Cli {
        command: None,
        build: build(before.build, b)?,
        output: output(before.output, o),
        dry_run: dry_run || before.dry_run,
        message_format: pick(before.message_format, message_format, d.message_format),
        verbose: verbose.max(before.verbose),
        quiet: quiet || before.quiet,
        color: color.or(before.color),
    })
}

/// `verify`'s flags: those before `verify` (`before`) and those after IMAGE (`after`, parsed as a
/// build's), joined.
pub fn build_flags(after: &[String], before: &Cli) -> Result<Cli> {
    let mut cli = before.clone();
    cli.command = None;
    if after.is_empty() {
        return Ok(cli);
    }
    let argv = ["cargo", "slim-image"]
        .into_iter()
        .map(String::from)
        .chain(after.iter().cloned());
    let CargoCli::SlimImage(parsed) = CargoCli::try_parse_from(argv).map_err(|e| {
        anyhow::anyhow!(
            "verify: the build flags after IMAGE: {}",
            e.to_string().trim_start_matches("error: ").trim_end()
        )
    })?;
    if parsed.command.is_some() {
        bail!("verify: after IMAGE come build flags only, not another subcommand");
    }
    all(cli, parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Cli {
        let args = super::super::as_cargo_runs_it(a.iter().copied());
        let CargoCli::SlimImage(c) = CargoCli::try_parse_from(args).expect("the arguments parse");
        c
    }

    #[test]
    fn flags_before_and_after_image_add_up() {
        let before = parse(&[
            "c",
            "--manifest-path",
            "x/Cargo.toml",
            "--bin",
            "a",
            "--profile",
            "dist",
        ]);
        let after: Vec<String> = ["--bin", "b", "--env", "K=V", "--dry-run"]
            .map(String::from)
            .to_vec();
        let c = build_flags(&after, &before).unwrap();
        assert_eq!(c.build.bin, ["a", "b"]);
        assert_eq!(c.build.env, ["K=V"]);
        assert_eq!(c.build.profile, "dist");
        assert!(c.dry_run && c.command.is_none());
        assert_eq!(
            c.build.manifest_path.unwrap().to_str(),
            Some("x/Cargo.toml")
        );
        let c = build_flags(&["--profile".into(), "release".into()], &before).unwrap();
        assert_eq!(
            c.build.profile, "dist",
            "a default after IMAGE does not undo a flag before"
        );
        let e = build_flags(&["--no-such-flag".into()], &before).unwrap_err();
        assert!(e.to_string().contains("--no-such-flag"), "{e}");
    }

    #[test]
    fn build_flags_after_a_subcommand_join_those_before_it() {
        let old = parse(&[
            "c",
            "--manifest-path",
            "x/Cargo.toml",
            "resolve",
            "-f",
            "k.yaml",
        ]);
        let new = parse(&[
            "c",
            "resolve",
            "--manifest-path",
            "x/Cargo.toml",
            "-f",
            "k.yaml",
        ]);
        for c in [old, new] {
            let Some(super::super::Command::Resolve(r)) = c.command.clone() else {
                panic!("not resolve: {c:?}");
            };
            let b = build(c.build, r.build).unwrap();
            assert_eq!(b.manifest_path.unwrap().to_str(), Some("x/Cargo.toml"));
            assert_eq!(b.profile, "release");
            assert_eq!(r.files[0].to_str(), Some("k.yaml"));
        }
    }
}
