//! Secrets echoed in other forms (a hex dump, split over lines, another case, JSON surrogates,
//! quoted before the lookup), terminal escapes from a credential helper, and no credentials to a
//! plain-HTTP token endpoint off loopback.

use super::*;

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
