//! Helpers shared by the blob cache tests (tests/cache.rs, tests/cache_hostile.rs): the cache's
//! place in a target dir, an app binary that needs no compiling, and the build they run.

use super::{peers, slim};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The blob cache's `blobs` directory under `target`.
pub fn cache(target: &Path) -> PathBuf {
    target.join("slim-image/.cache/blobs")
}

/// A copy of the host's static busybox at `dir/app` (an app binary that needs no compiling).
pub fn app_binary(dir: &Path) -> PathBuf {
    let busybox = peers::which("busybox").expect("busybox");
    let bin = dir.join("app");
    fs::copy(busybox, &bin).unwrap();
    bin
}

/// `cargo slim-image --binary BIN --target-dir TARGET --output OUT --sbom none EXTRA...`.
pub fn build_with(bin: &Path, target: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut args = vec![
        "--binary",
        bin.to_str().unwrap(),
        "--target-dir",
        target.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--sbom",
        "none",
    ];
    args.extend_from_slice(extra);
    slim::cmd(&args)
}
