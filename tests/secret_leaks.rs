//! Secrets (issue 11): the real binary against a hostile registry that quotes back what it was sent,
//! and credential helpers that fail or hang (credentials typed into flags: tests/secret_inputs.rs).
//!
//! Each test asserts that no 8-character piece of a secret, in any form it was sent in (raw, base64
//! `user:password`, percent-encoded), appears in stdout or stderr: redaction must come before any
//! cut, and must know every encoding. The registry is a raw HTTP server on 127.0.0.1 in this file:
//! it answers as a registry would (401 with a challenge, then an error quoting the request).

mod common;

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

/// A registry whose token endpoint (`/token` on the same host) answers `token_body` with 200.
fn token_registry(token_body: impl Fn() -> String + Send + Sync + 'static) -> EchoServer {
    EchoServer::start(move |host, req| {
        if req.path.starts_with("/token") {
            return (200, Vec::new(), token_body());
        }
        if req.path == "/v2/" || !req.headers.contains_key("authorization") {
            let challenge = format!(r#"Bearer realm="http://{host}/token",service="t""#);
            return (
                401,
                vec![("WWW-Authenticate".into(), challenge)],
                String::new(),
            );
        }
        (400, Vec::new(), "unexpected".into())
    })
}

#[test]
fn a_token_that_cannot_go_in_a_header_is_refused_by_name() {
    for token in ["tok\r\nX-Injected: 1", "tök-ünicode", "tok\u{7f}del"] {
        let body = serde_json::json!({ "token": token }).to_string();
        let reg = token_registry(move || body.clone());
        let work = tempfile::tempdir().unwrap();
        let mut c = push_cmd(work.path(), &format!("{}/secret/app:v1", reg.host));
        c.env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
            .env("SLIM_IMAGE_REGISTRY_PASSWORD", PASSWORD);
        let err = fails_clean(
            &mut c,
            &[PASSWORD.to_string(), b64(&format!("{USER}:{PASSWORD}"))],
        );
        assert!(
            err.contains(&format!("getting a token from {}", reg.host))
                && err.contains("a token that cannot be sent in an HTTP header")
                && !err.contains("URL"),
            "{token:?}: {err}"
        );
    }
}

/// The `i`th piece of a body to send, None when it ends.
type Drip = fn(usize) -> Option<Vec<u8>>;

/// A registry on 127.0.0.1 whose token endpoint answers 200 and then `drip`s its body.
fn dripping_token_registry(drip: Drip) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let h = host.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let h = h.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn);
                let mut first = String::new();
                let _ = r.read_line(&mut first);
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).unwrap_or(0) == 0 || l.trim().is_empty() {
                        break;
                    }
                }
                let mut conn = r.into_inner();
                if !first.contains("/token") {
                    let _ = write!(
                        conn,
                        "HTTP/1.1 401 X\r\nConnection: close\r\nContent-Length: 0\r\n\
                         WWW-Authenticate: Bearer realm=\"http://{h}/token\",service=\"t\"\r\n\r\n"
                    );
                    return;
                }
                let _ = write!(conn, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                let mut i = 0;
                while let Some(piece) = drip(i) {
                    if conn.write_all(&piece).is_err() {
                        return;
                    }
                    i += 1;
                }
            });
        }
    });
    host
}

#[test]
fn a_token_response_that_never_ends_is_cut_off() {
    // 100 MB of JSON whitespace as fast as it goes, and a body that drips one byte every 100 ms for
    // 30 s (each read within --timeout 5, the whole far beyond it).
    let floods: [Drip; 2] = [
        |i| {
            (i < 1600).then(|| {
                if i == 0 {
                    b"{".to_vec()
                } else {
                    vec![b' '; 64 << 10]
                }
            })
        },
        |i| {
            std::thread::sleep(std::time::Duration::from_millis(if i == 0 {
                0
            } else {
                100
            }));
            (i < 300).then(|| if i == 0 { b"{".to_vec() } else { b" ".to_vec() })
        },
    ];
    for (flood, says) in floods
        .into_iter()
        .zip(["larger than 1 MiB", "did not end within 5 s"])
    {
        let host = dripping_token_registry(flood);
        let work = tempfile::tempdir().unwrap();
        let mut c = push_cmd(work.path(), &format!("{host}/secret/app:v1"));
        c.env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
            .env("SLIM_IMAGE_REGISTRY_PASSWORD", PASSWORD);
        let err = fails_clean(&mut c, &[PASSWORD.to_string()]);
        assert!(
            err.contains(&format!("getting a token from {host}")) && err.contains(says),
            "{says}: {err}"
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

#[test]
fn a_login_echoed_as_a_hex_dump_is_redacted() {
    let hex = |s: &str, upper: bool| -> String {
        s.bytes()
            .map(|b| {
                if upper {
                    format!("{b:02X}")
                } else {
                    format!("{b:02x}")
                }
            })
            .collect()
    };
    let basic = b64(&format!("{USER}:{PASSWORD}"));
    let secrets = vec![
        PASSWORD.to_string(),
        basic.clone(),
        hex(PASSWORD, false),
        hex(PASSWORD, true),
        hex(&basic, false),
        hex(&basic, true),
    ];
    let reg = basic_echo(move |a| {
        let line = format!("authorization: {a} password={PASSWORD}");
        format!("hexdump {} {}\n", hex(&line, false), hex(&line, true))
    });
    let work = tempfile::tempdir().unwrap();
    let mut c = push_cmd(work.path(), &format!("{}/secret/app:v1", reg.host));
    c.env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
        .env("SLIM_IMAGE_REGISTRY_PASSWORD", PASSWORD);
    let err = fails_clean(&mut c, &secrets);
    assert!(
        err.contains("hexdump") && err.contains("<redacted>"),
        "{err}"
    );
}

#[test]
fn a_password_split_over_lines_leaves_no_part_on_the_line_shown() {
    // Only the first line of a text body is shown: the registry breaks the password at its end.
    let (head, tail) = PASSWORD.split_at(12);
    for brk in ["\n", "\r\n", "\\n"] {
        let reg =
            basic_echo(move |_| format!("denied for password {head}{brk}{tail} (try again)\n"));
        let work = tempfile::tempdir().unwrap();
        let mut c = push_cmd(work.path(), &format!("{}/secret/app:v1", reg.host));
        c.env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
            .env("SLIM_IMAGE_REGISTRY_PASSWORD", PASSWORD);
        let err = fails_clean(&mut c, &[PASSWORD.to_string(), head.to_string()]);
        assert!(
            err.contains("denied for password <redacted>"),
            "{brk:?}: {err}"
        );
    }
}

#[test]
fn terminal_escapes_from_a_credential_helper_are_written_out() {
    // A helper whose user name clears the screen and sets the title; the registry refuses it, and
    // the error names the user.
    let reg = EchoServer::start(|_, _| {
        let challenge = r#"Basic realm="x""#.to_string();
        (
            401,
            vec![("WWW-Authenticate".into(), challenge)],
            String::new(),
        )
    });
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    helper(
        w,
        "esc",
        &reg.host,
        r#"printf '{"Username":"bob\u001b[2J\u001b]0;owned\u0007","Secret":"Esc-Secret-31ab"}'
"#,
    );
    let mut c = push_cmd(w, &format!("{}/secret/app:v1", reg.host));
    with_helper_path(&mut c, w);
    let err = fails_clean(&mut c, &["Esc-Secret-31ab".to_string()]);
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    assert!(
        err.contains(r"user `bob\u{1b}[2J\u{1b}]0;owned\u{7}`"),
        "{err}"
    );
}

#[test]
fn a_password_echoed_in_another_case_is_redacted() {
    let reg = basic_echo(|_| {
        format!(
            "DENIED: PASSWORD {} / {}",
            PASSWORD.to_ascii_uppercase(),
            PASSWORD.to_ascii_lowercase()
        )
    });
    let work = tempfile::tempdir().unwrap();
    let mut c = push_cmd(work.path(), &format!("{}/secret/app:v1", reg.host));
    c.env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
        .env("SLIM_IMAGE_REGISTRY_PASSWORD", PASSWORD);
    let secrets = [PASSWORD.to_ascii_uppercase(), PASSWORD.to_ascii_lowercase()];
    let err = fails_clean(&mut c, &secrets);
    assert!(
        err.contains("DENIED: PASSWORD <redacted> / <redacted>"),
        "{err}"
    );
}

#[test]
fn a_password_beyond_the_bmp_echoed_as_json_surrogates_is_redacted() {
    const KEY: &str = "Key-\u{1f511}-Secret-5e0c";
    // Python's json.dumps (ensure_ascii) writes the emoji as a surrogate pair; the body is no JSON.
    let reg = basic_echo(|_| {
        let escaped = serde_json::to_string(KEY)
            .unwrap()
            .replace('\u{1f511}', r"\ud83d\udd11");
        format!("denied {escaped} (ensure_ascii)")
    });
    let work = tempfile::tempdir().unwrap();
    let mut c = push_cmd(work.path(), &format!("{}/secret/app:v1", reg.host));
    c.env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
        .env("SLIM_IMAGE_REGISTRY_PASSWORD", KEY);
    let err = fails_clean(
        &mut c,
        &["Secret-5e0c".to_string(), r"\ud83d\udd11-Sec".to_string()],
    );
    assert!(
        err.contains("denied \"<redacted>\" (ensure_ascii)"),
        "{err}"
    );
}

#[test]
fn credentials_never_go_to_a_plain_http_token_endpoint_off_loopback() {
    // `[::ffff:127.0.0.1]` is not a name the tool treats as loopback, so plain http to it must be
    // refused, although the address would reach this test's server (which counts token requests).
    // The realm also quotes the password (a registry that learnt it before): the error never shows
    // it.
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = asked.clone();
    let reg = EchoServer::start(move |host, req| {
        if req.path.starts_with("/token") {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return (
                200,
                Vec::new(),
                r#"{"token":"t0k3n-from-plain-http"}"#.into(),
            );
        }
        let port = host.rsplit(':').next().unwrap();
        let realm = format!(
            "http://[::ffff:127.0.0.1]:{port}/token?pw={}",
            urlencode(PASSWORD)
        );
        let challenge = format!(r#"Bearer realm="{realm}",service="t""#);
        (
            401,
            vec![("WWW-Authenticate".into(), challenge)],
            String::new(),
        )
    });
    let work = tempfile::tempdir().unwrap();
    let mut c = push_cmd(work.path(), &format!("{}/secret/app:v1", reg.host));
    c.env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
        .env("SLIM_IMAGE_REGISTRY_PASSWORD", PASSWORD);
    let err = fails_clean(&mut c, &[PASSWORD.to_string(), urlencode(PASSWORD)]);
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 0, "{err}");
    // The realm is named without its query (registry-given URLs are shown so), which would quote
    // the password: only its redacted form may appear, if any.
    assert!(
        err.contains("where plain http is not allowed")
            && err.contains("no credentials were sent")
            && err.contains("--insecure-registry [::ffff:127.0.0.1]:")
            && (!err.contains("pw=") || err.contains("pw=<redacted>")),
        "{err}"
    );
}

#[test]
fn a_secret_quoted_before_it_is_looked_up_is_redacted() {
    // The registry fails the very first request (the ping), quoting the password and the identity
    // token it knows from earlier runs: the tool has not looked credentials up yet.
    const TOKEN: &str = "Early-Identity-Token-88aa";
    let reg = EchoServer::start(|_, _| {
        (
            500,
            Vec::new(),
            format!("broken; last login {USER}/{PASSWORD}, token {TOKEN}"),
        )
    });
    let work = tempfile::tempdir().unwrap();
    let config = serde_json::json!({"auths": {
        &reg.host: {"auth": b64(&format!("{USER}:{PASSWORD}"))},
        "other.example:5000": {"identitytoken": TOKEN},
    }});
    std::fs::write(work.path().join("config.json"), config.to_string()).unwrap();
    let mut c = push_cmd(work.path(), &format!("{}/secret/app:v1", reg.host));
    let err = fails_clean(&mut c, &[PASSWORD.to_string(), TOKEN.to_string()]);
    assert!(
        err.contains("HTTP 500") && err.contains("token <redacted>"),
        "{err}"
    );
}
