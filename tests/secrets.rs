//! Secrets (issue 7): the real binary run through every failure path with credentials configured,
//! asserting that the password, the base64 `user:password` string and the bearer tokens never appear
//! in stdout, stderr or the JSON report, even at `-vv` and even when a hostile registry quotes the
//! `Authorization` header back in its error body.
//!
//! Credentials come in each form the tool reads: `SLIM_IMAGE_REGISTRY_USERNAME`/`_PASSWORD`, a docker
//! `config.json` `auth` (base64) entry, and an `identitytoken` exchanged for bearer tokens. Failure
//! paths: wrong password, 5xx forever, 401 in the middle of the push, resets, a timeout, a hostile
//! error body, a token service that refuses, a token revoked mid-push, an unknown host, a TLS failure,
//! and bad input; plus the successful push, whose JSON report must be clean too.

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use common::registry::fake::{self, FakeRegistry};
use common::registry::{b64, basic_header, docker_auth_json, Mode, RealRegistry, PASSWORD, USER};
use common::slim::{self, cmd};
use proxy::{forever, redirect_uploads, Fault, Proxy, Rule};

const BUSYBOX: &str = "/bin/busybox";
const REFRESH: &str = "Refresh-1d0c5e77-never-print";

/// How the run finds its credentials.
enum Creds<'a> {
    /// `SLIM_IMAGE_REGISTRY_USERNAME`/`SLIM_IMAGE_REGISTRY_PASSWORD`.
    Env(&'a str),
    /// A docker config.json with an `auth` entry for the host.
    DockerAuth(&'a str, &'a str),
    /// A docker config.json with an identity (refresh) token for the host.
    IdentityToken(&'a str),
}

/// Every string that must never be printed for `password`.
fn forbidden(password: &str) -> Vec<String> {
    vec![
        password.to_string(),
        b64(&format!("{USER}:{password}")),
        format!("{USER}:{password}"),
        REFRESH.to_string(),
    ]
}

/// Whether `text` holds one of the fake registry's bearer tokens (`tok-<number>`).
fn has_fake_token(text: &str) -> bool {
    text.match_indices("tok-").any(|(i, _)| {
        text[i + 4..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// Run the binary packaging busybox and pushing it to `target`, with `creds`; returns
/// (success, stdout, stderr) after checking that no secret appears in either.
fn run(target: &str, creds: &Creds, extra: &[&str]) -> (bool, String, String) {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let mut args = vec![
        "--binary",
        BUSYBOX,
        "-vv",
        "--message-format",
        "json",
        "--retries",
        "1",
        "--timeout",
        "1",
        "--push",
        target,
    ];
    args.extend(extra);
    let t = w.join("target");
    let out = w.join("out");
    args.extend([
        "--target-dir",
        t.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    let mut c = cmd(&args);
    c.env("HOME", w)
        .env("DOCKER_CONFIG", w)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("SLIM_IMAGE_REGISTRY_USERNAME")
        .env_remove("SLIM_IMAGE_REGISTRY_PASSWORD")
        .env_remove("SLIM_IMAGE_REGISTRY_HOST");
    let host = target.split('/').next().unwrap();
    let password = match creds {
        Creds::Env(p) => {
            c.env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
                .env("SLIM_IMAGE_REGISTRY_PASSWORD", p);
            p.to_string()
        }
        Creds::DockerAuth(h, p) => {
            std::fs::write(w.join("config.json"), docker_auth_json(h, p)).unwrap();
            p.to_string()
        }
        Creds::IdentityToken(h) => {
            let json =
                format!(r#"{{"auths":{{"{h}":{{"auth":"","identitytoken":"{REFRESH}"}}}}}}"#);
            std::fs::write(w.join("config.json"), json).unwrap();
            REFRESH.to_string()
        }
    };
    let o = slim::run(&mut c);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    for s in forbidden(&password) {
        assert!(
            !stdout.contains(&s) && !stderr.contains(&s),
            "a secret (`{s}`) leaked pushing to {target} ({host}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
    }
    assert!(
        !has_fake_token(&stdout) && !has_fake_token(&stderr),
        "a bearer token leaked pushing to {target}:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    if o.status.success() {
        let report: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON report");
        let text = report.to_string();
        for s in forbidden(&password) {
            assert!(!text.contains(&s), "a secret in the JSON report: {text}");
        }
        assert!(!has_fake_token(&text), "a token in the JSON report: {text}");
    } else {
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        assert!(stdout.is_empty(), "stdout on failure: {stdout}");
        // `error:` plain, or red as `--color always` prints it.
        let red = "\u{1b}[1m\u{1b}[31merror\u{1b}[0m\u{1b}[1m:\u{1b}[0m ";
        assert!(
            stderr.contains("error: ") || stderr.contains(red),
            "{stderr}"
        );
    }
    (o.status.success(), stdout, stderr)
}

#[test]
fn no_secret_on_any_failure_path_of_a_basic_auth_registry() {
    let Some(reg) = RealRegistry::start(Mode::Basic, "secrets") else {
        return;
    };
    let px = Proxy::start(&reg.host, Some(basic_header(PASSWORD)));
    let target = |repo: &str| format!("{}/secret/{repo}:v1", px.host);

    // Wrong password, from the environment and from config.json.
    let wrong = "Wrong-Pw-5a1f-never-print";
    let (ok, _, err) = run(&target("wrong"), &Creds::Env(wrong), &[]);
    assert!(!ok && err.contains("rejected the credentials"), "{err}");
    let (ok, _, err) = run(&target("wrong2"), &Creds::DockerAuth(&px.host, wrong), &[]);
    assert!(!ok && err.contains("config.json"), "{err}");

    // Each fault stays for good.
    let faults: [(&str, Rule, &str); 6] = [
        (
            "5xx forever",
            forever("PUT", "/blobs/uploads/", Fault::Status(500, None)),
            "HTTP 500",
        ),
        (
            "401 mid-push",
            forever("PUT", "/manifests/", Fault::Status(401, None)),
            "rejected the credentials",
        ),
        (
            "resets",
            forever("PUT", "/blobs/uploads/", Fault::Reset),
            "connection to",
        ),
        (
            "timeout",
            forever(
                "PUT",
                "/manifests/",
                Fault::Slow(std::time::Duration::from_millis(2500)),
            ),
            "timed out",
        ),
        (
            "hostile error body on a blob",
            forever("POST", "/blobs/uploads/", Fault::Echo(400)),
            "HTTP 400: DENIED: you sent Basic <redacted>",
        ),
        (
            "hostile error body on the manifest",
            forever("PUT", "/manifests/", Fault::Echo(403)),
            "HTTP 403: DENIED: you sent Basic <redacted>",
        ),
    ];
    for (i, (name, rule, want)) in faults.into_iter().enumerate() {
        px.set_rule(rule);
        for creds in [Creds::Env(PASSWORD), Creds::DockerAuth(&px.host, PASSWORD)] {
            let (ok, _, err) = run(&target(&format!("f{i}")), &creds, &[]);
            assert!(!ok, "{name}: the push should fail");
            assert!(
                err.contains(want),
                "{name}: the error lacks `{want}`:\n{err}"
            );
        }
    }
    assert!(
        px.seen().iter().any(|s| s.fault == Fault::Echo(400)),
        "the hostile registry was asked"
    );

    // Success through a redirect to another host: the JSON report and -vv output are clean too.
    px.set_rule(redirect_uploads());
    let (ok, stdout, err) = run(&target("ok"), &Creds::DockerAuth(&px.host, PASSWORD), &[]);
    assert!(ok, "{err}");
    assert!(stdout.contains("secret/ok"), "{stdout}");
    assert!(px
        .seen()
        .iter()
        .filter(|s| s.host == px.other_host)
        .all(|s| s.authorization.is_none()));

    // Bad input with credentials configured.
    let (ok, _, err) = run(
        &target("bad"),
        &Creds::Env(PASSWORD),
        &["--binary", "/bin/ls"],
    );
    assert!(!ok && err.contains("dynamically linked"), "{err}");
}

#[test]
fn no_secret_from_a_tls_failure_or_an_unknown_host() {
    let (ok, _, err) = run("registry.invalid/a/b:v1", &Creds::Env(PASSWORD), &[]);
    assert!(!ok && err.contains("registry.invalid"), "{err}");
    let Some(reg) = RealRegistry::start(Mode::TlsBasic, "secrets over tls") else {
        return;
    };
    // No --registry-ca: the test CA is not trusted.
    let target = format!("{}/secret/tls:v1", reg.host);
    let (ok, _, err) = run(&target, &Creds::DockerAuth(&reg.host, PASSWORD), &[]);
    assert!(!ok && err.contains("TLS"), "{err}");
    // With the CA, the push works and says nothing secret.
    let ca = reg.ca_file();
    let (ok, _, err) = run(
        &target,
        &Creds::Env(PASSWORD),
        &["--registry-ca", ca.to_str().unwrap()],
    );
    assert!(ok, "{err}");
}

#[test]
fn no_secret_from_token_failures() {
    let reg = FakeRegistry::start(fake::Config {
        bearer: Some(fake::Bearer {
            user_pass: Some((USER.into(), PASSWORD.into())),
            refresh_token: Some(REFRESH.into()),
            anonymous: false,
        }),
        revoke_tokens_after: Some(4),
        ..fake::Config::default()
    });
    let target = |r: &str| format!("{}/secret/{r}:v1", reg.host);
    // The token service refuses a wrong password.
    let (ok, _, err) = run(&target("t1"), &Creds::Env("Bad-Token-Pw-77"), &[]);
    assert!(!ok && err.contains("token service"), "{err}");
    // Tokens revoked mid-push: re-authentication with the identity token, and success.
    let (ok, _, err) = run(&target("t2"), &Creds::IdentityToken(&reg.host), &[]);
    assert!(ok, "{err}");
    assert!(reg
        .seen()
        .iter()
        .any(|s| s.status == 401 && s.path.contains("/blobs/")));
    // Basic credentials exchanged for tokens; a 5xx forever on the manifest.
    let down = FakeRegistry::start(fake::Config {
        bearer: Some(fake::Bearer {
            user_pass: Some((USER.into(), PASSWORD.into())),
            ..Default::default()
        }),
        faults: vec![fake::Fault::new("PUT", "/manifests/", 503, usize::MAX).retry_after("0")],
        ..fake::Config::default()
    });
    let (ok, _, err) = run(
        &format!("{}/secret/t3:v1", down.host),
        &Creds::DockerAuth(&down.host, PASSWORD),
        &[],
    );
    assert!(!ok && err.contains("HTTP 503"), "{err}");
    assert!(down.seen().iter().any(|s| s
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Bearer tok-"))));
}

#[test]
fn no_secret_in_coloured_output() {
    // Colour is added after redaction: a hostile echo of the Authorization header stays redacted,
    // at -vv, with every line coloured.
    let Some(reg) = RealRegistry::start(Mode::Basic, "no_secret_in_coloured_output") else {
        return;
    };
    let px = Proxy::start(&reg.host, Some(basic_header(PASSWORD)));
    px.set_rule(forever("POST", "/blobs/uploads/", Fault::Echo(400)));
    let target = format!("{}/secret/colour:v1", px.host);
    let (ok, _, err) = run(&target, &Creds::Env(PASSWORD), &["--color", "always"]);
    assert!(!ok, "the push should fail");
    let red = "\u{1b}[1m\u{1b}[31merror\u{1b}[0m\u{1b}[1m:\u{1b}[0m ";
    assert!(
        err.contains(red) && err.contains("HTTP 400: DENIED: you sent Basic <redacted>"),
        "{err:?}"
    );
    assert!(
        err.contains("\u{1b}[1m\u{1b}[36m     verbose\u{1b}[0m "),
        "{err:?}"
    );
    // No escape code splits a secret either: the text without them is clean too.
    let plain = err
        .split('\u{1b}')
        .map(|p| {
            p.strip_prefix('[').map_or(p, |q| {
                let q = q.trim_start_matches(|c: char| c.is_ascii_digit() || c == ';');
                q.strip_prefix('m').unwrap_or(q)
            })
        })
        .collect::<String>();
    assert!(plain.contains("error: "), "{plain}");
    for s in forbidden(PASSWORD) {
        assert!(!plain.contains(&s), "`{s}` in {plain}");
    }
}
