//! Build static musl binaries with cargo, for one platform at a time.
//!
//! Takes a [`BuildRequest`] (packages, bins, features, profile, platform); runs `cargo build
//! --target <arch>-unknown-linux-musl --message-format=json-render-diagnostics` (or `cargo
//! zigbuild` when the C toolchain is zig) and gives the [`BuiltBinary`] list
//! read from cargo's JSON messages: paths are never guessed. cargo runs rustc through this tool's
//! own rustc wrapper mode ([`wrapper`]), which remaps machine paths ([`remap`]) and links in the
//! dependency data for scanners ([`depdata`]), in a target dir of the tool's ([`prepare`]).
//! cargo's stdout (JSON) is captured,
//! since our stdout is for results; its stderr, with the rendered diagnostics, goes straight to
//! ours. The C compiler and linker come from the platform's [`c_toolchain::Decision`] (the
//! workspace and the configuration, never what is on PATH): `rust-lld` with Rust's self-contained
//! musl for pure Rust, `musl-gcc` for C code on the host's own platform, `cargo zigbuild` for C code
//! of another platform (every Linux platform, on macOS). A linker or C compiler the user configured is never overridden.

use crate::platform::Platform;
use crate::ui;
use anyhow::{bail, Context, Result};

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Build and return every bin artifact cargo reported (paths from cargo's JSON, never guessed),
/// sorted by package and name. Installs the Rust target first if needed (see [`ensure_target`]).
/// Each bin that should carry dependency data is checked to carry exactly this build's; one that
/// does not (cargo reused an older link) is removed and linked again.
pub fn build(req: &BuildRequest) -> Result<Vec<BuiltBinary>> {
    build_all(std::slice::from_ref(req))
}

/// [`build`] for several platforms (requests that differ only in platform, C toolchain,
/// dependency data and per-target environment), in one `cargo build --target A --target B` where
/// they can share it (see `multi`; why not is said with -v), else one after the other. The
/// binaries of every platform, sorted by platform, package and name.
pub fn build_all(reqs: &[BuildRequest]) -> Result<Vec<BuiltBinary>> {
    let mut decided = Vec::with_capacity(reqs.len());
    for r in reqs {
        let mut r = r.clone();
        let d = match r.c_toolchain.take() {
            Some(d) => d,
            None => decide(&r, c_toolchain::Choice::Auto)?,
        };
        // Every platform's Rust target and C toolchain is there before the first is built: a
        // missing one fails now, not after another platform's build.
        ensure_target(r.platform, r.offline || r.frozen)?;
        c_toolchain::check_installed(&d)?;
        r.c_toolchain = Some(d);
        decided.push(r);
    }
    let (groups, reasons) = multi::partition(&decided);
    for why in reasons {
        ui::verbose(format!("building one platform after the other: {why}"));
    }
    let mut out = Vec::new();
    for group in groups {
        let group: Vec<&BuildRequest> = group.iter().map(|&i| &decided[i]).collect();
        match shared_features(&group)? {
            None => out.extend(build_checked(&group)?),
            Some(why) => {
                ui::verbose(format!("building one platform after the other: {why}"));
                for r in group {
                    out.extend(build_checked(&[r])?);
                }
            }
        }
    }
    out.sort_by(|a, b| (a.platform, &a.package, &a.name).cmp(&(b.platform, &b.package, &b.name)));
    Ok(out)
}

/// The cargo commands that build `reqs` (one per platform, as a plan gives them), as `--dry-run`
/// shows them: program and arguments, `--target` of each platform included. Platforms built with
/// `cargo zigbuild` and those that are not have a command each; the build may split a command
/// further when the platforms' dependency data differ (`-v` says why), and it runs it with its own
/// build dir under `<target-dir>/slim-image/.build`. A platform whose C toolchain is not decided yet
/// is shown as a plain `cargo build`.
pub fn command_lines(reqs: &[BuildRequest]) -> Vec<String> {
    let toolchain = |r: &BuildRequest| {
        r.c_toolchain
            .as_ref()
            .map_or(c_toolchain::Toolchain::RustLld, |d| d.toolchain.clone())
    };
    let mut groups: Vec<Vec<(&BuildRequest, c_toolchain::Toolchain)>> = Vec::new();
    for r in reqs {
        let t = toolchain(r);
        let zig = t == c_toolchain::Toolchain::Zig;
        match groups
            .iter_mut()
            .find(|g| (g[0].1 == c_toolchain::Toolchain::Zig) == zig)
        {
            Some(g) => g.push((r, t)),
            None => groups.push(vec![(r, t)]),
        }
    }
    let host = Host::detect();
    groups
        .iter()
        .map(|g| {
            let pairs: Vec<(&BuildRequest, &c_toolchain::Toolchain)> =
                g.iter().map(|(r, t)| (*r, t)).collect();
            let inv = toolchain::invocation_many(&pairs, &host);
            std::iter::once(&inv.program)
                .chain(&inv.args)
                .map(|w| w.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// `None` when one cargo command for `group` resolves each platform's features as its own build
/// does ([`multi::features_agree`], from one more `cargo tree`); else why not.
fn shared_features(group: &[&BuildRequest]) -> Result<Option<String>> {
    if group.len() < 2 {
        return Ok(None);
    }
    let own: Vec<(Platform, &str)> = group
        .iter()
        .filter_map(|r| r.c_toolchain.as_ref())
        .map(|d| (d.platform, d.tree.as_str()))
        .collect();
    if own.len() != group.len() || own.iter().any(|(_, t)| t.is_empty()) {
        return Ok(Some(
            "the platforms' own dependency trees are not known".into(),
        ));
    }
    let platforms: Vec<Platform> = group.iter().map(|r| r.platform).collect();
    let combined = c_crates::tree(&query(group[0]), &group[0].packages, &platforms)?;
    Ok(multi::features_agree(&own, &combined))
}

/// Build `group` in one cargo command; relink the bins whose dependency data is stale.
fn build_checked(group: &[&BuildRequest]) -> Result<Vec<BuiltBinary>> {
    let bins = build_once(group)?;
    let stale = stale_bins(group, &bins)?;
    if stale.is_empty() {
        return Ok(bins);
    }
    for b in &stale {
        ui::verbose(format!(
            "linking {} again: its embedded dependency list is not this build's",
            b.name
        ));
        prepare::unlink(&b.path)?;
    }
    let bins = build_once(group)?;
    if let Some(b) = stale_bins(group, &bins)?.first() {
        bail!(
            "{} was linked without its dependency list (the .dep-v0 section): a linker or rustc \
             wrapper of yours may drop linker arguments; set `embed-dependencies = false` in \
             [package.metadata.slim-image] (or pass --no-embed-dependencies) to build without it",
            b.path.display()
        );
    }
    Ok(bins)
}

/// The bins of `bins` whose dependency data is not their platform's request's.
fn stale_bins(group: &[&BuildRequest], bins: &[BuiltBinary]) -> Result<Vec<BuiltBinary>> {
    let mut out = Vec::new();
    for req in group {
        let mine: Vec<BuiltBinary> = bins
            .iter()
            .filter(|b| b.platform == req.platform)
            .cloned()
            .collect();
        out.extend(prepare::stale(req, &mine)?.into_iter().cloned());
    }
    Ok(out)
}

fn build_once(group: &[&BuildRequest]) -> Result<Vec<BuiltBinary>> {
    let req = group[0];
    let triples: Vec<&str> = group.iter().map(|r| r.platform.rust_target()).collect();
    let triple = triples.join(", ");
    let mut toolchains = Vec::new();
    for r in group {
        // Decided and checked by build_all.
        let decision = match &r.c_toolchain {
            Some(d) => d.clone(),
            None => decide(r, c_toolchain::Choice::Auto)?,
        };
        toolchains.push(decision.toolchain);
    }
    let target_dir = target_dir_of(req)?;
    let setup = prepare::setup(group, &target_dir)?;
    let ours: Vec<BuildRequest> = group
        .iter()
        .map(|r| {
            let mut o = (*r).clone();
            o.target_dir = Some(setup.cargo_target_dir.clone());
            o
        })
        .collect();
    let pairs: Vec<(&BuildRequest, &c_toolchain::Toolchain)> =
        ours.iter().zip(toolchains.iter()).collect();
    let mut inv = toolchain::invocation_many(&pairs, &Host::detect());
    inv.env.extend(setup.env.iter().cloned());
    for n in &inv.notes {
        ui::verbose(n);
    }
    let what: Vec<String> = group
        .iter()
        .map(|r| format!("{} ({})", r.platform, r.platform.rust_target()))
        .collect();
    ui::status("Building", what.join(", "));
    ui::verbose(format!("running {}", inv.display()));

    let platforms: Vec<Platform> = group.iter().map(|r| r.platform).collect();
    let (status, parser) = run_cargo(&inv, &platforms, &triple)?;
    if !status.success() || parser.finished == Some(false) {
        let code = status
            .code()
            .map_or_else(|| status.to_string(), |c| format!("exit status {c}"));
        let mut msg = format!("cargo build failed for {triple} ({code}): see the errors above");
        for h in &inv.hints {
            msg.push_str("\nnote: ");
            msg.push_str(h);
        }
        bail!(msg);
    }
    let bins = parser.finish()?;
    check_each_platform(&bins, &platforms)?;
    for b in &bins {
        ui::verbose(format!(
            "built {} ({}, {}) at {}",
            b.name,
            b.package,
            b.platform,
            b.path.display()
        ));
    }
    Ok(bins)
}

/// Where `req` builds: its --target-dir, else cargo's own choice (CARGO_TARGET_DIR,
/// build.target-dir, else `<workspace>/target`).
fn target_dir_of(req: &BuildRequest) -> Result<std::path::PathBuf> {
    Ok(match &req.target_dir {
        Some(t) => t.clone(),
        None => {
            // cargo's own choice (CARGO_TARGET_DIR, build.target-dir, else <workspace>/target).
            let mut md = cargo_metadata::MetadataCommand::new();
            md.no_deps();
            if let Some(m) = &req.manifest_path {
                md.manifest_path(m);
            }
            let md = md
                .exec()
                .context("running `cargo metadata` to find the target dir")?;
            md.target_directory.into_std_path_buf()
        }
    })
}

/// The longest line read from cargo's stdout (its JSON messages, with a diagnostic's rendered
/// text, are kilobytes): a longer one is not held in memory but stops the build.
const MAX_MESSAGE_LINE: u64 = 64 << 20;

/// Run cargo as `inv` says for `platforms` (`triple` names them in errors), showing what it
/// prints that is not a cargo message on stderr: its exit status and the messages read.
fn run_cargo(
    inv: &toolchain::Invocation,
    platforms: &[Platform],
    triple: &str,
) -> Result<(std::process::ExitStatus, MessageParser)> {
    let mut cmd = Command::new(&inv.program);
    cmd.args(&inv.args)
        .envs(inv.env.iter().map(|(k, v)| (k, v)));
    let mut child = crate::secret_env::without_secrets(&mut cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(ui::child::stderr())
        .spawn()
        .with_context(|| {
            format!(
                "running `{}` to build for {triple}: is cargo installed and on PATH? \
                 (set $CARGO to the cargo to use)",
                inv.display()
            )
        })?;
    let copying = ui::child::copy(child.stderr.take());
    let mut parser = MessageParser::new(platforms);
    if let Some(stdout) = child.stdout.take() {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = std::io::Read::take(&mut reader, MAX_MESSAGE_LINE + 1)
                .read_until(b'\n', &mut line)
                .with_context(|| {
                    format!("reading cargo's JSON messages while building for {triple}")
                })?;
            if n == 0 {
                break;
            }
            if line.len() as u64 > MAX_MESSAGE_LINE {
                let _ = child.kill();
                let _ = child.wait();
                copying.finish();
                bail!(
                    "cargo printed a line of more than {} MiB while building for {triple} (not a \
                     cargo message: what a rustc wrapper or a proc macro wrote to stdout); the build \
                     was stopped: find what prints it, or build without it",
                    MAX_MESSAGE_LINE >> 20
                );
            }
            if let Some(text) = parser.feed(String::from_utf8_lossy(&line).trim_end()) {
                // Not a cargo message (a wrapper's chatter): show it, but not on our stdout.
                ui::relay(text);
            }
        }
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for cargo to finish building for {triple}"))?;
    copying.finish();
    Ok((status, parser))
}

/// Every one of `platforms` got a binary in `bins`.
fn check_each_platform(bins: &[BuiltBinary], platforms: &[Platform]) -> Result<()> {
    for p in platforms {
        if !bins.iter().any(|b| b.platform == *p) {
            bail!(
                "cargo built no binaries for {}: the selected packages have no bin targets (or \
                 their `required-features` are not enabled); select a package with a binary with -p or \
                 --bin",
                p.rust_target()
            );
        }
    }
    Ok(())
}

/// The `cargo metadata`/`cargo tree` query of `req`'s workspace and flags.
fn query(req: &BuildRequest) -> crate::sbom::deps::MetadataQuery {
    crate::sbom::deps::MetadataQuery {
        manifest_path: req.manifest_path.clone(),
        features: req.features.clone(),
        all_features: req.all_features,
        no_default_features: req.no_default_features,
        flags: [
            (req.locked, "--locked"),
            (req.frozen, "--frozen"),
            (req.offline, "--offline"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| f.to_string())
        .collect(),
    }
}

/// The C toolchain for `req`'s platform by `choice`, from `cargo metadata` of its workspace (the
/// crates built from `req.packages`) and what the user configured for the target.
pub fn decide(req: &BuildRequest, choice: c_toolchain::Choice) -> Result<c_toolchain::Decision> {
    let q = query(req);
    let root = req
        .manifest_path
        .as_deref()
        .and_then(std::path::Path::parent);
    let user = |p| user_settings(p, &req.extra_env, root);
    let mut all = c_toolchain::decide_all(&q, &req.packages, &[req.platform], choice, user)?;
    all.pop()
        .context("no C toolchain was decided for the platform")
}

/// Make sure the Rust standard library for `platform`'s musl target is installed: if it is missing
/// and `rustup` exists, run `rustup target add`; when `offline` or without rustup, an error that
/// says what to run.
pub fn ensure_target(platform: Platform, offline: bool) -> Result<()> {
    let triple = platform.rust_target();
    let rustc = user_config::rustc();
    // Its messages (and rustup's below) reach our stderr through ui::child: a reader of ours that
    // is gone must not fail them (SIGPIPE), which would read as a missing target.
    let mut child = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", triple])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(ui::child::stderr())
        .spawn()
        .with_context(|| {
            format!(
                "running `{} --print target-libdir`: is Rust installed? (https://rustup.rs)",
                rustc
            )
        })?;
    let copying = ui::child::copy(child.stderr.take());
    let out = child
        .wait_with_output()
        .with_context(|| format!("running `{rustc} --print target-libdir`"))?;
    copying.finish();
    let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if out.status.success() && libdir.is_dir() {
        return Ok(());
    }
    let command = format!("rustup target add {triple}");
    let has_rustup = Command::new("rustup")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_rustup {
        bail!(
            "the Rust standard library for {triple} is not installed ({} does not exist) and \
             rustup is not available: install rustup (https://rustup.rs) and run `{command}`, \
             or install your distribution's Rust standard library for {triple}",
            libdir.display()
        );
    }
    if offline {
        bail!("the Rust target {triple} is not installed and we are offline: run `{command}`");
    }
    ui::status(
        "Installing",
        format!("the Rust target {triple} with rustup"),
    );
    let mut child = Command::new("rustup")
        .args(["target", "add", triple])
        .stdin(Stdio::null())
        .stdout(ui::child::stdout_to_stderr()?)
        .stderr(ui::child::stderr())
        .spawn()
        .with_context(|| format!("running `{command}`"))?;
    let copying = [
        ui::child::copy(child.stdout.take()),
        ui::child::copy(child.stderr.take()),
    ];
    let status = child
        .wait()
        .with_context(|| format!("running `{command}`"))?;
    copying.into_iter().for_each(ui::child::Copying::finish);
    if !status.success() {
        bail!("`{command}` failed ({status}): see its output above, fix it and run it again");
    }
    ui::note(format!("installed the Rust target {triple} with rustup"));
    Ok(())
}

pub mod c_crates;
pub mod c_libs;
pub mod c_toolchain;
pub mod depdata;
mod messages;
mod multi;
pub mod openssl;
pub mod prepare;
pub mod remap;
mod request;
mod toolchain;
mod types;
mod user_config;
pub mod user_env;
pub mod wrapper;
pub use messages::package_name;
#[cfg(test)]
pub use messages::parse_messages;
use messages::MessageParser;
pub use prepare::reproducible;
pub use request::{BuildRequest, BuiltBinary, Reproducible};
#[cfg(test)]
use toolchain::invocation;
use toolchain::Host;
pub use user_config::{build_script_env, user_settings};

#[cfg(test)]
mod tests;
