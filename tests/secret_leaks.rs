//! Secrets (issue 11): the real binary against a hostile registry that quotes back what it was sent,
//! and credential helpers that fail or hang (credentials typed into flags: tests/secret_inputs.rs).
//!
//! Each test asserts that no 8-character piece of a secret, in any form it was sent in (raw, base64
//! `user:password`, percent-encoded), appears in stdout or stderr: redaction must come before any
//! cut, and must know every encoding. The registry is a raw HTTP server on 127.0.0.1 in this file:
//! it answers as a registry would (401 with a challenge, then an error quoting the request).

mod common;
#[path = "secret_leaks/encodings.rs"]
mod encodings;
#[path = "secret_leaks/tokens.rs"]
mod tokens;

use common::echo::EchoServer;
use common::pieces::fails_clean;
use common::registry::{b64, PASSWORD, USER};
use common::slim;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

/// An error body made from the `Authorization` value the server received.
type EchoBody = Box<dyn Fn(&str) -> String + Send + Sync>;

/// Basic-auth registry: 401 without credentials; with them, HEAD finds nothing and every other
/// request but the ping gets 400 and `body(authorization)`.
fn basic_echo(body: impl Fn(&str) -> String + Send + Sync + 'static) -> EchoServer {
    EchoServer::start(move |_, req| match req.headers.get("authorization") {
        None => (
            401,
            vec![("WWW-Authenticate".into(), r#"Basic realm="echo""#.into())],
            String::new(),
        ),
        Some(_) if req.method == "HEAD" => (404, Vec::new(), String::new()),
        Some(_) if req.path == "/v2/" => (200, Vec::new(), "{}".into()),
        Some(a) => (400, Vec::new(), body(a)),
    })
}

/// Percent-encode everything but unreserved characters, as an OAuth client does.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Decode a form value (`%XX` and `+`).
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 3 <= b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The binary packaging busybox and pushing it to `target`, in a clean home under `work`, with no
/// credentials in the environment.
fn push_cmd(work: &Path, target: &str) -> std::process::Command {
    let mut c = slim::push_busybox(work, target, 0);
    c.env_remove("SLIM_IMAGE_REGISTRY_USERNAME")
        .env_remove("SLIM_IMAGE_REGISTRY_PASSWORD")
        .env_remove("SLIM_IMAGE_CREDENTIAL_HELPER_TIMEOUT");
    c
}

#[test]
fn an_echoed_authorization_straddling_the_cut_is_redacted_whole() {
    let basic = b64(&format!("{USER}:{PASSWORD}"));
    let secrets = vec![
        PASSWORD.to_string(),
        basic.clone(),
        urlencode(&basic),
        urlencode(PASSWORD),
    ];
    // The error summary is cut at 300 characters: put the secret across the cut, in a text body
    // (first line), a distribution JSON body, and percent-encoded in a query string.
    let bodies: Vec<EchoBody> = vec![
        Box::new(|a| format!("{}you sent {a}\n", "x".repeat(300 - 15 - 20))),
        Box::new(|a| {
            let msg = format!("{}you sent {a}", "y".repeat(300 - 8 - 15 - 20));
            serde_json::json!({"errors": [{"code": "DENIED", "message": msg}]}).to_string()
        }),
        Box::new(|a| {
            format!(
                "{}bad request ?auth={}&password={}",
                "z".repeat(260),
                urlencode(a),
                urlencode(PASSWORD)
            )
        }),
    ];
    for body in bodies {
        let reg = basic_echo(body);
        let work = tempfile::tempdir().unwrap();
        let mut c = push_cmd(work.path(), &format!("{}/secret/app:v1", reg.host));
        c.env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
            .env("SLIM_IMAGE_REGISTRY_PASSWORD", PASSWORD);
        let err = fails_clean(&mut c, &secrets);
        assert!(err.contains("HTTP 400") && err.contains("<red"), "{err}");
    }
}

#[test]
fn an_echoed_refresh_token_is_redacted_in_every_encoding() {
    const REFRESH: &str = "id+tok/Refresh \"9f2e\" never=print";
    let reg = EchoServer::start(|host, req| {
        if req.path.starts_with("/token") {
            // Quote the form back, then the token JSON-escaped and form-encoded.
            let token = req
                .body
                .split('&')
                .find_map(|kv| kv.strip_prefix("refresh_token="))
                .map(form_decode)
                .unwrap_or_default();
            let json = serde_json::to_string(&token).unwrap();
            let form = urlencode(&token).replace("%20", "+");
            return (
                400,
                Vec::new(),
                format!("invalid_grant: {}; json {json}; form {form}", req.body),
            );
        }
        let challenge = format!(r#"Bearer realm="http://{host}/token",service="echo""#);
        (
            401,
            vec![("WWW-Authenticate".into(), challenge)],
            String::new(),
        )
    });
    let work = tempfile::tempdir().unwrap();
    let config = serde_json::json!({"auths": {&reg.host: {"auth": "", "identitytoken": REFRESH}}});
    std::fs::write(work.path().join("config.json"), config.to_string()).unwrap();
    let mut c = push_cmd(work.path(), &format!("{}/secret/app:v1", reg.host));
    let json = serde_json::to_string(REFRESH).unwrap();
    let secrets = vec![
        REFRESH.to_string(),
        urlencode(REFRESH),
        urlencode(REFRESH).replace("%20", "+"),
        json[1..json.len() - 1].to_string(),
    ];
    let err = fails_clean(&mut c, &secrets);
    assert!(
        err.contains("HTTP 400") && err.contains("refresh_token=<redacted>"),
        "{err}"
    );
}

/// Write `docker-credential-NAME` (a shell script) into `work/bin` and a docker config that uses it
/// for `host`.
fn helper(work: &Path, name: &str, host: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join(format!("docker-credential-{name}"));
    std::fs::write(&path, format!("#!/bin/sh\n{script}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = serde_json::json!({"credHelpers": {host: name}});
    std::fs::write(work.join("config.json"), config.to_string()).unwrap();
}

fn with_helper_path(c: &mut std::process::Command, work: &Path) {
    c.env(
        "PATH",
        format!("{}:/usr/bin:/bin", work.join("bin").display()),
    );
}

#[test]
fn a_failing_credential_helper_shows_its_status_and_stderr_never_its_stdout() {
    const SECRET: &str = "Helper-Secret-4b1e-never-print";
    let reg = basic_echo(|_| "denied".into());
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    helper(
        w,
        "leaky",
        &reg.host,
        &format!(
            "read server\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"u\",\"Secret\":\"{SECRET}\"}}' \
             \"$server\"\necho \"keyring locked; had {SECRET}\" >&2\nexit 3\n"
        ),
    );
    let mut c = push_cmd(w, &format!("{}/secret/app:v1", reg.host));
    with_helper_path(&mut c, w);
    let err = fails_clean(&mut c, &[SECRET.to_string()]);
    assert!(
        err.contains("docker-credential-leaky")
            && err.contains("exit status: 3")
            && err.contains("keyring locked; had <redacted>")
            && err.contains("stdout is not shown"),
        "{err}"
    );
}

#[test]
fn a_hanging_credential_helper_is_stopped_at_its_time_limit() {
    let reg = basic_echo(|_| "denied".into());
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let pid_file = w.join("sleep.pid");
    let runs = w.join("runs");
    helper(
        w,
        "slow",
        &reg.host,
        &format!(
            "echo run >> {}\nsleep 600 &\necho $! > {}\nwait\n",
            runs.display(),
            pid_file.display()
        ),
    );
    let mut c = push_cmd(w, &format!("{}/secret/app:v1", reg.host));
    with_helper_path(&mut c, w);
    c.env("SLIM_IMAGE_CREDENTIAL_HELPER_TIMEOUT", "0.5");
    let err = fails_clean(&mut c, &[]);
    assert!(
        err.contains("docker-credential-slow")
            && err.contains("timed out")
            && err.contains("within 0.5s")
            && err.contains("SLIM_IMAGE_CREDENTIAL_HELPER_TIMEOUT"),
        "{err}"
    );
    // Asked once: the parallel uploads do not each wait for it again.
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "run\n");
    // What the helper started was killed with it: gone, or a zombie waiting for init to reap it.
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    let alive = || {
        std::fs::read_to_string(&stat).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| !r.trim().starts_with('Z'))
        })
    };
    let mut tries = 0;
    while alive() && tries < 500 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        tries += 1;
    }
    assert!(!alive(), "the helper's child {pid} still runs");

    // A limit that is not a number is an error naming the variable.
    let mut c = push_cmd(w, &format!("{}/secret/app:v1", reg.host));
    with_helper_path(&mut c, w);
    c.env("SLIM_IMAGE_CREDENTIAL_HELPER_TIMEOUT", "soon");
    let err = fails_clean(&mut c, &[]);
    assert!(
        err.contains("SLIM_IMAGE_CREDENTIAL_HELPER_TIMEOUT=`soon`"),
        "{err}"
    );
}

/// The characters of `blob` (standard base64 of `plain`) that encode only the bytes of `inner`, an
/// occurrence of a secret in `plain`: what would give the secret away.
fn encoded_span(plain: &str, blob: &str, inner: &str) -> String {
    let at = plain.find(inner).unwrap();
    let first = (8 * at).div_ceil(6);
    let end = 8 * (at + inner.len()) / 6;
    blob[first..end].to_string()
}

#[test]
fn a_login_echoed_inside_a_longer_base64_text_is_redacted_at_every_offset() {
    let basic = b64(&format!("{USER}:{PASSWORD}"));
    // The registry dumps what it got as base64 JSON, after a prefix of 0, 1 and 2 bytes (mod 3), so
    // the password and the Basic value land at every alignment inside the blob.
    for prefix in ["", "x", "xy"] {
        let reg = basic_echo(move |a| {
            let dump = format!(r#"{prefix}{{"authorization":"{a}","password":"{PASSWORD}"}}"#);
            format!("request dump {}\n", b64(&dump))
        });
        let dump =
            format!(r#"{prefix}{{"authorization":"Basic {basic}","password":"{PASSWORD}"}}"#);
        let blob = b64(&dump);
        let secrets = vec![
            PASSWORD.to_string(),
            basic.clone(),
            encoded_span(&dump, &blob, &basic),
            encoded_span(&dump, &blob, PASSWORD),
        ];
        let work = tempfile::tempdir().unwrap();
        let mut c = push_cmd(work.path(), &format!("{}/secret/app:v1", reg.host));
        c.env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
            .env("SLIM_IMAGE_REGISTRY_PASSWORD", PASSWORD);
        let err = fails_clean(&mut c, &secrets);
        assert!(
            err.contains("HTTP 400") && err.contains("request dump") && err.contains("<redacted>"),
            "{err}"
        );
    }
}

#[test]
fn a_credential_helper_name_with_a_path_is_refused_and_nothing_runs() {
    use std::os::unix::fs::PermissionsExt;
    let reg = basic_echo(|_| "denied".into());
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // `bin/docker-credential-x/../../evil` is `evil`: a program outside PATH, named by the config.
    std::fs::create_dir_all(w.join("bin/docker-credential-x")).unwrap();
    let ran = w.join("ran");
    let evil = w.join("evil");
    std::fs::write(
        &evil,
        format!("#!/bin/sh\ntouch {}\necho '{{}}'\n", ran.display()),
    )
    .unwrap();
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (key, config) in [
        (
            "credsStore",
            serde_json::json!({"credsStore": "x/../../evil"}),
        ),
        (
            "credHelpers",
            serde_json::json!({"credHelpers": {&reg.host: "x/../../evil"}}),
        ),
    ] {
        std::fs::write(w.join("config.json"), config.to_string()).unwrap();
        let mut c = push_cmd(w, &format!("{}/secret/app:v1", reg.host));
        with_helper_path(&mut c, w);
        let err = fails_clean(&mut c, &[]);
        assert!(!ran.exists(), "the program outside PATH ran: {err}");
        assert!(
            err.contains(&format!("`{key}` in {}", w.join("config.json").display()))
                && err.contains("x/../../evil")
                && err.contains("not a plain name"),
            "{err}"
        );
    }
}

#[test]
fn a_credential_helper_is_never_taken_from_a_relative_path_entry() {
    let reg = basic_echo(|_| "denied".into());
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let ran = w.join("ran");
    // The helper sits in the directory the tool is started from, reachable only by an empty or `.`
    // entry of PATH.
    helper(
        w,
        "cwd",
        &reg.host,
        &format!(
            "touch {}\necho '{{\"Username\":\"u\",\"Secret\":\"s3cr3t\"}}'\n",
            ran.display()
        ),
    );
    for path in ["::/usr/bin:/bin", ".:/usr/bin:/bin"] {
        let mut c = push_cmd(w, &format!("{}/secret/app:v1", reg.host));
        c.current_dir(w.join("bin")).env("PATH", path);
        let err = fails_clean(&mut c, &[]);
        assert!(
            !ran.exists(),
            "PATH={path}: a helper from the current directory ran: {err}"
        );
        assert!(
            err.contains("docker-credential-cwd") && err.contains("not on PATH"),
            "{err}"
        );
    }
}

#[test]
fn a_two_character_password_echoed_alone_is_redacted() {
    const SHORT: &str = "Q#";
    let reg = basic_echo(|_| format!("wrong password {SHORT} for user {USER}; (pw=\"{SHORT}\")"));
    let work = tempfile::tempdir().unwrap();
    let mut c = push_cmd(work.path(), &format!("{}/secret/app:v1", reg.host));
    c.env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
        .env("SLIM_IMAGE_REGISTRY_PASSWORD", SHORT);
    let basic = b64(&format!("{USER}:{SHORT}"));
    let err = fails_clean(&mut c, &[SHORT.to_string(), basic]);
    assert!(
        err.contains("wrong password <redacted> for user slimtester; (pw=\"<redacted>\")"),
        "{err}"
    );
}

#[test]
fn a_credential_helper_that_leaves_a_daemon_holding_its_output_is_stopped_with_it() {
    let reg = basic_echo(|_| "denied".into());
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let pid_file = w.join("daemon.pid");
    // The daemon detaches (its parent exits at once, so it is no child of the helper any more) but
    // keeps the helper's stdout; the helper itself exits 0 without answering.
    helper(
        w,
        "daemon",
        &reg.host,
        &format!(
            "( sleep 600 & echo $! > {} ) \nexit 0\n",
            pid_file.display()
        ),
    );
    let mut c = push_cmd(w, &format!("{}/secret/app:v1", reg.host));
    with_helper_path(&mut c, w);
    c.env("SLIM_IMAGE_CREDENTIAL_HELPER_TIMEOUT", "0.5");
    let err = fails_clean(&mut c, &[]);
    assert!(
        err.contains("docker-credential-daemon") && err.contains("timed out"),
        "{err}"
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    let alive = || {
        std::fs::read_to_string(&stat).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| !r.trim().starts_with('Z'))
        })
    };
    let mut tries = 0;
    while alive() && tries < 500 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        tries += 1;
    }
    let still = alive();
    if still {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
    assert!(!still, "the daemon {pid} the helper left still runs");
}
