//! A TLS front for test servers: terminates https on `127.0.0.1:PORT` with a certificate from
//! [`super::registry::make_certs`] and relays each request, as plain HTTP/1.1, to an upstream server
//! that answers one request per connection (the fake registry, the fault proxy), then relays the
//! answer back. Connections whose handshake fails (a plain-http probe) are dropped.
#![allow(dead_code)] // each test crate uses part of it

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A running TLS front; stops on drop.
pub struct TlsFront {
    /// `127.0.0.1:PORT`.
    pub host: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn pem_items(path: &Path) -> Vec<ureq::tls::PemItem<'static>> {
    let bytes = std::fs::read(path).unwrap();
    ureq::tls::parse_pem(&bytes).map(|i| i.unwrap()).collect()
}

/// The server config for `chain.crt` and `leaf.key` in `dir` (as `make_certs` writes them).
fn server_config(dir: &Path) -> Arc<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = pem_items(&dir.join("chain.crt"))
        .into_iter()
        .filter_map(|i| match i {
            ureq::tls::PemItem::Certificate(c) => Some(CertificateDer::from(c.der().to_vec())),
            _ => None,
        })
        .collect();
    let key = pem_items(&dir.join("leaf.key"))
        .into_iter()
        .find_map(|i| match i {
            ureq::tls::PemItem::PrivateKey(k) => {
                PrivateKeyDer::try_from(k.der()).ok().map(|k| k.clone_key())
            }
            _ => None,
        })
        .expect("a private key in leaf.key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(cfg)
}

impl TlsFront {
    /// Serve https on a free loopback port with the certificate in `cert_dir`, relaying to
    /// `upstream` (`host:port`, plain http).
    pub fn start(cert_dir: &Path, upstream: &str) -> TlsFront {
        let cfg = server_config(cert_dir);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let (sp, up) = (stop.clone(), upstream.to_string());
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (cfg, up) = (cfg.clone(), up.clone());
                        std::thread::spawn(move || relay(conn, cfg, &up));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        TlsFront {
            host,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request: read it (head and `Content-Length` body) from TLS, send it upstream, relay the answer.
fn relay(tcp: TcpStream, cfg: Arc<rustls::ServerConfig>, upstream: &str) {
    tcp.set_nonblocking(false).ok();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let Ok(conn) = rustls::ServerConnection::new(cfg) else {
        return;
    };
    let mut r = BufReader::new(rustls::StreamOwned::new(conn, tcp));
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        head.extend_from_slice(line.as_bytes());
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let Ok(mut up) = TcpStream::connect(upstream) else {
        return;
    };
    let mut answer = Vec::new();
    if up.write_all(&head).is_err()
        || up.write_all(&body).is_err()
        || up.read_to_end(&mut answer).is_err()
    {
        return;
    }
    let tls = r.get_mut();
    let _ = tls.write_all(&answer);
    tls.conn.send_close_notify();
    let _ = tls.flush();
}
