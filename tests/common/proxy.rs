//! A fault-injecting HTTP/1.1 proxy for registry tests: it sits in front of a real registry (e.g. the
//! `docker-registry` of `common::registry::RealRegistry`) and, per request, passes it on or injects a
//! fault chosen by a rule: an HTTP status (5xx, 429 with `Retry-After`, 401), a connection reset in the
//! middle of the request body, a response held back past the client's timeout, a truncated response
//! body, or a redirect to another host name of the same proxy.
//!
//! One request per connection (`Connection: close` both ways), so every request meets the rule on its
//! own. Requests that arrive under the "other host" name (`localhost:PORT`) without an `Authorization`
//! header get `inject_auth` added on the way upstream, the way a pre-signed storage URL carries its
//! own credentials; the log records what each request arrived with, so tests can prove that
//! credentials never crossed to the other host.
#![allow(dead_code)] // each test crate uses part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward it and relay the answer.
    Pass,
    /// Answer this status without forwarding (with `Retry-After` when given; 401 carries a Basic
    /// challenge).
    Status(u16, Option<&'static str>),
    /// Read the headers and part of the body, then drop the connection (a reset, mid-upload).
    Reset,
    /// Forward it, then hold the answer back this long before sending it (past a client timeout).
    Slow(Duration),
    /// Forward it, then send only the first half of the answer's body (with the full Content-Length).
    Truncate,
    /// Answer `307` to the same path under the proxy's other host name (`localhost:PORT`).
    Redirect,
    /// A hostile registry: answer this status with an error body that quotes the request's
    /// `Authorization` header, raw and base64-decoded.
    Echo(u16),
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The `Host` header.
    pub host: String,
    /// The `Authorization` header it arrived with.
    pub authorization: Option<String>,
    /// The fault applied.
    pub fault: Fault,
    /// When the request's head had arrived.
    pub at: std::time::Instant,
}

/// The fault rule: called with (method, path, host) for every request.
pub type Rule = Box<dyn FnMut(&str, &str, &str) -> Fault + Send>;

/// A [`Rule`] that injects `fault` into every request matching `method` and `path`.
pub fn forever(method: &'static str, path: &'static str, fault: Fault) -> Rule {
    Box::new(first(method, path, usize::MAX, fault))
}

/// A rule that injects `fault` into the first `times` requests matching `method` and `path`.
pub fn first(
    method: &'static str,
    path: &'static str,
    times: usize,
    fault: Fault,
) -> impl FnMut(&str, &str, &str) -> Fault + Send + 'static {
    let left = Arc::new(AtomicUsize::new(times));
    move |m: &str, p: &str, _h: &str| {
        let hit = (method == "*" || m == method) && p.contains(path);
        if hit
            && left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            fault.clone()
        } else {
            Fault::Pass
        }
    }
}

/// A rule that redirects every blob upload PUT arriving under the proxy's own address (`127.0.0.1`)
/// to its other host name.
pub fn redirect_uploads() -> impl FnMut(&str, &str, &str) -> Fault + Send + 'static {
    |m: &str, p: &str, h: &str| {
        if m == "PUT" && p.contains("/blobs/uploads/") && h.starts_with("127.") {
            Fault::Redirect
        } else {
            Fault::Pass
        }
    }
}

/// A running proxy on `127.0.0.1:PORT`; stops on drop.
pub struct Proxy {
    /// `127.0.0.1:PORT`: the address clients use.
    pub host: String,
    /// `localhost:PORT`: the "other host" that redirects point to.
    pub other_host: String,
    rule: Arc<Mutex<Rule>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    upstream: String,
    inject_auth: Option<String>,
    rule: Arc<Mutex<Rule>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    other_host: String,
}

impl Proxy {
    /// Start a proxy to `upstream` (`host:port`, plain http) that passes everything until
    /// [`Proxy::set_rule`]. `inject_auth` is the `Authorization` value added to requests that reach
    /// the other host name without one.
    pub fn start(upstream: &str, inject_auth: Option<String>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let rule: Arc<Mutex<Rule>> = Arc::new(Mutex::new(Box::new(|_: &str, _: &str, _: &str| {
            Fault::Pass
        })));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            inject_auth,
            rule: rule.clone(),
            seen: seen.clone(),
            other_host: format!("localhost:{port}"),
        });
        let sp = stop.clone();
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let sh = shared.clone();
                        std::thread::spawn(move || serve(conn, &sh));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Proxy {
            host: format!("127.0.0.1:{port}"),
            other_host: format!("localhost:{port}"),
            rule,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Replace the fault rule.
    pub fn set_rule(&self, rule: impl FnMut(&str, &str, &str) -> Fault + Send + 'static) {
        *self.rule.lock().unwrap() = Box::new(rule);
    }

    /// Pass everything from now on.
    pub fn clear(&self) {
        self.set_rule(|_, _, _| Fault::Pass);
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Forget the requests seen so far.
    pub fn reset_log(&self) {
        self.seen.lock().unwrap().clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Head {
    method: String,
    path: String,
    /// Header lines as received, without the final CRLF.
    headers: Vec<(String, String)>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_head(r: &mut impl BufRead) -> Option<Head> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Some(Head {
        method,
        path,
        headers,
    })
}

/// The whole body of a request: by Content-Length or chunked (de-chunked).
fn read_body(r: &mut impl BufRead, head: &Head) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    if let Some(n) = head
        .get("content-length")
        .and_then(|n| n.parse::<usize>().ok())
    {
        body.resize(n, 0);
        r.read_exact(&mut body).ok()?;
    } else if head
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Some(body)
}

fn answer(conn: &mut TcpStream, status: u16, headers: &[(String, String)], body: &[u8]) {
    let mut out = format!("HTTP/1.1 {status} Injected\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let _ = conn.write_all(out.as_bytes());
    let _ = conn.write_all(body);
    let _ = conn.flush();
}

fn serve(conn: TcpStream, sh: &Shared) {
    conn.set_read_timeout(Some(Duration::from_secs(20))).ok();
    let mut reader = BufReader::new(conn);
    let Some(head) = read_head(&mut reader) else {
        return;
    };
    let host = head.get("host").unwrap_or("").to_string();
    let fault = {
        let mut rule = sh.rule.lock().unwrap();
        (*rule)(&head.method, &head.path, &host)
    };
    sh.seen.lock().unwrap().push(Seen {
        method: head.method.clone(),
        path: head.path.clone(),
        host: host.clone(),
        authorization: head.get("authorization").map(str::to_string),
        fault: fault.clone(),
        at: std::time::Instant::now(),
    });
    if fault == Fault::Reset {
        // Take a little of the body (if any) and hang up with the rest unread: the kernel answers
        // the client with a reset.
        let want = head
            .get("content-length")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
            / 2;
        // Nothing to take (no body): hang up at once, without waiting for bytes that never come.
        if want > 0 {
            let mut buf = vec![0; want.min(1 << 16)];
            let _ = reader.read(&mut buf);
        }
        return;
    }
    let Some(body) = read_body(&mut reader, &head) else {
        return;
    };
    let mut conn = reader.into_inner();
    let json = [("Content-Type".to_string(), "application/json".to_string())];
    match fault {
        Fault::Status(status, retry_after) => {
            let mut h = json.to_vec();
            if let Some(ra) = retry_after {
                h.push(("Retry-After".into(), ra.into()));
            }
            if status == 401 {
                h.push((
                    "WWW-Authenticate".into(),
                    r#"Basic realm="injected""#.into(),
                ));
            }
            let msg = format!(
                r#"{{"errors":[{{"code":"INJECTED","message":"injected fault {status}"}}]}}"#
            );
            answer(&mut conn, status, &h, msg.as_bytes());
            return;
        }
        Fault::Echo(status) => {
            use base64::Engine as _;
            let auth = head.get("authorization").unwrap_or("");
            let decoded = auth
                .split_once(' ')
                .and_then(|(_, b)| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let msg = serde_json::json!({"errors": [{"code": "DENIED",
                "message": format!("you sent {auth} ({decoded})")}]});
            answer(&mut conn, status, &json, msg.to_string().as_bytes());
            return;
        }
        Fault::Redirect => {
            let h = [(
                "Location".to_string(),
                format!("http://{}{}", sh.other_host, head.path),
            )];
            answer(&mut conn, 307, &h, b"");
            return;
        }
        _ => {}
    }
    // Forward to the upstream registry, one request per connection.
    let Ok(mut up) = TcpStream::connect(&sh.upstream) else {
        answer(
            &mut conn,
            502,
            &json,
            br#"{"errors":[{"code":"PROXY","message":"upstream down"}]}"#,
        );
        return;
    };
    let mut req = format!("{} {} HTTP/1.1\r\n", head.method, head.path);
    let mut has_auth = false;
    for (k, v) in &head.headers {
        let lk = k.to_ascii_lowercase();
        if matches!(
            lk.as_str(),
            "connection" | "keep-alive" | "transfer-encoding" | "content-length"
        ) {
            continue;
        }
        has_auth |= lk == "authorization";
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_auth && host == sh.other_host {
        if let Some(a) = &sh.inject_auth {
            req.push_str(&format!("Authorization: {a}\r\n"));
        }
    }
    req.push_str(&format!(
        "Connection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    if up.write_all(req.as_bytes()).is_err() || up.write_all(&body).is_err() {
        return;
    }
    let mut resp = Vec::new();
    if up.read_to_end(&mut resp).is_err() {
        return;
    }
    let _ = up.shutdown(Shutdown::Both);
    match fault {
        Fault::Slow(d) => {
            std::thread::sleep(d);
            let _ = conn.write_all(&resp);
        }
        Fault::Truncate => {
            let split = resp
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(resp.len(), |i| i + 4);
            let body_len = resp.len() - split;
            let _ = conn.write_all(&resp[..split + body_len / 2]);
        }
        _ => {
            let _ = conn.write_all(&resp);
        }
    }
    let _ = conn.flush();
}
