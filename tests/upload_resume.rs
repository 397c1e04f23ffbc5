//! Per-request retries of blob uploads (issue 11), against the in-process fake registry: a failed
//! PATCH resumes the same upload session from the registry's offset (GET the upload URL for its
//! `Range`) instead of starting the blob again; a session the registry lost (404 on the closing PUT)
//! is started again from the HEAD; and the push's retry budget stops retries however many
//! `--retries` allows.

mod common;

use cargo_slim_image::registry::{CredentialEnv, Tuning};
use cargo_slim_image::sink::push::PushOptions;
use common::registry::fake::{self, FakeRegistry, Fault};
use common::registry::Built;
use std::time::Duration;

fn opts(tuning: Tuning) -> PushOptions {
    PushOptions {
        jobs: 1,
        certs_dirs: vec![],
        credentials: CredentialEnv::empty(),
        tuning,
        ..PushOptions::default()
    }
}

fn quick() -> Tuning {
    Tuning {
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..Tuning::default()
    }
}

#[test]
fn a_failed_patch_resumes_the_same_session_from_the_registrys_offset() {
    // A 1000-byte layer in 200-byte chunks: PATCHes 3 and 4 fail (503, nothing stored).
    let reg = FakeRegistry::start(fake::Config {
        fail_patches: vec![3, 4],
        ..fake::Config::default()
    });
    let img = Built::one_layer(1000);
    let mut t = quick();
    t.chunk_threshold = 500;
    t.chunk_size = 200;
    let target = format!("{}/slim/resume:v1", reg.host).parse().unwrap();
    img.push(&[target], &opts(t)).unwrap();
    let seen = reg.seen();
    let count = |m: &str| {
        seen.iter()
            .filter(|s| s.method == m && s.path.contains("/blobs/uploads/"))
            .count()
    };
    // One session per blob (the config goes in one PUT): the failed PATCHes did not start the
    // layer again, and no byte was sent twice: 5 chunks + 2 failed = 7 PATCHes.
    assert_eq!(count("POST"), 2, "a session was started again: {seen:#?}");
    assert_eq!(count("PATCH"), 7, "{seen:#?}");
    // The session was asked where it stands (twice, once per failure), at 400 bytes.
    assert_eq!(count("GET"), 2, "{seen:#?}");
    // The fake checks the digest of what it assembled on the closing PUT.
    assert_eq!(reg.blob_count(), 2);
    assert!(reg.manifest("slim/resume", "v1").is_some());
}

#[test]
fn a_session_the_registry_lost_is_started_again() {
    // The first closing PUT answers 404 (BLOB_UPLOAD_UNKNOWN): the blob starts again from the HEAD.
    let reg = FakeRegistry::with_faults(vec![Fault::new("PUT", "/blobs/uploads/", 404, 1)]);
    let img = Built::one_layer(300);
    let target = format!("{}/slim/lost:v1", reg.host).parse().unwrap();
    let rep = img.push(&[target], &opts(quick())).unwrap();
    assert_eq!(rep[0].uploaded_blobs, 2);
    let seen = reg.seen();
    assert_eq!(
        seen.iter().filter(|s| s.method == "POST").count(),
        3,
        "one extra session for the lost one"
    );
    assert!(reg.manifest("slim/lost", "v1").is_some());
}

#[test]
fn the_retry_budget_stops_retries_that_the_count_would_allow() {
    let reg = FakeRegistry::with_faults(vec![Fault::new("HEAD", "/blobs/", 503, usize::MAX)]);
    let img = Built::one_layer(100);
    let t = Tuning {
        retries: 100_000,
        retry_budget: Duration::from_millis(500),
        ..quick()
    };
    let target = format!("{}/slim/budget:v1", reg.host).parse().unwrap();
    let e = img.push(&[target], &opts(t)).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("HTTP 503") && msg.contains(&reg.host), "{msg}");
    let heads = reg.seen().iter().filter(|s| s.method == "HEAD").count();
    // 500 ms of 10-50 ms backoffs: a few dozen attempts, far from the 100 000 the count allows.
    assert!(
        heads < 200,
        "{heads} HEADs: the budget did not stop the retries"
    );
    assert!(reg.manifest("slim/budget", "v1").is_none());
}
