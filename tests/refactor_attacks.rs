//! Attacks on the paths the registry and sink refactor moved (registry::probe, auth::Tokens,
//! http::Transport; sink::temp/commit), through the real binary.
//!
//! A hostile registry on 127.0.0.1 (a raw HTTP server in this file) answers the ping, the token
//! endpoint and the upload start in ways no other test does: 5xx bodies quoting what it was sent
//! (retried, then failed), a challenge of an unknown scheme that quotes the password in a huge
//! header, and URLs carrying credentials in their user part and query. No piece of a secret may
//! show, and no message quotes more than a few hundred characters of what the registry sent.
//! And a SIGINT while an upload hangs. (The `-o` and mid-write signal attacks of the same review
//! are in tests/outputs_attack.rs.)

mod common;

use common::echo::EchoServer as Hostile;
use common::pieces::fails_clean;
use common::registry::{b64, PASSWORD, USER};
use common::slim;
use std::fs;
use std::path::Path;

/// The binary packaging busybox and pushing it to `target`, credentials in the environment, in a
/// clean home under `work`.
fn push(work: &Path, target: &str) -> std::process::Command {
    let mut c = slim::push_busybox(work, target, 1);
    c.env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
        .env("SLIM_IMAGE_REGISTRY_PASSWORD", PASSWORD);
    c
}

/// The password and the Basic value in every form the tests look for.
fn login_secrets() -> Vec<String> {
    let basic = b64(&format!("{USER}:{PASSWORD}"));
    vec![PASSWORD.to_string(), format!("{USER}:{PASSWORD}"), basic]
}

/// The token endpoint (auth::Tokens::request_token) answers 500, quoting the Basic header it got,
/// with `Retry-After: 0`: retried (a warning per retry), then the run fails. The realm carries
/// a secret in its query, which no message may quote either.
#[test]
fn a_token_endpoint_that_fails_quoting_the_basic_header_is_redacted_on_every_retry() {
    const REALM_SECRET: &str = "Realm-Query-Secret-91c4";
    let reg = Hostile::start(|host, req| {
        if req.path.starts_with("/token") {
            let a = req
                .headers
                .get("authorization")
                .cloned()
                .unwrap_or_default();
            return (
                500,
                vec![("Retry-After".into(), "0".into())],
                format!("token service down; you sent {a}"),
            );
        }
        let realm = format!("http://{host}/token?client_secret={REALM_SECRET}");
        (
            401,
            vec![(
                "WWW-Authenticate".into(),
                format!(r#"Bearer realm="{realm}",service="hostile""#),
            )],
            String::new(),
        )
    });
    let work = tempfile::tempdir().unwrap();
    let mut secrets = login_secrets();
    secrets.push(REALM_SECRET.to_string());
    let err = fails_clean(
        &mut push(work.path(), &format!("{}/a/app:v1", reg.host)),
        &secrets,
    );
    assert!(
        err.contains("HTTP 500") && err.contains("you sent Basic <redacted>"),
        "{err}"
    );
    assert!(err.contains("retrying"), "no retry warning: {err}");
    assert!(err.contains("getting a token from"), "{err}");
    let tokens = reg.seen().iter().filter(|s| s.contains("/token")).count();
    assert!(
        tokens >= 2,
        "no retry of the token request: {:?}",
        reg.seen()
    );
}

/// The ping (registry::probe) answers 503 quoting the password the registry knows, before any
/// credentials were looked up for it: redacted (the CI password is remembered at the start).
#[test]
fn a_ping_that_fails_quoting_the_password_is_redacted() {
    let reg = Hostile::start(|_, _| {
        (
            503,
            vec![("Retry-After".into(), "0".into())],
            format!("maintenance for the account with password {PASSWORD}"),
        )
    });
    let work = tempfile::tempdir().unwrap();
    let err = fails_clean(
        &mut push(work.path(), &format!("{}/a/app:v1", reg.host)),
        &login_secrets(),
    );
    assert!(
        err.contains("HTTP 503") && err.contains("password <redacted>"),
        "{err}"
    );
}

/// A challenge of an unknown scheme, quoting the password inside a 60 KB header: the error names
/// the scheme, shows no piece of the password and quotes at most a few hundred characters of it.
#[test]
fn a_huge_challenge_of_an_unknown_scheme_is_cut_and_redacted() {
    let reg = Hostile::start(|_, _| {
        let h = format!("Negotiate {PASSWORD} {}", "A".repeat(60_000));
        (401, vec![("WWW-Authenticate".into(), h)], String::new())
    });
    let work = tempfile::tempdir().unwrap();
    let err = fails_clean(
        &mut push(work.path(), &format!("{}/a/app:v1", reg.host)),
        &login_secrets(),
    );
    assert!(
        err.contains("unsupported scheme") && err.contains("Negotiate <redacted>"),
        "{err}"
    );
    let longest = err.lines().map(str::len).max().unwrap_or(0);
    assert!(
        longest < 2000,
        "a line of {longest} bytes quotes the registry's header whole"
    );
}

/// URLs a registry hands out may carry credentials of their own (`user:password@` and a signed
/// query): an upload `Location` and a token realm that are refused (plain http off loopback) are
/// named without either, and nothing is sent there.
#[test]
fn refused_urls_are_named_without_their_user_part_or_query() {
    const USERINFO: &str = "Userinfo-Secret-5e2a";
    const QUERY: &str = "Signed-Query-Secret-77b0";
    // An upload Location to plain http on a host that is not loopback.
    let uploads = Hostile::start(|_, req| match req.method.as_str() {
        "HEAD" => (404, Vec::new(), String::new()),
        "POST" => (
            202,
            vec![(
                "Location".into(),
                format!("http://up:{USERINFO}@storage.example/up/1?sig={QUERY}"),
            )],
            String::new(),
        ),
        _ => (200, Vec::new(), "{}".into()),
    });
    // A token realm on plain http off loopback.
    let realm = Hostile::start(|_, _| {
        (
            401,
            vec![(
                "WWW-Authenticate".into(),
                format!(
                    r#"Bearer realm="http://tok:{USERINFO}@auth.example/token?sig={QUERY}",service="h""#
                ),
            )],
            String::new(),
        )
    });
    let mut secrets = login_secrets();
    secrets.extend([USERINFO.to_string(), QUERY.to_string()]);
    for (reg, want) in [
        (&uploads, "http://storage.example/up/1"),
        (&realm, "http://auth.example/token"),
    ] {
        let work = tempfile::tempdir().unwrap();
        let err = fails_clean(
            &mut push(work.path(), &format!("{}/a/app:v1", reg.host)),
            &secrets,
        );
        assert!(err.contains(want), "the refused URL is not named: {err}");
        assert!(
            reg.seen().iter().all(|s| !s.contains("/token")),
            "{:?}",
            reg.seen()
        );
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

/// Every path under `dir` whose name is a temp of the tool (`.slim-image-…`, `slim-<pid>-…`).
fn temps_under(dir: &Path, pid: u32) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".slim-image-") || name.starts_with(&format!("slim-{pid}-")) {
            found.push(e.path().display().to_string());
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(temps_under(&e.path(), pid));
        }
    }
    found
}

/// SIGINT while a blob upload hangs on the registry (the push threads are blocked in a read): the
/// run exits 130 at once, not after `--timeout` (5 s), and leaves no temp beside the layout, in the blob
/// cache or in the per-user cache; the layout written before the push stays.
#[test]
fn sigint_during_a_hanging_upload_exits_at_once_and_leaves_no_temp() {
    let reg = Hostile::start(|_, req| match req.method.as_str() {
        "HEAD" => (404, Vec::new(), String::new()),
        "POST" => (
            202,
            vec![("Location".into(), "/v2/a/app/blobs/uploads/1".into())],
            String::new(),
        ),
        "PUT" | "PATCH" => {
            std::thread::sleep(std::time::Duration::from_secs(60));
            (500, Vec::new(), String::new())
        }
        _ => (200, Vec::new(), "{}".into()),
    });
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let mut c = push(w, &format!("{}/a/app:v1", reg.host));
    c.env("SLIM_IMAGE_CACHE_DIR", w.join("user-cache"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let t = std::time::Instant::now();
    while !reg.seen().iter().any(|s| s.starts_with("PUT ")) {
        assert!(child.try_wait().unwrap().is_none(), "{:?}", reg.seen());
        assert!(t.elapsed().as_secs() < 120, "no upload: {:?}", reg.seen());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sent = std::time::Instant::now();
    signal(child.id(), libc::SIGINT);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(sent.elapsed().as_secs() < 4, "{:?}", sent.elapsed());
    assert!(w.join("out/oci-layout").is_file());
    let left = temps_under(w, child.id());
    assert!(left.is_empty(), "{left:?}");
}
