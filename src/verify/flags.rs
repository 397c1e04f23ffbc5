//! The build flags of `verify`: those before `verify` (as the other subcommands take them) joined
//! with those after IMAGE, then every output turned off.
//!
//! Joined as one command line would be: lists (`-p`, `--bin`, `--env`, ...) add up, a flag that
//! takes one value is the one after IMAGE when it is given in both places, switches are on when
//! either place turns them on. [`join`] destructures [`Cli`] field by field, so a flag added to the
//! CLI does not compile until this file says how it joins.

use crate::cli::{CargoCli, Cli};
use anyhow::{bail, Result};
use clap::Parser;

/// `after` (a value of the flags after IMAGE) when it is not the default `default`, else `before`.
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

/// The flags before `verify` joined with those after IMAGE (`after`, parsed as a build's).
fn join(before: Cli, after: Cli) -> Cli {
    let CargoCli::SlimImage(d) = CargoCli::parse_from(["cargo", "slim-image"]);
    let Cli {
        command: _,
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
        dry_run,
        message_format,
        sbom,
        provenance,
        size_budget,
        min_size,
        verbose,
        quiet,
        color,
        c_toolchain,
        no_embed_dependencies,
        debuginfo,
        timezones,
    } = after;
    Cli {
        command: None,
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
        dry_run: dry_run || before.dry_run,
        message_format: pick(before.message_format, message_format, d.message_format),
        sbom: sbom.or(before.sbom),
        provenance: provenance.or(before.provenance),
        size_budget: size_budget.or(before.size_budget),
        min_size: min_size || before.min_size,
        verbose: verbose.max(before.verbose),
        quiet: quiet || before.quiet,
        color: color.or(before.color),
        c_toolchain: c_toolchain.or(before.c_toolchain),
        no_embed_dependencies: no_embed_dependencies || before.no_embed_dependencies,
        debuginfo: debuginfo.or(before.debuginfo),
        timezones: timezones || before.timezones,
    }
}

/// The flags to build with: those before `verify` and those after IMAGE (`after`), joined.
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
    Ok(join(cli, parsed))
}

/// The flags with every sink turned off (said in a note); `unused` is a path that does not exist,
/// given as `--output` so that the plan's output checks never look at the user's layout.
pub fn without_sinks(mut cli: Cli, unused: std::path::PathBuf) -> Cli {
    let mut ignored = Vec::new();
    if !cli.push.is_empty() {
        ignored.push("--push");
        cli.push.clear();
    }
    if cli.tarball.take().is_some() {
        ignored.push("--tarball");
    }
    if cli.image_refs.take().is_some() {
        ignored.push("--image-refs");
    }
    if cli.sign_key.take().is_some() {
        ignored.push("--sign-key");
    }
    if std::mem::take(&mut cli.load) {
        ignored.push("--load");
    }
    if cli.output.replace(unused).is_some() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Cli {
        let CargoCli::SlimImage(c) = crate::cli::parse_from(a.iter().copied());
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
        assert_eq!(c.bin, ["a", "b"]);
        assert_eq!(c.env, ["K=V"]);
        assert_eq!(c.profile, "dist");
        assert!(c.dry_run && c.command.is_none());
        assert_eq!(c.manifest_path.unwrap().to_str(), Some("x/Cargo.toml"));
        let c = build_flags(&["--profile".into(), "release".into()], &before).unwrap();
        assert_eq!(
            c.profile, "dist",
            "a default after IMAGE does not undo a flag before"
        );
        let e = build_flags(&["--no-such-flag".into()], &before).unwrap_err();
        assert!(e.to_string().contains("--no-such-flag"), "{e}");
    }
}
