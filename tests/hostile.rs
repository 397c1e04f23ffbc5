//! Hostile registries and base images (issue 7), through the registry client's pull API against the
//! in-process fake registry and a raw TCP server that misbehaves on purpose.
//!
//! Base layers are only ever referenced, never unpacked: a layer full of `..` paths, absolute paths,
//! symlinks and hard links pointing out of the root, and device files lands as one opaque,
//! digest-checked file in the blob cache and nothing else is written anywhere. Blobs whose bytes do
//! not match their descriptor (digest or size) never enter the cache; a manifest over the size limit
//! is refused (before the download when a descriptor announces it); an endless error body is read
//! only up to a cap and summarised in a short message.

mod common;

use cargo_slim_image::blob::{media, BlobStore, Descriptor};
use cargo_slim_image::digest::Digest;
use cargo_slim_image::registry::{Client, ClientOptions, CredentialEnv, Tuning};
use common::registry::fake::{self, FakeRegistry};
use common::tar::ustar_header;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A gzip tar that would escape any directory it were unpacked into.
fn hostile_layer() -> Vec<u8> {
    let mut tar = Vec::new();
    let data = b"pwned\n";
    for (name, kind, link) in [
        ("../../../../tmp/slim-hostile-dotdot", b'0', ""),
        ("/tmp/slim-hostile-absolute", b'0', ""),
        ("escape", b'2', "/tmp"),
        ("escape/slim-hostile-through-symlink", b'0', ""),
        ("rel-escape", b'2', "../../../../tmp"),
        ("hard", b'1', "../../../../etc/passwd"),
        ("dev/mem", b'3', ""),
        ("dev/sda", b'4', ""),
        ("fifo", b'6', ""),
    ] {
        let size = if kind == b'0' { data.len() as u64 } else { 0 };
        tar.extend_from_slice(&ustar_header(name, kind, size, link));
        if kind == b'0' {
            let mut block = [0u8; 512];
            block[..data.len()].copy_from_slice(data);
            tar.extend_from_slice(&block);
        }
    }
    tar.extend_from_slice(&[0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

const PLANTED: [&str; 3] = [
    "/tmp/slim-hostile-dotdot",
    "/tmp/slim-hostile-absolute",
    "/tmp/slim-hostile-through-symlink",
];

fn opts() -> ClientOptions {
    ClientOptions {
        certs_dirs: vec![],
        credentials: CredentialEnv::empty(),
        tuning: Tuning {
            retries: 1,
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            ..Tuning::default()
        },
        ..ClientOptions::default()
    }
}

/// Every path below `root` (files, dirs, links), relative.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(root).unwrap().to_path_buf());
            if p.symlink_metadata().unwrap().is_dir() {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_hostile_base_layer_is_cached_as_one_opaque_blob_and_never_unpacked() {
    for p in PLANTED {
        let _ = std::fs::remove_file(p);
    }
    let reg = FakeRegistry::start(fake::Config::default());
    let client = Client::new(&reg.host, &opts()).unwrap();
    // The "base image" author pushes the layer.
    let src_dir = tempfile::tempdir().unwrap();
    let src = BlobStore::open(src_dir.path()).unwrap();
    let bytes = hostile_layer();
    let desc = src.put_bytes(media::DOCKER_LAYER_GZIP, &bytes).unwrap();
    client.push_blob("evil/base", &desc, &src, &[]).unwrap();

    // We fetch it as a base layer, from a working directory of its own.
    let root = tempfile::tempdir().unwrap();
    let cache = BlobStore::open(root.path().join("cache")).unwrap();
    client.fetch_blob("evil/base", &desc, &cache).unwrap();
    let hex = desc.digest.hex();
    assert_eq!(
        walk(root.path()),
        [
            PathBuf::from("cache"),
            PathBuf::from("cache/sha256"),
            PathBuf::from(format!("cache/sha256/{hex}")),
            PathBuf::from("cache/tmp"),
        ],
        "only the blob itself was written"
    );
    let cached = std::fs::read(cache.path(&desc.digest)).unwrap();
    assert_eq!(
        cached, bytes,
        "the layer is stored as the registry sent it, not unpacked"
    );
    let meta = std::fs::symlink_metadata(cache.path(&desc.digest)).unwrap();
    assert!(meta.is_file() && meta.len() == desc.size);
    for p in PLANTED {
        assert!(!Path::new(p).exists(), "{p} was written outside the cache");
    }
}

#[test]
fn blobs_that_do_not_match_their_descriptor_never_enter_the_cache() {
    let reg = FakeRegistry::start(fake::Config::default());
    let client = Client::new(&reg.host, &opts()).unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    let src = BlobStore::open(src_dir.path()).unwrap();
    let real = src
        .put_bytes(media::LAYER_GZIP, b"the real layer bytes")
        .unwrap();
    client.push_blob("evil/lies", &real, &src, &[]).unwrap();
    let root = tempfile::tempdir().unwrap();
    let cache = BlobStore::open(root.path()).unwrap();
    let lies = [
        (
            "shorter than the descriptor",
            Descriptor::new(media::LAYER_GZIP, real.digest.clone(), real.size + 5),
        ),
        (
            "longer than the descriptor",
            Descriptor::new(media::LAYER_GZIP, real.digest.clone(), real.size - 5),
        ),
    ];
    for (what, d) in lies {
        let e = client.fetch_blob("evil/lies", &d, &cache).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains(&real.digest.to_string()), "{what}: {msg}");
        assert!(
            !cache.contains(&real.digest),
            "{what}: an unverified blob entered the cache"
        );
        assert_eq!(
            std::fs::read_dir(root.path().join("tmp")).unwrap().count(),
            0,
            "{what}"
        );
    }
    // A registry that serves other bytes, of the right size, under the digest we asked for.
    let liar = lying_blob_server(b"bytes that are not the layer");
    let client = Client::new(&liar, &opts()).unwrap();
    let want = Digest::of(b"the layer we asked for, 28 b");
    let d = Descriptor::new(media::LAYER_GZIP, want.clone(), 28);
    let msg = format!(
        "{:#}",
        client.fetch_blob("evil/lies", &d, &cache).unwrap_err()
    );
    assert!(
        msg.contains("does not match the descriptor") && msg.contains(&want.to_string()),
        "{msg}"
    );
    assert!(!cache.contains(&want));
    assert_eq!(
        std::fs::read_dir(root.path().join("sha256"))
            .unwrap()
            .count(),
        0
    );
}

/// A registry that answers every blob GET with `body` (and `/v2/` with 200).
fn lying_blob_server(body: &'static [u8]) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let body: &[u8] = if req.starts_with("GET /v2/ ") {
                b"{}"
            } else {
                body
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = c.write_all(head.as_bytes());
            let _ = c.write_all(body);
        }
    });
    host
}

#[test]
fn oversized_or_mislabelled_manifests_are_refused() {
    let reg = FakeRegistry::start(fake::Config::default());
    let mut o = opts();
    o.tuning.max_manifest_size = 64 << 10;
    let client = Client::new(&reg.host, &o).unwrap();
    let pad = "x".repeat(100 << 10);
    let big = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","pad":"{pad}"}}"#,
        media::MANIFEST
    );
    client
        .put_manifest("evil/big", "v1", media::MANIFEST, big.as_bytes())
        .unwrap();
    let e = client.get_manifest("evil/big", "v1").unwrap_err();
    assert!(e.to_string().contains("larger than 65536 bytes"), "{e}");
    // A descriptor announcing a huge manifest is refused before anything is downloaded.
    let huge = Descriptor::new(media::MANIFEST, Digest::of(big.as_bytes()), 1 << 40);
    let before = reg.seen().len();
    let e = client.get_manifest_for("evil/big", &huge).unwrap_err();
    assert!(e.to_string().contains("over the 65536-byte limit"), "{e}");
    assert_eq!(reg.seen().len(), before, "nothing was asked for");
    // A descriptor whose size does not match the bytes.
    let small = r#"{"schemaVersion":2}"#;
    let d = client
        .put_manifest("evil/small", "v1", media::MANIFEST, small.as_bytes())
        .unwrap();
    let wrong = Descriptor::new(media::MANIFEST, d.clone(), small.len() as u64 + 1);
    let e = client.get_manifest_for("evil/small", &wrong).unwrap_err();
    assert!(e.to_string().contains("descriptor says"), "{e}");
    let right = Descriptor::new(media::MANIFEST, d.clone(), small.len() as u64);
    assert_eq!(
        client
            .get_manifest_for("evil/small", &right)
            .unwrap()
            .digest,
        d
    );
}

/// A server that answers `/v2/` with 200 and everything else with `status` and an endless body.
fn endless_error_server(status: u16) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let n = c.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]);
                if req.starts_with("GET /v2/ ") {
                    let _ = c.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                    );
                    return;
                }
                let head = format!(
                    "HTTP/1.1 {status} Nope\r\nContent-Type: text/plain\r\nContent-Length: 1000000000\r\n\
                     Connection: close\r\n\r\n"
                );
                if c.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let line = [b'A'; 8192];
                while c.write_all(&line).is_ok() {}
            });
        }
    });
    host
}

#[test]
fn endless_error_bodies_are_capped() {
    let host = endless_error_server(500);
    let mut o = opts();
    o.tuning.retries = 0;
    let client = Client::new(&host, &o).unwrap();
    let t = Instant::now();
    let e = client.get_manifest("evil/endless", "v1").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("HTTP 500"), "{msg}");
    assert!(
        msg.len() < 1000,
        "the error body was not capped ({} chars)",
        msg.len()
    );
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "reading the body took {:?}",
        t.elapsed()
    );
}
