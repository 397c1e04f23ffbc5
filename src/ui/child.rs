//! The stderr of a program we run (cargo, `podman load`): our terminal itself, where it draws its
//! progress, else a pipe whose bytes are copied to our stderr as they come, write errors ignored.
//! A reader of our stderr that is gone (`... 2>&1 | head -1`) then drops the program's messages as
//! it drops ours, instead of failing the program (EPIPE, or SIGPIPE: a child gets the default
//! disposition back).

use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

/// What to give the program as its stderr.
pub fn stderr() -> Stdio {
    match io::stderr().is_terminal() {
        true => Stdio::inherit(),
        false => Stdio::piped(),
    }
}

/// What to give the program as its stdout when what it prints there is for people, not results
/// (`podman load`'s "Loaded image"): our stderr, as [`stderr`] gives it.
pub fn stdout_to_stderr() -> io::Result<Stdio> {
    match io::stderr().is_terminal() {
        true => Ok(Stdio::from(io::stderr().as_fd().try_clone_to_owned()?)),
        false => Ok(Stdio::piped()),
    }
}

/// Copy `from` (the program's stderr or stdout, when [`stderr`] or [`stdout_to_stderr`] made it a
/// pipe) to our stderr until it ends; the returned [`Copying`] waits for that.
pub fn copy(from: Option<impl Read + Send + 'static>) -> Copying {
    let (tx, rx) = mpsc::channel();
    if let Some(mut from) = from {
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                let mut e = io::stderr().lock();
                let _ = e.write_all(&buf[..n]).and_then(|()| e.flush());
            }
            let _ = tx.send(());
        });
    }
    Copying(rx)
}

/// A copy in progress.
pub struct Copying(mpsc::Receiver<()>);

impl Copying {
    /// Wait (after the program exited) for the rest of its messages; at most a few seconds, in case
    /// a process it started holds the pipe open.
    pub fn finish(self) {
        let _ = self.0.recv_timeout(Duration::from_secs(5));
    }
}
