//! Attacks on the registry sink after the sink refactor (src/sink/registry.rs, push, signatures,
//! src/sink/refs.rs), through the real binary, with a fault proxy in front of a real
//! `docker-registry`: a push and its signing failing midway, and a SIGTERM during a push, with the
//! layout, the files beside it and `--image-refs` around. The local outputs were committed before
//! the push (the README's order) and stay whole; the `--image-refs` file stays as it was; nothing
//! is signed that was not pushed; no temp is left; the exit code is the README's. The local sinks
//! are attacked in tests/sink_attacks.rs.

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use common::outputs::{assert_no_litter, signal};
use common::peers;
use common::registry::{Mode, RealRegistry};
use common::slim::{self, fails, ok};
use proxy::{Fault, Proxy};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A plain registry with the fault proxy in front (no credentials).
fn registry(test: &str) -> Option<(RealRegistry, Proxy)> {
    let reg = RealRegistry::start(Mode::Plain, test)?;
    let px = Proxy::start(&reg.host, None);
    Some((reg, px))
}

/// Whether `repo:tag` is in the registry (asked directly, not through the proxy).
fn has_tag(reg: &RealRegistry, repo: &str, tag: &str) -> bool {
    let url = format!("http://{}/v2/{repo}/manifests/{tag}", reg.host);
    let accept =
        "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";
    match ureq::head(&url).header("Accept", accept).call() {
        Ok(_) => true,
        Err(ureq::Error::StatusCode(404)) => false,
        Err(e) => panic!("HEAD {url}: {e}"),
    }
}

/// The layout at `w/out` is whole, and the SBOM and provenance beside it are the ones it records
/// (their bytes are blobs of it). Returns its root digest.
fn layout_with_its_files(w: &Path) -> String {
    let out = w.join("out");
    let (digest, _) = slim::manifest_of(&out);
    for f in ["out.spdx.json", "out.provenance.json"] {
        let bytes = fs::read(w.join(f)).unwrap();
        let d = common::checkout::sha256(&bytes);
        assert!(
            slim::blob_path(&out, &d).is_file(),
            "{f} is not the layout's"
        );
    }
    digest
}

/// Fails the image's manifest PUT, then (another run) only the PUT of its `.sig` tag: each run
/// exits 1 naming what failed, leaves the layout and the files beside it whole and matching, the
/// `--image-refs` file as it was, no signature tag in the registry and no temp. The same command
/// once the registry heals pushes and signs; the signature verifies with an independent
/// implementation (tests/fixtures/cosign/cosign_check.py).
#[test]
fn a_push_failing_midway_keeps_local_outputs_whole_and_signs_nothing() {
    let test =
        "sink_attacks_push::a_push_failing_midway_keeps_local_outputs_whole_and_signs_nothing";
    if !peers::check_tools(test, &["python3"]) {
        return;
    }
    let Some((reg, px)) = registry(test) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let check = |args: &[&str]| {
        Command::new("python3")
            .arg(slim::repo().join("tests/fixtures/cosign/cosign_check.py"))
            .args(args)
            .output()
            .unwrap()
    };
    if !check(&["keygen", w.to_str().unwrap()]).status.success() {
        eprintln!(
            "SKIP: {test}: python3 cryptography is not installed (scripts/setup.sh installs it)"
        );
        return;
    }
    let refs = w.join("refs.txt");
    fs::write(&refs, "old\n").unwrap();
    let run = || {
        let mut c = slim::push_busybox(w, &format!("{}/sa/app:v1", px.host), 1);
        c.env("SLIM_IMAGE_CACHE_DIR", w.join("user-cache"));
        c.args(["--sign-key", w.join("key.pem").to_str().unwrap()]);
        c.args(["--image-refs", refs.to_str().unwrap()]);
        c
    };
    px.set_rule(proxy::forever(
        "PUT",
        "/manifests/v1",
        Fault::Status(500, None),
    ));
    let err = fails(run());
    assert!(err.contains("500") && err.contains("sa/app"), "{err}");
    let digest = layout_with_its_files(w);
    let sig = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    assert!(!has_tag(&reg, "sa/app", "v1") && !has_tag(&reg, "sa/app", &sig));
    assert_eq!(fs::read_to_string(&refs).unwrap(), "old\n");
    assert_no_litter(w);
    // The image goes in, its signature does not.
    px.set_rule(proxy::forever("PUT", ".sig", Fault::Status(500, None)));
    let err = fails(run());
    assert!(err.contains(&sig), "{err}");
    assert_eq!(layout_with_its_files(w), digest);
    assert!(has_tag(&reg, "sa/app", "v1") && !has_tag(&reg, "sa/app", &sig));
    assert_eq!(fs::read_to_string(&refs).unwrap(), "old\n");
    assert_no_litter(w);
    // Healed: the same command pushes the signature, which verifies, and lists the reference.
    px.clear();
    ok(run());
    let pubkey = w.join("pub.pem");
    let o = check(&["sig", &px.host, "sa/app", "v1", pubkey.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listed = fs::read_to_string(&refs).unwrap();
    assert_eq!(listed, format!("{}/sa/app:v1@{digest}\n", px.host));
    assert_no_litter(w);
}

/// SIGTERM while a blob upload hangs: exit 143 at once, no temp anywhere (beside the layout, in
/// the blob cache, in the per-user cache), the layout and the files beside it whole, the
/// `--image-refs` file as it was, and no tag in the registry.
#[test]
fn sigterm_during_a_push_leaves_no_temp_and_the_refs_file_as_it_was() {
    let test =
        "sink_attacks_push::sigterm_during_a_push_leaves_no_temp_and_the_refs_file_as_it_was";
    let Some((reg, px)) = registry(test) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let refs = w.join("refs.txt");
    fs::write(&refs, "old\n").unwrap();
    px.set_rule(|m: &str, p: &str, _h: &str| {
        if (m == "PUT" || m == "PATCH") && p.contains("/blobs/uploads/") {
            Fault::Slow(Duration::from_secs(60))
        } else {
            Fault::Pass
        }
    });
    let mut c = slim::push_busybox(w, &format!("{}/sa/app:v1", px.host), 1);
    c.env("SLIM_IMAGE_CACHE_DIR", w.join("user-cache"))
        .args(["--image-refs", refs.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let t = Instant::now();
    while !px
        .seen()
        .iter()
        .any(|s| s.path.contains("/blobs/uploads/") && s.method != "POST")
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before uploading"
        );
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "no upload: {:?}",
            px.seen()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    signal(child.id(), libc::SIGTERM);
    assert_eq!(child.wait().unwrap().code(), Some(143));
    assert!(
        sent.elapsed() < Duration::from_secs(4),
        "{:?}",
        sent.elapsed()
    );
    layout_with_its_files(w);
    assert_eq!(fs::read_to_string(&refs).unwrap(), "old\n");
    assert!(!has_tag(&reg, "sa/app", "v1"));
    assert_no_litter(w);
}

/// Two images, the second's layout on a full file system (its `-o DIR/zzz` a symlink into a
/// 16 KiB tmpfs): the first image's layout is written whole, the second fails naming its path and
/// `No space left`, no temp is left on either file system, and nothing at all is pushed (README:
/// every image is written before anything is pushed).
#[test]
fn a_second_image_failing_to_write_leaves_the_first_whole_and_nothing_pushed() {
    let test =
        "sink_attacks_push::a_second_image_failing_to_write_leaves_the_first_whole_and_nothing_pushed";
    let Some((reg, _px)) = registry(test) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let ws = w.join("ws");
    fs::create_dir_all(&ws).unwrap();
    fs::write(
        ws.join("Cargo.toml"),
        "[workspace]\nmembers = [\"aaa\", \"zzz\"]\nresolver = \"2\"\n",
    )
    .unwrap();
    for name in ["aaa", "zzz"] {
        fs::create_dir_all(ws.join(name).join("src")).unwrap();
        fs::write(
            ws.join(name).join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
                 [package.metadata.slim-image]\nname = \"{}/ws/{name}\"\n",
                reg.host
            ),
        )
        .unwrap();
        fs::write(ws.join(name).join("src/main.rs"), "fn main() {}\n").unwrap();
    }
    let (out, full) = (w.join("out"), w.join("full"));
    fs::create_dir_all(&out).unwrap();
    fs::create_dir_all(&full).unwrap();
    std::os::unix::fs::symlink(full.join("zzz"), out.join("zzz")).unwrap();
    let c = slim::on(
        ws.join("Cargo.toml").to_str().unwrap(),
        slim::shared_target().to_str().unwrap(),
        &["--workspace", "--push", "-o", out.to_str().unwrap()],
    );
    let (full_s, seen) = (full.display(), w.join("full.txt"));
    let setup = format!("mount -t tmpfs -o size=16k tmpfs {full_s}");
    let after = format!("ls -A {full_s} > {}", seen.display());
    let Some(c) = common::outputs::in_mount_namespace(&c, &setup, &after, test) else {
        return;
    };
    let err = fails(c);
    assert!(
        err.contains("zzz") && err.contains("No space left"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(&seen).unwrap(),
        "",
        "left on the full fs"
    );
    let (digest, _) = slim::manifest_of(&out.join("aaa"));
    assert!(slim::blob_path(&out.join("aaa"), &digest).is_file());
    assert!(out.join("aaa.spdx.json").is_file());
    assert_eq!(reg.blob_uploads(), 0, "{}", reg.log_text());
    assert_eq!(reg.manifest_puts(), 0, "{}", reg.log_text());
    assert_no_litter(w);
}
