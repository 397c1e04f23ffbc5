//! The rustc wrapper mode of our own binary: cargo runs `cargo-slim-image rustc ARGS...`.
//!
//! A build sets `RUSTC_WRAPPER` to this executable and [`CONFIG_VAR`] to a [`WrapperConfig`] JSON
//! file the tool wrote for that build; `main` sees the variable first and calls [`run`], which
//! appends to rustc's arguments (a user's flags, RUSTFLAGS and `[build] rustflags` included, are kept
//! as they are):
//! - `--remap-path-prefix=FROM=TO` for each pair of the config (see [`super::remap`]), placed before
//!   the first `--remap-path-prefix` of the user's, if any, so that theirs still win;
//! - for a bin crate of a package with dependency data (the primary package cargo builds for the
//!   target), `-C link-arg=<object>` and the argument that keeps [`super::depdata::SYMBOL`].
//!
//! Then it execs rustc, or the user's own wrapper (`user_wrapper rustc ARGS...`). cargo's probes
//! (`rustc -vV`, `rustc - --crate-name ___ --print=...`) pass through untouched.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The environment variable that names the wrapper config and turns wrapper mode on.
pub const CONFIG_VAR: &str = "SLIM_IMAGE_RUSTC_WRAPPER";

/// The wrapper config to run with, when this process is cargo's rustc wrapper: [`CONFIG_VAR`] is
/// set and the first argument is not `slim-image` (cargo runs a subcommand as `cargo-slim-image
/// slim-image ...`, a wrapper as `WRAPPER RUSTC ...`). A `cargo slim-image` run with the variable
/// in its environment (the user's own, or inherited from an outer build: cargo gives build scripts
/// its environment) is a normal run: the variable is removed from the process, so nothing it
/// starts sees a stale one. So is a `RUSTC_WRAPPER` naming this executable: an outer build's
/// (a build script running `cargo slim-image`), not the user's own wrapper to chain.
pub fn config() -> Option<OsString> {
    let config = std::env::var_os(CONFIG_VAR);
    let cli = std::env::args_os().nth(1).is_none_or(|a| a == "slim-image");
    if let (Some(config), false) = (config, cli) {
        return Some(config);
    }
    // Single-threaded here: main calls this first.
    std::env::remove_var(CONFIG_VAR);
    if std::env::var_os("RUSTC_WRAPPER").is_some_and(|w| is_this_executable(Path::new(&w))) {
        std::env::remove_var("RUSTC_WRAPPER");
    }
    None
}

/// Whether `path` is the running executable (the same file).
fn is_this_executable(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(exe), Ok(p)) = (
        std::env::current_exe().and_then(std::fs::metadata),
        std::fs::metadata(path),
    ) else {
        return false;
    };
    exe.dev() == p.dev() && exe.ino() == p.ino()
}

/// What the wrapper adds, for one cargo build (of one platform or several: `--target A --target B`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrapperConfig {
    /// `(FROM, TO)` pairs, general to specific (the same for every target of the build).
    pub remap: Vec<(PathBuf, String)>,
    /// Per `--target` triple (build scripts, built for the host, have none): package name -> the
    /// object file with its `.dep-v0` section for that target.
    pub targets: BTreeMap<String, BTreeMap<String, PathBuf>>,
    /// The user's own rustc wrapper, run with rustc and the arguments.
    pub user_wrapper: Option<PathBuf>,
}

/// Whether `args` (rustc's, without the program) are a real compilation rather than a probe:
/// cargo's probes are `-vV` (no crate name) and `rustc - --crate-name ___ --print=...`. The crate
/// name alone decides: a `--print` or `-V` in the user's RUSTFLAGS reaches every compilation too,
/// and those still get remapped and linked with the dependency data.
pub fn is_compilation(args: &[OsString]) -> bool {
    values(args, "--crate-name")
        .last()
        .is_some_and(|n| n != "___")
}

/// The values of option `name` in `args`: `NAME VALUE`, `NAME=VALUE`, and for one-letter options
/// such as `-C`, `-CVALUE`.
fn values(args: &[OsString], name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter().map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if a == name {
            out.extend(it.next().map(|v| v.into_owned()));
        } else if let Some(v) = a.strip_prefix(name) {
            let v = if name.len() == 2 {
                Some(v)
            } else {
                v.strip_prefix('=')
            };
            out.extend(v.map(str::to_string));
        }
    }
    out
}

/// Whether the link goes straight to a linker (`-C linker=...ld`/`lld`, or an `ld` linker
/// flavor) rather than through a C compiler driver, which wants `-Wl,` before linker arguments.
fn bare_linker(args: &[OsString]) -> bool {
    let mut codegen = values(args, "-C");
    codegen.extend(values(args, "--codegen"));
    codegen.iter().any(|c| {
        c.strip_prefix("linker-flavor=")
            .is_some_and(|f| f.starts_with("ld") || f.ends_with("-lld") || f == "gnu-lld")
            || c.strip_prefix("linker=").is_some_and(|l| {
                let file = l.rsplit('/').next().unwrap_or(l);
                // rust-lld, ld, ld.lld, ld.bfd, ld.gold, mold: linkers, not compiler drivers
                file.ends_with("ld") || file.starts_with("ld.")
            })
    })
}

/// The arguments to add to a compilation: remap flags first, then the dependency data for a bin of
/// a package that has it. `env` looks up cargo's variables (`CARGO_PRIMARY_PACKAGE`,
/// `CARGO_PKG_NAME`).
pub fn extra_args(
    cfg: &WrapperConfig,
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<OsString> {
    let mut out: Vec<OsString> = super::remap::flags(&cfg.remap)
        .into_iter()
        .map(OsString::from)
        .collect();
    let is_bin = values(args, "--crate-type")
        .iter()
        .any(|t| t.split(',').any(|t| t == "bin"));
    let objects = values(args, "--target")
        .iter()
        .find_map(|t| cfg.targets.get(t));
    let for_target = objects.is_some();
    let build_script = values(args, "--crate-name")
        .iter()
        .any(|n| n.starts_with("build_script_"));
    let links = values(args, "--emit")
        .iter()
        .all(|e| e.split(',').any(|e| e == "link" || e.starts_with("link=")));
    let object = env("CARGO_PKG_NAME").and_then(|p| objects?.get(&p));
    if let (Some(object), true) = (
        object,
        env("CARGO_PRIMARY_PACKAGE").is_some() && is_bin && for_target && !build_script && links,
    ) {
        let mut arg = OsString::from("link-arg=");
        arg.push(object);
        out.extend(["-C".into(), arg]);
        let sym = super::depdata::SYMBOL;
        if bare_linker(args) {
            out.extend(["-C", "link-arg=-u", "-C"].map(OsString::from));
            out.push(format!("link-arg={sym}").into());
        } else {
            out.extend(["-C".into(), format!("link-arg=-Wl,-u,{sym}").into()]);
        }
    }
    out
}

/// rustc's arguments with ours added: before the user's first `--remap-path-prefix` (so a remap the
/// user gave still wins), else at the end.
pub fn with_extra(args: &[OsString], extra: Vec<OsString>) -> Vec<OsString> {
    let at = args
        .iter()
        .position(|a| {
            let a = a.to_string_lossy();
            a == "--remap-path-prefix" || a.starts_with("--remap-path-prefix=")
        })
        .unwrap_or(args.len());
    let mut out = args[..at].to_vec();
    out.extend(extra);
    out.extend_from_slice(&args[at..]);
    out
}

/// Run as cargo's rustc wrapper: `argv[1]` is rustc, the rest its arguments. Only returns on error
/// (otherwise rustc, or the user's wrapper, replaces this process, so its exit status and output are
/// cargo's to see).
pub fn run(config: &OsStr) -> Result<std::convert::Infallible> {
    use std::os::unix::process::CommandExt;
    let mut argv = std::env::args_os().skip(1);
    let rustc = argv
        .next()
        .context("run as a rustc wrapper without rustc's path (cargo passes it first)")?;
    let mut args: Vec<OsString> = argv.collect();
    let text = std::fs::read(config).with_context(|| {
        format!(
            "reading the rustc wrapper config {}",
            PathBuf::from(config).display()
        )
    })?;
    let cfg: WrapperConfig = serde_json::from_slice(&text).with_context(|| {
        format!(
            "parsing the rustc wrapper config {}",
            PathBuf::from(config).display()
        )
    })?;
    if is_compilation(&args) {
        args = with_extra(&args, extra_args(&cfg, &args, &|k| std::env::var(k).ok()));
    }
    let mut cmd = match &cfg.user_wrapper {
        Some(w) => {
            let mut c = std::process::Command::new(w);
            c.arg(&rustc);
            c
        }
        None => std::process::Command::new(&rustc),
    };
    cmd.args(&args).env_remove(CONFIG_VAR);
    let err = cmd.exec();
    let program = cfg.user_wrapper.map_or(PathBuf::from(&rustc), |w| w);
    Err(err).with_context(|| format!("running {} as rustc", program.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn probes_are_not_compilations() {
        assert!(!is_compilation(&os(&["-vV"])));
        assert!(!is_compilation(&os(&[
            "-",
            "--crate-name",
            "___",
            "--print=file-names",
            "--crate-type",
            "bin"
        ])));
        assert!(!is_compilation(&os(&[
            "-",
            "--crate-name",
            "___",
            "--print",
            "cfg"
        ])));
        // A user's RUSTFLAGS with `--print` or `-V` reach real compilations too.
        assert!(is_compilation(&os(&[
            "--crate-name",
            "app",
            "src/main.rs",
            "--crate-type",
            "bin",
            "--print=native-static-libs",
            "-V"
        ])));
        assert!(is_compilation(&os(&["--crate-name=app", "src/main.rs"])));
        assert!(is_compilation(&os(&[
            "--crate-name",
            "app",
            "--edition=2021",
            "src/main.rs",
            "--crate-type",
            "bin"
        ])));
    }

    fn cfg() -> WrapperConfig {
        WrapperConfig {
            remap: vec![("/home/u/.cargo".into(), "/cargo".into())],
            targets: BTreeMap::from([(
                "aarch64-unknown-linux-musl".into(),
                BTreeMap::from([("app".into(), "/t/app.o".into())]),
            )]),
            user_wrapper: None,
        }
    }

    fn env(primary: bool) -> impl Fn(&str) -> Option<String> {
        move |k| match k {
            "CARGO_PKG_NAME" => Some("app".into()),
            "CARGO_PRIMARY_PACKAGE" => primary.then(|| "1".into()),
            _ => None,
        }
    }

    #[test]
    fn dependency_data_only_for_a_primary_bin_for_the_target() {
        let bin = os(&[
            "--crate-name",
            "app",
            "--crate-type",
            "bin",
            "--emit=dep-info,link",
            "--target",
            "aarch64-unknown-linux-musl",
            "-C",
            "linker=rust-lld",
        ]);
        let got = extra_args(&cfg(), &bin, &env(true));
        assert_eq!(
            got,
            os(&[
                "--remap-path-prefix=/home/u/.cargo=/cargo",
                "-C",
                "link-arg=/t/app.o",
                "-C",
                "link-arg=-u",
                "-C",
                "link-arg=AUDITABLE_VERSION_INFO"
            ])
        );
        // Through a C compiler driver: -Wl,.
        let cc = &bin[..7];
        assert_eq!(
            extra_args(&cfg(), cc, &env(true))[4],
            "link-arg=-Wl,-u,AUDITABLE_VERSION_INFO"
        );
        // Not primary, a lib, a build script (host), `cargo check` (no link): remap flags only.
        let lib = os(&[
            "--crate-name",
            "app",
            "--crate-type",
            "lib",
            "--target",
            "aarch64-unknown-linux-musl",
        ]);
        let script = os(&["--crate-name", "build_script_build", "--crate-type", "bin"]);
        let check = os(&[
            "--crate-name",
            "app",
            "--crate-type",
            "bin",
            "--emit=dep-info,metadata",
            "--target",
            "aarch64-unknown-linux-musl",
        ]);
        for (args, primary) in [(&bin, false), (&lib, true), (&script, true), (&check, true)] {
            assert_eq!(extra_args(&cfg(), args, &env(primary)).len(), 1, "{args:?}");
        }
    }

    #[test]
    fn one_build_of_two_targets_links_each_targets_own_dependency_data() {
        let mut two = cfg();
        two.targets.insert(
            "x86_64-unknown-linux-musl".into(),
            BTreeMap::from([("app".into(), "/t/app-x86.o".into())]),
        );
        let bin = |triple: &str| {
            os(&[
                "--crate-name",
                "app",
                "--crate-type",
                "bin",
                "--target",
                triple,
                "-C",
                "linker=rust-lld",
            ])
        };
        let x86 = extra_args(&two, &bin("x86_64-unknown-linux-musl"), &env(true));
        assert_eq!(x86[2], "link-arg=/t/app-x86.o");
        let arm = extra_args(&two, &bin("aarch64-unknown-linux-musl"), &env(true));
        assert_eq!(arm[2], "link-arg=/t/app.o");
        // A target the build does not have: no data.
        let other = extra_args(&two, &bin("riscv64gc-unknown-linux-musl"), &env(true));
        assert_eq!(other.len(), 1);
    }

    #[test]
    fn extra_flags_go_before_the_users_remaps() {
        let args = os(&["a", "--remap-path-prefix=/x=/y", "b"]);
        assert_eq!(
            with_extra(&args, os(&["E"])),
            os(&["a", "E", "--remap-path-prefix=/x=/y", "b"])
        );
        assert_eq!(with_extra(&os(&["a"]), os(&["E"])), os(&["a", "E"]));
    }
}
