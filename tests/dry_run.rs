//! Issue 11, flags that promise no side effects: `--dry-run` on the build and on every subcommand
//! (`index`, `resolve`, `init-k8s`), through the real binary. Each prints what it would do (as text,
//! or as one JSON document with `--message-format json`) and writes, builds and pushes nothing: the
//! output paths stay absent, the target dir gets no `slim-image/`, and a real `docker-registry` sees
//! no request from the dry run (its repository list stays as it was).

mod common;

use common::registry::{Mode, RealRegistry};
use common::slim::{self, cmd, ok};
use serde_json::Value;
use std::fs;
use std::path::Path;

const BUSYBOX: &str = "/bin/busybox";

/// The repositories the registry holds (`GET /v2/_catalog`).
fn catalog(reg: &RealRegistry) -> Vec<String> {
    let body = ureq::get(format!("http://{}/v2/_catalog", reg.host))
        .call()
        .expect("GET /v2/_catalog")
        .into_body()
        .read_to_string()
        .unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    v["repositories"]
        .as_array()
        .map(|a| a.iter().map(|r| r.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{stdout}"))
}

/// A package `bad` (binary `bad`) with an empty `slim-image` table; its Cargo.toml.
fn package(dir: &Path) -> String {
    slim::package_with_meta(dir, "")
}

/// `--manifest-path MANIFEST --target-dir TARGET --dry-run EXTRA... SUBCOMMAND...`, which must
/// succeed; its stdout.
fn dry_run_on(manifest: &str, target: &Path, extra: &[&str], subcommand: &[&str]) -> String {
    let mut a = vec![
        "--manifest-path",
        manifest,
        "--target-dir",
        target.to_str().unwrap(),
        "--dry-run",
    ];
    a.extend_from_slice(extra);
    a.extend_from_slice(subcommand);
    ok(cmd(&a))
}

#[test]
fn a_dry_run_build_prints_the_plan_as_text_or_json_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (out, tar, target) = (w.join("out"), w.join("image.tar"), w.join("target"));
    let args = |extra: &[&str]| {
        let mut a = vec![
            "--binary",
            BUSYBOX,
            "--target-dir",
            target.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--tarball",
            tar.to_str().unwrap(),
            "--push",
            "127.0.0.1:9/x/busybox:1",
            "--dry-run",
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        ok(cmd(&a.iter().map(String::as_str).collect::<Vec<_>>()))
    };
    let text = run(&[]);
    assert!(
        text.contains("push:       127.0.0.1:9/x/busybox:1"),
        "{text}"
    );
    let v = json(&run(&["--message-format", "json"]));
    assert_eq!(v["dry_run"], true);
    let img = &v["images"][0];
    assert_eq!(img["layout"], out.to_str().unwrap());
    assert_eq!(img["tarball"], tar.to_str().unwrap());
    assert_eq!(img["push"][0], "127.0.0.1:9/x/busybox:1");
    assert_eq!(img["binaries"][0]["path"], "/usr/local/bin/busybox");
    assert_eq!(img["user"], "65532:65532");
    assert_eq!(
        fs::read_dir(w).unwrap().count(),
        0,
        "a dry run wrote something"
    );
}

#[test]
fn index_dry_run_reads_and_pushes_nothing() {
    let Some(reg) = RealRegistry::start(Mode::Plain, "index_dry_run_reads_and_pushes_nothing")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let src = format!("{}/src/busybox:amd64", reg.host);
    ok(cmd(&[
        "--binary",
        BUSYBOX,
        "--sbom",
        "none",
        "--target-dir",
        work.path().join("target").to_str().unwrap(),
        "--output",
        work.path().join("out").to_str().unwrap(),
        "--push",
        &src,
    ]));
    let before = reg.requests().len();
    let repos = catalog(&reg);
    let index_ref = format!("{}/idx/busybox:multi", reg.host);
    let text = ok(cmd(&[
        "--dry-run",
        "index",
        "--push",
        &index_ref,
        "--annotation",
        "a=b",
        &src,
    ]));
    assert!(text.contains(&format!("push:       {index_ref}")), "{text}");
    assert!(text.contains(&format!("image:      {src}")), "{text}");
    let v = json(&ok(cmd(&[
        "--dry-run",
        "--message-format",
        "json",
        "index",
        "--push",
        &index_ref,
        &src,
    ])));
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["command"], "index");
    assert_eq!(v["push"][0], index_ref);
    assert_eq!(v["images"][0], src);
    // The catalog request above is ours: the dry runs sent none.
    assert_eq!(reg.requests().len(), before + 1, "{}", reg.log_text());
    assert_eq!(catalog(&reg), repos);
    assert_eq!(repos, ["src/busybox"]);
}

#[test]
fn resolve_dry_run_builds_and_pushes_nothing() {
    let Some(reg) = RealRegistry::start(Mode::Plain, "resolve_dry_run_builds_and_pushes_nothing")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = package(&w.join("pkg"));
    let yaml = w.join("k8s.yaml");
    fs::write(
        &yaml,
        "spec:\n  containers:\n    - image: slim-image://bad\n",
    )
    .unwrap();
    let target = w.join("target");
    let repo = format!("{}/k8s", reg.host);
    // The registry's log holds its own readiness probes so far.
    let before = reg.requests().len();
    let run = |extra: &[&str]| {
        let sub = ["resolve", "--repo", &repo, "-f", yaml.to_str().unwrap()];
        dry_run_on(&m, &target, extra, &sub)
    };
    let text = run(&[]);
    assert!(text.contains("slim-image://bad"), "{text}");
    assert!(
        text.contains(&format!("push:       {repo}/bad:0.1.0")),
        "{text}"
    );
    assert!(
        !text.contains("spec:"),
        "a dry run prints the plan, not YAML without digests"
    );
    let v = json(&run(&["--message-format", "json"]));
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["command"], "resolve");
    assert_eq!(v["images"][0]["mention"], "slim-image://bad");
    assert_eq!(
        v["images"][0]["plan"]["images"][0]["push"][0],
        format!("{repo}/bad:0.1.0")
    );
    assert_eq!(reg.requests().len(), before, "{}", reg.log_text());
    assert!(catalog(&reg).is_empty());
    assert!(
        !target.exists(),
        "a dry run built into {}",
        target.display()
    );
}

#[test]
fn init_k8s_dry_run_writes_no_file() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = package(&w.join("pkg"));
    let file = w.join("k8s.yaml");
    let target = w.join("target");
    let run = |extra: &[&str]| {
        dry_run_on(
            &m,
            &target,
            extra,
            &["init-k8s", "-o", file.to_str().unwrap()],
        )
    };
    let text = run(&[]);
    assert!(text.contains("image: slim-image://bad"), "{text}");
    let v = json(&run(&["--message-format", "json"]));
    assert_eq!(v["command"], "init-k8s");
    assert_eq!(v["output"], file.to_str().unwrap());
    assert!(v["manifest"].as_str().unwrap().contains("slim-image://bad"));
    assert!(
        !file.exists(),
        "init-k8s --dry-run wrote {}",
        file.display()
    );
    assert!(!target.exists());
    // As the real run, it refuses a file that exists (and leaves it alone).
    fs::write(&file, "mine").unwrap();
    let err = slim::fails(cmd(&[
        "--manifest-path",
        &m,
        "--dry-run",
        "init-k8s",
        "-o",
        file.to_str().unwrap(),
    ]));
    assert!(err.contains(file.to_str().unwrap()), "{err}");
    assert_eq!(fs::read_to_string(&file).unwrap(), "mine");
}

#[test]
fn dry_run_says_whether_binaries_embed_their_dependency_list() {
    let work = tempfile::tempdir().unwrap();
    let manifest = package(&work.path().join("p"));
    let target = work.path().join("target");
    let plan = |extra: &[&str]| {
        let mut a = vec!["--message-format", "json"];
        a.extend_from_slice(extra);
        json(&dry_run_on(&manifest, &target, &a, &[]))
    };
    assert_eq!(plan(&[])["images"][0]["embed_dependencies"], true);
    let off = plan(&["--no-embed-dependencies"]);
    assert_eq!(off["images"][0]["embed_dependencies"], false);
    let text = dry_run_on(&manifest, &target, &["--no-embed-dependencies"], &[]);
    assert!(text.contains("deps:       not embedded"), "{text}");
    assert!(!target.join("slim-image").exists());
}

#[test]
fn resolve_and_init_k8s_take_the_build_flags_after_the_subcommand_too() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = package(&w.join("pkg"));
    let yaml = w.join("k8s.yaml");
    fs::write(&yaml, "image: slim-image://bad\n").unwrap();
    let target = w.join("target");
    let (t, y) = (target.to_str().unwrap(), yaml.to_str().unwrap());
    let repo = "localhost:5000/k8s";
    let before = ok(cmd(&[
        "--manifest-path",
        &m,
        "--target-dir",
        t,
        "--dry-run",
        "resolve",
        "--repo",
        repo,
        "-f",
        y,
    ]));
    let after = ok(cmd(&[
        "resolve",
        "--manifest-path",
        &m,
        "--target-dir",
        t,
        "--repo",
        repo,
        "-f",
        y,
        "--dry-run",
    ]));
    assert_eq!(before, after);
    assert!(
        after.contains("push:       localhost:5000/k8s/bad:0.1.0"),
        "{after}"
    );
    // The plan shows the cargo command the build runs, its target included.
    assert!(
        after.contains("build --target x86_64-unknown-linux-musl"),
        "{after}"
    );
    let init = ok(cmd(&["init-k8s", "--manifest-path", &m, "--dry-run"]));
    assert!(init.contains("image: slim-image://bad"), "{init}");
    assert!(
        !target.exists(),
        "a dry run built into {}",
        target.display()
    );
}
