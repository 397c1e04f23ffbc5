//! Resolution: raw [`Cli`] + `cargo metadata` + `[*.metadata.slim-image]` -> [`Plan`].
//!
//! Every default and override is decided here, once: which packages and binaries, image names and
//! tags (validated as references), entrypoint, env, labels and OCI annotations from Cargo metadata,
//! platforms, and output paths. Flags win over the package table, which wins over the workspace table.

use crate::cli::Cli;
use crate::config::{parse_kv, parse_meta, Meta};
use crate::plan::*;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::rootfs::{CaConfig, CaSource, CA_BUNDLE_PATH};
use anyhow::{bail, Context, Result};
use cargo_metadata::{Metadata, MetadataCommand, Package};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod outputs;
use outputs::assign_outputs;

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
fn version_tag(v: &str) -> String {
    v.replace('+', "_")
}

/// Parse `NAME[:TAG]` given to --tag.
fn split_name_tag(s: &str) -> (String, Option<String>) {
    // A colon after the last slash separates the tag; one before it is a registry port.
    let slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
    match s[slash..].rfind(':') {
        Some(i) => (
            s[..slash + i].to_string(),
            Some(s[slash + i + 1..].to_string()),
        ),
        None => (s.to_string(), None),
    }
}

/// Check that `name:tag` is a valid reference (lowercase repository, valid tag).
fn check_name(name: &str, tag: &str, origin: &str) -> Result<()> {
    format!("{name}:{tag}")
        .parse::<Reference>()
        .map(|_| ())
        .with_context(|| format!("invalid image name or tag from {origin}"))
}

fn load_metadata(cli: &Cli) -> Result<Metadata> {
    let mut cmd = MetadataCommand::new();
    cmd.no_deps();
    if let Some(p) = &cli.manifest_path {
        cmd.manifest_path(p);
    }
    let mut other = Vec::new();
    for (on, flag) in [
        (cli.offline, "--offline"),
        (cli.frozen, "--frozen"),
        (cli.locked, "--locked"),
    ] {
        if on {
            other.push(flag.to_string());
        }
    }
    cmd.other_options(other);
    cmd.exec().map_err(|e| match e {
        cargo_metadata::Error::CargoMetadata { stderr } => anyhow::anyhow!(
            "`cargo metadata` failed: {}\nnote: run cargo slim-image inside a Cargo project, or pass --manifest-path PATH/Cargo.toml (or --binary FILE to package a prebuilt binary)",
            stderr.trim()
        ),
        e => anyhow::Error::new(e).context("running `cargo metadata`"),
    })
}

fn selected_packages<'a>(md: &'a Metadata, cli: &Cli) -> Result<Vec<&'a Package>> {
    let members = md.workspace_packages();
    if !cli.package.is_empty() {
        return cli
            .package
            .iter()
            .map(|spec| {
                members
                    .iter()
                    .copied()
                    .find(|p| p.name.as_str() == spec)
                    .with_context(|| {
                        let names: Vec<&str> = members.iter().map(|p| p.name.as_str()).collect();
                        format!(
                            "-p {spec}: no such package in this workspace (members: {})",
                            names.join(", ")
                        )
                    })
            })
            .collect();
    }
    if cli.workspace {
        return Ok(members);
    }
    if let Some(root) = md.root_package() {
        return Ok(vec![root]);
    }
    let defaults: Vec<&Package> = members
        .iter()
        .copied()
        .filter(|p| md.workspace_default_members.contains(&p.id))
        .collect();
    Ok(if defaults.is_empty() {
        members
    } else {
        defaults
    })
}

fn bin_targets(p: &Package) -> Vec<String> {
    p.targets
        .iter()
        .filter(|t| t.is_bin())
        .map(|t| t.name.clone())
        .collect()
}

fn parse_platforms(list: &[String], origin: &str) -> Result<Vec<Platform>> {
    let mut out: Vec<Platform> = Vec::new();
    for s in list.iter().filter(|s| !s.trim().is_empty()) {
        let p: Platform = s.parse().with_context(|| format!("in {origin}"))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

fn host_platform() -> Result<Platform> {
    Platform::host().with_context(|| {
        format!(
            "this machine's architecture ({}) is not one we build images for: pass --platform linux/amd64 or linux/arm64",
            std::env::consts::ARCH
        )
    })
}

/// What a package (or a bare binary) contributes to labels and annotations.
#[derive(Default)]
struct Origin {
    title: String,
    version: Option<String>,
    description: Option<String>,
    licenses: Option<String>,
    source: Option<String>,
    url: Option<String>,
    revision: Option<String>,
}

impl Origin {
    fn of(p: &Package) -> Origin {
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
fn names_from_tag_flags(cli: &Cli) -> Result<Option<(String, Vec<String>)>> {
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

struct Ctx<'a> {
    cli: &'a Cli,
    epoch: u64,
    cli_platforms: Vec<Platform>,
}

fn spec_for(
    ctx: &Ctx<'_>,
    meta: &Meta,
    origin: &Origin,
    default_name: &str,
    binaries: Vec<BinSpec>,
) -> Result<ImageSpec> {
    let cli = ctx.cli;
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
    let created = crate::image::rfc3339(ctx.epoch);

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
    let mut env = BTreeMap::from([("PATH".to_string(), DEFAULT_PATH.to_string())]);
    if ca.source != CaSource::None || !ca.extra.is_empty() {
        env.insert("SSL_CERT_FILE".into(), CA_BUNDLE_PATH.into());
    }
    env.extend(meta.env.clone().unwrap_or_default());
    env.extend(kv_flags(&cli.env, "--env")?);

    let workdir = meta.workdir.clone().unwrap_or_else(|| "/".into());
    if !workdir.starts_with('/') {
        bail!("workdir `{workdir}` must be an absolute path, e.g. \"/\" or \"/home/nonroot\"");
    }
    let user = cli
        .user
        .clone()
        .or(meta.user.clone())
        .unwrap_or_else(|| DEFAULT_USER.into());
    if user.trim().is_empty() || user.contains(char::is_whitespace) {
        bail!("user `{user}` is not valid: write UID[:GID] such as 65532:65532, or a user name from /etc/passwd (root, nonroot, nobody)");
    }
    let ports = meta
        .ports
        .iter()
        .flatten()
        .map(|p| p.normalize().context("in `ports`"))
        .collect::<Result<BTreeSet<_>>>()?;

    let oci = origin.oci_keys(&created);
    let mut labels = oci.clone();
    labels.extend(meta.labels.clone().unwrap_or_default());
    labels.extend(kv_flags(&cli.label, "--label")?);
    let mut annotations = oci;
    annotations.extend(meta.annotations.clone().unwrap_or_default());
    annotations.extend(kv_flags(&cli.annotation, "--annotation")?);

    let mut files = Vec::new();
    for f in meta.files.iter().flatten() {
        let dest = crate::layer::normalize_path(&f.dest)
            .with_context(|| format!("in files: dest of {}", f.src.display()))?;
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
            dest,
            mode,
        });
    }

    let platforms = if !ctx.cli_platforms.is_empty() {
        ctx.cli_platforms.clone()
    } else {
        match &meta.platforms {
            Some(list) if !list.is_empty() => parse_platforms(list, "the `platforms` key")?,
            _ => vec![host_platform()?],
        }
    };

    let sbom = match (cli.sbom, &meta.sbom) {
        (Some(c), _) => c,
        (None, Some(s)) => crate::sbom::Choice::parse(s, "[package.metadata.slim-image]")?,
        (None, None) => crate::sbom::Choice::Spdx,
    }
    .format();
    let size_budget = match (&cli.size_budget, &meta.size_budget) {
        (Some(s), _) => Some(crate::size::parse_size(s).context("--size-budget")?),
        (None, Some(s)) => Some(
            crate::size::parse_size(s).context("size-budget in [package.metadata.slim-image]")?,
        ),
        (None, None) => None,
    };
    let min_size = match meta.profile.as_deref() {
        None => false,
        Some("min-size") => true,
        Some(other) => bail!(
            "profile = \"{other}\" in [package.metadata.slim-image]: the only value is \"min-size\" (pick a cargo profile with --profile)"
        ),
    };
    let base = match (&cli.base, &meta.base) {
        (Some(b), _) => crate::base::source::parse(b, "--base")?,
        (None, Some(b)) => crate::base::source::parse(b, "base in [package.metadata.slim-image]")?,
        (None, None) => crate::base::BaseSource::Scratch,
    };
    Ok(ImageSpec {
        name,
        tags,
        package: binaries[0].package.clone(),
        binaries,
        platforms,
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
        size_budget,
        min_size,
    })
}

/// Resolve the plan.
pub fn resolve(cli: &Cli) -> Result<Plan> {
    let ctx = Ctx {
        cli,
        epoch: source_date_epoch()?,
        cli_platforms: parse_platforms(&cli.platform, "--platform")?,
    };
    let (images, cargo, target_dir) = if cli.binary.is_empty() {
        from_workspace(&ctx)?
    } else {
        from_prebuilt(&ctx)?
    };
    let mut plan = Plan {
        images,
        cargo,
        target_dir,
        epoch: ctx.epoch,
        load: cli.load,
        min_size: cli.min_size,
    };
    plan.min_size |= plan.images.iter().any(|i| i.min_size);
    assign_outputs(&mut plan, cli)?;
    Ok(plan)
}

type Resolved = (Vec<ImageSpec>, Option<CargoPlan>, PathBuf);

fn from_prebuilt(ctx: &Ctx<'_>) -> Result<Resolved> {
    let cli = ctx.cli;
    if !cli.package.is_empty() || cli.workspace || !cli.bin.is_empty() {
        bail!("--binary packages prebuilt files and runs no cargo build: drop -p/--workspace/--bin, or drop --binary");
    }
    let mut bins = Vec::new();
    for path in &cli.binary {
        if !path.is_file() {
            bail!(
                "--binary {}: no such file (give the path of a built static executable)",
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

fn from_workspace(ctx: &Ctx<'_>) -> Result<Resolved> {
    let cli = ctx.cli;
    let md = load_metadata(cli)?;
    let ws_manifest = md.workspace_root.join("Cargo.toml");
    let ws_meta = parse_meta(
        &md.workspace_metadata,
        "workspace.metadata.slim-image",
        ws_manifest.as_std_path(),
    )?
    .unwrap_or_default();
    let mut images = Vec::new();
    let mut seen_bins = BTreeSet::new();
    for pkg in selected_packages(&md, cli)? {
        let pkg_meta = parse_meta(
            &pkg.metadata,
            "package.metadata.slim-image",
            pkg.manifest_path.as_std_path(),
        )?
        .unwrap_or_default();
        let meta = ws_meta.clone().overlay(pkg_meta);
        let bins = bin_targets(pkg);
        if bins.is_empty() {
            if cli.package.iter().any(|p| p == pkg.name.as_str()) {
                bail!("package `{}` has no binary target ([[bin]] or src/main.rs): there is nothing to put in an image", pkg.name);
            }
            crate::ui::verbose(format!("skipping package {}: no binary targets", pkg.name));
            continue;
        }
        let wanted = |b: &String| cli.bin.is_empty() || cli.bin.contains(b);
        let spec = |name: &String| BinSpec {
            name: name.clone(),
            package: Some(pkg.name.to_string()),
            prebuilt: None,
        };
        let origin = Origin::of(pkg);
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
                    &meta,
                    &origin,
                    pkg.name.as_str(),
                    list.iter().map(spec).collect(),
                )?);
            }
        } else {
            for b in bins.iter().filter(|b| wanted(b)) {
                seen_bins.insert(b.clone());
                images.push(spec_for(ctx, &meta, &origin, b, vec![spec(b)])?);
            }
        }
    }
    for b in &cli.bin {
        if !seen_bins.contains(b) {
            bail!("--bin {b}: no binary target named `{b}` in the selected packages (try -p PACKAGE or --workspace)");
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
    let cargo = CargoPlan {
        manifest_path: cli.manifest_path.clone(),
        packages,
        bins,
    };
    Ok((images, Some(cargo), target_dir))
}

#[cfg(test)]
mod tests;
