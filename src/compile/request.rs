//! What a build is asked for and what it gives: [`BuildRequest`] (the cargo flags, the platform,
//! its [`Reproducible`] wrapper inputs and C toolchain) and the [`BuiltBinary`] list. A leaf that
//! `compile` and its children share; `compile` re-exports it.

use super::types::Decision;
use crate::platform::Platform;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What to build: the cargo selection flags, the profile and the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    /// `--manifest-path`; `None` lets cargo look from the current directory.
    pub manifest_path: Option<PathBuf>,
    /// `-p NAME` for each.
    pub packages: Vec<String>,
    /// `--bin NAME` for each; empty means every bin of the selected packages (`--bins`).
    pub bins: Vec<String>,
    /// `--features` values.
    pub features: Vec<String>,
    /// `--all-features`.
    pub all_features: bool,
    /// `--no-default-features`.
    pub no_default_features: bool,
    /// `--profile NAME`, usually `release`.
    pub profile: String,
    /// `--target-dir`.
    pub target_dir: Option<PathBuf>,
    /// `--locked`.
    pub locked: bool,
    /// `--frozen`.
    pub frozen: bool,
    /// `--offline`.
    pub offline: bool,
    /// How many `-v` to pass to cargo.
    pub verbose: u8,
    /// `-q`.
    pub quiet: bool,
    /// The platform to build for; its musl triple is the `--target`.
    pub platform: Platform,
    /// Extra environment for cargo (e.g. `CARGO_PROFILE_RELEASE_*` overrides); set last, so it
    /// wins.
    pub extra_env: Vec<(String, String)>,
    /// What the rustc wrapper adds: remap pairs and dependency data (see `prepare::reproducible`).
    pub repro: Reproducible,
    /// The executable cargo runs as `RUSTC_WRAPPER` (this tool's binary, which has the wrapper
    /// mode); `None`: the running executable.
    pub rustc_wrapper: Option<PathBuf>,
    /// The C toolchain decided for the platform; `None`: `build` decides by the rule
    /// ([`Choice::Auto`](super::types::Choice::Auto)) from `cargo metadata`.
    pub c_toolchain: Option<Decision>,
}

impl BuildRequest {
    /// Every bin of the default packages, release profile, for `platform`.
    pub fn new(platform: Platform) -> BuildRequest {
        BuildRequest {
            manifest_path: None,
            packages: Vec::new(),
            bins: Vec::new(),
            features: Vec::new(),
            all_features: false,
            no_default_features: false,
            profile: "release".into(),
            target_dir: None,
            locked: false,
            frozen: false,
            offline: false,
            verbose: 0,
            quiet: false,
            platform,
            extra_env: Vec::new(),
            repro: Reproducible::default(),
            rustc_wrapper: None,
            c_toolchain: None,
        }
    }
}

/// One executable cargo built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltBinary {
    /// The package's name.
    pub package: String,
    /// cargo's package id (as in `cargo metadata`).
    pub package_id: String,
    /// The bin target's name.
    pub name: String,
    /// Where cargo put the executable.
    pub path: PathBuf,
    /// The platform it was built for.
    pub platform: Platform,
}

/// The wrapper's inputs for one platform, computed from `cargo metadata` before the build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reproducible {
    /// `(FROM, TO)` remap pairs, general to specific (the build dir's own pair is added by
    /// `prepare::setup`).
    pub remap: Vec<(PathBuf, String)>,
    /// Package name -> the compressed `.dep-v0` payload its bins carry.
    pub dep_data: BTreeMap<String, Vec<u8>>,
}
