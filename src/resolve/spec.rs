//! One image's settings: name and tags, entrypoint, env and CA bundle, user, ports, labels and
//! annotations, extra files, platforms, and build options, each from flags, then the `slim-image`
//! table, then the default.

use super::ctx::{parse_platforms, split_name_tag, Ctx};
use crate::cli::BuildArgs;
use crate::config::{parse_kv, Meta};
use crate::plan::*;
use crate::reference::Reference;
use crate::rootfs::{CaConfig, CaSource, CA_BUNDLE_PATH};
use anyhow::{bail, Context, Result};
use cargo_metadata::Package;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn git_revision(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && s.len() >= 40).then_some(s)
}

/// A version as a tag: `+` is not allowed in tags, so `1.0.0+build` becomes `1.0.0_build`.
pub(super) fn version_tag(v: &str) -> String {
    v.replace('+', "_")
}

/// Check that `name:tag` is a valid reference (lowercase repository, valid tag).
pub(super) fn check_name(name: &str, tag: &str, origin: &str) -> Result<()> {
    format!("{name}:{tag}")
        .parse::<Reference>()
        .map(|_| ())
        .with_context(|| format!("invalid image name or tag from {origin}"))
}

/// What a package (or a bare binary) contributes to labels and annotations.
#[derive(Default)]
pub(super) struct Origin {
    pub(super) title: String,
    pub(super) version: Option<String>,
    pub(super) description: Option<String>,
    pub(super) licenses: Option<String>,
    pub(super) source: Option<String>,
    pub(super) url: Option<String>,
    pub(super) revision: Option<String>,
}

impl Origin {
    pub(super) fn of(p: &Package) -> Origin {
        let dir = p
            .manifest_path
            .parent()
            .map(|d| d.as_std_path().to_path_buf());
        Origin {
            title: p.name.to_string(),
            version: Some(p.version.to_string()),
            description: p.description.clone(),
            licenses: p.license.clone(),
            source: p.repository.clone(),
            url: p.homepage.clone().or_else(|| p.repository.clone()),
            revision: dir.as_deref().and_then(git_revision),
        }
    }

    /// The standard `org.opencontainers.image.*` keys.
    fn oci_keys(&self, created: &str) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: Option<&String>| {
            if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
                m.insert(
                    format!("org.opencontainers.image.{k}"),
                    v.trim().to_string(),
                );
            }
        };
        put("title", Some(&self.title));
        put("version", self.version.as_ref());
        put("description", self.description.as_ref());
        put("licenses", self.licenses.as_ref());
        put("source", self.source.as_ref());
        put("url", self.url.as_ref());
        put("revision", self.revision.as_ref());
        put("created", Some(&created.to_string()));
        m
    }
}

fn kv_flags(list: &[String], flag: &str) -> Result<BTreeMap<String, String>> {
    list.iter().map(|s| parse_kv(s, flag)).collect()
}

/// Name and tags from --tag (all must name one repository), if given.
fn names_from_tag_flags(cli: &BuildArgs) -> Result<Option<(String, Vec<String>)>> {
    let mut name: Option<String> = None;
    let mut tags = Vec::new();
    for t in &cli.tag {
        let (n, tag) = split_name_tag(t);
        if n.is_empty() {
            bail!("--tag `{t}` has no image name: write NAME[:TAG], e.g. --tag app:1.0");
        }
        match &name {
            Some(prev) if *prev != n => bail!(
                "--tag names two repositories, `{prev}` and `{n}`: one image has one name (several tags are fine); to push one image to several repositories use --push REF more than once"
            ),
            _ => name = Some(n),
        }
        tags.extend(tag);
    }
    Ok(name.map(|n| (n, tags)))
}

/// Resolves the image name and tags (--tag, then `name`/`tags`, then defaults), checked as references.
fn name_and_tags(
    cli: &BuildArgs,
    meta: &Meta,
    origin: &Origin,
    default_name: &str,
) -> Result<(String, Vec<String>)> {
    let from_flags = names_from_tag_flags(cli)?;
    let (name, origin_desc) = match (&from_flags, &meta.name) {
        (Some((n, _)), _) => (n.clone(), "--tag".to_string()),
        (None, Some(n)) => (
            n.clone(),
            "the `name` key of [package.metadata.slim-image]".to_string(),
        ),
        (None, None) => (
            default_name.to_ascii_lowercase().replace('_', "-"),
            format!("the name `{default_name}`"),
        ),
    };
    let name = with_prefix(cli, meta, name)?;
    let mut tags: Vec<String> = match &from_flags {
        Some((_, t)) if !t.is_empty() => t.clone(),
        _ => meta.tags.clone().unwrap_or_else(|| {
            let mut v: Vec<String> = origin.version.iter().map(|v| version_tag(v)).collect();
            v.push("latest".to_string());
            v
        }),
    };
    tags.dedup();
    if tags.is_empty() {
        bail!("image `{name}` has an empty tag list: set tags = [\"latest\"] or leave the key out");
    }
    for t in &tags {
        check_name(&name, t, &origin_desc)?;
    }
    Ok((name, tags))
}

/// `name` with the repository prefix (`SLIM_IMAGE_REPO` / `--repository-prefix`, else the
/// `repository-prefix` key) in front when it has no registry of its own (ko's KO_DOCKER_REPO rule).
/// The prefix must start with a registry host: a name without one would mean Docker Hub.
fn with_prefix(cli: &BuildArgs, meta: &Meta, name: String) -> Result<String> {
    let (prefix, from) = match (&cli.repository_prefix, &meta.repository_prefix) {
        (Some(p), _) => (p, "SLIM_IMAGE_REPO (or --repository-prefix)"),
        (None, Some(p)) => (p, "the `repository-prefix` key of [*.metadata.slim-image]"),
        (None, None) => return Ok(name),
    };
    // `user:pass@host` typed into the prefix: the error every reference flag gives for it.
    crate::reference::refuse_credentials(from, [prefix])?;
    let prefix = prefix.trim().trim_end_matches('/');
    if prefix.is_empty() {
        return Ok(name);
    }
    if crate::reference::registry_host(&format!("{prefix}/x")).is_none() {
        bail!(
            "{from} is `{prefix}`, which does not start with a registry host, so `{prefix}/{name}` \
             would mean Docker Hub: write the registry too, e.g. ghcr.io/acme or docker.io/acme"
        );
    }
    // A tag or digest in the prefix, or characters no repository may have, fail here, naming it.
    format!("{prefix}/x:latest")
        .parse::<Reference>()
        .ok()
        .filter(|r| r.to_string() == format!("{prefix}/x:latest"))
        .with_context(|| {
            format!(
                "{from} is `{prefix}`, which is not REGISTRY[/PATH] (lower-case path, no tag or \
                 digest): write it as e.g. ghcr.io/acme"
            )
        })?;
    if crate::reference::registry_host(&name).is_some() {
        return Ok(name);
    }
    Ok(format!("{prefix}/{name}"))
}

/// Resolves the entrypoint, its first word made a path under `BIN_DIR` when it names a binary.
fn entrypoint(
    cli: &BuildArgs,
    meta: &Meta,
    name: &str,
    binaries: &[BinSpec],
) -> Result<Vec<String>> {
    let bin_path = |word: &str| {
        if binaries.iter().any(|b| b.name == word) {
            format!("{BIN_DIR}/{word}")
        } else {
            word.to_string()
        }
    };
    let mut entrypoint = match (&cli.entrypoint, &meta.entrypoint) {
        (Some(e), _) => e.split_whitespace().map(str::to_string).collect(),
        (None, Some(e)) => e.to_vec(),
        (None, None) => vec![format!("{BIN_DIR}/{}", binaries[0].name)],
    };
    if entrypoint.is_empty() {
        bail!(
            "the entrypoint of image `{name}` is empty: name a binary, e.g. --entrypoint {}",
            binaries[0].name
        );
    }
    entrypoint[0] = bin_path(&entrypoint[0]);
    Ok(entrypoint)
}

/// Resolves the CA bundle: its source and the extra certificates, which must exist.
fn ca_config(cli: &BuildArgs, meta: &Meta) -> Result<CaConfig> {
    let ca = CaConfig {
        source: match cli.ca_certificates.as_deref().or(meta.ca_certificates.as_deref()) {
            None | Some("mozilla") => CaSource::Mozilla,
            Some("host") => CaSource::Host,
            Some("none") => CaSource::None,
            Some(other) => bail!("ca-certificates = `{other}` is not one of: mozilla (built-in roots, default), host, none"),
        },
        extra: meta.extra_ca_certificates.clone().unwrap_or_default(),
    };
    for p in &ca.extra {
        if !p.is_file() {
            bail!("extra-ca-certificates: {} does not exist (paths are relative to the Cargo.toml that lists them)", p.display());
        }
    }
    Ok(ca)
}

/// Resolves the environment: `PATH`, `SSL_CERT_FILE` when there is a CA bundle, then `env`, then --env.
fn env(cli: &BuildArgs, meta: &Meta, ca: &CaConfig) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::from([("PATH".to_string(), DEFAULT_PATH.to_string())]);
    if ca.source != CaSource::None || !ca.extra.is_empty() {
        env.insert("SSL_CERT_FILE".into(), CA_BUNDLE_PATH.into());
    }
    env.extend(meta.env.clone().unwrap_or_default());
    for (k, v) in kv_flags(&cli.env, "--env")? {
        crate::config::check::env_key(&k).map_err(|why| anyhow::anyhow!("--env: {why}"))?;
        env.insert(k, v);
    }
    Ok(env)
}

/// Resolves the working directory, which must be absolute.
fn workdir(meta: &Meta) -> Result<String> {
    let workdir = meta.workdir.clone().unwrap_or_else(|| "/".into());
    if !workdir.starts_with('/') {
        bail!("workdir `{workdir}` must be an absolute path, e.g. \"/\" or \"/home/nonroot\"");
    }
    Ok(workdir)
}

/// Resolves the user (--user, then `user`, checked when its table was read, then the non-root
/// default): `UID[:GID]`, numbers only.
fn user(cli: &BuildArgs, meta: &Meta) -> Result<String> {
    if let Some(u) = &cli.user {
        crate::config::check::user(u).map_err(|why| anyhow::anyhow!("--user: {why}"))?;
    }
    Ok(cli
        .user
        .clone()
        .or(meta.user.clone())
        .unwrap_or_else(|| DEFAULT_USER.into()))
}

/// Resolves the exposed ports as normalized `port/proto`.
fn ports(meta: &Meta) -> Result<BTreeSet<String>> {
    meta.ports
        .iter()
        .flatten()
        .map(|p| p.normalize().context("in `ports`"))
        .collect::<Result<BTreeSet<_>>>()
}

/// Resolves labels and annotations: the OCI keys of `origin`, then the table, then the flags.
fn labels_and_annotations(
    cli: &BuildArgs,
    meta: &Meta,
    origin: &Origin,
    created: &str,
) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>)> {
    let oci = origin.oci_keys(created);
    let mut labels = oci.clone();
    labels.extend(meta.labels.clone().unwrap_or_default());
    labels.extend(kv_flags(&cli.label, "--label")?);
    let mut annotations = oci;
    annotations.extend(meta.annotations.clone().unwrap_or_default());
    annotations.extend(kv_flags(&cli.annotation, "--annotation")?);
    Ok((labels, annotations))
}

/// Resolves the extra `files`: destination (checked when its table was read; here against the
/// binaries and, with `timezones`, the zoneinfo layer's directories), existing source, mode (0644
/// by default).
fn files(meta: &Meta, binaries: &[BinSpec], timezones: bool) -> Result<Vec<FileSpec>> {
    let mut files = Vec::new();
    let from = meta
        .files_from
        .as_deref()
        .map_or_else(String::new, |m| format!(" in {}", m.display()));
    for (i, f) in meta.files.iter().flatten().enumerate() {
        if let Some(b) = binaries
            .iter()
            .find(|b| crate::config::check::at_or_below(&f.dest, &format!("{BIN_DIR}/{}", b.name)))
        {
            bail!(
                "invalid files[{i}].dest{from}: `{}` is (or is below) {BIN_DIR}/{}, the binary `{}` of this image: put the file elsewhere, e.g. /etc/{}/",
                crate::config::check::shown(&f.dest),
                b.name,
                b.name,
                b.name
            );
        }
        if let Some(why) = timezones
            .then(|| crate::layer::zoneinfo::conflict(&f.dest))
            .flatten()
        {
            bail!(
                "invalid files[{i}].dest{from}: `{}` {why}",
                crate::config::check::shown(&f.dest)
            );
        }
        if !f.src.is_file() {
            bail!("files: src {} does not exist or is not a file (paths are relative to the Cargo.toml that lists them)", f.src.display());
        }
        let mode = match &f.mode {
            Some(m) => m
                .bits()
                .with_context(|| format!("in files: mode of {}", f.src.display()))?,
            None => 0o644,
        };
        files.push(FileSpec {
            src: f.src.clone(),
            dest: f.dest.clone(),
            mode,
        });
    }
    Ok(files)
}

/// Resolves the platforms (--platform, then `platforms`, then linux/amd64: see `platforms`).
fn platforms(ctx: &Ctx<'_>, meta: &Meta) -> Result<super::platforms::Chosen> {
    let key = match &meta.platforms {
        Some(list) => Some(parse_platforms(list, "the `platforms` key")?),
        None => None,
    };
    Ok(super::platforms::choose(&ctx.cli_platforms, key))
}

/// Resolves the SBOM format (--sbom, then `sbom`, then SPDX); `None` for no SBOM.
fn sbom(cli: &BuildArgs, meta: &Meta) -> Result<Option<crate::sbom::Format>> {
    Ok(match (cli.sbom, &meta.sbom) {
        (Some(c), _) => super::flags::sbom(c),
        (None, Some(s)) => crate::sbom::Choice::parse(s, "[package.metadata.slim-image]")?,
        (None, None) => crate::sbom::Choice::Spdx,
    }
    .format())
}

/// Resolves the provenance (--provenance, then `provenance`, then slsa).
fn provenance(cli: &BuildArgs, meta: &Meta) -> Result<crate::provenance::Choice> {
    Ok(match (cli.provenance, &meta.provenance) {
        (Some(c), _) => super::flags::provenance(c),
        (None, Some(s)) => crate::provenance::Choice::parse(s, "[package.metadata.slim-image]")?,
        (None, None) => crate::provenance::Choice::Slsa,
    })
}

/// Resolves the size budget in bytes (--size-budget, then `size-budget`), if any.
fn size_budget(cli: &BuildArgs, meta: &Meta) -> Result<Option<u64>> {
    Ok(match (&cli.size_budget, &meta.size_budget) {
        (Some(s), _) => Some(crate::units::parse_size(s).context("--size-budget")?),
        (None, Some(s)) => Some(
            crate::units::parse_size(s).context("size-budget in [package.metadata.slim-image]")?,
        ),
        (None, None) => None,
    })
}

/// Resolves whether `profile = "min-size"` asks for the size-optimised build.
fn min_size(meta: &Meta) -> Result<bool> {
    Ok(match meta.profile.as_deref() {
        None => false,
        Some("min-size") => true,
        Some(other) => bail!(
            "profile = \"{other}\" in [package.metadata.slim-image]: the only value is \"min-size\" (pick a cargo profile with --profile)"
        ),
    })
}

/// Resolves what happens to the binaries' DWARF (--debuginfo, then `debuginfo`, then `split`).
fn debuginfo(cli: &BuildArgs, meta: &Meta) -> Result<crate::debuginfo::Mode> {
    Ok(match (cli.debuginfo, &meta.debuginfo) {
        (Some(m), _) => super::flags::debuginfo(m),
        (None, Some(s)) => crate::debuginfo::Mode::parse(s)
            .map_err(|why| anyhow::anyhow!("debuginfo in [package.metadata.slim-image]: {why}"))?,
        (None, None) => crate::debuginfo::Mode::Split,
    })
}

/// Resolves the base image (--base, then `base`, then scratch).
fn base(cli: &BuildArgs, meta: &Meta) -> Result<crate::base::BaseSource> {
    Ok(match (&cli.base, &meta.base) {
        (Some(b), _) => crate::base::source::parse(b, "--base")?,
        (None, Some(b)) => crate::base::source::parse(b, "base in [package.metadata.slim-image]")?,
        (None, None) => crate::base::BaseSource::Scratch,
    })
}

/// Resolves one image from its table, its origin and the flags; checks run in a fixed order, so
/// the first problem reported is always the same one.
pub(super) fn spec_for(
    ctx: &Ctx<'_>,
    meta: &Meta,
    origin: &Origin,
    default_name: &str,
    binaries: Vec<BinSpec>,
) -> Result<ImageSpec> {
    let cli = ctx.cli;
    let (name, tags) = name_and_tags(cli, meta, origin, default_name)?;
    let created = crate::image::rfc3339(ctx.epoch);
    let entrypoint = entrypoint(cli, meta, &name, &binaries)?;
    let ca = ca_config(cli, meta)?;
    let env = env(cli, meta, &ca)?;
    let workdir = workdir(meta)?;
    let user = user(cli, meta)?;
    let ports = ports(meta)?;
    let (labels, annotations) = labels_and_annotations(cli, meta, origin, &created)?;
    let timezones = cli.timezones || meta.timezones.unwrap_or(false);
    let files = files(meta, &binaries, timezones)?;
    let platforms = platforms(ctx, meta)?;
    let sbom = sbom(cli, meta)?;
    let provenance = provenance(cli, meta)?;
    let size_budget = size_budget(cli, meta)?;
    let min_size = min_size(meta)?;
    let base = base(cli, meta)?;
    let debuginfo = debuginfo(cli, meta)?;
    Ok(ImageSpec {
        name,
        tags,
        package: binaries[0].package.clone(),
        binaries,
        platforms: platforms.platforms,
        default_platform: platforms.default,
        entrypoint,
        cmd: meta.cmd.as_ref().map(|c| c.to_vec()),
        env,
        workdir,
        user,
        ports,
        labels,
        annotations,
        stop_signal: meta.stop_signal.clone().unwrap_or_else(|| "SIGTERM".into()),
        files,
        ca,
        layout: PathBuf::new(),
        tarball: None,
        push: Vec::new(),
        base,
        sbom,
        provenance,
        size_budget,
        min_size,
        embed_dependencies: !cli.no_embed_dependencies && meta.embed_dependencies.unwrap_or(true),
        debuginfo,
        timezones,
        allocator_check: meta.allocator_check.unwrap_or(true),
    })
}
