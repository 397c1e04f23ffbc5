//! A registry (or a proxy in front of it) that lies about what it holds or where an upload stands
//! (issue 11), against the library's push: a HEAD that says "present" with another size or another
//! `Docker-Content-Digest` does not make the push skip the blob (which would leave a manifest
//! pointing at a blob the registry does not hold), and a registry that accepts PATCH after PATCH
//! without its `Range` ever moving ends the upload with an error instead of looping for ever.
//!
//! The lies come from a small relay in front of the in-process fake registry: a rule may answer a
//! request itself; everything else is passed on.

mod common;

use cargo_slim_image::blob::media;
use cargo_slim_image::blob::BlobStore;
use cargo_slim_image::registry::{Client, ClientOptions, CredentialEnv, Tuning};
use cargo_slim_image::sink::push::PushOptions;
use common::registry::fake::{self, FakeRegistry};
use common::registry::Built;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A rule: (method, path) to a raw HTTP answer, or `None` to pass the request on.
type Rule = Arc<dyn Fn(&str, &str) -> Option<String> + Send + Sync>;

/// A relay on a free loopback port; stops on drop. `seen` lists (method, path, answered by rule).
struct Liar {
    host: String,
    seen: Arc<Mutex<Vec<(String, String, bool)>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Liar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Liar {
    fn start(upstream: &str, rule: Rule) -> Liar {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (sp, sn, up) = (stop.clone(), seen.clone(), upstream.to_string());
        std::thread::spawn(move || {
            while !sp.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (rule, sn, up) = (rule.clone(), sn.clone(), up.clone());
                        std::thread::spawn(move || relay(conn, &up, &*rule, &sn));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Liar { host, seen, stop }
    }

    fn count(&self, method: &str, part: &str) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(m, p, _)| m == method && p.contains(part))
            .count()
    }
}

fn relay(
    conn: TcpStream,
    upstream: &str,
    rule: &(dyn Fn(&str, &str) -> Option<String> + Send + Sync),
    seen: &Mutex<Vec<(String, String, bool)>>,
) {
    conn.set_nonblocking(false).ok();
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut r = BufReader::new(conn);
    let mut head = String::new();
    let mut first = String::new();
    if r.read_line(&mut first).is_err() {
        return;
    }
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        if h == "\r\n" {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            head.push_str(&h);
        }
    }
    let mut body = vec![0; len];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let mut parts = first.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let own = rule(&method, &path);
    seen.lock()
        .unwrap()
        .push((method.clone(), path.clone(), own.is_some()));
    let mut conn = r.into_inner();
    if let Some(answer) = own {
        let _ = conn.write_all(answer.as_bytes());
        return;
    }
    let Ok(mut up) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = up.write_all(format!("{first}{head}Connection: close\r\n\r\n").as_bytes());
    let _ = up.write_all(&body);
    let mut answer = Vec::new();
    let _ = up.read_to_end(&mut answer);
    let _ = conn.write_all(&answer);
}

/// An image of a config and one `size`-byte layer (the fake does not look inside), and the
/// layer's digest.
fn image(size: usize) -> (Built, String) {
    let built = Built::one_layer(size);
    let layer = built.artifact.blobs[1].digest.to_string();
    (built, layer)
}

fn opts() -> PushOptions {
    PushOptions {
        jobs: 1,
        certs_dirs: vec![],
        credentials: CredentialEnv::empty(),
        tuning: Tuning {
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            chunk_threshold: 500,
            chunk_size: 200,
            ..Tuning::default()
        },
        ..PushOptions::default()
    }
}

/// Push `img` through a liar with `rule` in front of a fresh fake registry.
fn push_through(img: &Built, repo: &str, rule: Rule) -> (FakeRegistry, Liar, anyhow::Result<()>) {
    let reg = FakeRegistry::start(fake::Config::default());
    let liar = Liar::start(&reg.host, rule);
    let target = format!("{}/{repo}:v1", liar.host).parse().unwrap();
    let res = img.push(&[target], &opts()).map(|_| ());
    (reg, liar, res)
}

#[test]
fn a_head_that_says_present_with_another_size_does_not_skip_the_upload() {
    let (img, layer) = image(300);
    let path = format!("/blobs/{layer}");
    let rule: Rule = Arc::new(move |m, p| {
        (m == "HEAD" && p.ends_with(&path)).then(|| {
            "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\n".to_string()
        })
    });
    let (reg, liar, res) = push_through(&img, "slim/size-lie", rule);
    res.unwrap();
    // The layer went up (a session for it as well as the config), so the manifest's blobs are there.
    assert_eq!(liar.count("POST", "/blobs/uploads/"), 2);
    assert_eq!(reg.blob_count(), 2);
    assert!(reg.manifest("slim/size-lie", "v1").is_some());
}

#[test]
fn a_head_that_names_another_digest_does_not_skip_the_upload() {
    let (img, layer) = image(300);
    let path = format!("/blobs/{layer}");
    let other = format!("sha256:{}", "0".repeat(64));
    let rule: Rule = Arc::new(move |m, p| {
        (m == "HEAD" && p.ends_with(&path)).then(|| {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 300\r\nDocker-Content-Digest: {other}\r\n\
                 Connection: close\r\n\r\n"
            )
        })
    });
    let (reg, liar, res) = push_through(&img, "slim/digest-lie", rule);
    res.unwrap();
    assert_eq!(liar.count("POST", "/blobs/uploads/"), 2);
    assert_eq!(reg.blob_count(), 2);
    assert!(reg.manifest("slim/digest-lie", "v1").is_some());
}

#[test]
fn patches_accepted_without_the_range_moving_end_the_upload() {
    // A 1000-byte layer in 200-byte chunks; every PATCH is "accepted" with `Range: 0-0`.
    let (img, _) = image(1000);
    let rule: Rule = Arc::new(|m, _p| {
        (m == "PATCH").then(|| {
            "HTTP/1.1 202 Accepted\r\nRange: 0-0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_string()
        })
    });
    // On the old code this never returned: run it in a thread and bound the wait generously.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (reg, liar, res) = push_through(&img, "slim/stall", rule);
        let patches = liar.count("PATCH", "/blobs/uploads/");
        let pushed = reg.manifest("slim/stall", "v1").is_some();
        let _ = tx.send((res.map_err(|e| format!("{e:#}")), patches, pushed));
        drop((reg, liar));
    });
    let (res, patches, pushed) = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the upload to a registry whose Range never moves did not end");
    let err = res.expect_err("the push succeeded");
    assert!(
        err.contains("did not hold what was sent") && err.contains("(last at byte 1)"),
        "{err}"
    );
    // The first PATCH "moved" the range to byte 1; then retries.max(3) + 1 stalls at most.
    assert!(patches <= 8, "{patches} PATCHes");
    assert!(!pushed, "a manifest was pushed");
}

#[test]
fn a_push_that_keeps_making_progress_past_the_retry_budget_still_retries_a_blip() {
    // A slow but healthy registry: every answer takes 300 ms, so the push's seven requests before
    // the manifest take over 2 s, past a retry budget of 1 s. Then the manifest PUT meets one 503.
    // The budget counts from the last success, so that one blip is retried and the push succeeds
    // (it used to count from the start of the push: no retry, the push failed).
    let (img, _) = image(300);
    let failed = Arc::new(AtomicBool::new(false));
    let rule: Rule = Arc::new(move |m, p| {
        if m == "PUT" && p.contains("/manifests/") && !failed.swap(true, Ordering::SeqCst) {
            return Some(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string(),
            );
        }
        std::thread::sleep(Duration::from_millis(300));
        None
    });
    let reg = FakeRegistry::start(fake::Config::default());
    let liar = Liar::start(&reg.host, rule);
    let target = format!("{}/slim/slow:v1", liar.host).parse().unwrap();
    let mut o = opts();
    o.tuning.retry_budget = Duration::from_secs(1);
    img.push(&[target], &o).unwrap();
    assert_eq!(
        liar.count("PUT", "/manifests/"),
        2,
        "the blip was not retried"
    );
    assert!(reg.manifest("slim/slow", "v1").is_some());
}

#[test]
fn a_range_at_the_end_of_u64_is_an_error_not_an_overflow() {
    // `Range: 0-18446744073709551615` on every PATCH: the next offset is past any blob (it used to
    // be computed as end + 1, which overflows: a panic in debug builds, offset 0 in release).
    let (img, _) = image(1000);
    let rule: Rule = Arc::new(|m, _p| {
        (m == "PATCH").then(|| {
            "HTTP/1.1 202 Accepted\r\nRange: 0-18446744073709551615\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n"
                .to_string()
        })
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (reg, _liar, res) = push_through(&img, "slim/u64", rule);
        let pushed = reg.manifest("slim/u64", "v1").is_some();
        let _ = tx.send((res.map_err(|e| format!("{e:#}")), pushed));
    });
    let (res, pushed) = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the push panicked or did not end");
    // The fake refuses the closing PUT (it holds none of the bytes), so the push fails cleanly.
    let err = res.expect_err("the push succeeded");
    assert!(
        err.contains("slim/u64") && !err.contains("overflow"),
        "{err}"
    );
    assert!(!pushed, "a manifest was pushed");
}

#[test]
fn a_base_descriptor_claiming_u64_max_bytes_is_an_error_not_an_overflow() {
    // A base manifest's descriptor is the registry's word: a size of u64::MAX must not overflow
    // the download's "one byte more than promised" bound (a panic in debug builds).
    let reg = FakeRegistry::start(fake::Config::default());
    let o = ClientOptions {
        certs_dirs: vec![],
        credentials: CredentialEnv::empty(),
        tuning: opts().tuning,
        ..ClientOptions::default()
    };
    let client = Client::new(&reg.host, &o).unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    let src = BlobStore::open(src_dir.path()).unwrap();
    let mut desc = src.put_bytes(media::LAYER_GZIP, b"not that big").unwrap();
    client.push_blob("evil/huge", &desc, &src, &[]).unwrap();
    desc.size = u64::MAX;
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobStore::open(dir.path()).unwrap();
    let err = std::thread::spawn(move || {
        client
            .fetch_blob("evil/huge", &desc, &cache)
            .map_err(|e| format!("{e:#}"))
    })
    .join()
    .expect("fetch_blob panicked")
    .expect_err("a 12-byte blob passed for u64::MAX bytes");
    assert!(err.contains("ended after 12 of"), "{err}");
}

#[test]
fn a_registry_that_goes_back_after_every_failure_ends_the_upload() {
    // 200-byte chunks: every odd PATCH is accepted up to byte 200, every even one fails (503), and
    // the session then says it holds nothing (`Range: 0-0`). Progress, failure, back to 0, for
    // ever: each failure reset the failure count, so this never ended.
    let (img, _) = image(1000);
    let patches = Arc::new(AtomicUsize::new(0));
    let rule: Rule = Arc::new(move |m, p| {
        if !p.contains("/blobs/uploads/") {
            return None;
        }
        match m {
            "PATCH" if patches.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) => Some(
                "HTTP/1.1 202 Accepted\r\nRange: 0-199\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
                    .to_string(),
            ),
            "PATCH" => Some(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string(),
            ),
            "GET" => Some(
                "HTTP/1.1 204 No Content\r\nRange: 0-0\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
                    .to_string(),
            ),
            _ => None,
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (reg, liar, res) = push_through(&img, "slim/back", rule);
        let patches = liar.count("PATCH", "/blobs/uploads/");
        let pushed = reg.manifest("slim/back", "v1").is_some();
        let _ = tx.send((res.map_err(|e| format!("{e:#}")), patches, pushed));
    });
    let (res, patches, pushed) = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the upload to a registry that goes back after every failure did not end");
    let err = res.expect_err("the push succeeded");
    assert!(
        err.contains("went back") && err.contains("(last at byte 200)"),
        "{err}"
    );
    assert!(patches <= 20, "{patches} PATCHes");
    assert!(!pushed, "a manifest was pushed");
}

#[test]
fn a_registry_that_takes_a_byte_per_patch_ends_the_upload() {
    // Every PATCH (200 bytes) is "accepted" with the Range one byte further: the whole chunk would
    // be sent again for every byte (1000 PATCHes for this 1000-byte layer).
    let (img, _) = image(1000);
    let patches = Arc::new(AtomicUsize::new(0));
    let rule: Rule = Arc::new(move |m, _p| {
        (m == "PATCH").then(|| {
            let n = patches.fetch_add(1, Ordering::SeqCst);
            format!(
                "HTTP/1.1 202 Accepted\r\nRange: 0-{n}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
            )
        })
    });
    let (reg, liar, res) = push_through(&img, "slim/byte", rule);
    let err = format!("{:#}", res.expect_err("the push succeeded"));
    assert!(err.contains("did not hold what was sent"), "{err}");
    let patches = liar.count("PATCH", "/blobs/uploads/");
    assert!(patches <= 8, "{patches} PATCHes");
    assert!(reg.manifest("slim/byte", "v1").is_none());
}
