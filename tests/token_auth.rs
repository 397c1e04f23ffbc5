//! Token authentication against a real registry (issue 11), the scheme of Docker Hub, GHCR, Quay
//! and Harbor: the real binary pushes to and pulls from `docker-registry` configured with
//! `auth: token`, whose JWTs come from our token server (`common/token_server.py`, see
//! [`common::token`]) that checks credentials and grants per repository only what a user may do.
//!
//! Covered: a push with credentials from a docker config.json (checked by skopeo and a podman pull
//! that authenticate on their own), a base image pulled from the token registry (with credentials,
//! and anonymously from a public repository), a cross-repository mount that needs two scopes (and a
//! clean fallback to an upload for a user without pull on the source), an `identitytoken` exchanged
//! by POST `grant_type=refresh_token`, and wrong credentials or missing access as clear errors that
//! name the registry and the user, print no secret and cost one failed login. Token lifetimes are in
//! tests/token_expiry.rs.

mod common;

use common::peers::{self, require, Podman};
use common::registry::b64;
use common::slim::{self, assert_says_hello, fails, ok};
use common::token::{
    answers, assert_no_secret, docker_config, granted, password_entry, skopeo_digest, tool,
    TokenRegistry, User,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

const ALICE_PW: &str = "Alice-pw-5e1f-never-print";
const BOB_PW: &str = "Bob-pw-77d2-never-print";
const IDA_REFRESH: &str = "idtok-3c9a+/=never-print";
const PULL: &[&str] = &["pull"];
const PULL_PUSH: &[&str] = &["pull", "push"];

/// Everyone the token server knows.
fn users() -> Vec<User> {
    let alice = User::new(
        "alice",
        ALICE_PW,
        &[
            ("base", PULL_PUSH),
            ("public", PULL_PUSH),
            ("app", PULL_PUSH),
            ("app2", PULL),
            ("idapp", PULL),
        ],
    );
    let bob = User::new("bob", BOB_PW, &[("app2", PULL_PUSH)]);
    let ida = User {
        refresh_token: Some(IDA_REFRESH),
        ..User::new("ida", "Ida-pw-never-sent", &[("idapp", PULL_PUSH)])
    };
    vec![alice, bob, ida]
}

/// A docker config dir `DIR/NAME` whose entry for `reg` is `user`'s password.
fn password_config(
    dir: &Path,
    name: &str,
    reg: &TokenRegistry,
    user: &str,
    password: &str,
) -> PathBuf {
    docker_config(dir, name, reg.host(), password_entry(user, password))
}

/// `--output LAYOUT --push TARGET` with the docker config `config`, which must succeed; its stdout
/// and stderr.
fn push_ok(config: &Path, layout: &Path, target: &str) -> (String, String) {
    let mut c = tool(
        config,
        &["--output", layout.to_str().unwrap(), "--push", target],
    );
    let out = c.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "push failed:\n{stderr}");
    (stdout, stderr)
}

/// `--output LAYOUT --push TARGET` with the docker config `config`, which must fail; its stderr.
fn push_fails(config: &Path, layout: &Path, target: &str) -> String {
    fails(tool(
        config,
        &["--output", layout.to_str().unwrap(), "--push", target],
    ))
}

/// The `pushed` entries of a `--message-format json` report.
fn pushed(json: &str) -> Vec<Value> {
    let report: Value = serde_json::from_str(json).unwrap();
    report["images"][0]["pushed"].as_array().unwrap().clone()
}

#[test]
fn push_with_a_token_then_skopeo_and_podman_pull_with_their_own_tokens() {
    require!("skopeo", "podman", "runc");
    let Some(reg) = TokenRegistry::start(&users(), "push_with_a_token") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let config = password_config(work.path(), "alice", &reg, "alice", ALICE_PW);
    let repo = format!("{}/app", reg.host());
    let layout = work.path().join("l");
    let (stdout, stderr) = push_ok(&config, &layout, &repo);
    assert_no_secret(&format!("{stdout}{stderr}"), "alice", ALICE_PW);
    let line = stdout.lines().next().unwrap();
    assert!(
        line.starts_with(&format!("{repo}:0.1.0@sha256:")),
        "{stdout}"
    );
    let digest = line.split('@').nth(1).unwrap();

    // The tool asked with Basic credentials (GET) and got push on `app`; the registry took the token.
    let asked = reg.tokens.requests_of("alice");
    assert!(
        asked
            .iter()
            .any(|r| r["method"] == "GET" && granted(r, "app", PULL_PUSH)),
        "{asked:#?}"
    );
    for tag in ["0.1.0", "latest"] {
        let puts = answers(&reg, &format!("/v2/app/manifests/{tag}"));
        assert_eq!(puts, [("PUT".to_string(), 201)], "tag {tag}");
    }
    assert!(reg.registry.blob_uploads() >= 2);

    assert_eq!(
        skopeo_digest(&format!("{repo}:0.1.0"), "alice", ALICE_PW),
        digest
    );
    let podman = Podman::new().unwrap();
    podman
        .pull(&format!("{repo}:0.1.0"), false, Some(("alice", ALICE_PW)))
        .unwrap();
    assert_says_hello(&podman.run(&format!("{repo}:0.1.0"), &["--once-stdout"]));
}

/// A busybox base pushed by skopeo (as alice, through the token server) to `base:TAG`; its digest.
fn push_base(reg: &TokenRegistry, tag: &str) -> String {
    push_base_to(reg, "base", tag)
}

/// A busybox base pushed by skopeo as alice to `REPO:TAG`; its digest.
fn push_base_to(reg: &TokenRegistry, repo: &str, tag: &str) -> String {
    let layout = peers::busybox_layout(tag, &["--config.env", &format!("BASE_TAG={tag}")]).unwrap();
    let creds = format!("alice:{ALICE_PW}");
    let dest = format!("{}/{repo}:{tag}", reg.host());
    peers::skopeo_copy(
        &layout.oci_ref(),
        &format!("docker://{dest}"),
        &["--dest-tls-verify=false", "--dest-creds", &creds],
    )
    .unwrap();
    skopeo_digest(&dest, "alice", ALICE_PW)
}

#[test]
fn base_image_is_pulled_from_a_token_registry() {
    require!("skopeo", "umoci", "busybox");
    let Some(reg) = TokenRegistry::start(&users(), "base_image_is_pulled") else {
        return;
    };
    let base_digest = push_base(&reg, "pull-1");
    let work = tempfile::tempdir().unwrap();
    let config = password_config(work.path(), "alice", &reg, "alice", ALICE_PW);
    let base = format!("{}/base:pull-1", reg.host());
    let layout = work.path().join("l");
    let json = ok(tool(
        &config,
        &[
            "--base",
            &base,
            "--output",
            layout.to_str().unwrap(),
            "--message-format",
            "json",
        ],
    ));
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["images"][0]["base"]["digest"], base_digest.as_str());
    // The tool fetched the base's manifest with a pull token of its own.
    let asked = reg.tokens.requests_of("alice");
    assert!(
        asked.iter().any(|r| granted(r, "base", PULL)
            && r["scopes"] == serde_json::json!(["repository:base:pull"])),
        "{asked:#?}"
    );
    assert!(
        answers(&reg, "/v2/base/manifests/pull-1")
            .iter()
            .any(|(m, s)| m == "GET" && *s == 200),
        "{:?}",
        reg.registry.requests()
    );
    // umoci unpacks what was built on it (diff_ids and config checked) and finds busybox inside.
    let (_, manifest) = slim::manifest_of(&layout);
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.digest"],
        base_digest.as_str()
    );
    let tag = slim::index_json(&layout)["manifests"][0]["annotations"]
        ["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap()
        .to_string();
    let unpacked = peers::umoci_unpack(&layout, &tag).unwrap();
    assert!(unpacked.path().join("rootfs/bin/busybox").is_file());
}

#[test]
fn anonymous_pull_of_a_public_base_and_a_clear_error_for_a_private_one() {
    require!("skopeo", "umoci", "busybox");
    let public: &[(&str, &[&str])] = &[("public", PULL)];
    let Some(reg) = TokenRegistry::with_anonymous(&users(), public, "anonymous_pull") else {
        return;
    };
    let public_digest = push_base_to(&reg, "public", "anon-1");
    push_base(&reg, "anon-1");
    let work = tempfile::tempdir().unwrap();
    let nobody = work.path().join("nobody");
    std::fs::create_dir_all(&nobody).unwrap();
    std::fs::write(nobody.join("config.json"), r#"{"auths":{}}"#).unwrap();
    let build_on = |base: &str| {
        let layout = work.path().join("l");
        let rest = ["--base", base, "--output", layout.to_str().unwrap()];
        let mut c = tool(&nobody, &rest);
        c.args(["--message-format", "json"]);
        c
    };
    // Docker Hub's way for public images: a token asked for without credentials.
    let json = ok(build_on(&format!("{}/public:anon-1", reg.host())));
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        report["images"][0]["base"]["digest"],
        public_digest.as_str()
    );
    let anonymous: Vec<Value> = reg
        .tokens
        .requests()
        .into_iter()
        .filter(|r| r["user"].is_null())
        .collect();
    assert!(
        anonymous.iter().any(|r| granted(r, "public", PULL)),
        "{anonymous:#?}"
    );
    // The private `base` gives an anonymous token nothing: the error says credentials are missing.
    let err = fails(build_on(&format!("{}/base:anon-1", reg.host())));
    assert!(
        err.contains(reg.host()) && err.contains("no credentials were found"),
        "{err}"
    );
    assert!(
        err.contains("docker login") || err.contains("podman login"),
        "{err}"
    );
}

#[test]
fn cross_repository_mount_needs_two_scopes_and_falls_back_to_upload_without_pull() {
    require!("skopeo", "umoci", "busybox");
    let Some(reg) = TokenRegistry::start(&users(), "cross_repository_mount") else {
        return;
    };
    let base_digest = push_base(&reg, "mount-1");
    let base = format!("{}/base@{base_digest}", reg.host());
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("l");
    let run = |config: &Path, target: &str| {
        tool(
            config,
            &[
                "--base",
                &base,
                "--output",
                layout.to_str().unwrap(),
                "--push",
                target,
                "--message-format",
                "json",
            ],
        )
    };
    // alice may pull `base` and push `app`: one token carries both scopes, and the layer is mounted.
    let alice = password_config(work.path(), "alice", &reg, "alice", ALICE_PW);
    let json = ok(run(&alice, &format!("{}/app:1", reg.host())));
    let p = pushed(&json);
    assert!(p[0]["mounted_blobs"].as_u64().unwrap() >= 1, "{json}");
    assert!(
        reg.tokens
            .requests_of("alice")
            .iter()
            .any(|r| granted(r, "app", PULL_PUSH) && granted(r, "base", PULL)),
        "{:#?}",
        reg.tokens.requests()
    );
    let mounts = answers(&reg, "/v2/app/blobs/uploads/?mount=");
    assert!(mounts.contains(&("POST".into(), 201)), "{mounts:?}");
    // The base's layer never went over the wire to `app`; to `app2` (below) it has to.
    let raw = peers::skopeo_inspect_raw(
        &format!("docker://{base}"),
        &[
            "--tls-verify=false",
            "--creds",
            &format!("alice:{ALICE_PW}"),
        ],
    )
    .unwrap();
    let base_manifest: Value = serde_json::from_slice(&raw).unwrap();
    let layer = base_manifest["layers"][0]["digest"].as_str().unwrap();
    let put_of_layer = |repo: &str| {
        reg.registry.requests().iter().any(|r| {
            r.method == "PUT"
                && r.uri.starts_with(&format!("/v2/{repo}/blobs/uploads/"))
                && r.uri.contains(&layer.replace(':', "%3A"))
        })
    };
    assert!(!put_of_layer("app"), "{:?}", reg.registry.requests());

    // bob may push `app2` but not pull `base` (the base is in the local cache, pinned by digest): the
    // registry refuses the mount, and the tool uploads the layer instead.
    let bob = password_config(work.path(), "bob", &reg, "bob", BOB_PW);
    let mut c = run(&bob, &format!("{}/app2:1", reg.host()));
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bob's push failed:\n{stderr}");
    assert_no_secret(&stderr, "bob", BOB_PW);
    let json = String::from_utf8(out.stdout).unwrap();
    let p = pushed(&json);
    assert_eq!(p[0]["mounted_blobs"], 0, "{json}");
    let refused = answers(&reg, "/v2/app2/blobs/uploads/?mount=");
    assert!(
        !refused.is_empty() && refused.iter().all(|(_, s)| *s == 401),
        "{refused:?}"
    );
    assert!(put_of_layer("app2"), "{:?}", reg.registry.requests());
    let digest = p[0]["digest"].as_str().unwrap();
    assert_eq!(
        skopeo_digest(&format!("{}/app2:1", reg.host()), "bob", BOB_PW),
        digest
    );
    assert!(
        !stderr.to_lowercase().contains("warning") && !stderr.contains("error"),
        "the fallback should be quiet:\n{stderr}"
    );
}

#[test]
fn identity_token_is_exchanged_by_post_without_a_password() {
    require!("skopeo");
    let Some(reg) = TokenRegistry::start(&users(), "identity_token") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    // What `docker login` writes for an identity token: the user name with an empty password.
    let entry = serde_json::json!({ "auth": b64("ida:"), "identitytoken": IDA_REFRESH });
    let config = docker_config(work.path(), "ida", reg.host(), entry);
    let repo = format!("{}/idapp", reg.host());
    let layout = work.path().join("l");
    let (stdout, stderr) = push_ok(&config, &layout, &repo);
    assert!(
        !format!("{stdout}{stderr}").contains(IDA_REFRESH),
        "{stderr}"
    );
    let digest = stdout.lines().next().unwrap().split('@').nth(1).unwrap();

    let asked = reg.tokens.requests();
    assert!(!asked.is_empty());
    for r in &asked {
        assert_eq!(r["method"], "POST", "{r}");
        assert_eq!(r["grant_type"], "refresh_token", "{r}");
        assert_eq!(r["refresh_token"], IDA_REFRESH, "{r}");
        assert_eq!(r["has_password"], false, "{r}");
        assert_eq!(r["authorization"], false, "{r}");
        assert_eq!(r["service"], common::token::SERVICE, "{r}");
        assert_eq!(
            r["content_type"], "application/x-www-form-urlencoded",
            "{r}"
        );
        assert!(
            r["client_id"].as_str().is_some_and(|s| !s.is_empty()),
            "{r}"
        );
        assert_eq!(r["status"], 200, "{r}");
    }
    assert!(
        asked.iter().any(|r| granted(r, "idapp", PULL_PUSH)),
        "{asked:#?}"
    );
    assert_eq!(
        skopeo_digest(&format!("{repo}:0.1.0"), "alice", ALICE_PW),
        digest
    );

    // A refresh token the service no longer takes: one refused POST, a clear error, no secret.
    let stale = "idtok-stale-81c0+never-print";
    let entry = serde_json::json!({ "auth": b64("ida:"), "identitytoken": stale });
    let config = docker_config(work.path(), "stale", reg.host(), entry);
    let before = reg.tokens.requests().len();
    let target = format!("{repo}:2");
    let err = push_fails(&config, &layout, &target);
    assert!(!err.contains(stale), "the refresh token leaked: {err}");
    assert!(
        err.contains(reg.host()) && err.contains("identity token of user `ida`"),
        "{err}"
    );
    let refused = &reg.tokens.requests()[before..];
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0]["status"], 401);
}

#[test]
fn wrong_password_or_missing_access_is_a_clear_error_without_the_secret() {
    let Some(reg) = TokenRegistry::start(&users(), "wrong_password") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("l");
    let wrong = "Wrong-pw-1b7e-never-print";
    let config = password_config(work.path(), "wrong", &reg, "alice", wrong);
    let target = format!("{}/app", reg.host());
    let err = push_fails(&config, &layout, &target);
    assert!(err.contains(reg.host()) && err.contains("`alice`"), "{err}");
    assert!(
        err.contains("token"),
        "the error should say the token service refused: {err}"
    );
    assert_no_secret(&err, "alice", wrong);
    // One failed login, not one per blob and retry: repeated ones get accounts locked.
    let asked = reg.tokens.requests();
    assert_eq!(asked.len(), 1, "{asked:#?}");
    assert_eq!(asked[0]["status"], 401);

    // bob's credentials are right, but he may not push `app`.
    let config = password_config(work.path(), "bob", &reg, "bob", BOB_PW);
    let err = push_fails(&config, &layout, &target);
    assert!(
        err.contains(reg.host()) && err.contains("`bob`") && err.contains("app"),
        "{err}"
    );
    assert_no_secret(&err, "bob", BOB_PW);
    assert_eq!(reg.registry.manifest_puts(), 0);
}
