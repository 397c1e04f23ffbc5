//! System C libraries that `-sys` crates look for, on a musl target where the host has none.
//!
//! Takes one platform's [`Decision`] (its `-sys` crates with their features, from `cargo tree`), the
//! `openssl` choice (metadata key) and the environment as cargo would pass it; gives a [`Needs`]: whether
//! OpenSSL is to be built for the target ([`super::openssl`] does it, once per user), the hints to
//! print before building (the feature that bundles the library), and the crates that cannot build
//! at all (an error before anything is compiled). A Debian host's `libssl-dev` or `libsqlite3-dev`
//! is built for glibc: a static musl binary cannot link it, so "install libfoo-dev" is wrong advice.

use super::c_crates::SysCrate;
use super::types::Decision;
use crate::platform::Platform;
use anyhow::{bail, Result};
use std::collections::BTreeMap;

pub use super::types::CLibrary;

/// What one platform's build gets before cargo runs: environment for cargo, and the C libraries
/// built for it.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Added to cargo's environment.
    pub env: Vec<(String, String)>,
    /// For the SBOM.
    pub libraries: Vec<CLibrary>,
}

/// For each decision: print the hints, fail on what cannot build (naming the crates and what to
/// do), and build (or find in the cache) OpenSSL where it is needed. Runs before anything is
/// compiled.
pub fn prepare_all(
    decisions: &[Decision],
    openssl: OpensslChoice,
    offline: bool,
) -> Result<BTreeMap<Platform, Prepared>> {
    let env = super::user_config::build_script_env();
    let all: Vec<(&Decision, Needs)> = decisions
        .iter()
        .map(|d| (d, needs(d, openssl, &env)))
        .collect();
    // Each hint once, with the platforms it is for (a crate is usually built for all of them).
    let mut hints: Vec<(String, Vec<String>)> = Vec::new();
    let mut fatal: Vec<String> = Vec::new();
    for (d, n) in &all {
        for h in &n.hints {
            match hints.iter_mut().find(|(t, _)| t == h) {
                Some((_, platforms)) => platforms.push(d.platform.to_string()),
                None => hints.push((h.clone(), vec![d.platform.to_string()])),
            }
        }
        for f in &n.fatal {
            if !fatal.contains(f) {
                fatal.push(f.clone());
            }
        }
    }
    for (h, platforms) in &hints {
        crate::ui::warn(format!("{}: {h}", platforms.join(", ")));
    }
    if !fatal.is_empty() {
        bail!(
            "cannot build for musl as configured, so nothing was compiled:\n- {}",
            fatal.join("\n- ")
        );
    }
    let mut out = BTreeMap::new();
    for (d, n) in &all {
        let mut p = Prepared::default();
        if let Some(why) = &n.openssl {
            let root = crate::user_cache::root(&|k| std::env::var(k).ok())
                .map_err(|e| e.context("OpenSSL is built once and kept in a per-user cache"))?;
            let built = super::openssl::ensure(d, &root, why, offline)?;
            p.env.extend(built.env);
            p.libraries.push(CLibrary {
                name: "openssl".into(),
                version: built.version,
                license: "Apache-2.0".into(),
                for_crate: why.clone(),
            });
        }
        out.insert(d.platform, p);
    }
    Ok(out)
}

/// `openssl` in `[*.metadata.slim-image]`: who provides OpenSSL to `openssl-sys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpensslChoice {
    /// Build it for the target once and keep it in the user's cache (when `openssl-sys` needs it).
    #[default]
    Auto,
    /// Leave it to openssl-sys (`OPENSSL_DIR` and the like, set by the user).
    System,
}

impl OpensslChoice {
    /// Parse a metadata value; the error says what to write.
    pub fn parse(s: &str) -> Result<OpensslChoice, String> {
        match s.trim() {
            "auto" => Ok(OpensslChoice::Auto),
            "system" => Ok(OpensslChoice::System),
            _ => Err(format!(
                "`{}` is not an OpenSSL source: write auto (default: cargo slim-image builds OpenSSL for the musl target) or system (openssl-sys finds it, e.g. from OPENSSL_DIR)",
                crate::config::quote::shown(s)
            )),
        }
    }

    /// The spelling of the value.
    pub fn name(self) -> &'static str {
        match self {
            OpensslChoice::Auto => "auto",
            OpensslChoice::System => "system",
        }
    }
}

/// What one platform's build needs before cargo runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// `openssl-sys@<version>` when OpenSSL is to be built for the target and given to it.
    pub openssl: Option<String>,
    /// Hints for crates that may link a host library or none (printed, the build goes on).
    pub hints: Vec<String>,
    /// Crates that cannot link on this target as configured (the build stops before compiling).
    pub fatal: Vec<String>,
}

/// What is known of a `-sys` crate that looks for a system library: the features that make it build
/// its own copy, the variable that points it at one, and how it fails without either.
struct Known {
    name: &'static str,
    library: &'static str,
    /// Any of these features bundles (or vendors) the library.
    bundled: &'static [&'static str],
    /// Or: a feature that makes it look for the system library (it bundles otherwise).
    system_feature: Option<&'static str>,
    /// The feature to turn on (or off, with `system_feature`).
    advice: &'static str,
    /// Variables that point the crate at a library the user built (any set turns the check off).
    user_vars: &'static [&'static str],
    /// Without the library the build fails (else the crate falls back to a bundled copy).
    fatal: bool,
}

const KNOWN: &[Known] = &[
    Known {
        name: "libsqlite3-sys",
        library: "SQLite",
        bundled: &[
            "bundled",
            "bundled-sqlcipher",
            "bundled-sqlcipher-vendored-openssl",
        ],
        system_feature: None,
        advice: "turn on its `bundled` feature, which compiles SQLite into the binary: `libsqlite3-sys = { version = \"...\", features = [\"bundled\"] }`, or `rusqlite = { version = \"...\", features = [\"bundled\"] }` when it comes with rusqlite",
        user_vars: &["SQLITE3_LIB_DIR"],
        fatal: true,
    },
    Known {
        name: "libz-sys",
        library: "zlib",
        bundled: &["static", "zlib-ng"],
        system_feature: None,
        advice: "turn on its `static` feature to always compile the bundled zlib: `libz-sys = { version = \"...\", features = [\"static\"] }` (flate2 with `zlib` pulls it in)",
        user_vars: &["LIBZ_SYS_STATIC"],
        fatal: false,
    },
    Known {
        name: "zstd-sys",
        library: "zstd",
        bundled: &[],
        system_feature: Some("pkg-config"),
        advice: "drop its `pkg-config` feature (without it zstd-sys compiles the bundled zstd): remove `pkg-config` from the features of zstd / zstd-sys",
        user_vars: &[],
        fatal: false,
    },
    Known {
        name: "curl-sys",
        library: "libcurl",
        bundled: &["static-curl"],
        system_feature: None,
        advice: "turn on its `static-curl` feature, which compiles the bundled libcurl: `curl = { version = \"...\", features = [\"static-curl\"] }`",
        user_vars: &[],
        fatal: false,
    },
    Known {
        name: "pq-sys",
        library: "libpq",
        bundled: &["bundled", "bundled_without_openssl"],
        system_feature: None,
        advice: "turn on its `bundled` feature, which compiles libpq into the binary: `pq-sys = { version = \"...\", features = [\"bundled\"] }` (diesel: `features = [\"postgres\"]` plus that pq-sys line)",
        user_vars: &["PQ_LIB_DIR"],
        fatal: true,
    },
];

/// Whether `var` is set for `triple` the way the `-sys` crates read it (`<TRIPLE>_VAR`, `VAR_<triple>`,
/// then `VAR`), `env` giving what cargo's build scripts will see.
pub fn var_set(env: &dyn Fn(&str) -> Option<String>, triple: &str, var: &str) -> bool {
    let upper = triple.replace('-', "_").to_ascii_uppercase();
    [
        format!("{upper}_{var}"),
        format!("{var}_{}", triple.replace('-', "_")),
        format!("{var}_{triple}"),
        var.to_string(),
    ]
    .iter()
    .any(|k| env(k).is_some_and(|v| !v.trim().is_empty()))
}

/// Whether the first of `var`'s spellings that is set for `triple` (as [`var_set`]) is `value`.
fn var_is(env: &dyn Fn(&str) -> Option<String>, triple: &str, var: &str, value: &str) -> bool {
    let upper = triple.replace('-', "_").to_ascii_uppercase();
    [format!("{upper}_{var}"), var.to_string()]
        .iter()
        .find_map(|k| env(k).filter(|v| !v.trim().is_empty()))
        .is_some_and(|v| v.trim() == value)
}

/// The needs of `d`'s platform; `env` gives what cargo's build scripts will see.
pub fn needs(d: &Decision, openssl: OpensslChoice, env: &dyn Fn(&str) -> Option<String>) -> Needs {
    let triple = d.platform.rust_target();
    let mut out = Needs::default();
    for c in &d.sys_crates {
        if c.name == "openssl-sys" {
            let user_set = ["OPENSSL_DIR", "OPENSSL_LIB_DIR"]
                .iter()
                .any(|v| var_set(env, triple, v))
                // openssl-sys reads `OPENSSL_NO_VENDOR=0` as not set.
                || (var_set(env, triple, "OPENSSL_NO_VENDOR")
                    && !var_is(env, triple, "OPENSSL_NO_VENDOR", "0"));
            // Its own copy (`vendored`), or a library that is not OpenSSL (aws-lc, BoringSSL).
            let own = ["vendored", "aws-lc", "aws-lc-fips", "unstable_boringssl"]
                .iter()
                .any(|f| c.features.contains(*f));
            if openssl == OpensslChoice::Auto && !own && !user_set {
                out.openssl = Some(format!("{}@{}", c.name, c.version));
            }
            continue;
        }
        if let Some(h) = hint(c, triple, env) {
            let fatal = KNOWN.iter().any(|k| k.name == c.name && k.fatal);
            if fatal {
                out.fatal.push(h);
            } else {
                out.hints.push(h);
            }
        }
    }
    out
}

/// The hint for `c`, when it is a crate that would look for a system library for `triple`.
fn hint(c: &SysCrate, triple: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let k = KNOWN.iter().find(|k| k.name == c.name)?;
    if k.bundled.iter().any(|f| c.features.contains(*f))
        || k.user_vars.iter().any(|v| var_set(env, triple, v))
    {
        return None;
    }
    let looks = match k.system_feature {
        Some(f) if !c.features.contains(f) => return None,
        Some(f) => format!("with its `{f}` feature"),
        None => format!("without {}", list(k.bundled)),
    };
    let outcome = if k.fatal {
        "the build would fail at the link (or find a host library built for glibc, which a static musl binary cannot use)"
    } else {
        "it would link a host library built for glibc if one is found, which a static musl binary cannot use"
    };
    let var = k
        .user_vars
        .first()
        .map(|v| format!(", or point {v} at a {} you built for musl", k.library))
        .unwrap_or_default();
    Some(format!(
        "{}@{} {looks} looks for a system {} (pkg-config or the C compiler's paths), but there is none for the musl target: {outcome}; {}{var}",
        c.name, c.version, k.library, k.advice
    ))
}

fn list(features: &[&str]) -> String {
    let quoted: Vec<String> = features.iter().map(|f| format!("`{f}`")).collect();
    match quoted.as_slice() {
        [one] => one.clone(),
        [first, ..] => format!("{first} (or {})", quoted[1..].join(", ")),
        [] => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::c_toolchain::{Choice, Toolchain};
    use crate::platform::Platform;

    fn decision(sys: &[(&str, &[&str])]) -> Decision {
        Decision {
            platform: Platform::LinuxAmd64,
            toolchain: Toolchain::MuslGcc,
            c_crates: Vec::new(),
            choice: Choice::Auto,
            sys_crates: sys
                .iter()
                .map(|(n, f)| SysCrate {
                    name: n.to_string(),
                    version: "1.0.0".into(),
                    features: f.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
            tree: String::new(),
        }
    }

    #[test]
    fn openssl_is_built_unless_vendored_system_or_set_by_the_user() {
        let none = |_: &str| None;
        let d = decision(&[("openssl-sys", &[])]);
        let want = Some("openssl-sys@1.0.0".to_string());
        assert_eq!(needs(&d, OpensslChoice::Auto, &none).openssl, want);
        assert_eq!(needs(&d, OpensslChoice::System, &none).openssl, None);
        let vendored = decision(&[("openssl-sys", &["vendored"])]);
        assert_eq!(needs(&vendored, OpensslChoice::Auto, &none).openssl, None);
        for var in [
            "OPENSSL_DIR",
            "X86_64_UNKNOWN_LINUX_MUSL_OPENSSL_DIR",
            "OPENSSL_LIB_DIR",
        ] {
            let set = |k: &str| (k == var).then(|| "/opt/ssl".to_string());
            assert_eq!(needs(&d, OpensslChoice::Auto, &set).openssl, None, "{var}");
        }
        // With aws-lc or BoringSSL openssl-sys links no OpenSSL: none is built, none in the SBOM.
        for f in ["aws-lc", "aws-lc-fips", "unstable_boringssl"] {
            let other = decision(&[("openssl-sys", &[f])]);
            assert_eq!(
                needs(&other, OpensslChoice::Auto, &none).openssl,
                None,
                "{f}"
            );
        }
        // openssl-sys reads OPENSSL_NO_VENDOR=0 as unset: it then looks for OpenSSL, so it is built.
        let zero = |k: &str| (k == "OPENSSL_NO_VENDOR").then(|| "0".to_string());
        assert_eq!(needs(&d, OpensslChoice::Auto, &zero).openssl, want);
        let empty = |k: &str| (k == "OPENSSL_DIR").then(String::new);
        assert_eq!(needs(&d, OpensslChoice::Auto, &empty).openssl, want);
    }

    #[test]
    fn sys_crates_without_their_bundled_feature_get_a_hint() {
        let none = |_: &str| None;
        let n = needs(
            &decision(&[
                ("libsqlite3-sys", &["min_sqlite_version_3_14_0"]),
                ("libz-sys", &["libc"]),
                ("zstd-sys", &["pkg-config", "std"]),
                ("ring-sys", &[]),
            ]),
            OpensslChoice::Auto,
            &none,
        );
        assert_eq!(n.fatal.len(), 1, "{n:?}");
        assert!(n.fatal[0].starts_with("libsqlite3-sys@1.0.0 without `bundled`"));
        assert!(n.fatal[0].contains("features = [\"bundled\"]"), "{n:?}");
        assert_eq!(n.hints.len(), 2, "{n:?}");
        assert!(n.hints[0].contains("`static`"), "{n:?}");
        assert!(
            n.hints[1].contains("drop its `pkg-config` feature"),
            "{n:?}"
        );
        let fine = needs(
            &decision(&[
                ("libsqlite3-sys", &["bundled"]),
                ("libz-sys", &["static"]),
                ("zstd-sys", &["std"]),
            ]),
            OpensslChoice::Auto,
            &none,
        );
        assert_eq!(fine, Needs::default());
        let own = |k: &str| (k == "SQLITE3_LIB_DIR").then(|| "/opt/sqlite".to_string());
        let d = decision(&[("libsqlite3-sys", &[])]);
        assert!(needs(&d, OpensslChoice::Auto, &own).fatal.is_empty());
    }
}
