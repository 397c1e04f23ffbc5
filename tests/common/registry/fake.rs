//! An in-process fake registry for what the real one cannot show: Bearer tokens from a token endpoint,
//! injected faults (5xx, 429 with `Retry-After`, token revocation mid-push) and redirects.
//!
//! It speaks just enough HTTP/1.1 (one request per connection, `Connection: close`) and just enough of
//! the distribution API (ping, blobs HEAD/GET, upload POST/PATCH/PUT, mount, manifests PUT/GET/HEAD) for
//! the client under test, and records every request so tests can check what was (not) sent.

use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

mod handle;
use handle::handle;

/// A fault: requests matching `method` (or `*`) and containing `path` answer `status`, `times` times.
#[derive(Debug, Clone)]
pub struct Fault {
    /// HTTP method, or `*` for any.
    pub method: &'static str,
    /// A substring of the request path (and query).
    pub path: &'static str,
    /// The status to answer with; 0: no answer (hold the connection 2 s, then close it).
    pub status: u16,
    /// How many matching requests fail (`usize::MAX`: forever).
    pub times: usize,
    /// A `Retry-After` header value to send, if any.
    pub retry_after: Option<&'static str>,
    /// More headers to send (a lying `Location` or `Docker-Content-Digest`, say).
    pub headers: Vec<(&'static str, String)>,
}

impl Fault {
    /// Requests matching `method` (or `*`) and containing `path` answer `status`, `times` times.
    pub fn new(method: &'static str, path: &'static str, status: u16, times: usize) -> Fault {
        Fault {
            method,
            path,
            status,
            times,
            retry_after: None,
            headers: Vec::new(),
        }
    }

    /// The same fault, sent with the header `name: value` as well.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Fault {
        self.headers.push((name, value.into()));
        self
    }

    /// The same fault, sent with a `Retry-After` header.
    pub fn retry_after(self, value: &'static str) -> Fault {
        Fault {
            retry_after: Some(value),
            ..self
        }
    }
}

/// Token-endpoint behaviour.
#[derive(Debug, Clone, Default)]
pub struct Bearer {
    /// Basic credentials the token endpoint accepts (`None`: anonymous tokens only).
    pub user_pass: Option<(String, String)>,
    /// A refresh token accepted with `POST grant_type=refresh_token`.
    pub refresh_token: Option<String>,
    /// Anonymous token requests are allowed.
    pub anonymous: bool,
}

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Require Bearer tokens from `/token` for every `/v2/` request.
    pub bearer: Option<Bearer>,
    /// Faults, checked in order before anything else.
    pub faults: Vec<Fault>,
    /// After this many `/v2/` requests, every issued token stops being valid (once).
    pub revoke_tokens_after: Option<usize>,
    /// Answer the first PATCH that does not start at byte 0 with 416 (dropping its bytes).
    pub patch_416_once: bool,
    /// Answer blob GETs with a 307 to this base URL (another host), path kept.
    pub redirect_blobs_to: Option<String>,
    /// Hand out upload session `Location`s (POST and PATCH answers) under this absolute base URL
    /// (e.g. another host, or plain http behind a TLS front) instead of a relative path.
    pub upload_base: Option<String>,
    /// PATCH requests (counted from 1 over the fake's life) answered 503 without storing their bytes.
    pub fail_patches: Vec<usize>,
}

/// One request the fake saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path with query.
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The body (form posts to `/token`; blob bytes).
    pub body: Vec<u8>,
    /// The status answered.
    pub status: u16,
}

#[derive(Default)]
struct State {
    config: Config,
    blobs: HashMap<String, Vec<u8>>,
    uploads: HashMap<String, Vec<u8>>,
    manifests: HashMap<String, (String, Vec<u8>)>,
    tokens: Vec<String>,
    v2_requests: usize,
    revoked: bool,
    next_id: usize,
    seen: Vec<Seen>,
    patches: usize,
}

/// A running fake registry on `127.0.0.1:<port>`; stops on drop.
pub struct FakeRegistry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Req {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn resp(status: u16) -> Resp {
    Resp {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

impl Resp {
    fn h(mut self, k: &str, v: impl Into<String>) -> Resp {
        self.headers.push((k.to_string(), v.into()));
        self
    }
    fn body(mut self, b: impl Into<Vec<u8>>) -> Resp {
        self.body = b.into();
        self
    }
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl FakeRegistry {
    /// Start a fake registry with `config`.
    pub fn start(config: Config) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State {
            config,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp, h) = (state.clone(), stop.clone(), host.clone());
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (st, h) = (st.clone(), h.clone());
                        std::thread::spawn(move || serve(conn, &st, &h));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        FakeRegistry {
            host,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// Start a fake registry that injects `faults` and is otherwise plain (anonymous).
    pub fn with_faults(faults: Vec<Fault>) -> FakeRegistry {
        FakeRegistry::start(Config {
            faults,
            ..Config::default()
        })
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The stored manifest bytes under `repo:reference`.
    pub fn manifest(&self, repo: &str, reference: &str) -> Option<Vec<u8>> {
        self.state
            .lock()
            .unwrap()
            .manifests
            .get(&format!("{repo}:{reference}"))
            .map(|m| m.1.clone())
    }

    /// Store `bytes` as the blob `digest` without checking them (to serve a corrupt blob).
    pub fn put_blob_unchecked(&self, digest: &str, bytes: Vec<u8>) {
        self.state
            .lock()
            .unwrap()
            .blobs
            .insert(digest.to_string(), bytes);
    }

    /// Store a manifest under `repo:reference` and under `repo:<its digest>`.
    pub fn put_manifest(&self, repo: &str, reference: &str, content_type: &str, bytes: Vec<u8>) {
        let mut st = self.state.lock().unwrap();
        let d = sha(&bytes);
        for r in [reference.to_string(), d] {
            st.manifests.insert(
                format!("{repo}:{r}"),
                (content_type.to_string(), bytes.clone()),
            );
        }
    }

    /// Number of blobs held.
    pub fn blob_count(&self) -> usize {
        self.state.lock().unwrap().blobs.len()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_request(conn: &mut BufReader<TcpStream>) -> Option<Req> {
    let mut line = String::new();
    conn.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        conn.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let mut body = Vec::new();
    if let Some(n) = headers
        .get("content-length")
        .and_then(|n| n.parse::<usize>().ok())
    {
        body.resize(n, 0);
        conn.read_exact(&mut body).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            conn.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            conn.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Some(Req {
        method,
        path,
        headers,
        body,
    })
}

fn serve(conn: TcpStream, state: &Mutex<State>, host: &str) {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok();
    let mut reader = BufReader::new(conn);
    let Some(req) = read_request(&mut reader) else {
        return;
    };
    let r = {
        let mut st = state.lock().unwrap();
        let r = handle(&mut st, &req, host);
        st.seen.push(Seen {
            method: req.method.clone(),
            path: req.path.clone(),
            authorization: req.headers.get("authorization").cloned(),
            body: req.body.clone(),
            status: r.status,
        });
        r
    };
    if r.status == 0 {
        std::thread::sleep(std::time::Duration::from_secs(2));
        return;
    }
    let mut out = format!(
        "HTTP/1.1 {} X\r\nConnection: close\r\nContent-Length: {}\r\n",
        r.status,
        r.body.len()
    );
    for (k, v) in &r.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut conn = reader.into_inner();
    let _ = conn.write_all(out.as_bytes());
    if req.method != "HEAD" {
        let _ = conn.write_all(&r.body);
    }
    let _ = conn.flush();
}
