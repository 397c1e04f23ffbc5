//! A scripted HTTP server on 127.0.0.1 for hostile-registry tests: every request is answered by a
//! closure `answer(host, request)` (status, extra headers, body), one thread per connection, and each
//! request is recorded as `METHOD PATH`. Bodies are read up to 1 MiB, whatever length they claim.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A request as the server saw it.
pub struct Req {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// What to answer: status, extra headers, body.
pub type Answer = (u16, Vec<(String, String)>, String);

/// The server; it lives as long as the test process.
pub struct EchoServer {
    /// `127.0.0.1:PORT`.
    pub host: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl EchoServer {
    pub fn start(answer: impl Fn(&str, &Req) -> Answer + Send + Sync + 'static) -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let answer = Arc::new(answer);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (h, s) = (host.clone(), seen.clone());
        // The thread ends with the test process.
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (answer, h, s) = (answer.clone(), h.clone(), s.clone());
                std::thread::spawn(move || serve(conn, &h, &*answer, &s));
            }
        });
        EchoServer { host, seen }
    }

    /// Every request so far, as `METHOD PATH`.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(
    conn: TcpStream,
    host: &str,
    answer: &dyn Fn(&str, &Req) -> Answer,
    seen: &Mutex<Vec<String>>,
) {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok();
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return;
    };
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let n = headers
        .get("content-length")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; n.min(1 << 20)];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let req = Req {
        method: method.to_string(),
        path: path.to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    seen.lock()
        .unwrap()
        .push(format!("{} {}", req.method, req.path));
    let (status, extra, text) = answer(host, &req);
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nConnection: close\r\nContent-Length: {}\r\n",
        text.len()
    );
    for (k, v) in extra {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut conn = r.into_inner();
    let _ = conn.write_all(out.as_bytes());
    if req.method != "HEAD" {
        let _ = conn.write_all(text.as_bytes());
    }
}
