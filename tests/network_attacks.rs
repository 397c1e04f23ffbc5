//! Attacks on the network rules of issue 11 (through the real binary): what a hostile or broken
//! registry may hand out must not make the tool send credentials or data where the user did not
//! allow it. A token realm is a URL the registry gives, held to the same no-downgrade rule as
//! upload `Location`s: an https registry cannot have the credentials sent to a plain-http token
//! endpoint, even on loopback.

mod common;
#[path = "common/tls_front.rs"]
mod tls_front;

use common::registry::fake::{self, FakeRegistry};
use common::registry::{have, make_certs};
use std::path::Path;
use std::process::Command;
use tls_front::TlsFront;

const BUSYBOX: &str = "/bin/busybox";
const USER: &str = "realm-user";
const SECRET: &str = "realm-secret-3f9a";

/// The binary packaging busybox and pushing it to `target`, in a clean environment under `work`.
fn push_cmd(work: &Path, target: &str, extra: &[&str]) -> Command {
    let (t, out) = (work.join("target"), work.join("out"));
    let mut args = vec!["--binary", BUSYBOX, "--push", target];
    args.extend(extra);
    args.extend([
        "--target-dir",
        t.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    let mut c = common::slim::cmd(&args);
    c.env("HOME", work)
        .env("DOCKER_CONFIG", work)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
        .env("SLIM_IMAGE_REGISTRY_PASSWORD", SECRET);
    c
}

#[test]
fn an_https_registry_cannot_send_the_credentials_to_a_plain_http_token_realm() {
    if !have("openssl", "no-downgrade of token realms") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let certs = work.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    make_certs(&certs);
    // The fake advertises `Bearer realm="http://<its own plain-http port>/token"`; behind the TLS
    // front the registry is https, so that realm is a downgrade (on loopback, as a proxy could be).
    let reg = FakeRegistry::start(fake::Config {
        bearer: Some(fake::Bearer {
            user_pass: Some((USER.into(), SECRET.into())),
            ..fake::Bearer::default()
        }),
        ..fake::Config::default()
    });
    let front = TlsFront::start(&certs, &reg.host);
    let target = format!("{}/slim/realm:v1", front.host);
    let ca = certs.join("ca.crt");
    let err = common::slim::fails(push_cmd(
        work.path(),
        &target,
        &["--registry-ca", ca.to_str().unwrap(), "--timeout", "5"],
    ));
    let realm = format!("http://{}/token", reg.host);
    for want in [
        realm.as_str(),
        "refusing to downgrade",
        "--insecure-registry",
    ] {
        assert!(err.contains(want), "the error lacks `{want}`:\n{err}");
    }
    assert!(!err.contains(SECRET), "{err}");
    let token_requests: Vec<_> = reg
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/token"))
        .collect();
    assert!(
        token_requests.is_empty(),
        "the credentials went to the plain-http realm: {token_requests:?}"
    );
    assert!(reg.manifest("slim/realm", "v1").is_none());
}
