//! Issue 16, "Conventions": a multi-platform build runs its targets in one `cargo build --target A
//! --target B` where the toolchains allow (one job server), and gives exactly the images one build
//! per platform gives; where they cannot share it (cargo zigbuild for one target only, a feature one
//! target's dependencies turn on for the other), the platforms are built one after the other and
//! `-v` says why.

mod common;

use common::peers;
use common::slim;
use common::toolchain::{fixture, work};
use serde_json::Value;
use std::path::Path;

/// `cargo slim-image -v` on `manifest` into `target` for `platforms`; the JSON report and stderr.
fn build(manifest: &str, target: &Path, platforms: &str) -> (Value, String) {
    let out = target.join(format!("out-{}", platforms.replace(['/', ','], "-")));
    let mut c = slim::on(
        manifest,
        target.to_str().unwrap(),
        &[
            "--platform",
            platforms,
            "--output",
            out.to_str().unwrap(),
            "--message-format",
            "json",
            "-v",
        ],
    );
    let o = slim::run(&mut c);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "cargo-slim-image failed:\n{stderr}");
    (
        serde_json::from_slice(&o.stdout).expect("JSON report"),
        stderr,
    )
}

/// The manifest digest of each platform of an image report.
fn manifests(report: &Value) -> Vec<(String, String)> {
    report["images"][0]["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["platform"].as_str().unwrap().to_string(),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The `Building ...` status lines of a run.
fn building(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("Building "))
        .collect()
}

/// The two platforms' manifests of one run equal those of two single-platform runs.
fn same_as_one_by_one(manifest: &str, target: &Path, both: &Value) {
    let (amd, _) = build(manifest, target, "linux/amd64");
    let (arm, _) = build(manifest, target, "linux/arm64");
    let mut singles = manifests(&amd);
    singles.extend(manifests(&arm));
    assert_eq!(manifests(both), singles);
}

#[test]
fn pure_rust_platforms_share_one_cargo_build_and_give_the_same_images() {
    let w = work();
    let (both, stderr) = build(&slim::hello_http(), w.path(), "linux/amd64,linux/arm64");
    assert_eq!(
        building(&stderr),
        ["Building linux/amd64 (x86_64-unknown-linux-musl), linux/arm64 (aarch64-unknown-linux-musl)"],
        "{stderr}"
    );
    let running = stderr
        .lines()
        .find(|l| l.contains("running ") && l.contains(" build --target"))
        .unwrap_or_else(|| panic!("no cargo command in -v:\n{stderr}"));
    assert!(
        running.contains(
            "build --target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl "
        ),
        "{running}"
    );
    assert!(!stderr.contains("one after the other"), "{stderr}");
    same_as_one_by_one(&slim::hello_http(), w.path(), &both);
}

#[test]
fn a_feature_only_one_target_turns_on_keeps_the_builds_apart() {
    let w = work();
    let manifest = fixture("target-features");
    let (both, stderr) = build(&manifest, w.path(), "linux/amd64,linux/arm64");
    assert!(
        stderr.contains(
            "building one platform after the other: cargo resolves the features of one command \
             across all its targets, and dep v0.1.0 has features [none] for linux/amd64 but [b] for \
             linux/arm64"
        ),
        "{stderr}"
    );
    assert_eq!(building(&stderr).len(), 2, "{stderr}");
    // amd64's binary is its own build's: `dep` without `b`.
    same_as_one_by_one(&manifest, w.path(), &both);
}

#[test]
fn zig_for_one_target_only_builds_them_one_after_the_other() {
    if !peers::check_tools(
        "zig_for_one_target_only_builds_them_one_after_the_other",
        &["musl-gcc", "cargo-zigbuild"],
    ) {
        return;
    }
    let w = work();
    let (_, stderr) = build(&fixture("with-c"), w.path(), "linux/amd64,linux/arm64");
    assert!(
        stderr.contains(
            "building one platform after the other: linux/arm64 is built with cargo zigbuild (C \
             code, cross-compiled) and linux/amd64 is not"
        ),
        "{stderr}"
    );
    assert_eq!(
        building(&stderr),
        [
            "Building linux/amd64 (x86_64-unknown-linux-musl)",
            "Building linux/arm64 (aarch64-unknown-linux-musl)"
        ],
        "{stderr}"
    );
}
