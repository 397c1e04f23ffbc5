//! Issue 17: crates that need a system C library build for musl without hand-work. A crate with
//! `openssl = "0.10"` (no features) and one with reqwest's default TLS (native-tls, OpenSSL) build for
//! linux/amd64 (musl-gcc) and linux/arm64 (zig), run in podman (arm64 under qemu) and make an HTTPS
//! request to a local TLS server whose CA comes from `extra-ca-certificates`; OpenSSL is built once
//! per target into the cache and reused by the next builds (of any project); the SBOM lists it; a
//! crate with `libsqlite3-sys` without `bundled` fails before compiling, with the feature to turn on;
//! `openssl = "system"` and a user's `OPENSSL_DIR` turn the OpenSSL build off.
//!
//! The OpenSSL cache of this run is one temp dir shared by the tests here (`SLIM_IMAGE_CACHE_DIR`),
//! so a run builds OpenSSL once per target (about 3 minutes each on 2 cores), not once per test.

mod common;
#[path = "common/tls_front.rs"]
mod tls_front;

use cargo_slim_image::platform::Platform;
use common::peers::{self, Podman};
use common::slim;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The OpenSSL version cargo slim-image builds (openssl-src 300.6.1+3.6.3).
const OPENSSL: &str = "3.6.3";
const BODY: &str = "hello over TLS";

/// This run's OpenSSL cache, shared by its tests.
fn cache() -> &'static Path {
    static CACHE: OnceLock<tempfile::TempDir> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            // A static is never dropped: remove the caches earlier runs left (not one a run of
            // the last hours may still be using).
            let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
            for e in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
                let old = e.metadata().and_then(|m| m.modified()).is_ok_and(|t| {
                    t.elapsed()
                        .is_ok_and(|d| d > std::time::Duration::from_secs(6 * 3600))
                });
                if old
                    && e.file_name()
                        .to_string_lossy()
                        .starts_with("openssl-cache-")
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
            tempfile::Builder::new()
                .prefix("openssl-cache-")
                .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                .unwrap()
        })
        .path()
}

/// A TLS server on 127.0.0.1 answering every GET with [`BODY`], and the CA that signed its
/// certificate (PEM).
struct Server {
    front: tls_front::TlsFront,
    ca: Vec<u8>,
    _certs: tempfile::TempDir,
}

fn server() -> Server {
    let certs = tempfile::tempdir().unwrap();
    common::registry::make_certs(certs.path());
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = upstream.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in upstream.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
                BODY.len()
            );
        }
    });
    Server {
        front: tls_front::TlsFront::start(certs.path(), &up),
        ca: std::fs::read(certs.path().join("ca.crt")).unwrap(),
        _certs: certs,
    }
}

/// A copy of fixture `name` in `work`, with the server's CA as its `test-ca.pem`.
fn fixture_with_ca(name: &str, work: &Path, ca: &[u8]) -> PathBuf {
    let dir = work.join(name);
    common::debuginfo::copy_dir(&slim::repo().join("tests/fixtures").join(name), &dir);
    std::fs::write(dir.join("test-ca.pem"), ca).unwrap();
    dir.join("Cargo.toml")
}

/// `cargo slim-image` on `manifest` for `platform` with this run's OpenSSL cache, writing
/// `work/out` and `work/image.tar`; the stderr.
fn build(manifest: &Path, work: &Path, platform: Platform) -> String {
    let (out, tar) = (work.join("out"), work.join("image.tar"));
    let mut c = slim::on(
        manifest.to_str().unwrap(),
        slim::shared_target().to_str().unwrap(),
        &[
            "--locked",
            "--platform",
            &platform.to_string(),
            "-o",
            out.to_str().unwrap(),
            "--tarball",
            tar.to_str().unwrap(),
        ],
    );
    c.env("SLIM_IMAGE_CACHE_DIR", cache());
    for v in ["OPENSSL_DIR", "OPENSSL_LIB_DIR", "OPENSSL_STATIC"] {
        c.env_remove(v);
    }
    let o = slim::run(&mut c);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "build failed:\n{stderr}");
    stderr
}

/// Load `work/image.tar` into a fresh podman and run it with `arg` on the host's network (the
/// server listens on the host's 127.0.0.1); its stdout.
fn run(work: &Path, platform: Platform, arg: &str) -> String {
    let podman = Podman::new().unwrap();
    let loaded = podman.load(&work.join("image.tar")).unwrap();
    let image = loaded
        .lines()
        .find_map(|l| l.strip_prefix("Loaded image: "))
        .unwrap_or_else(|| panic!("no image in: {loaded}"))
        .trim()
        .to_string();
    let out = peers::run_cmd(
        podman
            .cmd()
            .args(["run", "--rm", "--network", "host", "--platform"])
            .arg(platform.to_string())
            .arg(&image)
            .arg(arg),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{image} {arg} failed: {}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The cache entry of `platform` (the one directory for its triple).
fn entry(platform: Platform) -> PathBuf {
    let triple = platform.rust_target();
    let all: Vec<PathBuf> = std::fs::read_dir(cache().join("openssl"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.to_string_lossy().contains(triple))
        .collect();
    assert_eq!(all.len(), 1, "one cache entry for {triple}: {all:?}");
    all[0].clone()
}

fn mtime(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

/// The openssl and reqwest clients for `platform`: OpenSSL built by the first build, reused by the
/// next two; both talk HTTPS in podman; the SBOM lists OpenSSL.
fn clients_talk_https(platform: Platform) {
    let triple = platform.rust_target();
    let w = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let s = server();
    let port = s.front.host.rsplit_once(':').unwrap().1.to_string();

    let openssl = fixture_with_ca("openssl-client", w.path(), &s.ca);
    let first = w.path().join("first");
    let stderr = build(&openssl, &first, platform);
    let built = format!("built OpenSSL {OPENSSL} for {triple} with ");
    assert!(stderr.contains(&built), "{stderr}");
    let dir = entry(platform);
    let (lib, when) = (dir.join("lib/libcrypto.a"), mtime(&dir));
    let lib_mtime = mtime(&lib);
    // Reproducible: nothing of where the cache is, or who built it, is in the libraries.
    let bytes = std::fs::read(&lib).unwrap();
    let cache_path = cache().to_string_lossy().into_owned();
    assert!(
        !bytes
            .windows(cache_path.len())
            .any(|w| w == cache_path.as_bytes()),
        "{} holds the cache's path",
        lib.display()
    );
    assert!(
        !bytes.windows(5).any(|w| w == b"/tmp/"),
        "{} holds a temp path",
        lib.display()
    );

    // The SBOM lists the C library that went into the binary.
    let sbom: serde_json::Value =
        serde_json::from_slice(&std::fs::read(first.join("out.spdx.json")).unwrap()).unwrap();
    let purl = format!("pkg:generic/openssl@{OPENSSL}");
    let package = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "openssl" && p["externalRefs"][0]["referenceLocator"] == purl)
        .unwrap_or_else(|| panic!("no openssl {OPENSSL} package in {sbom}"));
    assert_eq!(package["versionInfo"], OPENSSL);

    let reachable = peers::binfmt_aarch64()
        || platform
            == cargo_slim_image::host::Host::current()
                .native_platform()
                .unwrap();
    if reachable {
        let said = run(&first, platform, &format!("127.0.0.1:{port}"));
        let want = format!("{BODY} via OpenSSL {OPENSSL} ");
        assert!(said.starts_with(&want), "{said}");
    }

    // Another project (reqwest, native-tls) reuses it; so does a second build of the first.
    let reqwest = fixture_with_ca("reqwest-client", w.path(), &s.ca);
    let second = w.path().join("second");
    let stderr = build(&reqwest, &second, platform);
    let using = format!("using OpenSSL {OPENSSL} for {triple} from the cache");
    assert!(
        stderr.contains(&using) && !stderr.contains(&built),
        "{stderr}"
    );
    if reachable {
        let said = run(&second, platform, &format!("https://127.0.0.1:{port}/"));
        assert_eq!(said.trim(), format!("{BODY} via native-tls"));
    }
    let third = w.path().join("third");
    let stderr = build(&openssl, &third, platform);
    assert!(
        stderr.contains(&using) && !stderr.contains(&built),
        "{stderr}"
    );
    assert_eq!((mtime(&dir), mtime(&lib)), (when, lib_mtime), "rebuilt");
    assert_eq!(entry(platform), dir);
}

#[test]
fn openssl_and_reqwest_clients_build_for_amd64_with_openssl_built_once_and_talk_https() {
    peers::require!("podman", "musl-gcc");
    clients_talk_https(Platform::LinuxAmd64);
}

#[test]
fn openssl_and_reqwest_clients_build_for_arm64_with_openssl_built_once_and_talk_https() {
    peers::require!("podman", "cargo-zigbuild");
    clients_talk_https(Platform::LinuxArm64);
}

#[test]
fn libsqlite3_sys_without_bundled_fails_before_compiling_with_the_feature_to_turn_on() {
    let w = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let manifest = common::toolchain::fixture("sqlite-system");
    let mut c = slim::on(&manifest, w.path().to_str().unwrap(), &["--locked"]);
    c.env("SLIM_IMAGE_CACHE_DIR", w.path().join("cache"));
    let stderr = slim::fails(c);
    assert!(
        stderr.contains("libsqlite3-sys@0.30.1 without `bundled`")
            && stderr.contains(r#"features = ["bundled"]"#)
            && stderr.contains("nothing was compiled"),
        "{stderr}"
    );
    assert!(!stderr.contains("Compiling"), "{stderr}");
    assert!(!w.path().join("slim-image/.build").exists());
}

#[test]
fn openssl_system_or_a_users_openssl_dir_turns_the_build_off() {
    let w = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let ca = b"not used: the build fails first\n";
    let manifest = fixture_with_ca("openssl-client", w.path(), ca);
    let own_cache = w.path().join("cache");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let attempt = |openssl: &str, env: Option<(&str, &Path)>| {
        let table = format!("[package.metadata.slim-image]\nopenssl = \"{openssl}\"\n");
        std::fs::write(
            &manifest,
            text.replace("[package.metadata.slim-image]\n", &table),
        )
        .unwrap();
        let mut c = slim::on(
            manifest.to_str().unwrap(),
            slim::shared_target().to_str().unwrap(),
            &["--locked", "--platform", "linux/amd64"],
        );
        c.env("SLIM_IMAGE_CACHE_DIR", &own_cache)
            .env_remove("OPENSSL_DIR");
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        slim::fails(c)
    };
    // openssl-sys is left to itself, which finds no OpenSSL for the musl target.
    let stderr = attempt("system", None);
    assert!(!stderr.contains("OpenSSL 3.6.3"), "{stderr}");
    assert!(stderr.contains("openssl-sys"), "{stderr}");
    let missing = w.path().join("no-such-openssl");
    let stderr = attempt("auto", Some(("OPENSSL_DIR", &missing)));
    assert!(!stderr.contains("OpenSSL 3.6.3"), "{stderr}");
    assert!(stderr.contains("no-such-openssl"), "{stderr}");
    assert!(!own_cache.exists(), "the cache was made");
    // A value that is neither is an error naming the key and the file.
    let stderr = attempt("vendored", None);
    assert!(
        stderr.contains("openssl") && stderr.contains("`vendored` is not an OpenSSL source"),
        "{stderr}"
    );
}
