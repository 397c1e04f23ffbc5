//! A real Docker engine for the tests: Debian's `docker.io` daemon (dockerd 20.10 + containerd 1.6)
//! run the way it works on a root, non-systemd Debian 12 machine: vfs storage, no iptables, no
//! bridge (so containers run with `--network none`), its own data root, exec root and socket.
//!
//! `scripts/test.sh` starts one daemon for the whole run and exports its socket as
//! `SLIM_TEST_DOCKER_HOST` (and stops it at the end); [`Docker::new`] uses that daemon when it is set,
//! and otherwise starts a private one that lives as long as the value (a plain `cargo test`). Tests
//! sharing one daemon must use image names of their own.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

use super::peers::{json_of, run_cmd, run_ok};

/// A Docker engine reachable at `host` (`unix://...`).
pub struct Docker {
    host: String,
    _own: Option<Daemon>,
}

/// A dockerd this process started; killed (and its containerd with it) when dropped.
struct Daemon {
    child: Child,
    _dir: TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its containerd; SIGKILL would leave that one running.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Docker {
    /// The run's shared daemon (`SLIM_TEST_DOCKER_HOST`), else a private one started now.
    pub fn new() -> Result<Docker> {
        if let Some(host) = std::env::var("SLIM_TEST_DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
        {
            let d = Docker { host, _own: None };
            d.wait_ready(Duration::from_secs(5))
                .context("SLIM_TEST_DOCKER_HOST is set but its daemon does not answer")?;
            return Ok(d);
        }
        Docker::start_private()
    }

    fn start_private() -> Result<Docker> {
        // A short path: the socket's must stay under the 108 bytes of sun_path.
        let dir = tempfile::Builder::new()
            .prefix("slim-dk-")
            .tempdir_in("/tmp")?;
        let sock = dir.path().join("docker.sock");
        let log = std::fs::File::create(dir.path().join("dockerd.log"))?;
        let child = Command::new("dockerd")
            .args(daemon_args(dir.path()))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting dockerd")?;
        let host = format!("unix://{}", sock.display());
        let log_path = dir.path().join("dockerd.log");
        let d = Docker {
            host,
            _own: Some(Daemon { child, _dir: dir }),
        };
        if let Err(e) = d.wait_ready(Duration::from_secs(60)) {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!("{e:#}\ndockerd's log:\n{log}");
        }
        Ok(d)
    }

    fn wait_ready(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let out = run_cmd(
                self.cmd()
                    .args(["version", "--format", "{{.Server.Version}}"]),
            );
            if out.status.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the docker daemon at {} did not answer within {within:?}: {}",
                    self.host,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// `unix://...`: what `DOCKER_HOST` must say for the docker CLI (and for `--load`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `docker` talking to this daemon; add a subcommand and run it.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", &self.host).stdin(Stdio::null());
        c
    }

    /// The daemon's version, e.g. `20.10.24+dfsg1`.
    pub fn server_version(&self) -> Result<String> {
        let out = run_ok(
            self.cmd()
                .args(["version", "--format", "{{.Server.Version}}"]),
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// `docker load -i TAR`; returns stdout and stderr (with the `Loaded image: NAME` line).
    pub fn load(&self, tar: &Path) -> Result<String> {
        let out = run_ok(self.cmd().arg("load").arg("-i").arg(tar))?;
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    /// `docker run --rm --network none IMAGE ARGS...`; the output whatever the status.
    pub fn run(&self, image: &str, args: &[&str]) -> Output {
        run_cmd(
            self.cmd()
                .args(["run", "--rm", "--network", "none", image])
                .args(args),
        )
    }

    /// `docker image inspect IMAGE`: the one JSON object describing it.
    pub fn inspect(&self, image: &str) -> Result<serde_json::Value> {
        let all = json_of(self.cmd().args(["image", "inspect", image]))?;
        all.get(0)
            .cloned()
            .with_context(|| format!("docker image inspect {image} returned {all}"))
    }

    /// Removes IMAGE (a shared daemon outlives the test).
    pub fn remove(&self, image: &str) {
        let _ = run_cmd(self.cmd().args(["image", "rm", "--force", image]));
    }
}

/// dockerd's flags for a daemon rooted at `dir` (data, exec root, pid file), as scripts/test.sh
/// starts it too.
fn daemon_args(dir: &Path) -> Vec<String> {
    vec![
        "--storage-driver".into(),
        "vfs".into(),
        "--iptables=false".into(),
        "--ip6tables=false".into(),
        "--bridge=none".into(),
        format!("--data-root={}", dir.join("data").display()),
        format!("--exec-root={}", dir.join("exec").display()),
        format!("--pidfile={}", dir.join("pid").display()),
    ]
}
