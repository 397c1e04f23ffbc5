//! An isolated podman (own storage, runroot, tmpdir, auth file and containers.conf under a temp
//! dir), set up the way it works on a root, non-systemd Debian 12 machine.

use super::*;

/// An isolated podman: its own storage, run root, tmpdir, auth file and containers.conf, all
/// under one temp dir that goes away with the value (after removing leftover containers).
pub struct Podman {
    dir: TempDir,
    driver: &'static str,
}

/// What works on a root, non-systemd Debian 12 host (see the module docs): crun fails on hybrid
/// cgroups and the default ulimits are not permitted. `{tmp}` is replaced by a private temp dir.
const CONTAINERS_CONF: &str = r#"[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
image_copy_tmp_dir = "{tmp}"
"#;

impl Podman {
    /// A fresh, empty podman store.
    pub fn new() -> Result<Podman> {
        let dir = tempfile::Builder::new().prefix("slim-podman-").tempdir()?;
        prepare_store(dir.path())?;
        Ok(Podman {
            dir,
            driver: storage_driver(),
        })
    }

    /// The temp dir holding the store (`root/`, `run/`, `tmp/`, `containers.conf`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The storage driver in use: `overlay`, or `vfs` where overlay mounts are not allowed.
    pub fn driver(&self) -> &str {
        self.driver
    }

    /// `podman` with the isolating global flags and environment; add a subcommand and run it.
    pub fn cmd(&self) -> Command {
        podman_cmd(self.dir.path(), self.driver)
    }

    /// `podman load -i TAR` (oci-archive or docker-archive); returns stdout then stderr, which
    /// include the `Loaded image: NAME` line.
    pub fn load(&self, tar: &Path) -> Result<String> {
        let out = run_ok(self.cmd().arg("load").arg("-i").arg(tar))?;
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    /// `podman run --rm --network none IMAGE ARGS...`; the output is returned whatever the status.
    pub fn run(&self, image: &str, args: &[&str]) -> Output {
        self.run_with(&[], image, args)
    }

    /// Like [`Podman::run`] with extra `podman run` options, e.g. `["--user", "0"]`.
    pub fn run_with(&self, options: &[&str], image: &str, args: &[&str]) -> Output {
        run_cmd(
            self.cmd()
                .args(["run", "--rm", "--network", "none"])
                .args(options)
                .arg(image)
                .args(args),
        )
    }

    /// `podman pull [--tls-verify=false] [--creds USER:PASS] REFERENCE`.
    pub fn pull(
        &self,
        reference: &str,
        tls_verify: bool,
        creds: Option<(&str, &str)>,
    ) -> Result<String> {
        let mut extra = vec![format!("--tls-verify={tls_verify}")];
        if let Some((user, pass)) = creds {
            extra.push(format!("--creds={user}:{pass}"));
        }
        self.pull_with(
            reference,
            &extra.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    }

    /// `podman pull EXTRA... REFERENCE`, e.g. with `--cert-dir DIR`; returns stdout (the image id).
    pub fn pull_with(&self, reference: &str, extra: &[&str]) -> Result<String> {
        stdout_of(self.cmd().arg("pull").args(extra).arg(reference))
    }

    /// A fresh store holding the linux/arm64 image of `reference`, pulled from a plain-http
    /// registry (run it with [`Podman::run_arm64`] where [`binfmt_aarch64`] says it can run).
    pub fn with_arm64_of(reference: &str) -> Result<Podman> {
        let podman = Podman::new()?;
        podman.pull_with(
            reference,
            &["--tls-verify=false", "--platform", "linux/arm64"],
        )?;
        Ok(podman)
    }

    /// `podman run --platform linux/arm64 OPTIONS... IMAGE ARGS...`, under qemu-user-static.
    pub fn run_arm64(&self, options: &[&str], image: &str, args: &[&str]) -> Output {
        let mut all = vec!["--platform", "linux/arm64"];
        all.extend_from_slice(options);
        self.run_with(&all, image, args)
    }

    /// The `repository:tag` of every image in the store, sorted.
    pub fn images(&self) -> Result<Vec<String>> {
        let text = stdout_of(
            self.cmd()
                .args(["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        )?;
        let mut names: Vec<String> = text.lines().map(str::to_string).collect();
        names.sort();
        Ok(names)
    }

    /// `podman image inspect IMAGE`: the one JSON object describing it.
    pub fn inspect(&self, image: &str) -> Result<serde_json::Value> {
        let all = json_of(self.cmd().args(["image", "inspect", image]))?;
        all.get(0)
            .cloned()
            .with_context(|| format!("podman image inspect {image} returned {all}"))
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Containers left by a failed test would keep overlay mounts inside the temp dir.
        let _ = self
            .cmd()
            .args(["rm", "--all", "--force", "--time", "0"])
            .stdin(Stdio::null())
            .output();
    }
}

/// Writes `containers.conf`, an empty `auth.json` (podman wants the file to exist) and `tmp/`.
fn prepare_store(dir: &Path) -> Result<()> {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let conf = CONTAINERS_CONF.replace("{tmp}", &tmp.to_string_lossy());
    std::fs::write(dir.join("containers.conf"), conf)?;
    std::fs::write(dir.join("auth.json"), "{\"auths\": {}}\n")?;
    Ok(())
}

fn podman_cmd(dir: &Path, driver: &str) -> Command {
    let mut cmd = Command::new("podman");
    cmd.env("CONTAINERS_CONF", dir.join("containers.conf"))
        .env("REGISTRY_AUTH_FILE", dir.join("auth.json"))
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .arg("--tmpdir")
        .arg(dir.join("tmp"))
        .arg("--storage-driver")
        .arg(driver);
    cmd
}

/// `overlay` if a throwaway store can initialise it here (it can on this Debian 12 host), else
/// `vfs`; `SLIM_TEST_STORAGE_DRIVER` overrides. Probed once per test binary.
fn storage_driver() -> &'static str {
    static DRIVER: OnceLock<&'static str> = OnceLock::new();
    DRIVER.get_or_init(
        || match std::env::var("SLIM_TEST_STORAGE_DRIVER").as_deref() {
            Ok("vfs") => "vfs",
            Ok("overlay") => "overlay",
            _ => {
                let probe = tempfile::tempdir().expect("temp dir for the podman probe");
                prepare_store(probe.path()).expect("podman probe store");
                let mut cmd = podman_cmd(probe.path(), "overlay");
                let out = run_cmd(cmd.args(["info", "--format", "{{.Store.GraphDriverName}}"]));
                if out.status.success() {
                    "overlay"
                } else {
                    eprintln!(
                        "note: podman cannot use overlay storage here (above); the tests use vfs"
                    );
                    "vfs"
                }
            }
        },
    )
}
