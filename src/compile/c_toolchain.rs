//! Which C toolchain (C compiler and linker) one platform's build uses, decided from the workspace
//! and the configuration only, never from what is installed.
//!
//! Takes the platform, the machine it is built on ([`Host`]: a build is native only on a Linux host
//! of the platform's CPU; on macOS every Linux target is cross), the `c-toolchain` choice (metadata
//! key or `--c-toolchain`), the crates that compile C code for the target (`c_crates`: build
//! scripts that use the `cc` crate) and what the user configured ([`UserSettings`]); gives a
//! [`Decision`]:
//!
//! | C code? | native (Linux host, same CPU)    | cross (other CPU, or not Linux)    |
//! |---------|----------------------------------|------------------------------------|
//! | no      | `rust-lld`                       | `rust-lld`                         |
//! | yes     | `musl-gcc` (CC), `rust-lld` link | `zig` (`cargo zigbuild`)           |
//!
//! A chosen tool that is missing is an error before anything is built ([`check_installed`]), never
//! a fall-back to another toolchain; a C compiler or linker the user set wins and is recorded as
//! `user: ...` (a C compiler alone is still linked with rust-lld). [`Tools`] is what the SBOM records: the toolchain with its version, and rustc's.

use crate::host::{Host, Tool};
use crate::platform::Platform;
use crate::sbom::deps::MetadataQuery;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use super::types::{Choice, Decision, Toolchain, Tools, UserSettings};

/// Decide the toolchain for `platform` built on `host` (see the table in the module docs). Errors
/// (with what to do) for a choice that cannot build it: musl-gcc for a platform that is not the
/// host's own, rust-lld for C code.
pub fn decide(
    platform: Platform,
    host: &Host,
    choice: Choice,
    c_crates: Vec<String>,
    user: &UserSettings,
) -> Result<Decision> {
    let needs_c = !c_crates.is_empty();
    let cross = host.is_cross(platform);
    let mut d = Decision {
        platform,
        toolchain: Toolchain::RustLld,
        c_crates,
        choice,
        sys_crates: Vec::new(),
        tree: String::new(),
    };
    // What the user set is honoured: a linker always, a C compiler when there is C code to compile.
    let cc = user.cc.as_deref().filter(|_| needs_c);
    if let Some(linker) = user.linker.as_deref() {
        let set: Vec<&str> = cc.into_iter().chain([linker]).collect();
        d.toolchain = Toolchain::User(set.join(", "));
        return Ok(d);
    }
    let triple = platform.rust_target();
    let rule = match (cc, choice, needs_c, cross) {
        (Some(cc), ..) => Toolchain::UserCc(cc.to_string()),
        (None, Choice::Auto, false, _) | (None, Choice::RustLld, false, _) => Toolchain::RustLld,
        (None, Choice::Auto, true, false) | (None, Choice::MuslGcc, _, false) => Toolchain::MuslGcc,
        (None, Choice::Auto, true, true) | (None, Choice::Zig, _, _) => Toolchain::Zig,
        (None, Choice::MuslGcc, _, true) => bail!(
            "c-toolchain musl-gcc cannot build {platform} here: musl-gcc compiles for this machine's own platform only ({}); use c-toolchain = \"zig\" (--c-toolchain zig, with cargo-zigbuild installed: {}) or \"auto\", or set CC_{} yourself",
            native(host),
            host.install_hint(Tool::Zigbuild),
            triple.replace('-', "_")
        ),
        (None, Choice::RustLld, true, _) => bail!(
            "c-toolchain rust-lld links pure Rust only, but for {platform} {} compile C code (their build scripts use the `cc` crate): use c-toolchain = \"auto\" (musl-gcc natively, zig when cross-compiling), \"musl-gcc\" or \"zig\", or set CC_{} yourself",
            d.crates(),
            triple.replace('-', "_")
        ),
    };
    // Link arguments for a C compiler driver: rust-lld (a plain ld) rejects them; zig links through
    // `zig cc`, a driver; natively rustc's default linker, `cc`, is one. Across architectures that
    // `cc` cannot link, so say what would.
    d.toolchain = match (&user.link_args, rule, cross) {
        (None, rule, _) | (Some(_), rule @ Toolchain::Zig, _) => rule,
        (Some(args), _, false) => {
            let set: Vec<&str> = cc.into_iter().chain([args.as_str()]).collect();
            Toolchain::User(set.join(", "))
        }
        (Some(args), _, true) => bail!(
            "{args}: only a C compiler driver understands that link argument, so rust-lld (a plain ld) cannot link {platform} with it, and rustc's default linker (`cc`) links for this machine's own platform only ({}): set a linker for {triple} (CARGO_TARGET_{}_LINKER, e.g. a cross gcc), pass --c-toolchain zig (zig cc understands it; {}), or write the argument for ld itself (-C link-arg=-zstack-size=N for -Wl,-z,stack-size=N)",
            native(host),
            triple.replace('-', "_").to_ascii_uppercase(),
            host.install_hint(Tool::Zigbuild)
        ),
    };
    Ok(d)
}

/// What a host builds natively, for messages: `Linux x86_64, linux/amd64`, or `macOS aarch64, where
/// every Linux platform is cross-compiled`.
fn native(host: &Host) -> String {
    match host.native_platform() {
        Some(p) => format!("{host}, {p}"),
        None => format!("{host}, where every Linux platform is cross-compiled"),
    }
}

/// Decide for each of `platforms`: the C crates from `cargo tree` of the workspace (`q`) for the
/// packages `roots` (empty: what a plain `cargo build` builds), see `c_crates`;
/// `user` gives what the user configured for a platform.
pub fn decide_all(
    q: &MetadataQuery,
    roots: &[String],
    platforms: &[Platform],
    choice: Choice,
    user: impl Fn(Platform) -> UserSettings,
) -> Result<Vec<Decision>> {
    let mut out = Vec::new();
    let host = Host::current();
    for &p in platforms {
        let text = super::c_crates::tree(q, roots, &[p])?;
        let crates = super::c_crates::from_tree(&text);
        let mut d = decide(p, &host, choice, crates, &user(p))?;
        d.sys_crates = super::c_crates::sys_crates(&text);
        d.tree = text;
        out.push(d);
    }
    Ok(out)
}

/// Fail, before anything is built, when the tool a decision needs is not installed: the error names
/// the crates with C code, the platform, and what to install (with this machine's package manager)
/// or set.
pub fn check_installed(d: &Decision) -> Result<()> {
    if matches!(
        d.toolchain,
        Toolchain::RustLld | Toolchain::MuslGcc | Toolchain::UserCc(_)
    ) {
        check_rust_lld(d)?;
    }
    let program = match d.toolchain {
        Toolchain::MuslGcc => "musl-gcc",
        Toolchain::Zig => "cargo-zigbuild",
        Toolchain::RustLld | Toolchain::UserCc(_) | Toolchain::User(_) => return Ok(()),
    };
    if super::toolchain::find_program(program).is_some() {
        return Ok(());
    }
    bail!(missing_tool(d, program, &Host::current()))
}

/// The error for `program`, which `d` needs, missing on `host`.
pub(super) fn missing_tool(d: &Decision, program: &str, host: &Host) -> String {
    let triple = d.platform.rust_target();
    let install = host.install_hint(if d.toolchain == Toolchain::Zig {
        Tool::Zigbuild
    } else {
        Tool::MuslGcc
    });
    let why = if d.choice == Choice::Auto {
        let how = if d.toolchain == Toolchain::Zig {
            format!(
                "for a platform this machine does not run natively ({}), cargo slim-image compiles it with zig (cargo zigbuild)",
                native(host)
            )
        } else {
            "on this machine's own platform, cargo slim-image compiles it with musl-gcc".into()
        };
        format!(
            "{} compile C code for {} (their build scripts use the `cc` crate); {how}",
            d.crates(),
            d.platform
        )
    } else {
        format!(
            "c-toolchain {} was asked for to build {}",
            d.choice.name(),
            d.platform
        )
    };
    format!(
        "{why}, but `{program}` is not installed (not on PATH): install it with {install}, or pick another with c-toolchain / --c-toolchain (auto, musl-gcc, zig), or set CC_{} (and CARGO_TARGET_{}_LINKER) yourself",
        triple.replace('-', "_"),
        triple.replace('-', "_").to_ascii_uppercase()
    )
}

/// Fail before anything is built when the Rust in use has no rust-lld (Rust from rustup ships it; a
/// distribution's rustc may not): rustc would say only "linker `rust-lld` not found", after compiling.
fn check_rust_lld(d: &Decision) -> Result<()> {
    let rustc = super::user_config::rustc();
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let Some(sysroot) = out
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
    else {
        return Ok(()); // rustc itself will say what is wrong
    };
    if rust_lld_in(&sysroot) || super::toolchain::find_program("rust-lld").is_some() {
        return Ok(());
    }
    let key = d
        .platform
        .rust_target()
        .replace('-', "_")
        .to_ascii_uppercase();
    bail!(
        "{} is linked with rust-lld ({}), but this Rust ({rustc}, sysroot {}) has no rust-lld (not in lib/rustlib/*/bin, not on PATH): install Rust with rustup (https://rustup.rs), which ships it, or set the linker yourself with CARGO_TARGET_{key}_LINKER (recorded as `user: ...`)",
        d.platform,
        d.toolchain.name(),
        sysroot.display()
    )
}

/// Whether `sysroot` has rust-lld where rustc looks first (`lib/rustlib/<host>/bin`, which rustc
/// puts before PATH when it runs the linker).
pub(super) fn rust_lld_in(sysroot: &Path) -> bool {
    std::fs::read_dir(sysroot.join("lib/rustlib"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|d| d.path().join("bin/rust-lld").is_file())
}

/// [`check_installed`] for every decision, then their [`tools`] by platform.
pub fn check_all<'a>(
    decisions: impl Iterator<Item = &'a Decision> + Clone,
) -> Result<std::collections::BTreeMap<Platform, Tools>> {
    for d in decisions.clone() {
        check_installed(d)?;
    }
    Ok(decisions.map(|d| (d.platform, tools(d))).collect())
}

/// How long a version probe may take: a wrapper that hangs must not hang the build.
const PROBE_LIMIT: Duration = Duration::from_secs(5);
/// How much of a probe's output is read (the rest is not wanted), and the longest version recorded.
const PROBE_BYTES: u64 = 4096;
const VERSION_CHARS: usize = 200;

/// The first line a program prints, if it runs and succeeds within [`PROBE_LIMIT`]; at most
/// [`VERSION_CHARS`] characters, without control characters, redacted (it goes into the SBOM).
fn first_line(program: &str, args: &[&str]) -> Option<String> {
    first_line_within(program, args, PROBE_LIMIT)
}

/// [`first_line`] with a time limit: the child is killed when it runs past it. The registry password
/// is not passed on (a wrapper could print it into the SBOM).
pub(super) fn first_line_within(program: &str, args: &[&str], limit: Duration) -> Option<String> {
    let mut child = crate::secret_env::without_secrets(Command::new(program).args(args))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let stdout = child.stdout.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads to the end or the bound, then drops the pipe (a child printing more gets EPIPE).
    std::thread::spawn(move || {
        let _ = tx.send(crate::bounded::read_at_most(stdout, PROBE_BYTES));
    });
    let deadline = Instant::now() + limit;
    let text = rx.recv_timeout(limit).ok().and_then(Result::ok);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let (text, status) = (text?, status?);
    let text = String::from_utf8_lossy(&text);
    let line: String = text
        .lines()
        .next()?
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let line = crate::ui::redact_and_cut(line.trim(), VERSION_CHARS);
    let line = line.trim();
    (status.success() && !line.is_empty()).then(|| line.to_string())
}

/// `rustc -V` of the rustc cargo runs (`$RUSTC`, else `build.rustc` of a cargo config file, else
/// `rustc`).
pub fn rustc_version() -> Option<String> {
    first_line(&super::user_config::rustc(), &["-V"])
}

/// `zig version` of the zig cargo-zigbuild runs: `$CARGO_ZIGBUILD_ZIG_PATH` (`zig_path`), else `zig`
/// from PATH, else the one pip installed with it (`python3 -m ziglang`, or the python of
/// `$CARGO_ZIGBUILD_PYTHON_PATH`).
fn zig_version(zig_path: Option<String>) -> Option<String> {
    if let Some(zig) = zig_path.filter(|z| !z.trim().is_empty()) {
        return first_line(&zig, &["version"]);
    }
    let python = std::env::var("CARGO_ZIGBUILD_PYTHON_PATH")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "python3".into());
    first_line("zig", &["version"]).or_else(|| first_line(&python, &["-m", "ziglang", "version"]))
}

/// The record of `d` for the SBOM, with the versions of the tools it runs.
pub fn tools(d: &Decision) -> Tools {
    let rustc = rustc_version();
    let c_version = match &d.toolchain {
        Toolchain::RustLld => rustc.clone(),
        Toolchain::MuslGcc => first_line("musl-gcc", &["--version"]),
        Toolchain::Zig => {
            let zig = zig_version(std::env::var("CARGO_ZIGBUILD_ZIG_PATH").ok());
            let zigbuild = first_line("cargo-zigbuild", &["--version"]);
            match (zigbuild, zig) {
                (Some(b), Some(z)) => Some(format!("{b}, zig {z}")),
                (b, z) => b.or(z.map(|z| format!("zig {z}"))),
            }
        }
        Toolchain::UserCc(_) | Toolchain::User(_) => None,
    };
    Tools {
        rustc,
        c_toolchain: d.toolchain.name(),
        c_version,
        c_libraries: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
