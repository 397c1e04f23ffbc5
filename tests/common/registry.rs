//! Test registries: the real CNCF distribution registry (`docker-registry serve`) on a free loopback
//! port, plain / htpasswd Basic auth / TLS with a test CA / TLS + auth, and (in [`fake`]) a small
//! in-process registry for fault injection and the Bearer token flow.
//!
//! [`RealRegistry::start`] writes a config into a temp dir, starts the registry, waits until `/v2/`
//! answers and kills it on drop; its request log (`"PUT /v2/... HTTP/1.1" 201`) lets tests count blob
//! uploads. Returns `None` (after printing `SKIP: ...`) only when a needed tool is not installed.

pub mod fake;

use cargo_slim_image::blob::{Artifact, BlobStore};
use cargo_slim_image::digest::Digest;
use cargo_slim_image::reference::Reference;
use cargo_slim_image::registry::CredentialEnv;
use cargo_slim_image::sink::push::{push, PushOptions, PushReport};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Push options for the in-process fake: one job, no credentials, no certificate dirs, retries
/// 10-50 ms apart (a fault-injection test should not wait for real backoff).
#[allow(dead_code)]
pub fn quick_push_options() -> PushOptions {
    PushOptions {
        jobs: 1,
        certs_dirs: vec![],
        credentials: CredentialEnv::empty(),
        tuning: cargo_slim_image::registry::Tuning {
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            ..Default::default()
        },
        ..PushOptions::default()
    }
}

/// User name the auth modes accept.
pub const USER: &str = "slimtester";
/// Password the auth modes accept (tests check it never appears in output).
pub const PASSWORD: &str = "Pw-7f3c9e1d-never-print";

/// Standard base64 of `s` (padded), as in `auth` entries and Basic headers.
pub fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The `Authorization` value `Basic base64(USER:password)`.
pub fn basic_header(password: &str) -> String {
    format!("Basic {}", b64(&format!("{USER}:{password}")))
}

/// A docker config.json with one `auth` entry (base64 `USER:password`) under `key` (a host or URL).
pub fn docker_auth_json(key: &str, password: &str) -> String {
    format!(
        r#"{{"auths":{{"{key}":{{"auth":"{}"}}}}}}"#,
        b64(&format!("{USER}:{password}"))
    )
}

/// The CI variables `SLIM_IMAGE_REGISTRY_USERNAME`/`_PASSWORD`: [`USER`] and `password`.
pub fn ci_credentials(password: &str) -> CredentialEnv {
    CredentialEnv::empty()
        .with("SLIM_IMAGE_REGISTRY_USERNAME", USER)
        .with("SLIM_IMAGE_REGISTRY_PASSWORD", password)
}

/// The digest of what `skopeo inspect --raw --authfile EMPTY EXTRA... docker://REFERENCE` returns
/// (an empty auth file: the host's logins must not matter). None when skopeo is not installed
/// ([`have`] for `test`).
pub fn skopeo_digest(test: &str, reference: &str, extra: &[&str]) -> Option<Digest> {
    if !have("skopeo", test) {
        return None;
    }
    let auth = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(auth.path(), r#"{"auths":{}}"#).unwrap();
    let mut args = vec!["--authfile", auth.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    let raw = super::peers::skopeo_inspect_raw(&format!("docker://{reference}"), &args)
        .unwrap_or_else(|e| panic!("skopeo inspect {reference}: {e:#}"));
    Some(Digest::of(&raw))
}

/// An image (or index) in a blob store of its own, ready to push.
pub struct Built {
    pub artifact: Artifact,
    pub store: BlobStore,
    _dir: tempfile::TempDir,
}

impl Built {
    /// A fresh, empty store, filled by `fill`, which returns what it made.
    pub fn make(fill: impl FnOnce(&BlobStore) -> Artifact) -> Built {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        Built {
            artifact: fill(&store),
            store,
            _dir: dir,
        }
    }

    /// An image of a config and one `size`-byte layer (made-up bytes: a registry does not look
    /// inside), for pushes to the fake registry.
    pub fn one_layer(size: usize) -> Built {
        use cargo_slim_image::blob::media;
        Built::make(|store| {
            let bytes: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
            let layer = store.put_bytes(media::LAYER_GZIP, &bytes).unwrap();
            let config = serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs":
                {"type": "layers", "diff_ids": [layer.digest.to_string()]}});
            let (config, _) = store.put_json(media::CONFIG, &config).unwrap();
            let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": media::MANIFEST,
                "config": config, "layers": [layer]});
            let (root, _) = store.put_json(media::MANIFEST, &manifest).unwrap();
            Artifact {
                root,
                manifests: vec![],
                blobs: vec![config, layer],
            }
        })
    }

    /// Push it to `refs`.
    pub fn push(&self, refs: &[Reference], opts: &PushOptions) -> anyhow::Result<Vec<PushReport>> {
        push(&self.artifact, &self.store, refs, opts)
    }
}

/// How the real registry is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plain http, anonymous.
    Plain,
    /// Plain http, htpasswd Basic auth with [`USER`]/[`PASSWORD`].
    Basic,
    /// https with a certificate from a test CA, anonymous.
    Tls,
    /// https and Basic auth.
    TlsBasic,
}

impl Mode {
    fn tls(self) -> bool {
        matches!(self, Mode::Tls | Mode::TlsBasic)
    }
    fn auth(self) -> bool {
        matches!(self, Mode::Basic | Mode::TlsBasic)
    }
}

/// Whether `tool` is on PATH; prints a loud SKIP line when it is not (and fails under CI).
pub fn have(tool: &str, test: &str) -> bool {
    // peers' policy: a loud SKIP line locally, a failure under CI (which installs every tool).
    super::peers::check_tools(test, &[tool])
}

/// A running `docker-registry serve`, killed on drop.
pub struct RealRegistry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// The mode it was started in.
    pub mode: Mode,
}

/// One line of the registry's access log.
#[derive(Debug, Clone)]
pub struct Logged {
    /// HTTP method.
    pub method: String,
    /// Request URI (path and query).
    pub uri: String,
    /// Response status.
    pub status: u16,
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Make a test CA and a leaf for localhost/127.0.0.1 in `dir`: `ca.crt`, `leaf.key`, `chain.crt`.
pub fn make_certs(dir: &Path) {
    let o = |args: &[&str]| {
        run(Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null()));
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "3",
        "-subj",
        "/CN=slim-image test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    o(&ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    o(&csr);
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    o(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.crt",
        "-days",
        "3",
        "-extfile",
        "leaf.ext",
    ]);
    let chain = [
        std::fs::read(dir.join("leaf.crt")).unwrap(),
        std::fs::read(dir.join("ca.crt")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("chain.crt"), chain).unwrap();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RealRegistry {
    /// Start a registry in `mode`; `None` (with a SKIP line) when docker-registry, htpasswd or openssl is missing.
    pub fn start(mode: Mode, test: &str) -> Option<RealRegistry> {
        if !have("docker-registry", test)
            || (mode.auth() && !have("htpasswd", test))
            || (mode.tls() && !have("openssl", test))
        {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut extra = String::new();
        let mut http_extra = String::new();
        if mode.auth() {
            let out = Command::new("htpasswd")
                .args(["-Bbn", USER, PASSWORD])
                .output()
                .unwrap();
            assert!(out.status.success(), "htpasswd failed");
            std::fs::write(d.join("htpasswd"), out.stdout).unwrap();
            extra = format!(
                "auth:\n  htpasswd: {{realm: slim-test, path: {}}}\n",
                d.join("htpasswd").display()
            );
        }
        if mode.tls() {
            make_certs(d);
            std::fs::create_dir_all(d.join("certdir")).unwrap();
            std::fs::copy(d.join("ca.crt"), d.join("certdir/ca.crt")).unwrap();
            http_extra = format!(
                "  tls: {{certificate: {}, key: {}}}\n",
                d.join("chain.crt").display(),
                d.join("leaf.key").display()
            );
        }
        Some(serve(dir, mode, &format!("{http_extra}{extra}")))
    }

    /// The registry's whole log.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The access-log lines (`"METHOD URI HTTP/1.1" STATUS`) so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.log_text()
            .lines()
            .filter_map(|l| {
                let start = l.find("] \"")? + 3;
                let rest = &l[start..];
                let (req, after) = rest.split_once("\" ")?;
                let mut parts = req.split(' ');
                let method = parts.next()?.to_string();
                let uri = parts.next()?.to_string();
                let status = after.split(' ').next()?.parse().ok()?;
                Some(Logged {
                    method,
                    uri,
                    status,
                })
            })
            .collect()
    }

    /// Requests that carried blob bytes (PUT or PATCH on an upload session).
    pub fn blob_uploads(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| {
                matches!(r.method.as_str(), "PUT" | "PATCH") && r.uri.contains("/blobs/uploads/")
            })
            .count()
    }

    /// Successful manifest PUTs.
    pub fn manifest_puts(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.uri.contains("/manifests/") && r.status == 201)
            .count()
    }

    /// The test CA (PEM), for TLS modes.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// A directory holding `ca.crt`, for `skopeo --cert-dir`.
    pub fn cert_dir(&self) -> PathBuf {
        self.dir.path().join("certdir")
    }

    /// A scratch directory that lives as long as the registry.
    pub fn scratch(&self) -> PathBuf {
        let p = self.dir.path().join("scratch");
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}

impl Drop for RealRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `GET /v2/` until it answers (200 or 401); false if the process exits first.
fn wait_ready(child: &mut Child, host: &str, tls: bool, dir: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Some(200 | 401) = probe_v2(host, tls) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
    panic!("docker-registry did not answer /v2/ within 15 s:\n{log}");
}

/// `GET /v2/` once; the HTTP status, or None if nothing answered. TLS is not verified here.
fn probe_v2(host: &str, tls: bool) -> Option<u16> {
    if !tls {
        let mut s = TcpStream::connect(host).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(
            s,
            "GET /v2/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).ok()?;
        let line = String::from_utf8_lossy(&buf[..n]);
        return line.split(' ').nth(1)?.parse().ok();
    }
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .disable_verification(true)
                .build(),
        )
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .new_agent();
    agent
        .get(format!("https://{host}/v2/"))
        .call()
        .ok()
        .map(|r| r.status().as_u16())
}

impl RealRegistry {
    /// Start a plain-http registry whose config ends with `auth` (a whole `auth:` YAML block, e.g.
    /// `auth: token` for [`super::token`]); `None` (with a SKIP line) when docker-registry is missing.
    /// `mode` reads [`Mode::Plain`]: it names the transport, the auth is whatever `auth` says.
    pub fn start_with_auth(auth: &str, test: &str) -> Option<RealRegistry> {
        if !have("docker-registry", test) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        Some(serve(dir, Mode::Plain, auth))
    }
}

/// Runs `docker-registry serve` in `dir` on a free loopback port, with `tail` (the TLS and auth
/// YAML) after the `http:` block's own keys; once `/v2/` answers, the registry. Another port is
/// tried when someone took the probed one before the registry bound it.
fn serve(dir: tempfile::TempDir, mode: Mode, tail: &str) -> RealRegistry {
    let d = dir.path();
    for _attempt in 0..5 {
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog: {{level: info}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  \
             delete: {{enabled: true}}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: test-secret\n{tail}",
            d.join("data").display()
        );
        std::fs::write(d.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(d.join("registry.log")).unwrap();
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        let host = format!("127.0.0.1:{port}");
        if wait_ready(&mut child, &host, mode.tls(), d) {
            return RealRegistry {
                child,
                dir,
                host,
                mode,
            };
        }
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(d.join("registry.log")).unwrap_or_default();
        // Someone may have taken the port between our probe and the registry's bind: try another.
        assert!(
            log.contains("address already in use"),
            "docker-registry did not start:\n{log}"
        );
    }
    panic!("could not start docker-registry on a free port");
}
