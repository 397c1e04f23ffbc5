//! The `--remap-path-prefix` list of a build: which machine paths become which stable names.
//!
//! Takes the places a build reads from or writes to ([`Places`]: the Rust sysroot, `CARGO_HOME`, the
//! workspace root, cargo's target dir(s)) and the packages of `cargo metadata`, and gives the list of
//! `(FROM, TO)` pairs the rustc wrapper appends, ordered from general to specific: rustc applies the
//! *last* matching prefix (tests/repro_paths.rs checks that), so a path inside the workspace's
//! target dir becomes `/target/...`, not `/workspace/target/...`. Registry and git sources live under
//! `CARGO_HOME` (`registry/src/<index>-<hash>/<name>-<version>`, `git/checkouts/...`), whose names
//! are the same on every machine, so one pair covers them all: adding a dependency does not change
//! the list. Only packages outside both `CARGO_HOME` and the workspace (path dependencies elsewhere,
//! vendored directories) get a pair each, `/deps/<name>-<version>`. The list is computed here, from
//! data, never inside the wrapper.

use cargo_metadata::Metadata;
use std::path::{Component, Path, PathBuf};

/// The places whose paths are machine-specific.
#[derive(Debug, Clone, Default)]
pub struct Places {
    /// `rustc --print sysroot`.
    pub sysroot: Option<PathBuf>,
    /// `CARGO_HOME` as cargo resolves it (see [`cargo_home`]).
    pub cargo_home: Option<PathBuf>,
    /// The workspace root (`cargo metadata`'s `workspace_root`).
    pub workspace_root: Option<PathBuf>,
    /// cargo's target dir(s): the user's and the one the tool builds in.
    pub target_dirs: Vec<PathBuf>,
}

/// `CARGO_HOME` as cargo resolves it: the variable made absolute against the current directory
/// when set and not empty, else `.cargo` in the home directory, which is `$HOME` or, without it,
/// the user's entry in the password database (`std::env::home_dir`, what cargo's `home` crate
/// uses): a build with `HOME` unset still reads the registry from there.
pub fn cargo_home() -> Option<PathBuf> {
    match std::env::var_os("CARGO_HOME").filter(|h| !h.is_empty()) {
        Some(h) => std::env::current_dir().ok().map(|cwd| cwd.join(h)),
        None => std::env::home_dir()
            .filter(|h| !h.as_os_str().is_empty())
            .map(|h| h.join(".cargo")),
    }
}

/// `rustc --print sysroot` of `$RUSTC` (else `rustc`), when it answers.
pub fn sysroot() -> Option<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc)
        .args(["--print", "sysroot"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !s.trim().is_empty()).then(|| PathBuf::from(s.trim()))
}

/// `path` without `.` components and with `..` applied, as cargo writes paths (no symlinks read).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether `p` may be remapped: absolute, UTF-8 (the list is JSON, and rustc's flag is text), and
/// not `/` itself (which would rename every path).
fn usable(p: &Path) -> bool {
    p.is_absolute() && p.to_str().is_some() && p.components().count() > 1
}

/// The remap pairs for `places` and the packages of `metadata` (`cargo metadata`),
/// general to specific. Each path is also given in its canonical form when that differs (a
/// `CARGO_HOME` behind a symlink).
pub fn list(places: &Places, metadata: &Metadata) -> Vec<(PathBuf, String)> {
    let inside = |p: &Path, root: &Option<PathBuf>| root.as_ref().is_some_and(|r| p.starts_with(r));
    // (category, from, to): the category orders entries of the same depth, general first.
    let mut raw: Vec<(u8, PathBuf, String)> = Vec::new();
    if let Some(s) = &places.sysroot {
        raw.push((0, s.clone(), "/rustc/sysroot".into()));
    }
    if let Some(h) = &places.cargo_home {
        raw.push((1, h.clone(), "/cargo".into()));
    }
    if let Some(w) = &places.workspace_root {
        raw.push((2, w.clone(), "/workspace".into()));
    }
    let home = places.cargo_home.as_deref().map(lexical);
    let root = places.workspace_root.as_deref().map(lexical);
    for pkg in &metadata.packages {
        let Some(dir) = pkg.manifest_path.as_std_path().parent().map(lexical) else {
            continue;
        };
        if !inside(&dir, &home) && !inside(&dir, &root) {
            raw.push((3, dir, format!("/deps/{}-{}", pkg.name, pkg.version)));
        }
    }
    for t in &places.target_dirs {
        raw.push((4, t.clone(), "/target".into()));
    }
    let mut all: Vec<(usize, u8, PathBuf, String)> = Vec::new();
    for (cat, from, to) in raw {
        let from = lexical(&from);
        let canonical = std::fs::canonicalize(&from).ok().filter(|c| *c != from);
        for f in std::iter::once(from).chain(canonical) {
            if usable(&f) {
                all.push((f.components().count(), cat, f, to.clone()));
            }
        }
    }
    // General to specific: fewer components first, so a deeper prefix, given later, wins.
    all.sort();
    // One pair per FROM: the last (most specific category) wins, as it would in rustc.
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    for (_, _, from, to) in all {
        out.retain(|(f, _)| *f != from);
        out.push((from, to));
    }
    out
}

/// The pairs as rustc flags: `--remap-path-prefix=FROM=TO` (rustc splits at the last `=`, and no
/// `TO` has one).
pub fn flags(pairs: &[(PathBuf, String)]) -> Vec<String> {
    pairs
        .iter()
        .filter_map(|(from, to)| Some(format!("--remap-path-prefix={}={to}", from.to_str()?)))
        .collect()
}

/// The pairs as C compiler flags, `-ffile-prefix-map=FROM=TO` (GCC 8+, clang 10+, zig cc), for
/// C code a build script compiles with the `cc` crate: its debug info and `__FILE__` record paths
/// too. The `cc` crate splits its `CFLAGS` at whitespace and GCC splits the flag at the first `=`,
/// so a `FROM` with either (or a quote or backslash, for `CC_SHELL_ESCAPED_FLAGS`) is left out.
/// The compilers apply the last matching prefix, as rustc does, so the order stays general to
/// specific.
pub fn c_flags(pairs: &[(PathBuf, String)]) -> Vec<String> {
    pairs
        .iter()
        .filter_map(|(from, to)| {
            let from = from.to_str()?;
            let plain = |s: &str| !s.contains(|c: char| c.is_whitespace() || "='\"\\".contains(c));
            (plain(from) && plain(to)).then(|| format!("-ffile-prefix-map={from}={to}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbom::deps::test_metadata;
    use serde_json::json;

    fn places() -> Places {
        Places {
            sysroot: Some("/home/u/.rustup/toolchains/stable".into()),
            cargo_home: Some("/home/u/.cargo".into()),
            workspace_root: Some("/home/u/src/app".into()),
            target_dirs: vec![
                "/home/u/src/app/target".into(),
                "/home/u/src/app/target/slim-image/.build/k".into(),
            ],
        }
    }

    #[test]
    fn general_to_specific_one_pair_per_registry() {
        let md = json!({"packages": [
            {"name": "app", "version": "0.1.0", "manifest_path": "/home/u/src/app/Cargo.toml"},
            {"name": "inner", "version": "0.2.0", "manifest_path": "/home/u/src/app/crates/inner/Cargo.toml"},
            {"name": "itoa", "version": "1.0.0",
             "manifest_path": "/home/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/itoa-1.0.0/Cargo.toml"},
            {"name": "shared", "version": "0.3.0", "manifest_path": "/opt/src/app/../shared/Cargo.toml"},
        ]});
        let got = list(&places(), &test_metadata(md));
        let want: Vec<(PathBuf, String)> = [
            ("/home/u/.cargo", "/cargo"),
            ("/opt/src/shared", "/deps/shared-0.3.0"),
            ("/home/u/src/app", "/workspace"),
            ("/home/u/.rustup/toolchains/stable", "/rustc/sysroot"),
            ("/home/u/src/app/target", "/target"),
            ("/home/u/src/app/target/slim-image/.build/k", "/target"),
        ]
        .iter()
        .map(|(f, t)| (PathBuf::from(f), t.to_string()))
        .collect();
        assert_eq!(got, want);
        assert_eq!(
            flags(&got[1..2]),
            ["--remap-path-prefix=/opt/src/shared=/deps/shared-0.3.0"]
        );
    }

    #[test]
    fn c_flags_leave_out_what_cflags_cannot_carry() {
        let pairs: Vec<(PathBuf, String)> = [
            ("/home/u/.cargo", "/cargo"),
            ("/home/u/my src/app", "/workspace"),
            ("/home/u/a=b", "/deps/x-1.0.0"),
            ("/home/u/src/app/target", "/target"),
        ]
        .iter()
        .map(|(f, t)| (PathBuf::from(f), t.to_string()))
        .collect();
        assert_eq!(
            c_flags(&pairs),
            [
                "-ffile-prefix-map=/home/u/.cargo=/cargo",
                "-ffile-prefix-map=/home/u/src/app/target=/target"
            ]
        );
    }

    #[test]
    fn root_relative_and_empty_prefixes_are_never_remapped() {
        let p = Places {
            sysroot: Some("/".into()),
            cargo_home: Some("relative/.cargo".into()),
            workspace_root: Some("".into()),
            target_dirs: vec!["/t/..".into()],
        };
        let md = json!({"packages": [{"name": "x", "version": "1.0.0", "manifest_path": "/Cargo.toml"}]});
        assert_eq!(list(&p, &test_metadata(md)), Vec::new());
    }

    #[test]
    fn cargo_home_inside_the_workspace_is_more_specific() {
        let p = Places {
            cargo_home: Some("/ci/app/.cargo".into()),
            workspace_root: Some("/ci/app".into()),
            ..Places::default()
        };
        let got = list(&p, &test_metadata(json!({"packages": []})));
        assert_eq!(got[0].1, "/workspace");
        assert_eq!(got[1].1, "/cargo");
    }
}
