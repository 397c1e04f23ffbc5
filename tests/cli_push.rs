//! `cargo slim-image --push` end to end (issues 2 + 3): the real binary builds an example and pushes it
//! to a real `docker-registry`; skopeo sees the same digest, podman pulls and runs it, and a second
//! push uploads nothing.

mod common;

use common::peers::{self, Podman};
use common::registry::{b64, docker_auth_json, Mode, RealRegistry, PASSWORD, USER};
use common::slim::{self, assert_says_hello, fails, ok};
use serde_json::Value;

#[test]
fn push_to_a_real_registry_with_basic_auth_then_pull_and_run() {
    let Some(reg) = RealRegistry::start(Mode::Basic, "push_to_a_real_registry") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    // Credentials come from a docker config.json, never from the command line.
    let docker_config = work.path().join("docker");
    std::fs::create_dir_all(&docker_config).unwrap();
    let auth = b64(&format!("{USER}:{PASSWORD}"));
    std::fs::write(
        docker_config.join("config.json"),
        docker_auth_json(&reg.host, PASSWORD),
    )
    .unwrap();
    let repo = format!("{}/demo/hello-http", reg.host);
    let layout = work.path().join("l");
    let run = |extra: &[&str]| {
        let mut rest = vec!["--output", layout.to_str().unwrap(), "--push", &repo];
        rest.extend_from_slice(extra);
        let mut c = slim::on_hello_http(&rest);
        c.env("DOCKER_CONFIG", &docker_config)
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR");
        c
    };
    let out = ok(run(&[]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with(&format!("{repo}:0.1.0@sha256:")),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&format!("{repo}:latest@sha256:")),
        "{out}"
    );
    let digest = lines[0].split('@').nth(1).unwrap().to_string();
    assert!(!out.contains(PASSWORD) && !out.contains(&auth));

    if peers::check_tools("push_to_a_real_registry", &["skopeo"]) {
        let info = peers::skopeo_inspect(
            &format!("docker://{repo}:latest"),
            &[
                "--tls-verify=false",
                "--creds",
                &format!("{USER}:{PASSWORD}"),
            ],
        )
        .unwrap();
        assert_eq!(info["Digest"], digest.as_str());
    }
    // Second push of the unchanged image: no blob goes over the wire, and no manifest or tag is
    // written again: not the image's tags, not the SBOM's and provenance's `sha256-<hex>`
    // referrers tag (registries with immutable tags refuse a re-PUT).
    let uploads_before = reg.blob_uploads();
    let puts_before = reg.manifest_puts();
    let json = ok(run(&["--message-format", "json"]));
    assert_eq!(
        reg.manifest_puts(),
        puts_before,
        "the second push wrote manifests or tags again"
    );
    assert!(!json.contains(PASSWORD) && !json.contains(&auth));
    let report: Value = serde_json::from_str(&json).unwrap();
    let pushed = report["images"][0]["pushed"].as_array().unwrap();
    assert_eq!(pushed.len(), 2);
    let uploaded: u64 = pushed
        .iter()
        .map(|p| p["uploaded_blobs"].as_u64().unwrap())
        .sum();
    assert_eq!(uploaded, 0, "{json}");
    assert_eq!(
        reg.blob_uploads(),
        uploads_before,
        "the registry saw blob uploads on the second push"
    );
    assert_eq!(pushed[0]["digest"], digest.as_str());

    if peers::check_tools("push_to_a_real_registry", &["podman", "runc"]) {
        let podman = Podman::new().unwrap();
        podman
            .pull(&format!("{repo}:0.1.0"), false, Some((USER, PASSWORD)))
            .unwrap();
        assert_says_hello(&podman.run(&format!("{repo}:0.1.0"), &["--once-stdout"]));
    }
}

#[test]
fn wrong_password_is_a_clear_error_without_the_secret() {
    let Some(reg) = RealRegistry::start(Mode::Basic, "wrong_password") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let secret = "Not-The-Password-93b1";
    let mut c = slim::on_hello_http(&[
        "--output",
        work.path().join("l").to_str().unwrap(),
        "--push",
        &format!("{}/demo/x", reg.host),
    ]);
    c.env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
        .env("SLIM_IMAGE_REGISTRY_PASSWORD", secret)
        .env("DOCKER_CONFIG", work.path())
        .env_remove("REGISTRY_AUTH_FILE");
    let err = fails(c);
    assert!(err.contains(&reg.host), "{err}");
    assert!(!err.contains(secret), "the password leaked: {err}");
    assert!(!err.contains(&b64(&format!("{USER}:{secret}"))), "{err}");
    assert_eq!(reg.manifest_puts(), 0);
}

#[test]
fn push_without_a_registry_in_the_name_is_refused() {
    let e = fails(slim::on_hello_http(&["--push", "--dry-run"]));
    assert!(e.contains("hello-http") && e.contains("no registry"), "{e}");
}
