//! `cargo slim-image verify` against hostile and broken images: an index that holds more than the
//! rebuild made (another platform, an attestation-like entry, a second manifest for the built
//! platform, annotations), layout blobs that are not what their digest says (even when the blob
//! cache already holds the real ones), a tag on two images, a decompression bomb in the differing
//! layer, and a registry that serves other bytes, another media type or a secret in its realm. Each
//! must end non-zero with a true reason, never `Reproduced`, never a panic, and in bounded time.

mod common;
#[path = "verify_attacks/layers.rs"]
mod layers;

use common::checkout::{put_blob, set_index, status, text, Checkout};
use common::registry::fake::{Config, FakeRegistry};
use common::slim::{self, ok, run};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A checkout built once with `--bin hello`: its layout, and the manifest's descriptor.
fn built() -> (tempfile::TempDir, Checkout, Value) {
    let work = tempfile::tempdir().unwrap();
    let c = Checkout::new(work.path().join("w"));
    ok(c.cmd(&["--bin", "hello"]));
    let (digest, _) = slim::manifest_of(&c.layout());
    let size = std::fs::metadata(slim::blob_path(&c.layout(), &digest))
        .unwrap()
        .len();
    let desc = json!({"mediaType": MANIFEST, "digest": digest, "size": size});
    (work, c, desc)
}

/// `desc` with a platform.
fn on(desc: &Value, os: &str, arch: &str) -> Value {
    let mut d = desc.clone();
    d["platform"] = json!({"os": os, "architecture": arch});
    d
}

/// The manifest `desc` points at, with one annotation more: another manifest, as a blob.
fn another_manifest(layout: &Path, desc: &Value) -> Value {
    let mut m = slim::blob_json(layout, desc["digest"].as_str().unwrap());
    m["annotations"] = json!({"injected": "yes"});
    put_blob(layout, MANIFEST, m.to_string().as_bytes())
}

/// Point the layout's index.json at an index (a blob) of `entries`, with `extra` fields merged in.
fn serve_index(layout: &Path, entries: Vec<Value>, extra: Value) -> String {
    let mut index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries});
    if let (Some(i), Some(e)) = (index.as_object_mut(), extra.as_object()) {
        i.extend(e.clone());
    }
    let desc = put_blob(layout, INDEX, index.to_string().as_bytes());
    set_index(layout, vec![desc.clone()]);
    desc["digest"].as_str().unwrap().to_string()
}

#[test]
fn an_index_holding_more_than_the_rebuild_is_not_reproduced() {
    let (_work, c, m) = built();
    let layout = c.layout();
    let image = format!("oci:{}", layout.display());
    let other = another_manifest(&layout, &m);
    let amd64 = on(&m, "linux", "amd64");
    let cases: Vec<(&str, Vec<Value>, Value, &str)> = vec![
        (
            "another platform",
            vec![amd64.clone(), on(&other, "linux", "riscv64")],
            json!({}),
            "linux/riscv64: not rebuilt",
        ),
        (
            "an attestation-like entry",
            vec![amd64.clone(), on(&other, "unknown", "unknown")],
            json!({}),
            "unknown/unknown: not rebuilt",
        ),
        (
            "an entry without a platform",
            vec![amd64.clone(), other.clone()],
            json!({}),
            "(no platform): not rebuilt",
        ),
        (
            "a second manifest for the built platform",
            vec![amd64.clone(), on(&other, "linux", "amd64")],
            json!({}),
            "another linux/amd64 manifest",
        ),
        (
            "annotations on the index",
            vec![amd64.clone()],
            json!({"annotations": {"injected": "yes"}}),
            "the image is an index",
        ),
    ];
    for (what, entries, extra, says) in cases {
        let index = serve_index(&layout, entries, extra);
        let out = run(&mut c.cmd(&["verify", &image, "--bin", "hello"]));
        let err = status(&out, 1);
        assert!(
            !text(&out.stdout).contains("Reproduced"),
            "{what}: {}",
            text(&out.stdout)
        );
        assert!(
            err.contains(&format!("{image}@{index} does not match the rebuild")),
            "{what}: {err}"
        );
        assert!(err.contains(says), "{what}: wanted `{says}` in:\n{err}");
        // The built platform itself is said to match: the reason is the rest of the index.
        assert!(err.contains("reproduced"), "{what}: {err}");
    }
}

#[test]
fn layout_blobs_that_are_not_their_digest_are_never_reproduced() {
    let (work, c, m) = built();
    let digest = m["digest"].as_str().unwrap().to_string();
    let manifest = slim::blob_json(&c.layout(), &digest);
    let layer = manifest["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    // The blob cache of this checkout holds every real blob: verify must read IMAGE's, not those.
    let check = |name: &str, edit: &dyn Fn(&Path), says: &[&str]| {
        let copy = work.path().join(name);
        common::checkout::copy_layout(&c.layout(), &copy);
        edit(&copy);
        let image = format!("oci:{}", copy.display());
        let started = Instant::now();
        let out = run(&mut c.cmd(&["verify", &image, "--bin", "hello"]));
        let err = status(&out, 2);
        assert!(out.stdout.is_empty(), "{name}: {}", text(&out.stdout));
        for s in says {
            assert!(err.contains(s), "{name}: wanted `{s}` in:\n{err}");
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{name}: slow");
    };
    let garbage = |d: &str| {
        let d = d.to_string();
        move |l: &Path| std::fs::write(slim::blob_path(l, &d), b"not the blob").unwrap()
    };
    check(
        "manifest",
        &garbage(&digest),
        &[&digest, "does not match its descriptor"],
    );
    check(
        "layer",
        &garbage(&layer),
        &[&layer, "does not match its descriptor"],
    );
    let gone = layer.clone();
    check(
        "missing",
        &move |l: &Path| std::fs::remove_file(slim::blob_path(l, &gone)).unwrap(),
        &[&layer, "does not exist"],
    );
    // A FIFO in place of the layer: a plain open would wait for ever for a writer.
    let fifo = layer.clone();
    check(
        "fifo",
        &move |l: &Path| {
            let p = slim::blob_path(l, &fifo);
            std::fs::remove_file(&p).unwrap();
            let made = std::process::Command::new("mkfifo")
                .arg(&p)
                .status()
                .unwrap();
            assert!(made.success());
        },
        &[&layer, "not a regular file"],
    );
    // A blob (or index.json) linked to a file outside the layout is not read: a mismatch message
    // would give away that file's digest and size.
    let secret = work.path().join("secret.txt");
    std::fs::write(&secret, "token=hunter2").unwrap();
    let secret_digest = common::checkout::sha256(b"token=hunter2");
    let (to, target) = (layer.clone(), secret.clone());
    check(
        "outside",
        &move |l: &Path| {
            let p = slim::blob_path(l, &to);
            std::fs::remove_file(&p).unwrap();
            std::os::unix::fs::symlink(&target, &p).unwrap();
        },
        &[&layer, "outside the layout"],
    );
    let out = run(&mut c.cmd(&[
        "verify",
        &format!("oci:{}", work.path().join("outside").display()),
        "--bin",
        "hello",
    ]));
    assert!(
        !text(&out.stderr).contains(&secret_digest[7..]),
        "{}",
        text(&out.stderr)
    );
    let target = secret.clone();
    check(
        "outside-index",
        &move |l: &Path| {
            std::fs::remove_file(l.join("index.json")).unwrap();
            std::os::unix::fs::symlink(&target, l.join("index.json")).unwrap();
        },
        &["index.json", "outside the layout"],
    );
    // The untouched layout is reproduced.
    let out = run(&mut c.cmd(&[
        "verify",
        &format!("oci:{}", c.layout().display()),
        "--bin",
        "hello",
    ]));
    status(&out, 0);
}

#[test]
fn a_tag_on_two_images_is_ambiguous() {
    let (_work, c, m) = built();
    let layout = c.layout();
    let other = another_manifest(&layout, &m);
    let tagged = |d: &Value| {
        let mut d = d.clone();
        d["annotations"] = json!({"org.opencontainers.image.ref.name": "1.0"});
        d
    };
    set_index(&layout, vec![tagged(&m), tagged(&other)]);
    let image = format!("oci:{}:1.0", layout.display());
    let out = run(&mut c.cmd(&["verify", &image, "--bin", "hello"]));
    let err = status(&out, 2);
    assert!(err.contains("tagged `1.0`"), "{err}");
    assert!(
        err.contains(m["digest"].as_str().unwrap())
            && err.contains(other["digest"].as_str().unwrap()),
        "{err}"
    );
    // The same image under one tag twice is not ambiguous.
    set_index(&layout, vec![tagged(&m), tagged(&m)]);
    let out = run(&mut c.cmd(&["verify", &image, "--bin", "hello"]));
    status(&out, 0);
}

/// A gzip stream of `data`.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn a_bomb_in_the_differing_layer_is_compared_within_bounds() {
    let (_work, c, m) = built();
    let layout = c.layout();
    let mut manifest = slim::blob_json(&layout, m["digest"].as_str().unwrap());
    // The binary as a file of 8 GiB claimed and 2 GiB of zeros given, as concatenated gzip
    // members: 2 MiB on disk.
    let size: u64 = (8 << 30) - 1;
    let mut bomb = gzip(&common::tar::ustar_header(
        "usr/local/bin/hello",
        b'0',
        size,
        "",
    ));
    let zeros = gzip(&vec![0u8; 1 << 20]);
    for _ in 0..2048 {
        bomb.extend_from_slice(&zeros);
    }
    let layer = put_blob(
        &layout,
        "application/vnd.oci.image.layer.v1.tar+gzip",
        &bomb,
    );
    manifest["layers"][1] = layer;
    let desc = put_blob(&layout, MANIFEST, manifest.to_string().as_bytes());
    set_index(&layout, vec![desc]);
    let image = format!("oci:{}", layout.display());
    let mut child = c
        .cmd(&["verify", &image, "--bin", "hello"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(90) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("verify was still unpacking the bomb after 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let err = status(&out, 1);
    assert!(err.contains("layer 2 of 2"), "{err}");
    assert!(err.contains("usr/local/bin/hello differs: size"), "{err}");
    assert!(err.contains("stopped comparing files there"), "{err}");
}

/// The manifest, config and layers of a built layout, put into a fake registry as `repo:tag`.
fn publish(layout: &Path, reg: &FakeRegistry, repo: &str, tag: &str) -> (String, Vec<u8>) {
    let (digest, manifest) = slim::manifest_of(layout);
    let bytes = std::fs::read(slim::blob_path(layout, &digest)).unwrap();
    for d in std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().unwrap()) {
        let d = d["digest"].as_str().unwrap();
        reg.put_blob_unchecked(d, std::fs::read(slim::blob_path(layout, d)).unwrap());
    }
    reg.put_manifest(repo, tag, MANIFEST, bytes.clone());
    (digest, bytes)
}

#[test]
fn a_root_served_as_other_bytes_or_another_type_is_refused() {
    let (_work, c, _) = built();
    let reg = FakeRegistry::start(Config::default());
    let (digest, bytes) = publish(&c.layout(), &reg, "demo/hello", "1");
    let good = format!("{}/demo/hello:1", reg.host);
    let out = run(&mut c.cmd(&["verify", &good, "--bin", "hello"]));
    status(&out, 0);
    assert_eq!(text(&out.stdout), format!("Reproduced {good}@{digest}\n"));
    // Asked for by digest, it serves other bytes (the same manifest, one annotation more).
    let mut other: Value = serde_json::from_slice(&bytes).unwrap();
    other["annotations"] = json!({"injected": "yes"});
    reg.put_manifest(
        "demo/evil",
        &digest,
        MANIFEST,
        other.to_string().into_bytes(),
    );
    let pinned = format!("{}/demo/evil@{digest}", reg.host);
    let out = run(&mut c.cmd(&["verify", &pinned, "--bin", "hello"]));
    let err = status(&out, 2);
    assert!(err.contains(&format!("not {digest}")), "{err}");
    // By tag, the right bytes as another media type than they say they are.
    reg.put_manifest("demo/typed", "1", INDEX, bytes.clone());
    let typed = format!("{}/demo/typed:1", reg.host);
    let out = run(&mut c.cmd(&["verify", &typed, "--bin", "hello"]));
    let err = status(&out, 2);
    assert!(err.contains(INDEX) && err.contains(MANIFEST), "{err}");
    // The same lie in a layout's index.json.
    let mut as_index = slim::index_json(&c.layout())["manifests"][0].clone();
    as_index["mediaType"] = json!(INDEX);
    set_index(&c.layout(), vec![as_index]);
    let layout = format!("oci:{}", c.layout().display());
    let out = run(&mut c.cmd(&["verify", &layout, "--bin", "hello"]));
    let err = status(&out, 2);
    assert!(err.contains("index.json lists it"), "{err}");
    assert!(err.contains(INDEX) && err.contains(MANIFEST), "{err}");
}

/// A server that answers every request 401 with a token realm that quotes `secret`.
fn locked_registry(secret: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let realm = format!("http://{host}/token?account=ci&password={secret}");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let body = format!(r#"{{"errors":[{{"code":"DENIED","message":"{secret}"}}]}}"#);
            let _ = write!(
                conn,
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",\
                 service=\"x\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    host
}

#[test]
fn secrets_in_image_or_realm_are_never_shown() {
    let work = tempfile::tempdir().unwrap();
    let c = Checkout::new(work.path().join("w"));
    let secret = "hunter2-verify-SECRET";
    let host = locked_registry(secret);
    for image in [
        format!("{host}/demo/hello:1"),
        format!("ci:{secret}@{host}/demo/hello:1"),
        format!("docker://ci:{secret}@{host}/demo/hello:1"),
    ] {
        let out = run(&mut c.cmd(&["verify", &image, "--bin", "hello"]));
        let err = status(&out, 2);
        let all = format!("{}{err}", text(&out.stdout));
        assert!(!all.contains(secret), "{image}: {all}");
        assert!(!all.contains("hunter2"), "{image}: {all}");
    }
}

#[test]
fn an_index_of_thousands_of_entries_is_summed_up() {
    let (_work, c, m) = built();
    let layout = c.layout();
    let mut entries = vec![on(&m, "linux", "amd64")];
    entries.extend((0..5000).map(|i| on(&m, "linux", &format!("arch{i}"))));
    let index = serve_index(&layout, entries, json!({}));
    let image = format!("oci:{}", layout.display());
    let out = run(&mut c.cmd(&["verify", &image, "--bin", "hello"]));
    let err = status(&out, 1);
    assert!(
        err.contains(&format!("{image}@{index} does not match")),
        "{err}"
    );
    assert!(err.contains("linux/arch0: not rebuilt"), "{err}");
    assert!(
        err.contains("and 4980 more entries of the image, not rebuilt"),
        "{err}"
    );
    assert!(err.lines().count() < 60, "{} lines", err.lines().count());
}

/// Every file under `dir` with its bytes and mtime.
fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let m = std::fs::metadata(&p).unwrap().modified().unwrap();
                out.push((p.clone(), std::fs::read(&p).unwrap(), m));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn verifying_the_checkouts_own_layout_after_a_change_never_rewrites_it() {
    let (work, c, _) = built();
    let layout = c.layout();
    let before = snapshot(&layout);
    c.change_one_line();
    let image = format!("oci:{}", layout.display());
    let tar = work.path().join("out.tar");
    let out = run(&mut c.cmd(&[
        "verify",
        &image,
        "--bin",
        "hello",
        "--output",
        layout.to_str().unwrap(),
        "--tarball",
        tar.to_str().unwrap(),
    ]));
    let err = status(&out, 1);
    assert!(err.contains("--tarball, --output ignored"), "{err}");
    assert!(
        err.contains("usr/local/bin/hello differs: content"),
        "{err}"
    );
    assert!(before == snapshot(&layout), "verify rewrote IMAGE");
    assert!(!tar.exists(), "verify wrote the tarball");
}

#[test]
fn an_entry_that_is_no_image_manifest_is_how_it_differs() {
    let (_work, c, m) = built();
    let layout = c.layout();
    // linux/amd64 of the root index is another index (over the real manifest), not a manifest.
    let inner =
        json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [on(&m, "linux", "amd64")]});
    let inner = put_blob(&layout, INDEX, inner.to_string().as_bytes());
    let index = serve_index(&layout, vec![on(&inner, "linux", "amd64")], json!({}));
    let image = format!("oci:{}", layout.display());
    let out = run(&mut c.cmd(&["verify", &image, "--bin", "hello"]));
    let err = status(&out, 1);
    assert!(
        err.contains(&format!("{image}@{index} does not match")),
        "{err}"
    );
    assert!(
        err.contains("(the whole manifest): \"not an image manifest"),
        "{err}"
    );
}
