//! Size (issue 5): the report's shares and alpine comparison, the size budget over and under (from
//! the flag and from Cargo metadata; over the budget nothing is pushed), and `--min-size`.

mod common;

use common::registry::{Mode, RealRegistry};
use common::slim::{self, cmd, fails, ok, run};
use serde_json::Value;
use std::path::Path;

fn hello_args(manifest: &Path, out: &Path) -> Vec<String> {
    vec![
        "--manifest-path".into(),
        manifest.display().to_string(),
        "--target-dir".into(),
        slim::shared_target().display().to_string(),
        "--output".into(),
        out.display().to_string(),
        "--sbom".into(),
        "none".into(),
        "--bin".into(),
        "hello".into(),
    ]
}

fn hello() -> std::path::PathBuf {
    slim::repo().join("tests/fixtures/hello/Cargo.toml")
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn under_the_budget_passes_and_reports_shares() {
    let work = tempfile::tempdir().unwrap();
    let mut args = hello_args(&hello(), &work.path().join("l"));
    args.extend(["--size-budget", "5 MiB", "--message-format", "json"].map(String::from));
    let mut c = cmd(&strs(&args));
    let out = run(&mut c);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = &report["images"][0]["manifests"][0];
    let size = &m["size"];
    let total = m["compressed_size"].as_u64().unwrap();
    assert_eq!(size["total"].as_u64().unwrap(), total);
    assert_eq!(size["budget"].as_u64().unwrap(), 5 * 1024 * 1024);
    let (bin, certs, base) = (
        size["binary"].as_u64().unwrap(),
        size["certificates"].as_u64().unwrap(),
        size["base"].as_u64().unwrap(),
    );
    assert_eq!(bin + certs + base, total);
    assert_eq!(bin, m["layers"][1]["size"].as_u64().unwrap());
    // The Mozilla bundle is ~100 KiB compressed; passwd & co. well under 2 KiB.
    assert!(certs > 50_000 && base < 2_000, "{size}");
    assert!(size["on_alpine"].as_u64().unwrap() > 3_000_000 + bin);
    assert!(
        stderr.contains("on alpine:3 it would weigh about"),
        "{stderr}"
    );
    assert!(stderr.contains("certificates"), "{stderr}");
}

#[test]
fn over_the_budget_fails_and_pushes_nothing() {
    let Some(reg) = RealRegistry::start(Mode::Plain, "over_the_budget_fails_and_pushes_nothing")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let mut args = hello_args(&hello(), &work.path().join("l"));
    let repo = format!("{}/size/hello", reg.host);
    args.extend(["--size-budget", "100KB", "--push", &repo].map(String::from));
    let err = fails(cmd(&strs(&args)));
    assert!(err.contains("over its size budget of 97.7 KiB"), "{err}");
    assert!(err.contains("nothing was pushed"), "{err}");
    assert_eq!(reg.blob_uploads(), 0, "{}", reg.log_text());
    assert_eq!(reg.manifest_puts(), 0, "{}", reg.log_text());
}

#[test]
fn budget_from_cargo_metadata() {
    // A copy of the hello fixture with size-budget in its metadata.
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("hello");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let src = slim::repo().join("tests/fixtures/hello");
    std::fs::copy(src.join("src/main.rs"), dir.join("src/main.rs")).unwrap();
    std::fs::copy(src.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let toml = std::fs::read_to_string(src.join("Cargo.toml")).unwrap();
    let write = |budget: &str| {
        std::fs::write(
            dir.join("Cargo.toml"),
            format!("{toml}\n[package.metadata.slim-image]\nsize-budget = \"{budget}\"\n"),
        )
        .unwrap()
    };
    let args = hello_args(&dir.join("Cargo.toml"), &work.path().join("l"));
    write("1 KiB");
    let err = fails(cmd(&strs(&args)));
    assert!(err.contains("over its size budget of 1.0 KiB"), "{err}");
    write("3 MiB");
    ok(cmd(&strs(&args)));
    write("lots");
    let err = fails(cmd(&strs(&args)));
    assert!(err.contains("size-budget") && err.contains("lots"), "{err}");
}

#[test]
fn min_size_builds_smaller_and_reports_the_saving() {
    let work = tempfile::tempdir().unwrap();
    let mut args = hello_args(&hello(), &work.path().join("l"));
    args.extend(["--min-size", "--message-format", "json"].map(String::from));
    let mut c = cmd(&strs(&args));
    let out = run(&mut c);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Saved hello: "), "{stderr}");
    // The size-optimised build lives in its own target dir, so it never evicts the normal one.
    let triple = "x86_64-unknown-linux-musl";
    let small = slim::built_binary(&slim::shared_target(), triple, "hello", true);
    let normal = slim::built_binary(&slim::shared_target(), triple, "hello", false);
    if cfg!(target_arch = "x86_64") {
        let (s, n) = (
            std::fs::metadata(&small).unwrap().len(),
            std::fs::metadata(&normal).unwrap().len(),
        );
        assert!(s < n, "min-size {s} >= normal {n}");
    }
    // The Cargo.toml of the fixture is untouched.
    let toml = std::fs::read_to_string(hello()).unwrap();
    assert!(!toml.contains("opt-level"));
}
