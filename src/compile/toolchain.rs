//! Which cargo command, C compiler and linker a build uses: `musl-gcc` for C code on the host's own
//! platform, `rust-lld` (or `cargo zigbuild` when installed) for aarch64 from x86_64, and never over a
//! linker or compiler the user configured (environment, RUSTFLAGS, or `.cargo/config.toml`).

use super::BuildRequest;
use crate::platform::Platform;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What was found on this machine that decides how to build.
#[derive(Debug, Clone)]
pub(super) struct Host {
    /// `$CARGO`, else `cargo`.
    pub(super) cargo: OsString,
    /// The platform we run on.
    pub(super) platform: Option<Platform>,
    /// `musl-gcc` is on PATH.
    pub(super) musl_gcc: bool,
    /// `cargo-zigbuild` is on PATH.
    pub(super) zigbuild: bool,
    /// The user set a C compiler for the target.
    pub(super) cc_set: bool,
    /// The user set a linker for the target (environment, RUSTFLAGS or a cargo config file).
    pub(super) linker_set: bool,
}

impl Host {
    pub(super) fn detect(req: &BuildRequest) -> Host {
        let triple = req.platform.rust_target();
        let under = triple.replace('-', "_");
        let key = under.to_ascii_uppercase();
        let set = |name: &str| {
            req.extra_env.iter().any(|(k, _)| k == name) || std::env::var_os(name).is_some()
        };
        let flags_set_linker = [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
        ]
        .into_iter()
        .chain([format!("CARGO_TARGET_{key}_RUSTFLAGS").as_str()])
        .any(|v| std::env::var(v).is_ok_and(|f| f.contains("linker=")));
        Host {
            cargo: std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
            platform: Platform::host(),
            musl_gcc: find_program("musl-gcc").is_some(),
            zigbuild: find_program("cargo-zigbuild").is_some(),
            cc_set: set(&format!("CC_{under}")) || set(&format!("CC_{triple}")) || set("TARGET_CC"),
            linker_set: set(&format!("CARGO_TARGET_{key}_LINKER"))
                || flags_set_linker
                || cargo_config_files().iter().any(|f| {
                    std::fs::read_to_string(f).is_ok_and(|text| config_sets_linker(&text, triple))
                }),
        }
    }
}

/// The command to run, with its environment and what to say about it.
#[derive(Debug, Clone)]
pub(super) struct Invocation {
    pub(super) program: OsString,
    pub(super) args: Vec<OsString>,
    pub(super) env: Vec<(String, String)>,
    /// Shown with -v: which compiler and linker were picked, and why.
    pub(super) notes: Vec<String>,
    /// Shown if the build fails.
    pub(super) hints: Vec<String>,
}

impl Invocation {
    pub(super) fn display(&self) -> String {
        let env = self.env.iter().map(|(k, v)| format!("{k}={v} "));
        let args = self.args.iter().map(|a| a.to_string_lossy().into_owned());
        let mut words = vec![self.program.to_string_lossy().into_owned()];
        words.extend(args);
        format!("{}{}", env.collect::<String>(), words.join(" "))
    }
}

/// Decide the cargo command line and environment for `req` on `host`.
pub(super) fn invocation(req: &BuildRequest, host: &Host) -> Invocation {
    let triple = req.platform.rust_target();
    let key = triple.replace('-', "_").to_ascii_uppercase();
    let cross = host.platform != Some(req.platform);
    let zigbuild = cross && host.zigbuild && !host.linker_set;
    let (mut env, mut notes, mut hints) = (Vec::new(), Vec::new(), Vec::new());

    if !cross && !host.cc_set {
        if host.musl_gcc {
            env.push((
                format!("CC_{}", triple.replace('-', "_")),
                "musl-gcc".into(),
            ));
            notes.push(format!("C code for {triple} is compiled with musl-gcc"));
        } else {
            hints.push(
                "a crate with C code needs a musl C compiler: apt-get install musl-tools".into(),
            );
        }
    }
    if zigbuild {
        notes.push(format!("cross-compiling for {triple} with cargo zigbuild"));
    } else if cross && !host.linker_set {
        // Rust ships musl's crt objects and libc.a for the target ("self-contained"), so its
        // bundled lld links pure-Rust crates for another architecture with no cross toolchain
        // installed.
        env.push((format!("CARGO_TARGET_{key}_LINKER"), "rust-lld".into()));
        notes.push(format!(
            "linking for {triple} with rust-lld and Rust's self-contained musl"
        ));
        hints.push(format!(
            "cross-compiling C code for {triple} needs a cross C toolchain: pip install \
             cargo-zigbuild (cargo slim-image then uses `cargo zigbuild`)"
        ));
    } else if cross {
        notes.push(format!("using the linker configured for {triple}"));
    }
    env.extend(req.extra_env.iter().cloned());

    let mut args: Vec<OsString> = Vec::new();
    let mut push = |a: &str| args.push(a.into());
    push(if zigbuild { "zigbuild" } else { "build" });
    for a in [
        "--target",
        triple,
        "--message-format=json-render-diagnostics",
        "--profile",
    ] {
        push(a);
    }
    push(&req.profile);
    for p in &req.packages {
        push("-p");
        push(p);
    }
    if req.bins.is_empty() {
        push("--bins");
    }
    for b in &req.bins {
        push("--bin");
        push(b);
    }
    if !req.features.is_empty() {
        push("--features");
        push(&req.features.join(","));
    }
    let flags = [
        (req.all_features, "--all-features"),
        (req.no_default_features, "--no-default-features"),
        (req.locked, "--locked"),
        (req.frozen, "--frozen"),
        (req.offline, "--offline"),
        (req.quiet, "-q"),
    ];
    for (on, flag) in flags {
        if on {
            push(flag);
        }
    }
    for _ in 0..req.verbose.min(2) {
        push("-v");
    }
    for (flag, path) in [
        ("--manifest-path", &req.manifest_path),
        ("--target-dir", &req.target_dir),
    ] {
        if let Some(p) = path {
            args.push(flag.into());
            args.push(p.into());
        }
    }
    Invocation {
        program: host.cargo.clone(),
        args,
        env,
        notes,
        hints,
    }
}

/// Whether a cargo config file's text sets `target.<triple>.linker` (as a table key or a dotted
/// key).
pub(super) fn config_sets_linker(text: &str, triple: &str) -> bool {
    let wanted = format!("target.{triple}.linker");
    let mut table = String::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let clean = |s: &str| {
            s.chars()
                .filter(|c| !matches!(c, '"' | '\'' | ' ' | '\t'))
                .collect::<String>()
        };
        if let Some(header) = line.strip_prefix('[') {
            table = clean(header.trim_end_matches(']'));
        } else if let Some((key, _)) = line.split_once('=') {
            let key = clean(key);
            let full = if table.is_empty() {
                key
            } else {
                format!("{table}.{key}")
            };
            if full == wanted {
                return true;
            }
        }
    }
    false
}

/// The cargo config files that apply from the current directory: `.cargo/config{,.toml}` in it and
/// its ancestors, and in `$CARGO_HOME`.
pub(super) fn cargo_config_files() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::current_dir()
        .map(|d| d.ancestors().map(|a| a.join(".cargo")).collect())
        .unwrap_or_default();
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    dirs.extend(home);
    dirs.iter()
        .flat_map(|d| [d.join("config.toml"), d.join("config")])
        .filter(|f| f.is_file())
        .collect()
}

/// The path of an executable `name` on PATH (or in `$CARGO_HOME/bin`, where cargo also looks).
pub(super) fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(std::env::var_os("CARGO_HOME").map(|h| Path::new(&h).join("bin")));
    dirs.into_iter().map(|d| d.join(name)).find(|p| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}
