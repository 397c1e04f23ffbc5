//! Network guarantees (issue 11), through the real binary: every URL a registry gives is held to the
//! no-downgrade rule (an https registry cannot send the blobs to a plain-http upload `Location`), and
//! every request has an overall deadline (a server that trickles one byte every 200 ms cannot keep a
//! run busy: it ends with an error naming the registry and `--timeout`).

mod common;
#[path = "common/tls_front.rs"]
mod tls_front;

use common::registry::fake::{self, FakeRegistry};
use common::registry::{have, make_certs};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tls_front::TlsFront;

const BUSYBOX: &str = "/bin/busybox";

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
        .env_remove("SLIM_IMAGE_REGISTRY_USERNAME")
        .env_remove("SLIM_IMAGE_REGISTRY_PASSWORD");
    c
}

#[test]
fn an_https_registry_cannot_send_the_blobs_to_a_plain_http_upload_location() {
    if !have("openssl", "no-downgrade of upload Locations") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let certs = work.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    make_certs(&certs);
    // The "other host": a loopback port that must never see a connection.
    let decoy = TcpListener::bind("127.0.0.1:0").unwrap();
    decoy.set_nonblocking(true).unwrap();
    let decoy_host = decoy.local_addr().unwrap().to_string();
    let reg = FakeRegistry::start(fake::Config {
        upload_base: Some(format!("http://{decoy_host}")),
        ..fake::Config::default()
    });
    let front = TlsFront::start(&certs, &reg.host);
    let target = format!("{}/slim/downgrade:v1", front.host);
    let ca = certs.join("ca.crt");
    let err = common::slim::fails(push_cmd(
        work.path(),
        &target,
        &["--registry-ca", ca.to_str().unwrap(), "--timeout", "5"],
    ));
    let url = format!("http://{decoy_host}/v2/slim/downgrade/blobs/uploads/");
    for want in [
        "an upload Location",
        url.as_str(),
        "refusing to downgrade",
        &front.host,
        "--insecure-registry",
    ] {
        assert!(err.contains(want), "the error lacks `{want}`:\n{err}");
    }
    assert!(
        !err.contains("_state="),
        "the session state is not echoed:\n{err}"
    );
    // The registry did hand out the session over https (so the refusal is the client's) ...
    assert!(
        reg.seen()
            .iter()
            .any(|s| s.method == "POST" && s.status == 202),
        "no upload session was opened"
    );
    // ... and nothing went to the plain-http host, nor was a manifest pushed.
    assert!(
        decoy.accept().is_err(),
        "the plain-http upload host got a connection"
    );
    assert!(reg.manifest("slim/downgrade", "v1").is_none());
}

/// A registry that answers `GET /v2/` at once and every other request with a response that never
/// ends: one byte every 200 ms. Returns its `host:port` and a flag that stops it.
fn trickler() -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let sp = stop.clone();
    std::thread::spawn(move || {
        while !sp.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((conn, _)) => {
                    let sp = sp.clone();
                    std::thread::spawn(move || trickle(conn, &sp));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (host, stop)
}

fn trickle(conn: TcpStream, stop: &AtomicBool) {
    conn.set_nonblocking(false).ok();
    let mut r = BufReader::new(conn);
    let mut first = String::new();
    if r.read_line(&mut first).is_err() {
        return;
    }
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
    }
    let mut conn = r.into_inner();
    if first.starts_with("GET /v2/ ") {
        let _ = conn.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\
              Connection: close\r\n\r\n{}",
        );
        return;
    }
    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nX-Trickle: ");
    let started = Instant::now();
    // Bounded, so a client that never gives up cannot keep this thread past the test.
    while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(300) {
        if conn.write_all(b"a").is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_registry_that_trickles_cannot_keep_a_push_busy() {
    let (host, stop) = trickler();
    let work = tempfile::tempdir().unwrap();
    let target = format!("{host}/slim/trickle:v1");
    let mut c = push_cmd(work.path(), &target, &["--timeout", "2", "--retries", "1"]);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    // A generous bound: the old per-read timeout never fired here, so the run went on forever.
    let bound = Duration::from_secs(150);
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > bound {
            child.kill().unwrap();
            child.wait().unwrap();
            stop.store(true, Ordering::SeqCst);
            panic!("the push to a trickling registry was still running after {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    stop.store(true, Ordering::SeqCst);
    let err = String::from_utf8_lossy(&out.stderr);

    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    for want in [host.as_str(), "--timeout", "no complete answer within"] {
        assert!(err.contains(want), "the error lacks `{want}`:\n{err}");
    }
}
