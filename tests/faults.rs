//! Fault tests (issue 7): pushes through a fault-injecting proxy ([`proxy`]) in front of the real
//! `docker-registry` with htpasswd Basic auth: 5xx, 429 with `Retry-After`, connection resets in the
//! middle of an upload, answers held back past the client's timeout, 401 in the middle of a push,
//! truncated manifest bodies, redirects to another host. For every fault the push either completes
//! (bounded retries with backoff) or fails with a clear error; either way the registry never holds a
//! manifest that references a missing blob, and running the push again once the fault clears
//! succeeds and uploads only what is missing (also checked through the real binary: the same command
//! run again). A seeded soak pushes through random faults many times and checks every result with
//! `skopeo inspect` and a full pull with digest checks.
//!
//! The soak's seed is printed; rerun one with `SLIM_FAULT_SEED=<seed> cargo test --test faults`.

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use cargo_slim_image::blob::{media, Artifact, BlobStore, Descriptor};
use cargo_slim_image::digest::Digest;
use cargo_slim_image::registry::{Client, ClientOptions, Tuning};
use cargo_slim_image::sink::push::{PushOptions, PushReport};
use common::registry::{
    basic_header, ci_credentials, skopeo_digest, Built, Mode, RealRegistry, PASSWORD, USER,
};
use common::tar::ustar_header;
use proxy::{first, forever, redirect_uploads, Fault, Proxy, Rule};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A tar with one regular file (ustar header, data, end-of-archive blocks).
fn tar_one_file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = ustar_header(name, b'0', data.len() as u64, "").to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

/// A gzip layer holding one file; returns (layer descriptor, diff_id).
fn layer(store: &BlobStore, name: &str, data: &[u8]) -> (Descriptor, Digest) {
    let tar = tar_one_file(name, data);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let d = store
        .put_bytes(media::LAYER_GZIP, &gz.finish().unwrap())
        .unwrap();
    (d, Digest::of(&tar))
}

/// Seeded xorshift64*: the soak's only source of randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// An image of two layers: one shared by every image of a test (`shared`), one of its own (`own`
/// bytes of noise, so gzip keeps it about that big), plus its config.
fn image(label: &str, own: usize, seed: u64) -> Built {
    Built::make(|store| {
        let (base, base_id) = layer(store, "shared.txt", b"the layer every image shares\n");
        let mut data = format!("{label}\n").into_bytes();
        data.extend(Rng(seed | 1).bytes(own));
        let (app, app_id) = layer(store, "app.bin", &data);
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/app.bin"]},
            "rootfs": {"type": "layers", "diff_ids": [base_id.to_string(), app_id.to_string()]},
        });
        let (config, _) = store.put_json(media::CONFIG, &config).unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": media::MANIFEST, "config": config,
            "layers": [base, app],
        });
        let (root, _) = store.put_json(media::MANIFEST, &manifest).unwrap();
        Artifact {
            root,
            manifests: vec![],
            blobs: vec![config, base, app],
        }
    })
}

/// Quick retries and a short I/O timeout, so faults cost little time.
fn tuning() -> Tuning {
    Tuning {
        retries: 4,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(300),
        io_timeout: Duration::from_millis(1500),
        connect_timeout: Duration::from_secs(2),
        ..Tuning::default()
    }
}

fn opts() -> PushOptions {
    PushOptions {
        jobs: 3,
        certs_dirs: vec![],
        credentials: ci_credentials(PASSWORD),
        tuning: tuning(),
        ..PushOptions::default()
    }
}

/// A client to `host` with the test's credentials and tuning.
fn client_to(host: &str) -> Client {
    let o = ClientOptions {
        certs_dirs: vec![],
        credentials: ci_credentials(PASSWORD),
        tuning: tuning(),
        ..ClientOptions::default()
    };
    Client::new(host, &o).unwrap()
}

/// A client straight to the registry (no proxy, no faults), to look at what it holds.
fn direct(reg: &RealRegistry) -> Client {
    client_to(&reg.host)
}

/// The blobs of `img` the registry does not hold in `repo`.
fn missing(client: &Client, repo: &str, img: &Built) -> usize {
    img.artifact
        .blobs
        .iter()
        .filter(|b| client.head_blob(repo, &b.digest).unwrap().is_none())
        .count()
}

/// The invariant: if `repo:tag` exists, every blob its manifest references is there, with its size.
fn assert_no_dangling_manifest(client: &Client, repo: &str, tag: &str) {
    let Some(_) = client.head_manifest(repo, tag).unwrap() else {
        return;
    };
    let m = client.get_manifest(repo, tag).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
    let mut descs = vec![v["config"].clone()];
    descs.extend(v["layers"].as_array().unwrap().iter().cloned());
    for d in descs {
        let digest: Digest = d["digest"].as_str().unwrap().parse().unwrap();
        let size = client.head_blob(repo, &digest).unwrap();
        assert_eq!(
            size,
            d["size"].as_u64(),
            "{repo}:{tag} references blob {digest}, which the registry does not hold (or not whole)"
        );
    }
}

/// `skopeo inspect --raw` agrees on the manifest digest, and a full pull (every blob downloaded and
/// checked against its digest and size) succeeds.
fn assert_pulls(reg: &RealRegistry, repo: &str, tag: &str, img: &Built) {
    let want = &img.artifact.root.digest;
    if let Some(d) = skopeo_digest(
        "faults: skopeo inspect",
        &format!("{}/{repo}:{tag}", reg.host),
        &["--tls-verify=false", &format!("--creds={USER}:{PASSWORD}")],
    ) {
        assert_eq!(&d, want, "skopeo sees another manifest");
    }
    let client = direct(reg);
    let m = client.get_manifest(repo, tag).unwrap();
    assert_eq!(&m.digest, want);
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobStore::open(dir.path()).unwrap();
    for b in &img.artifact.blobs {
        client.fetch_blob(repo, b, &cache).unwrap();
        let bytes = std::fs::read(cache.path(&b.digest)).unwrap();
        assert_eq!(Digest::of(&bytes), b.digest);
        assert_eq!(bytes, std::fs::read(img.store.path(&b.digest)).unwrap());
    }
}

/// Push through the proxy; on failure check the error, clear the faults and push again, which must
/// upload only what is missing. Returns the first attempt's result.
fn push_then_recover(
    reg: &RealRegistry,
    px: &Proxy,
    repo: &str,
    img: &Built,
) -> Result<Vec<PushReport>, String> {
    let target = format!("{}/{repo}:v1", px.host);
    let first = img
        .push(&[target.parse().unwrap()], &opts())
        .map_err(|e| format!("{e:#}"));
    px.clear();
    let client = direct(reg);
    assert_no_dangling_manifest(&client, repo, "v1");
    if let Err(msg) = &first {
        assert!(
            !msg.contains(PASSWORD) && !msg.contains(&basic_header(PASSWORD)[6..]),
            "a secret in the error: {msg}"
        );
        let before = missing(&client, repo, img);
        let again = img
            .push(&[target.parse().unwrap()], &opts())
            .unwrap_or_else(|e| panic!("the retry after the fault cleared failed: {e:#}"));
        assert_eq!(
            again[0].uploaded_blobs, before,
            "the retry uploads exactly the {before} missing blob(s)"
        );
        assert_eq!(again[0].skipped_blobs, img.artifact.blobs.len() - before);
    }
    assert_no_dangling_manifest(&client, repo, "v1");
    assert_pulls(reg, repo, "v1", img);
    first
}

fn start() -> Option<(RealRegistry, Proxy)> {
    let reg = RealRegistry::start(Mode::Basic, "faults")?;
    let px = Proxy::start(&reg.host, Some(basic_header(PASSWORD)));
    Some((reg, px))
}

enum Expect {
    Ok,
    Fails(&'static [&'static str]),
}

#[test]
fn each_fault_either_retries_or_fails_clearly_and_a_rerun_uploads_only_what_is_missing() {
    let Some((reg, px)) = start() else { return };
    let slow = Fault::Slow(Duration::from_millis(2500));
    let cases: Vec<(&str, Rule, Expect)> = vec![
        (
            "5xx on blob uploads",
            Box::new(first("PUT", "/blobs/uploads/", 2, Fault::Status(500, None))),
            Expect::Ok,
        ),
        (
            "503 on blob HEAD",
            Box::new(first("HEAD", "/blobs/", 2, Fault::Status(503, None))),
            Expect::Ok,
        ),
        (
            "429 with Retry-After on the upload session",
            Box::new(first(
                "POST",
                "/blobs/uploads/",
                1,
                Fault::Status(429, Some("0")),
            )),
            Expect::Ok,
        ),
        (
            "connection reset mid-upload",
            Box::new(first("PUT", "/blobs/uploads/", 2, Fault::Reset)),
            Expect::Ok,
        ),
        (
            "answer held back past the timeout (the blob did land)",
            Box::new(first("PUT", "/blobs/uploads/", 1, slow.clone())),
            Expect::Ok,
        ),
        (
            "manifest PUT held back past the timeout",
            Box::new(first("PUT", "/manifests/", 1, slow)),
            Expect::Ok,
        ),
        (
            "reset of the manifest PUT",
            Box::new(first("PUT", "/manifests/", 1, Fault::Reset)),
            Expect::Ok,
        ),
        (
            "redirect of blob uploads to another host",
            Box::new(redirect_uploads()),
            Expect::Ok,
        ),
        (
            "401 in the middle of the blob uploads",
            Box::new(first("PUT", "/blobs/uploads/", 1, Fault::Status(401, None))),
            Expect::Fails(&["rejected the credentials", USER]),
        ),
        (
            "401 on the manifest (credentials revoked mid-push)",
            Box::new(first("PUT", "/manifests/", 1, Fault::Status(401, None))),
            Expect::Fails(&["rejected the credentials", "pushing", "manifest"]),
        ),
        (
            "5xx forever on blob uploads",
            forever("PUT", "/blobs/uploads/", Fault::Status(502, None)),
            Expect::Fails(&["HTTP 502", "no manifest was pushed"]),
        ),
        (
            "5xx forever on the manifest",
            forever("PUT", "/manifests/", Fault::Status(500, None)),
            Expect::Fails(&["HTTP 500", "manifest"]),
        ),
        (
            "resets forever",
            forever("PUT", "/blobs/uploads/", Fault::Reset),
            Expect::Fails(&["connection to", "failed"]),
        ),
    ];
    for (i, (name, rule, expect)) in cases.into_iter().enumerate() {
        let repo = format!("faults/case{i}");
        let img = image(name, 2000 + i * 100, 7 + i as u64);
        px.reset_log();
        px.set_rule(rule);
        let res = push_then_recover(&reg, &px, &repo, &img);
        match (expect, res) {
            (Expect::Ok, Ok(rep)) => {
                assert_eq!(rep[0].digest, img.artifact.root.digest, "{name}");
            }
            (Expect::Fails(words), Err(msg)) => {
                for w in words {
                    assert!(msg.contains(w), "{name}: the error lacks `{w}`: {msg}");
                }
                assert!(
                    msg.contains(&px.host) || msg.contains(&repo),
                    "{name}: {msg}"
                );
            }
            (Expect::Ok, Err(msg)) => panic!("{name}: expected the push to recover: {msg}"),
            (Expect::Fails(_), Ok(_)) => panic!("{name}: expected the push to fail"),
        }
        let seen = px.seen();
        assert!(
            seen.iter().any(|s| s.fault != Fault::Pass),
            "{name}: no fault was injected"
        );
        for s in seen.iter().filter(|s| s.host == px.other_host) {
            assert_eq!(
                s.authorization, None,
                "{name}: credentials followed a redirect to another host ({} {})",
                s.method, s.path
            );
        }
    }
}

#[test]
fn retry_after_is_honoured() {
    let Some((reg, px)) = start() else { return };
    let img = image("retry-after", 100, 3);
    let mut o = opts();
    o.tuning.max_backoff = Duration::from_secs(5);
    px.set_rule(first(
        "POST",
        "/blobs/uploads/",
        1,
        Fault::Status(429, Some("1")),
    ));
    let t = Instant::now();
    let target = format!("{}/faults/retry-after:v1", px.host);
    img.push(&[target.parse().unwrap()], &o).unwrap();
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured"
    );
    assert_pulls(&reg, "faults/retry-after", "v1", &img);
}

#[test]
fn truncated_manifest_bodies_are_retried_by_tag_and_refused_by_digest() {
    let Some((reg, px)) = start() else { return };
    let img = image("truncated", 100, 5);
    let target = format!("{}/faults/trunc:v1", px.host);
    img.push(&[target.parse().unwrap()], &opts()).unwrap();
    let client = client_to(&px.host);
    px.set_rule(first("GET", "/manifests/", 2, Fault::Truncate));
    let m = client.get_manifest("faults/trunc", "v1").unwrap();
    assert_eq!(m.digest, img.artifact.root.digest);
    assert_eq!(
        px.seen()
            .iter()
            .filter(|s| s.fault == Fault::Truncate)
            .count(),
        2
    );
    px.set_rule(first("GET", "/manifests/", usize::MAX, Fault::Truncate));
    let digest = img.artifact.root.digest.to_string();
    let e = client.get_manifest("faults/trunc", &digest).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("faults/trunc") && msg.contains(&px.host),
        "the error names the manifest and registry: {msg}"
    );
    px.clear();
    drop(reg);
}

/// Push `pushes` images through random faults (seeded), each checked as in the module docs.
#[test]
fn seeded_random_fault_soak() {
    let Some((reg, px)) = start() else { return };
    let seed: u64 = std::env::var("SLIM_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f417);
    let pushes = 12;
    let budget = Duration::from_secs(40);
    eprintln!("fault soak: seed {seed} ({pushes} pushes, at most {budget:?})");
    let rng = Arc::new(std::sync::Mutex::new(Rng(seed | 1)));
    let t = Instant::now();
    let (mut ok, mut failed) = (0, 0);
    for i in 0..pushes {
        if t.elapsed() > budget {
            eprintln!("fault soak: time budget reached after {i} pushes");
            break;
        }
        let r = rng.clone();
        px.set_rule(move |m: &str, p: &str, h: &str| {
            let mut r = r.lock().unwrap();
            if r.below(100) >= 22 {
                return Fault::Pass;
            }
            match r.below(100) {
                0..=24 => Fault::Status([500, 502, 503, 504][r.below(4) as usize], None),
                25..=39 => Fault::Status(429, Some("0")),
                40..=64 => Fault::Reset,
                65..=69 => Fault::Slow(Duration::from_millis(2000)),
                70..=74 => Fault::Status(401, None),
                75..=89 if h.starts_with("127.") && m != "HEAD" && !p.ends_with("/v2/") => {
                    Fault::Redirect
                }
                _ => Fault::Truncate,
            }
        });
        let seed_i = rng.lock().unwrap().next();
        let img = image(&format!("soak {i}"), 500 + (seed_i % 4000) as usize, seed_i);
        let repo = format!("soak/r{}", i % 3);
        // Every repository keeps being pushed to: later pushes find the shared layer there.
        let target_tag = "v1";
        let res = push_then_recover(&reg, &px, &repo, &img);
        match res {
            Ok(_) => ok += 1,
            Err(msg) => {
                failed += 1;
                eprintln!("fault soak: push {i} failed (then recovered): {msg}");
            }
        }
        for s in px.seen().iter().filter(|s| s.host == px.other_host) {
            assert_eq!(
                s.authorization, None,
                "credentials crossed hosts (seed {seed})"
            );
        }
        px.reset_log();
        assert_no_dangling_manifest(&direct(&reg), &repo, target_tag);
    }
    eprintln!(
        "fault soak: {ok} pushes went through the faults, {failed} failed clearly and recovered, in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    assert!(ok + failed >= 3, "the soak ran too few pushes");
}

/// The same command, run again after a failed push, uploads nothing that already landed.
#[test]
fn rerunning_the_command_after_a_failed_push_uploads_only_what_is_missing() {
    let Some((reg, px)) = start() else { return };
    let work = tempfile::tempdir().unwrap();
    let target = format!("{}/faults/cli:v1", px.host);
    let t = work.path().join("target");
    let out = work.path().join("out");
    let run = || {
        let mut c = common::slim::cmd(&[
            "--binary",
            "/bin/busybox",
            "--message-format",
            "json",
            "--retries",
            "1",
            "--timeout",
            "5",
            "--push",
            &target,
            "--target-dir",
            t.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ]);
        c.env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
            .env("SLIM_IMAGE_REGISTRY_PASSWORD", PASSWORD)
            .env("HOME", work.path())
            .env("DOCKER_CONFIG", work.path())
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR");
        common::slim::run(&mut c)
    };
    // The first layer upload succeeds, the other blobs fail for good: a clear failure, no manifest.
    let puts = Arc::new(AtomicUsize::new(0));
    let p = puts.clone();
    px.set_rule(move |m: &str, path: &str, _h: &str| {
        if m == "PUT" && path.contains("/blobs/uploads/") && p.fetch_add(1, Ordering::SeqCst) > 0 {
            Fault::Status(503, None)
        } else {
            Fault::Pass
        }
    });
    let o = run();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("HTTP 503") && err.contains("no manifest was pushed"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    assert_eq!(reg.manifest_puts(), 0);
    let landed = reg
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.uri.contains("/blobs/uploads/") && r.status == 201)
        .count();
    assert_eq!(landed, 1, "one blob landed before the fault");
    px.clear();
    let o = run();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let pushed = &report["images"][0]["pushed"][0];
    assert_eq!(pushed["skipped_blobs"], 1, "{report}");
    let uploaded = pushed["uploaded_blobs"].as_u64().unwrap();
    assert!(uploaded >= 1, "{report}");
    let digest = pushed["digest"].as_str().unwrap();
    // The image's manifest (and, with an SBOM, its referrer manifests).
    assert!(reg.manifest_puts() >= 1);
    let client = direct(&reg);
    assert_eq!(
        client
            .get_manifest("faults/cli", "v1")
            .unwrap()
            .digest
            .to_string(),
        digest
    );
    assert_no_dangling_manifest(&client, "faults/cli", "v1");
}
