//! Running a `docker-credential-<name> get`: bounded output, a time limit, and failures that never show
//! what the helper wrote to stdout.
//!
//! Takes the helper's path and the server name to ask about; gives its exit status, stdout and stderr
//! (each capped at [`MAX_OUTPUT`]). When it (or anything it started that still holds its pipes) runs
//! past the limit (`SLIM_IMAGE_CREDENTIAL_HELPER_TIMEOUT` seconds, default 30), it, what it
//! started and any process still holding its output pipes are killed, and the error names the helper
//! and the limit.

use super::env::CredentialEnv;
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

/// The environment variable that sets the time limit, in seconds (fractions allowed).
pub const TIMEOUT_VAR: &str = "SLIM_IMAGE_CREDENTIAL_HELPER_TIMEOUT";
/// The time limit when [`TIMEOUT_VAR`] is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of each of stdout and stderr that is read; a `get` answer is a few hundred bytes.
pub const MAX_OUTPUT: u64 = 1 << 20;
/// How much of a failing helper's stderr goes into the error, in characters (after redaction).
pub const MAX_STDERR_CHARS: usize = 200;

/// What a finished helper gave.
pub struct HelperOutput {
    /// Its exit status.
    pub status: ExitStatus,
    /// What it wrote to stdout (may hold the secret: never print it).
    pub stdout: Vec<u8>,
    /// What it wrote to stderr.
    pub stderr: Vec<u8>,
}

/// The time limit for helpers, from [`TIMEOUT_VAR`] in `env`.
pub fn time_limit(env: &CredentialEnv) -> Result<Duration> {
    let Some(v) = env.get(TIMEOUT_VAR) else {
        return Ok(DEFAULT_TIMEOUT);
    };
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .with_context(|| {
            format!(
                "{TIMEOUT_VAR}=`{v}` is not a number of seconds (e.g. 30 or 0.5, at most 86400)"
            )
        })
}

/// Run `path get`, writing `server` to its stdin, with `env`'s variables only, within `limit`.
pub fn run_get(
    path: &Path,
    exe: &str,
    server: &str,
    env: &CredentialEnv,
    limit: Duration,
) -> Result<HelperOutput> {
    let timed_out = || {
        anyhow::anyhow!(
            "the credential helper {exe} timed out: it did not answer for {server} within {:.1}s \
             and was stopped. \
             Check that it works (`echo {server} | {exe} get`; it may be waiting for a password \
             prompt or an unlocked keyring), or raise the limit with {TIMEOUT_VAR}=SECONDS",
            limit.as_secs_f64()
        )
    };
    // Parallel uploads each look credentials up until one succeeds: a helper that timed out once is
    // not waited for again in this run.
    let key = (path.to_path_buf(), server.to_string());
    let mut timed_out_before = TIMED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    if timed_out_before.contains(&key) {
        return Err(timed_out());
    }
    let call = Call {
        path,
        exe,
        server,
        env,
    };
    let result = spawn_and_wait(&call, limit);
    if result.as_ref().is_err_and(|e| e.is::<TimedOut>()) {
        timed_out_before.push(key);
        return Err(timed_out());
    }
    result
}

/// The helper ran past its limit (turned into the message by [`run_get`]).
#[derive(Debug, thiserror::Error)]
#[error("timed out")]
struct TimedOut;

/// (helper, server) pairs that timed out in this run.
static TIMED_OUT: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

/// One `get`: the helper's path and name, the server asked about, the environment it sees.
struct Call<'a> {
    path: &'a Path,
    exe: &'a str,
    server: &'a str,
    env: &'a CredentialEnv,
}

fn spawn_and_wait(call: &Call<'_>, limit: Duration) -> Result<HelperOutput> {
    let Call {
        path,
        exe,
        server,
        env,
    } = *call;
    let start = Instant::now();
    let mut child = Command::new(path)
        .arg("get")
        .env_clear()
        .envs(&env.vars)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running the credential helper {}", path.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper may exit without reading stdin; a broken pipe here is not an error by itself.
        let _ = stdin.write_all(server.as_bytes());
    }
    let pipes = [
        pipe_inode(child.stdout.as_ref()),
        pipe_inode(child.stderr.as_ref()),
    ];
    let mut child = Started { child, pipes };
    let stdout = reader(child.child.stdout.take());
    let stderr = reader(child.child.stderr.take());
    let status = loop {
        match child.child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= limit => {
                kill(&mut child);
                return Err(TimedOut.into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                kill(&mut child);
                bail!("waiting for the credential helper {exe}: {e}");
            }
        }
    };
    // Something the helper started may still hold its pipes open: wait for them within the limit too.
    let mut collect = |rx: mpsc::Receiver<Vec<u8>>| {
        let left = limit.saturating_sub(start.elapsed());
        rx.recv_timeout(left).map_err(|_| {
            kill(&mut child);
            anyhow::Error::from(TimedOut)
        })
    };
    let stdout = collect(stdout)?;
    let stderr = collect(stderr)?;
    Ok(HelperOutput {
        status,
        stdout,
        stderr,
    })
}

/// A running helper, and the inodes of its stdout and stderr pipes (see [`kill`]).
struct Started {
    child: Child,
    pipes: [Option<u64>; 2],
}

/// The inode of the pipe behind `fd` (from `/proc/self/fd`), where there is one.
fn pipe_inode(fd: Option<&impl std::os::fd::AsRawFd>) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let fd = fd?.as_raw_fd();
    std::fs::metadata(format!("/proc/self/fd/{fd}"))
        .ok()
        .map(|m| m.ino())
}

/// Read at most [`MAX_OUTPUT`] bytes of `pipe` on a thread; the bytes arrive on the channel.
fn reader(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(p) = pipe {
            // A pipe that breaks off still gives what arrived.
            let _ = p.take(MAX_OUTPUT).read_to_end(&mut buf);
        }
        let _ = tx.send(buf);
    });
    rx
}

/// Kill the helper and, first, everything it started (found by parent pid in `/proc`, where there is
/// one), and every other process that still holds its stdout or stderr pipe (a daemon that detached
/// from it is no descendant any more, but would keep the pipe open). The helper stays in our process
/// group, as docker runs it: a helper that prompts on the terminal must not be stopped for reading it
/// from a background group.
fn kill(started: &mut Started) {
    let child = &mut started.child;
    let mut pids = descendants(child.id());
    pids.extend(holders(&started.pipes));
    for pid in pids {
        if let Some(p) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Every process but this one with an open descriptor on one of the pipes `inodes` (`/proc/*/fd`).
fn holders(inodes: &[Option<u64>]) -> Vec<u32> {
    let wanted: Vec<String> = inodes
        .iter()
        .flatten()
        .map(|i| format!("pipe:[{i}]"))
        .collect();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.flatten().any(|fd| {
                    std::fs::read_link(fd.path())
                        .is_ok_and(|l| wanted.iter().any(|w| l.as_os_str() == w.as_str()))
                })
            })
        })
        .collect()
}

/// Every process descended from `root`, from `/proc/*/stat` (empty where there is no `/proc`).
fn descendants(root: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = dir
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`: comm may hold spaces and `)`; ppid follows the last `)`.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect();
    let (mut found, mut todo) = (Vec::new(), vec![root]);
    while let Some(p) = todo.pop() {
        for &(c, pp) in &parents {
            if pp == p && !found.contains(&c) {
                found.push(c);
                todo.push(c);
            }
        }
    }
    found
}
