//! Issue 16, "Hosts and default platform": with no `--platform` and no `platforms` key an image is
//! built for linux/amd64 (as ko and Jib), whatever the host, and the plan and the summary line say
//! it is the default; `--platform` and `platforms` win. (That the host plays no part is proved by
//! the unit tests of `resolve::platforms`, which give the rule other hosts: this one is amd64.)

mod common;

use common::slim::{self, cmd, ok, on_hello_http};
use serde_json::Value;

fn dry_run(manifest: &str, extra: &[&str]) -> (String, Value) {
    let target = tempfile::tempdir().unwrap();
    let t = target.path().to_str().unwrap();
    let mut a = vec!["--manifest-path", manifest, "--target-dir", t, "--dry-run"];
    a.extend_from_slice(extra);
    let text = ok(cmd(&a));
    a.extend_from_slice(&["--message-format", "json"]);
    let json = serde_json::from_str(&ok(cmd(&a))).expect("one JSON document");
    (text, json)
}

#[test]
fn the_plan_says_linux_amd64_is_the_default_and_flags_or_the_key_win() {
    let dir = tempfile::tempdir().unwrap();
    let bare = slim::package_with_meta(&dir.path().join("bare"), "");
    let (text, json) = dry_run(&bare, &[]);
    assert!(
        text.contains(
            "platforms:  linux/amd64 (x86_64-unknown-linux-musl) (the default: --platform or `platforms` for others)"
        ),
        "{text}"
    );
    assert_eq!(
        json["images"][0]["platforms"],
        serde_json::json!(["linux/amd64"])
    );
    assert_eq!(json["images"][0]["default_platform"], true);

    let (text, json) = dry_run(&bare, &["--platform", "linux/arm64"]);
    assert!(
        text.contains("platforms:  linux/arm64 (aarch64-unknown-linux-musl)\n"),
        "{text}"
    );
    assert_eq!(json["images"][0]["default_platform"], false);

    let keyed = slim::package_with_meta(
        &dir.path().join("keyed"),
        "platforms = [\"linux/arm64\", \"linux/amd64\"]",
    );
    let (text, json) = dry_run(&keyed, &[]);
    assert!(!text.contains("the default"), "{text}");
    assert_eq!(
        json["images"][0]["platforms"],
        serde_json::json!(["linux/arm64", "linux/amd64"])
    );
    assert_eq!(json["images"][0]["default_platform"], false);
}

#[test]
fn a_build_without_platforms_is_linux_amd64_and_the_summary_line_says_so() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let run = |extra: &[&str]| {
        let mut a = vec!["-o", out.to_str().unwrap(), "--message-format", "json"];
        a.extend_from_slice(extra);
        let output = slim::run(&mut on_hello_http(&a));
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
        let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
        (stderr, report)
    };
    let (stderr, report) = run(&[]);
    let summary = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("Image hello-http:"))
        .unwrap_or_else(|| panic!("no summary line:\n{stderr}"));
    assert!(
        summary.contains("(linux/amd64, the default platform)"),
        "{summary}"
    );
    assert_eq!(report["images"][0]["default_platform"], true);
    assert_eq!(
        report["images"][0]["platforms"],
        serde_json::json!(["linux/amd64"])
    );
    let (_, manifest) = slim::manifest_of(&out);
    let config = slim::blob_json(&out, manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");

    // Named on the command line, it is no longer "the default", and the image is the same.
    let (stderr, named) = run(&["--platform", "linux/amd64"]);
    assert!(stderr.contains("(linux/amd64) "), "{stderr}");
    assert!(!stderr.contains("the default platform"), "{stderr}");
    assert_eq!(named["images"][0]["digest"], report["images"][0]["digest"]);
}
