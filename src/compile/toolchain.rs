//! Which cargo command, C compiler and linker a build uses, from the platform's `Decision` (see
//! `c_toolchain`): `rust-lld` for pure Rust, `musl-gcc` for C code on the host's own platform,
//! `cargo zigbuild` for C code of another platform (any, on a non-Linux host), and never over a linker or compiler the user
//! configured (environment, RUSTFLAGS, or `.cargo/config.toml`). What is on PATH decides nothing.

use super::request::BuildRequest;
use super::types::Toolchain;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What was found on this machine that decides how to build.
#[derive(Debug, Clone)]
pub(super) struct Host {
    /// `$CARGO`, else `cargo`.
    pub(super) cargo: OsString,
}

impl Host {
    pub(super) fn detect() -> Host {
        Host {
            cargo: std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
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

/// Decide the cargo command line and environment for `req` on `host`, built with `toolchain`.
#[cfg(test)]
pub(super) fn invocation(req: &BuildRequest, host: &Host, toolchain: &Toolchain) -> Invocation {
    invocation_many(&[(req, toolchain)], host)
}

/// One cargo command for several targets (`--target A --target B`): `reqs` differ only in their
/// platform, toolchain and per-target environment (see `multi`, which decides that they may
/// share); the environment of each target is keyed by its triple (`CARGO_TARGET_<T>_LINKER`,
/// `CC_<triple>`), so one command carries them all. The first request gives the flags.
pub(super) fn invocation_many(reqs: &[(&BuildRequest, &Toolchain)], host: &Host) -> Invocation {
    let (mut env, mut notes, mut hints) = (Vec::new(), Vec::new(), Vec::new());
    for (req, toolchain) in reqs {
        target_env(req, toolchain, &mut env, &mut notes, &mut hints);
    }
    for (req, _) in reqs {
        for pair in &req.extra_env {
            if !env.contains(pair) {
                env.push(pair.clone());
            }
        }
    }
    let (req, toolchain) = reqs[0];
    let zigbuild = *toolchain == Toolchain::Zig;
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |a: &str| args.push(a.into());
    push(if zigbuild { "zigbuild" } else { "build" });
    for (r, _) in reqs {
        push("--target");
        push(r.platform.rust_target());
    }
    for a in ["--message-format=json-render-diagnostics", "--profile"] {
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

/// The environment, notes and hints of one target built with `toolchain`: every variable is keyed
/// by the target's triple, so the targets of one cargo command never see each other's.
fn target_env(
    req: &BuildRequest,
    toolchain: &Toolchain,
    env: &mut Vec<(String, String)>,
    notes: &mut Vec<String>,
    hints: &mut Vec<String>,
) {
    let triple = req.platform.rust_target();
    let key = triple.replace('-', "_").to_ascii_uppercase();
    // Rust ships musl's crt objects and libc.a for the target ("self-contained"), so its bundled
    // lld links for any architecture with nothing else installed. rustc's own default for the
    // x86_64 musl target is `cc` from PATH (gcc and GNU ld: other bytes, a build id), which would
    // make the host's compiler, and whether it is the target's architecture, part of the output.
    let rust_lld = (format!("CARGO_TARGET_{key}_LINKER"), "rust-lld".to_string());
    // Flags in the user's configuration that only a C compiler driver understands leave the linker
    // to them (see user_config); a build script can still emit some (`cargo:rustc-link-arg`).
    let lld_hint = format!(
        "linked with rust-lld, a plain ld: if it rejected an argument written for a C compiler \
         driver (`-Wl,...`, `-static-pie`; a build script's `cargo:rustc-link-arg` can emit one), \
         set the linker yourself, e.g. CARGO_TARGET_{key}_LINKER=cc (recorded as `user: ...`)"
    );
    match toolchain {
        Toolchain::RustLld => {
            env.push(rust_lld);
            notes.push(format!(
                "pure Rust: linking for {triple} with rust-lld and Rust's self-contained musl"
            ));
            hints.push(format!(
                "no crate built for {triple} uses the `cc` crate, so no C compiler was set up: if a build \
                 script compiles C another way, pass --c-toolchain musl-gcc (this machine's own \
                 platform, on Linux) or --c-toolchain zig"
            ));
            hints.push(lld_hint);
        }
        Toolchain::MuslGcc => {
            env.push((
                format!("CC_{}", triple.replace('-', "_")),
                "musl-gcc".into(),
            ));
            env.push(rust_lld);
            notes.push(format!(
                "C code for {triple} is compiled with musl-gcc, linked with rust-lld"
            ));
            hints.push(lld_hint);
        }
        Toolchain::Zig => notes.push(format!("building for {triple} with cargo zigbuild")),
        Toolchain::UserCc(cc) => {
            env.push(rust_lld);
            notes.push(format!(
                "C code for {triple} is compiled with the C compiler you set ({cc}), linked with rust-lld"
            ));
            hints.push(lld_hint);
        }
        Toolchain::User(set) => notes.push(format!(
            "using the C compiler / linker configured for {triple} ({set})"
        )),
    }
}

/// The path of an executable `name` on PATH (or in `$CARGO_HOME/bin`, where cargo also looks).
pub(super) fn find_program(name: &str) -> Option<PathBuf> {
    use crate::host::program::{find_in, path_dirs, Entries};
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = path_dirs(&path, Entries::All);
    dirs.extend(std::env::var_os("CARGO_HOME").map(|h| Path::new(&h).join("bin")));
    find_in(name, &dirs)
}
