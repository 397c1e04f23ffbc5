//! The default-settings soak (issue 11): 8 pushes through the real binary, with no retry or timeout
//! flags, through the fault proxy ([`proxy`]) in front of the real `docker-registry` (htpasswd Basic
//! auth), which fails 30% of all requests at random: 503, 429 with `Retry-After: 1`, or a connection
//! reset in the middle of the request. At least 7 of the 8 pushes must succeed, and after every push
//! (success or failure) every manifest the registry holds (each revision in its storage, tagged or
//! not) references only blobs and manifests it holds, with their sizes (checked with GETs and HEADs
//! straight to the registry, past the proxy).
//!
//! Each push is of a different image (`SOURCE_DATE_EPOCH` differs) into its own repository, so every
//! push uploads its blobs. The seed is printed with the figure; rerun one with
//! `SLIM_SOAK_SEED=<seed> cargo test --test soak` (parallel uploads meet the faults in the order
//! they arrive, so a seed fixes the fault sequence, not which request gets which fault).

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use cargo_slim_image::digest::Digest;
use cargo_slim_image::registry::{Client, ClientOptions};
use common::registry::{basic_header, ci_credentials, Mode, RealRegistry, PASSWORD, USER};
use proxy::{Fault, Proxy};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

fn strip_query(p: &str) -> &str {
    p.split('?').next().unwrap_or(p)
}

/// Seeded xorshift64*: the soak's only source of randomness.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// The 30% fault rule: 503, 429 with `Retry-After: 1` and resets, equally often.
fn thirty_percent(rng: Arc<Mutex<Rng>>) -> impl FnMut(&str, &str, &str) -> Fault + Send {
    move |_m: &str, _p: &str, _h: &str| {
        let mut r = rng.lock().unwrap();
        if r.below(100) >= 30 {
            return Fault::Pass;
        }
        match r.below(3) {
            0 => Fault::Status(503, None),
            1 => Fault::Status(429, Some("1")),
            _ => Fault::Reset,
        }
    }
}

/// The binary, defaults only, pushing busybox (built at time `epoch`) to `target`.
fn push(work: &Path, target: &str, epoch: u64) -> (bool, String) {
    let (t, out) = (work.join("target"), work.join(format!("out{epoch}")));
    let mut c = common::slim::cmd(&[
        "--binary",
        "/bin/busybox",
        "--push",
        target,
        "--target-dir",
        t.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    c.env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
        .env("SLIM_IMAGE_REGISTRY_PASSWORD", PASSWORD)
        .env("HOME", work)
        .env("DOCKER_CONFIG", work)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("SLIM_IMAGE_REGISTRY_HOST");
    let o = common::slim::run(&mut c);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !err.contains(PASSWORD) && !err.contains(&basic_header(PASSWORD)[6..]),
        "a secret in the output: {err}"
    );
    (o.status.success(), err)
}

/// Every manifest revision the registry stores, as (repository, digest), from its storage tree
/// (`repositories/<repo>/_manifests/revisions/sha256/<hex>`): tagged or not.
fn stored_manifests(data: &Path) -> Vec<(String, Digest)> {
    let root = data.join("docker/registry/v2/repositories");
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == "_manifests") {
                let repo = d.strip_prefix(&root).unwrap().to_str().unwrap().to_string();
                let revs = p.join("revisions/sha256");
                for r in std::fs::read_dir(revs).into_iter().flatten().flatten() {
                    let hex = r.file_name().to_string_lossy().into_owned();
                    out.push((
                        repo.clone(),
                        format!("sha256:{hex}").parse::<Digest>().unwrap(),
                    ));
                }
            } else if p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('_'))
            {
                dirs.push(p);
            }
        }
    }
    out.sort_by(|a, b| (&a.0, a.1.to_string()).cmp(&(&b.0, b.1.to_string())));
    out
}

/// The invariant: every stored manifest references only blobs (config, layers) and manifests
/// (index children, a referrer's subject) that the registry holds in that repository, whole.
fn assert_no_dangling_references(client: &Client, data: &Path, when: &str) -> usize {
    let all = stored_manifests(data);
    for (repo, digest) in &all {
        let m = client.get_manifest(repo, &digest.to_string()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
        let mut blobs: Vec<&serde_json::Value> = v.get("config").into_iter().collect();
        blobs.extend(v["layers"].as_array().into_iter().flatten());
        let mut manifests: Vec<&serde_json::Value> = v.get("subject").into_iter().collect();
        manifests.extend(v["manifests"].as_array().into_iter().flatten());
        for d in blobs {
            let bd: Digest = d["digest"].as_str().unwrap().parse().unwrap();
            assert_eq!(
                client.head_blob(repo, &bd).unwrap(),
                d["size"].as_u64(),
                "{when}: manifest {repo}@{digest} references blob {bd}, which the registry does not \
                 hold whole"
            );
        }
        for d in manifests {
            let md = d["digest"].as_str().unwrap();
            let held = client.head_manifest(repo, md).unwrap();
            assert_eq!(
                held.map(|h| h.size),
                d["size"].as_u64(),
                "{when}: manifest {repo}@{digest} references manifest {md}, which the registry \
                 does not hold"
            );
        }
    }
    all.len()
}

#[test]
fn eight_default_pushes_through_30_percent_faults_succeed_at_least_7_times() {
    let Some(reg) = RealRegistry::start(Mode::Basic, "default-settings soak") else {
        return;
    };
    let px = Proxy::start(&reg.host, None);
    let seed: u64 = std::env::var("SLIM_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0511_5eed);
    let data = reg.scratch().parent().unwrap().join("data");
    let direct = Client::new(
        &reg.host,
        &ClientOptions {
            certs_dirs: vec![],
            credentials: ci_credentials(PASSWORD),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    px.set_rule(thirty_percent(Arc::new(Mutex::new(Rng(seed | 1)))));
    let started = Instant::now();
    let (mut ok, mut failures) = (0, Vec::new());
    for i in 0..8u64 {
        let target = format!("{}/soak30/p{i}:v1", px.host);
        let (t, from) = (Instant::now(), px.seen().len());
        let (success, err) = push(work.path(), &target, 1_700_000_000 + i);
        let retries = err.matches("retrying in").count();
        eprintln!(
            "soak: push {i} {} in {:.1}s after {retries} retries",
            if success { "succeeded" } else { "failed" },
            t.elapsed().as_secs_f64()
        );
        if success {
            ok += 1;
        } else {
            eprintln!("soak: push {i} failed:\n{err}");
            failures.push(i);
        }
        // Where the time went: pauses of over 1.5 s between requests, and the fault before each.
        let seen = px.seen();
        for w in seen[from.min(seen.len())..].windows(2) {
            let gap = w[1].at.saturating_duration_since(w[0].at);
            if gap.as_secs_f64() > 1.5 {
                eprintln!(
                    "soak:   {:.1}s pause after {:?} on {} {}",
                    gap.as_secs_f64(),
                    w[0].fault,
                    w[0].method,
                    strip_query(&w[0].path)
                );
            }
        }
        let held = assert_no_dangling_references(&direct, &data, &format!("after push {i}"));
        assert!(
            held >= ok,
            "the registry holds {held} manifests after {ok} pushes"
        );
    }
    let faults = px.seen().iter().filter(|s| s.fault != Fault::Pass).count();
    let total = px.seen().len();
    eprintln!(
        "soak figure: {ok}/8 pushes succeeded with default settings at 30% faults (seed {seed}; \
         {faults} of {total} requests faulted; {:.1}s; failed: {failures:?})",
        started.elapsed().as_secs_f64()
    );
    assert!(faults * 100 >= total * 20, "too few faults were injected");
    assert!(ok >= 7, "only {ok}/8 pushes succeeded (seed {seed})");
}
