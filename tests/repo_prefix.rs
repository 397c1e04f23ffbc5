//! A default repository for image names without a registry (issue 16), as ko's KO_DOCKER_REPO:
//! `SLIM_IMAGE_REPO=REGISTRY/PATH cargo slim-image --push` pushes `REGISTRY/PATH/<image>` (checked
//! with skopeo against a real docker-registry); the `repository-prefix` key of
//! `[workspace.metadata.slim-image]` does the same, and the variable overrides it; a name that has
//! its own registry is left alone; a prefix without a registry host (which would mean Docker Hub)
//! or with a tag is refused before anything is built.

mod common;

use common::registry::{skopeo_digest, Mode, RealRegistry};
use common::slim::{self, fails, ok};

#[test]
fn slim_image_repo_names_the_pushed_repository() {
    let Some(reg) = RealRegistry::start(Mode::Plain, "slim_image_repo_names_the_pushed_repository")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let mut c = slim::on_hello_http(&[
        "--output",
        work.path().join("l").to_str().unwrap(),
        "--push",
    ]);
    c.env("SLIM_IMAGE_REPO", format!("{}/acme/", reg.host));
    let out = ok(c);
    let want = format!("{}/acme/hello-http:0.1.0@sha256:", reg.host);
    assert!(
        out.lines().any(|l| l.starts_with(&want)),
        "{want} not among:\n{out}"
    );
    let digest = out
        .lines()
        .find(|l| l.starts_with(&want))
        .and_then(|l| l.split_once('@'))
        .map(|(_, d)| d.to_string())
        .unwrap();
    let seen = skopeo_digest(
        "slim_image_repo_names_the_pushed_repository",
        &format!("{}/acme/hello-http:latest", reg.host),
        &["--tls-verify=false"],
    );
    // None only where skopeo is missing outside CI (a loud SKIP line); under CI that fails instead.
    if let Some(seen) = seen {
        assert_eq!(seen.to_string(), digest);
    }
}

/// A workspace whose `[workspace.metadata.slim-image]` sets `repository-prefix`.
fn workspace_with_prefix(dir: &std::path::Path, prefix: &str) -> String {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"pfx\"\nversion = \"0.2.0\"\nedition = \"2021\"\n[workspace]\n\
             [workspace.metadata.slim-image]\nrepository-prefix = \"{prefix}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    dir.join("Cargo.toml").display().to_string()
}

fn plan_of(manifest: &str, env: Option<&str>, extra: &[&str]) -> String {
    let mut args = vec!["--manifest-path", manifest, "--dry-run"];
    args.extend_from_slice(extra);
    let mut c = slim::cmd(&args);
    if let Some(v) = env {
        c.env("SLIM_IMAGE_REPO", v);
    }
    ok(c)
}

#[test]
fn the_metadata_key_applies_and_the_variable_overrides_it() {
    let work = tempfile::tempdir().unwrap();
    let m = workspace_with_prefix(work.path(), "registry.example.test/team");
    let plan = plan_of(&m, None, &[]);
    assert!(
        plan.contains("image registry.example.test/team/pfx:0.2.0,latest"),
        "{plan}"
    );
    let plan = plan_of(&m, Some("ghcr.io/acme"), &[]);
    assert!(
        plan.contains("image ghcr.io/acme/pfx:0.2.0,latest"),
        "{plan}"
    );
    // --tag without a registry gets the prefix; one with a registry keeps its own.
    let plan = plan_of(&m, Some("ghcr.io/acme"), &["-t", "app:3"]);
    assert!(plan.contains("image ghcr.io/acme/app:3"), "{plan}");
    let plan = plan_of(&m, Some("ghcr.io/acme"), &["-t", "localhost:5000/own:1"]);
    assert!(plan.contains("image localhost:5000/own:1"), "{plan}");
}

#[test]
fn a_prefix_without_a_registry_host_or_with_a_tag_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let m = slim::hello_http();
    for (bad, says) in [
        ("acme", "does not start with a registry host"),
        ("acme/team", "does not start with a registry host"),
        ("ghcr.io/acme:1", "not REGISTRY[/PATH]"),
        ("ghcr.io/Acme", "not REGISTRY[/PATH]"),
    ] {
        let mut c = slim::cmd(&[
            "--manifest-path",
            &m,
            "--output",
            work.path().join("l").to_str().unwrap(),
        ]);
        c.env("SLIM_IMAGE_REPO", bad);
        let err = fails(c);
        assert!(
            err.contains("SLIM_IMAGE_REPO") && err.contains(says),
            "{bad}: {err}"
        );
        assert!(
            !work.path().join("l").exists(),
            "{bad}: a layout was written"
        );
    }
    // Credentials typed into it are refused as in any reference, and never printed.
    let mut c = slim::cmd(&["--manifest-path", &m, "--dry-run"]);
    c.env("SLIM_IMAGE_REPO", "bob:S3cret-Pw@ghcr.io/acme");
    let err = fails(c);
    assert!(
        err.contains("credentials in an image reference") && !err.contains("S3cret-Pw"),
        "{err}"
    );
    let wm = workspace_with_prefix(&work.path().join("ws"), "team");
    let err = fails(slim::cmd(&["--manifest-path", &wm, "--dry-run"]));
    assert!(err.contains("`repository-prefix`"), "{err}");
}
