//! What the user configured for cargo that decides a target's C compiler and linker, so that a build
//! leaves it alone instead of overriding or breaking it.
//!
//! Takes the platform and the build's extra environment; reads the environment and the cargo config
//! files that apply from the current directory (`.cargo/config{,.toml}` there and in every ancestor,
//! then `$CARGO_HOME`), parsed as TOML, with `target.'cfg(..)'` tables matched against `rustc --print
//! cfg --target <triple>` the way cargo matches them. Gives [`UserSettings`], in words for the plan and
//! the SBOM:
//! - a C compiler: `CC_<triple>` / `TARGET_CC` in the environment or in a config file's `[env]` (which
//!   cargo would not apply over a `CC_<triple>` we set);
//! - a linker: `CARGO_TARGET_<T>_LINKER`, `linker` in `[target.<triple>]` or a matching
//!   `[target.'cfg(..)']`, or in the rustflags cargo passes (`CARGO_ENCODED_RUSTFLAGS`, else
//!   `RUSTFLAGS`, else `target.<triple>.rustflags` / `target.<cfg>.rustflags` /
//!   `CARGO_TARGET_<T>_RUSTFLAGS`, else `build.rustflags` / `CARGO_BUILD_RUSTFLAGS`): `-C linker=`,
//!   `-C linker-flavor=`, or `-C link-arg(s)=` with arguments only a C compiler driver understands
//!   (`-Wl,...`, `-Xlinker`, `-f...`, `-static-pie` ...), which rust-lld (a plain ld) rejects.
//!
//! An empty value counts as unset. Config files are named relative to the workspace root, or as
//! `$CARGO_HOME/...`, so the record names no home directory and is the same from any directory; values are recorded with control
//! characters escaped, secrets redacted, and cut to a bound.

use super::types::UserSettings;
use crate::platform::Platform;
use cargo_metadata::cargo_platform;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use toml::{Table, Value};

/// The C compiler and linker the user configured for `platform`'s target (see the module docs);
/// `extra_env` is what the build adds to the environment, and wins over it; `root`, the workspace
/// root, is what config files inside it are named relative to.
pub fn user_settings(
    platform: Platform,
    extra_env: &[(String, String)],
    root: Option<&Path>,
) -> UserSettings {
    let cwd = std::env::current_dir().unwrap_or_default();
    let home = cargo_home();
    let files: Vec<(String, Table)> = cargo_config_files()
        .into_iter()
        .filter_map(|f| {
            let table = std::fs::read_to_string(&f).ok()?.parse::<Table>().ok()?;
            Some((shown_path(&f, root, home.as_deref(), &cwd), table))
        })
        .collect();
    let env = |name: &str| {
        extra_env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    };
    let rustc_cfg = || target_cfg(&rustc(), platform.rust_target());
    settings(platform.rust_target(), &env, &files, rustc_cfg)
}

/// A variable as cargo's build scripts will see it: the environment, else the `[env]` table of the
/// cargo config files that apply (the nearest first). An empty value counts as unset.
pub fn build_script_env() -> impl Fn(&str) -> Option<String> {
    let tables: Vec<Table> = cargo_config_files()
        .into_iter()
        .filter_map(|f| std::fs::read_to_string(&f).ok()?.parse::<Table>().ok())
        .filter_map(|mut t| t.remove("env")?.as_table().cloned())
        .collect();
    move |name: &str| {
        let from_files = || {
            tables.iter().find_map(|t| {
                let v = t.get(name)?;
                Some(v.as_str().or_else(|| v.get("value")?.as_str())?.to_string())
            })
        };
        std::env::var(name)
            .ok()
            .or_else(from_files)
            .filter(|v| !v.trim().is_empty())
    }
}

/// [`user_settings`] from its inputs: `env` looks a variable up, `files` are the config files in
/// cargo's order of precedence (the nearest first) with the name to show, `cfg` gives the target's
/// cfg values when a `cfg(..)` table has to be matched.
pub(super) fn settings(
    triple: &str,
    env: &dyn Fn(&str) -> Option<String>,
    files: &[(String, Table)],
    cfg: impl FnOnce() -> Vec<cargo_platform::Cfg>,
) -> UserSettings {
    let under = triple.replace('-', "_");
    let key = under.to_ascii_uppercase();
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let cc_names = [
        format!("CC_{under}"),
        format!("CC_{triple}"),
        "TARGET_CC".into(),
    ];
    let cc = cc_names
        .iter()
        .find_map(|n| set(n).map(|v| format!("{n}={v}")))
        .or_else(|| {
            files.iter().find_map(|(shown, t)| {
                let env_table = t.get("env")?.as_table()?;
                cc_names.iter().find_map(|n| {
                    let v = env_table.get(n)?;
                    let v = v.as_str().or_else(|| v.get("value")?.as_str())?;
                    (!v.trim().is_empty()).then(|| format!("{n}={v} in [env] of {shown}"))
                })
            })
        });

    // The `[target]` tables that apply to the triple, in each file: its own, then matching cfg(..).
    let mut cfg = Some(cfg);
    let mut cfg_values: Option<Vec<cargo_platform::Cfg>> = None;
    let mut targets: Vec<(String, &str, &Table)> = Vec::new();
    for (shown, t) in files {
        let Some(all) = t.get("target").and_then(Value::as_table) else {
            continue;
        };
        for (name, table) in all {
            let Some(table) = table.as_table() else {
                continue;
            };
            let applies = if name.starts_with("cfg(") {
                let values =
                    cfg_values.get_or_insert_with(|| cfg.take().map(|f| f()).unwrap_or_default());
                cargo_platform::Platform::from_str(name).is_ok_and(|p| p.matches(triple, values))
            } else {
                name == triple
            };
            if applies {
                targets.push((format!("target.{name}"), shown.as_str(), table));
            }
        }
    }
    // cargo takes `[target.<triple>] linker` (from any file) before a `cfg(..)` table's.
    let own = format!("target.{triple}");
    let (exact, by_cfg): (Vec<_>, Vec<_>) = targets.iter().partition(|(table, ..)| *table == own);
    let config_linker = exact
        .into_iter()
        .chain(by_cfg)
        .find_map(|(table, shown, t)| {
            let v = t.get("linker")?.as_str()?;
            (!v.trim().is_empty()).then(|| format!("{table}.linker = {v} in {shown}"))
        });
    let (in_flags, link_args) = match rustflags(&key, env, files, &targets) {
        Some((flags, from)) => {
            let (linker, args) = link_setting(&flags);
            let from = |s: String| format!("{s} in {from}");
            (linker.map(from), args.map(from))
        }
        None => (None, None),
    };
    let linker = set(&format!("CARGO_TARGET_{key}_LINKER"))
        .map(|v| format!("CARGO_TARGET_{key}_LINKER={v}"))
        .or(config_linker)
        .or(in_flags);
    UserSettings {
        cc: cc.map(|s| recorded(&s)),
        link_args: link_args.filter(|_| linker.is_none()).map(|s| recorded(&s)),
        linker: linker.map(|s| recorded(&s)),
    }
}

/// The most characters of a setting recorded (a value can be any length).
const RECORDED_MAX: usize = 300;

/// A setting as the plan and the SBOM record it: control characters escaped (`\n`), secrets
/// redacted, at most [`RECORDED_MAX`] characters.
fn recorded(s: &str) -> String {
    let escaped: String = s
        .chars()
        .flat_map(|c| {
            let e: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            e
        })
        .collect();
    crate::ui::redact_and_cut(&escaped, RECORDED_MAX)
}

/// The rustflags cargo passes to rustc for the target, and where they come from, by cargo's rule:
/// the first of `CARGO_ENCODED_RUSTFLAGS`, `RUSTFLAGS`, the target's (`target.<triple>` and matching
/// `target.<cfg>` tables, `CARGO_TARGET_<T>_RUSTFLAGS`), `build.rustflags` (`CARGO_BUILD_RUSTFLAGS`)
/// that is set.
fn rustflags(
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
    files: &[(String, Table)],
    targets: &[(String, &str, &Table)],
) -> Option<(Vec<String>, String)> {
    if let Some(v) = env("CARGO_ENCODED_RUSTFLAGS") {
        let flags = v.split('\x1f').filter(|f| !f.is_empty());
        return Some((
            flags.map(String::from).collect(),
            "CARGO_ENCODED_RUSTFLAGS".into(),
        ));
    }
    if let Some(v) = env("RUSTFLAGS") {
        return Some((words(&v), "RUSTFLAGS".into()));
    }
    let found = |list: Vec<(Vec<String>, String)>| -> Option<(Vec<String>, String)> {
        let list: Vec<_> = list.into_iter().filter(|(f, _)| !f.is_empty()).collect();
        let names: Vec<String> = list.iter().map(|(_, n)| n.clone()).collect();
        (!list.is_empty()).then(|| {
            (
                list.into_iter().flat_map(|(f, _)| f).collect(),
                names.join(", "),
            )
        })
    };
    let var = |name: &str| env(name).map(|v| (words(&v), name.to_string()));
    let target_var = format!("CARGO_TARGET_{key}_RUSTFLAGS");
    let in_targets = targets.iter().filter_map(|(table, shown, t)| {
        Some((
            list(t.get("rustflags")?),
            format!("{table}.rustflags in {shown}"),
        ))
    });
    if let Some(f) = found(var(&target_var).into_iter().chain(in_targets).collect()) {
        return Some(f);
    }
    let in_build = files.iter().filter_map(|(shown, t)| {
        let v = t.get("build")?.get("rustflags")?;
        Some((list(v), format!("build.rustflags in {shown}")))
    });
    found(
        var("CARGO_BUILD_RUSTFLAGS")
            .into_iter()
            .chain(in_build)
            .collect(),
    )
}

/// A config value that is a list of strings, or one string of words.
fn list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => words(s),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// What in rustflags takes the linker out of our hands, shown as the flag: a linker (`-C linker=`,
/// `-C linker-flavor=`), and the first `-C link-arg(s)=` argument that only a C compiler driver
/// understands.
pub(super) fn link_setting(flags: &[String]) -> (Option<String>, Option<String>) {
    let mut codegen = Vec::new();
    let mut it = flags.iter();
    while let Some(f) = it.next() {
        let opt = match f.as_str() {
            "-C" | "--codegen" => it.next().map(String::as_str),
            other => other
                .strip_prefix("--codegen=")
                .or_else(|| other.strip_prefix("-C")),
        };
        codegen.extend(opt.and_then(|o| o.split_once('=')));
    }
    let linker = codegen
        .iter()
        .find(|(k, _)| matches!(k.trim(), "linker" | "linker-flavor"))
        .map(|(k, v)| format!("-C {}={v}", k.trim()));
    let args = codegen.iter().find_map(|(k, v)| match k.trim() {
        "link-arg" => driver_only(v).then(|| format!("-C link-arg={v}")),
        "link-args" => v
            .split_whitespace()
            .find(|a| driver_only(a))
            .map(|a| format!("-C link-args=..{a}..")),
        _ => None,
    });
    (linker, args)
}

/// A link argument for a C compiler driver (gcc, clang) that a plain ld such as rust-lld rejects.
fn driver_only(arg: &str) -> bool {
    const PREFIXES: [&str; 9] = [
        "-Wl,",
        "-Xlinker",
        "-f",
        "-B",
        "-static-",
        "-nostartfiles",
        "-nodefaultlibs",
        "-pthread",
        "--sysroot",
    ];
    let m_flag = arg
        .strip_prefix("-m")
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()) || r.contains('='));
    let o_flag = arg
        .strip_prefix("-O")
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_alphabetic()));
    PREFIXES.iter().any(|p| arg.starts_with(p)) || m_flag || o_flag
}

/// The rustc cargo runs, by cargo's rule: `$RUSTC`, else `build.rustc` of the nearest config file
/// that sets it (a path with a `/` is relative to the directory holding that file's `.cargo`), else
/// `rustc` from PATH.
pub fn rustc() -> String {
    if let Some(r) = std::env::var("RUSTC").ok().filter(|r| !r.trim().is_empty()) {
        return r;
    }
    let in_config = cargo_config_files().into_iter().find_map(|f| {
        let table = std::fs::read_to_string(&f).ok()?.parse::<Table>().ok()?;
        let r = table.get("build")?.get("rustc")?.as_str()?.to_string();
        Some(config_relative(&f, &r))
    });
    in_config.unwrap_or_else(|| "rustc".into())
}

/// A program named in config file `file`: as given if it is a bare name (looked up on PATH) or
/// absolute, else relative to the directory that holds the file's `.cargo` directory.
fn config_relative(file: &Path, program: &str) -> String {
    if !program.contains('/') || Path::new(program).is_absolute() {
        return program.to_string();
    }
    let base = file
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    base.join(program).display().to_string()
}

/// The cfg values of `triple` (`rustc --print cfg --target <triple>`), for `cfg(..)` tables; none
/// if rustc cannot say (then no `cfg(..)` table matches).
fn target_cfg(rustc: &str, triple: &str) -> Vec<cargo_platform::Cfg> {
    let out = std::process::Command::new(rustc)
        .args(["--print", "cfg", "--target", triple])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    let Ok(out) = out else { return Vec::new() };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| cargo_platform::Cfg::from_str(l.trim()).ok())
        .collect()
}

/// The cargo config files that apply from the current directory, the nearest first:
/// `.cargo/config{,.toml}` in it and its ancestors, then in `$CARGO_HOME`.
pub(super) fn cargo_config_files() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::current_dir()
        .map(|d| d.ancestors().map(|a| a.join(".cargo")).collect())
        .unwrap_or_default();
    dirs.extend(cargo_home());
    let mut files: Vec<PathBuf> = Vec::new();
    for f in dirs
        .iter()
        .flat_map(|d| [d.join("config.toml"), d.join("config")])
    {
        let same = |g: &PathBuf| g.canonicalize().ok() == f.canonicalize().ok();
        if f.is_file() && !files.iter().any(same) {
            files.push(f);
        }
    }
    files
}

fn cargo_home() -> Option<PathBuf> {
    // Where cargo finds it (with HOME unset, the password database's home): one rule for the
    // config files and the remap list.
    super::remap::cargo_home()
}

/// A config file as the record names it, the same from any checkout and any directory: relative to
/// the workspace `root` (`.cargo/config.toml`), else `$CARGO_HOME/...`, else relative to `cwd`
/// (`../.cargo/config.toml`).
pub(super) fn shown_path(f: &Path, root: Option<&Path>, home: Option<&Path>, cwd: &Path) -> String {
    if let Some(rest) = root.and_then(|r| f.strip_prefix(r).ok()) {
        return rest.display().to_string();
    }
    if let Some(rest) = home.and_then(|h| f.strip_prefix(h).ok()) {
        return format!("$CARGO_HOME/{}", rest.display());
    }
    // Not up to `/`: every absolute path is under it.
    for (up, dir) in cwd.ancestors().filter(|d| d.parent().is_some()).enumerate() {
        if let Ok(rest) = f.strip_prefix(dir) {
            return format!("{}{}", "../".repeat(up), rest.display());
        }
    }
    f.display().to_string()
}

#[cfg(test)]
#[path = "user_config_tests.rs"]
mod tests;
