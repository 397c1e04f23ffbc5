//! A std-only HTTP server, the smallest useful thing to put in a FROM-scratch image.
//!
//! `hello-http` listens on `0.0.0.0:$PORT` (default 8080) and answers `GET /` with
//! `hello from slim-image`; other paths get 404 and other methods 405. One thread per
//! connection, one request per connection (`Connection: close`). SIGTERM and SIGINT end it at
//! once, which matters because in a container it runs as PID 1, where the kernel ignores
//! signals that have no handler. `hello-http --once-stdout` prints
//! `hello from slim-image uid=<uid>` and exits, so tests can run the image without a network.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

/// The body of `GET /`.
const GREETING: &str = "hello from slim-image\n";

const USAGE: &str = "usage: hello-http [--once-stdout]
  (no argument)   serve HTTP on 0.0.0.0:$PORT (default 8080); GET / answers \"hello from slim-image\"
  --once-stdout   print \"hello from slim-image uid=<uid>\" and exit";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => serve(),
        Some("--once-stdout") => {
            println!("hello from slim-image uid={}", uid());
            ExitCode::SUCCESS
        }
        Some("-h" | "--help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("hello-http: unknown argument {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The real uid of this process, from the `Uid:` line of `/proc/self/status` ("?" without /proc).
fn uid() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next().map(str::to_string))
        })
        .unwrap_or_else(|| "?".to_string())
}

/// Binds `0.0.0.0:$PORT` and serves until killed.
fn serve() -> ExitCode {
    stop::exit_on_term();
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_string());
    let listener = match TcpListener::bind(format!("0.0.0.0:{port}")) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("hello-http: cannot listen on 0.0.0.0:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("hello-http: listening on 0.0.0.0:{port}");
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                std::thread::spawn(move || {
                    if let Err(e) = handle(stream) {
                        eprintln!("hello-http: connection error: {e}");
                    }
                });
            }
            Err(e) => eprintln!("hello-http: accept failed: {e}"),
        }
    }
    ExitCode::SUCCESS
}

/// Reads one request head and writes one response.
fn handle(stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Drain the headers up to the empty line; the body (if any) is ignored.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }

    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = match (method, path) {
        ("GET" | "HEAD", "/") => ("200 OK", GREETING),
        ("GET" | "HEAD", _) => ("404 Not Found", "not found\n"),
        _ => ("405 Method Not Allowed", "method not allowed\n"),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        response.push_str(body);
    }
    let mut stream = reader.into_inner();
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

/// Exit at once on SIGTERM/SIGINT (`podman stop`, Ctrl-C), even as PID 1.
#[cfg(unix)]
mod stop {
    extern "C" {
        // From the C library std already links; signal(2) and _exit(2) are async-signal-safe.
        fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
        fn _exit(status: i32) -> !;
    }

    extern "C" fn on_stop(_signum: i32) {
        // SAFETY: _exit only ends the process; it is safe to call from a signal handler.
        unsafe { _exit(0) }
    }

    /// Installs the handler for SIGINT (2) and SIGTERM (15).
    pub fn exit_on_term() {
        for signum in [2, 15] {
            // SAFETY: installs a handler that only calls _exit.
            unsafe { signal(signum, on_stop) };
        }
    }
}

#[cfg(not(unix))]
mod stop {
    /// Nothing to do where there are no Unix signals.
    pub fn exit_on_term() {}
}
