//! Push tests against the in-process fake registry: the Bearer token flow, retries, server errors, redirects, resumed chunked uploads and timeouts (fault injection a real registry cannot do).

use super::*;

fn fake_bearer(b: fake::Bearer) -> FakeRegistry {
    FakeRegistry::start(fake::Config {
        bearer: Some(b),
        ..fake::Config::default()
    })
}

#[test]
fn bearer_token_flow_with_basic_credentials() {
    let reg = fake_bearer(fake::Bearer {
        user_pass: Some((USER.into(), PASSWORD.into())),
        ..Default::default()
    });
    let env = ci_credentials(PASSWORD);
    let img = single("bearer");
    let target = r(&format!("{}/slim/app:v1", reg.host));
    img.push(std::slice::from_ref(&target), &opts(env.clone()))
        .unwrap();
    let root_bytes = img.store.read(&img.artifact.root.digest).unwrap();
    assert_eq!(reg.manifest("slim/app", "v1").unwrap(), root_bytes);
    let seen = reg.seen();
    let tokens: Vec<_> = seen
        .iter()
        .filter(|s| s.path.starts_with("/token"))
        .collect();
    assert_eq!(tokens.len(), 1, "one token for the whole push: {tokens:?}");
    assert!(
        tokens[0]
            .path
            .contains("scope=repository%3Aslim%2Fapp%3Apull%2Cpush"),
        "{}",
        tokens[0].path
    );
    assert!(tokens[0]
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Basic ")));
    let v2_ok: Vec<_> = seen
        .iter()
        .filter(|s| s.path.starts_with("/v2/") && s.status != 401)
        .collect();
    assert!(
        v2_ok
            .iter()
            .skip(1)
            .all(|s| s.authorization.as_deref() == Some("Bearer tok-1")),
        "{v2_ok:?}"
    );
    // Second push: HEADs only, no upload.
    let again = img.push(&[target], &opts(env.clone())).unwrap();
    assert_eq!(again[0].uploaded_blobs, 0);
    // Pull back through a fresh client.
    let client = Client::new(&reg.host, &opts(env).client_options()).unwrap();
    assert_eq!(
        client.get_manifest("slim/app", "v1").unwrap().bytes,
        root_bytes
    );
}

#[test]
fn bearer_refresh_token_and_reauth_after_token_revocation() {
    let refresh = "refresh-7d1c0b55";
    let reg = FakeRegistry::start(fake::Config {
        bearer: Some(fake::Bearer {
            refresh_token: Some(refresh.into()),
            ..Default::default()
        }),
        revoke_tokens_after: Some(4),
        ..fake::Config::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let env = write_docker_config(
        dir.path(),
        &format!(
            r#"{{"auths":{{"{}":{{"auth":"","identitytoken":"{refresh}"}}}}}}"#,
            reg.host
        ),
    );
    let img = single("refresh");
    img.push(&[r(&format!("{}/slim/rt:v1", reg.host))], &opts(env))
        .unwrap();
    assert!(reg.manifest("slim/rt", "v1").is_some());
    let seen = reg.seen();
    let token_posts: Vec<_> = seen
        .iter()
        .filter(|s| s.path.starts_with("/token") && s.method == "POST")
        .collect();
    assert!(
        token_posts.len() >= 2,
        "re-authenticated after the revocation: {token_posts:?}"
    );
    let form = String::from_utf8_lossy(&token_posts[0].body).into_owned();
    assert!(
        form.contains("grant_type=refresh_token") && form.contains("scope=repository"),
        "{form}"
    );
    assert!(
        seen.iter().all(|s| !s.path.contains(refresh)),
        "the refresh token must not go in a URL"
    );
}

#[test]
fn server_errors_and_rate_limits_are_retried() {
    let reg = FakeRegistry::with_faults(vec![
        Fault::new("HEAD", "/blobs/", 500, 1),
        Fault::new("POST", "/blobs/uploads/", 429, 1).retry_after("1"),
        Fault::new("PUT", "/blobs/uploads/", 503, 2).retry_after("0"),
        Fault::new("PUT", "/manifests/", 502, 1),
    ]);
    let img = single("flaky");
    let start = Instant::now();
    let rep = img
        .push(&[r(&format!("{}/slim/flaky:v1", reg.host))], &anon())
        .unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert_eq!(rep[0].uploaded_blobs, 2);
    assert_eq!(reg.blob_count(), 2);
    assert!(reg.manifest("slim/flaky", "v1").is_some());
    assert!(reg.seen().iter().filter(|s| s.status >= 500).count() >= 4);
}

#[test]
fn server_errors_forever_fail_clearly_and_push_no_manifest() {
    let reg =
        FakeRegistry::with_faults(vec![Fault::new("POST", "/blobs/uploads/", 500, usize::MAX)]);
    let img = single("down");
    let mut o = anon();
    o.tuning.retries = 2;
    let e = img
        .push(&[r(&format!("{}/slim/down:v1", reg.host))], &o)
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("HTTP 500") && msg.contains("no manifest was pushed"),
        "{msg}"
    );
    assert!(
        reg.seen()
            .iter()
            .all(|s| !(s.method == "PUT" && s.path.contains("/manifests/"))),
        "no manifest PUT after failed blobs"
    );
}

#[test]
fn an_index_whose_children_are_missing_is_pushed_whole() {
    // Some registries accept an index before its children (the fake does too): finding the index is
    // not enough to skip the push.
    let reg = FakeRegistry::start(fake::Config::default());
    let img = index("sparse", 100);
    let o = anon();
    let client = Client::new(&reg.host, &o.client_options()).unwrap();
    let root = &img.artifact.root;
    client
        .put_manifest(
            "slim/sparse",
            &root.digest.to_string(),
            &root.media_type,
            &img.store.read(&root.digest).unwrap(),
        )
        .unwrap();
    let rep = img
        .push(&[r(&format!("{}/slim/sparse:v1", reg.host))], &o)
        .unwrap();
    assert_eq!(rep[0].uploaded_blobs, 4, "{rep:?}");
    for m in &img.artifact.manifests {
        let put = format!("/v2/slim/sparse/manifests/{}", m.digest);
        assert!(
            reg.seen()
                .iter()
                .any(|q| q.method == "PUT" && q.path == put),
            "child {} was not pushed",
            m.digest
        );
    }
}

#[test]
fn a_failing_manifest_check_means_a_full_push_not_an_error_nor_a_wait() {
    let reg = FakeRegistry::with_faults(vec![Fault::new("HEAD", "/manifests/", 503, usize::MAX)]);
    let img = single("probe");
    let target = r(&format!("{}/slim/probe:v1", reg.host));
    for round in 0..2 {
        let rep = img.push(std::slice::from_ref(&target), &anon()).unwrap();
        assert_eq!(rep[0].uploaded_blobs, if round == 0 { 2 } else { 0 });
    }
    // One manifest HEAD per push: the check is never retried.
    let heads = reg
        .seen()
        .iter()
        .filter(|q| q.method == "HEAD" && q.path.contains("/manifests/"))
        .count();
    assert_eq!(heads, 2);
}

#[test]
fn blob_redirects_to_another_host_drop_credentials() {
    let storage = FakeRegistry::start(fake::Config::default());
    let reg = FakeRegistry::start(fake::Config {
        bearer: Some(fake::Bearer {
            anonymous: true,
            ..Default::default()
        }),
        redirect_blobs_to: Some(format!(
            "http://localhost:{}",
            storage.host.rsplit(':').next().unwrap()
        )),
        ..fake::Config::default()
    });
    let img = single("redirect");
    for host in [&storage.host, &reg.host] {
        img.push(&[r(&format!("{host}/slim/redir:v1"))], &anon())
            .unwrap();
    }
    let client = Client::new(&reg.host, &anon().client_options()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobStore::open(dir.path()).unwrap();
    let layer = &img.artifact.blobs[1];
    client.fetch_blob("slim/redir", layer, &cache).unwrap();
    assert!(cache.contains(&layer.digest));
    let fetched: Vec<_> = storage
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/storage/"))
        .collect();
    assert_eq!(fetched.len(), 1);
    assert_eq!(
        fetched[0].authorization, None,
        "credentials must not follow a redirect to another host"
    );
}

#[test]
fn chunked_upload_resumes_after_416() {
    let reg = FakeRegistry::start(fake::Config {
        bearer: Some(fake::Bearer {
            anonymous: true,
            ..Default::default()
        }),
        patch_416_once: true,
        ..fake::Config::default()
    });
    let img = single("resume");
    let mut o = anon();
    o.tuning.chunk_threshold = 64;
    o.tuning.chunk_size = 100;
    let target = r(&format!("{}/slim/resume:v1", reg.host));
    img.push(&[target], &o).unwrap();
    let seen = reg.seen();
    assert!(seen.iter().any(|s| s.method == "PATCH" && s.status == 416));
    // The fake checks the digest of what it assembled on the closing PUT.
    assert_eq!(reg.blob_count(), 2);
    assert!(reg.manifest("slim/resume", "v1").is_some());
}

#[test]
fn a_registry_that_stops_answering_times_out_and_is_retried() {
    let reg = FakeRegistry::with_faults(vec![Fault::new("PUT", "/blobs/uploads/", 0, 1)]);
    let img = single("slow");
    let mut o = anon();
    o.tuning.io_timeout = Duration::from_millis(300);
    let target = r(&format!("{}/slim/slow:v1", reg.host));
    let start = Instant::now();
    img.push(&[target], &o).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "the timeout, not the fake, ended the wait"
    );
    assert_eq!(reg.blob_count(), 2);
}
