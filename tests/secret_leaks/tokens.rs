//! Token endpoints that answer a token that cannot go in a header, or a response that never ends.

use super::*;

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
