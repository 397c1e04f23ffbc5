//! Issue 4, `cargo slim-image index`: an index assembled from two images built and pushed separately
//! (as two CI runners would), checked with skopeo and run by podman; into another repository the
//! blobs are mounted; two images of one platform are refused with nothing pushed.

mod common;

use common::peers::{self, Podman};
use common::registry::{Mode, RealRegistry};
use common::slim::{self, assert_says_hello, cmd, fails, ok};
use serde_json::Value;

/// Build hello-http for one platform and push it as `repo:tag`; returns the manifest digest.
fn push_one(platform: &str, reference: &str, out: &std::path::Path) -> String {
    let stdout = ok(slim::on_hello_http(&[
        "--platform",
        platform,
        "--output",
        out.to_str().unwrap(),
        "--push",
        reference,
    ]));
    stdout.trim().rsplit('@').next().unwrap().to_string()
}

#[test]
fn an_index_over_two_separately_pushed_images() {
    let Some(reg) = RealRegistry::start(Mode::Plain, "an_index_over_two_separately_pushed_images")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let repo = format!("{}/demo/hello", reg.host);
    let amd = push_one(
        "linux/amd64",
        &format!("{repo}:amd64"),
        &work.path().join("a"),
    );
    let arm = push_one(
        "linux/arm64",
        &format!("{repo}:arm64"),
        &work.path().join("b"),
    );
    let puts = reg.blob_uploads();

    let out = ok(cmd(&[
        "index",
        "--push",
        &format!("{repo}:multi"),
        "--annotation",
        "org.opencontainers.image.version=0.1.0",
        &format!("{repo}:amd64"),
        &format!("{repo}@{arm}"),
    ]));
    let line = out.trim();
    assert!(line.starts_with(&format!("{repo}:multi@sha256:")), "{out}");
    let digest = line.rsplit('@').next().unwrap();
    assert_eq!(
        reg.blob_uploads(),
        puts,
        "same repository: no blob is sent again"
    );

    if peers::check_tools("an_index_over_two_separately_pushed_images", &["skopeo"]) {
        let raw =
            peers::skopeo_inspect_raw(&format!("docker://{repo}:multi"), &["--tls-verify=false"])
                .unwrap();
        assert_eq!(
            cargo_slim_image::digest::Digest::of(&raw).to_string(),
            digest
        );
        let index: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(
            index["mediaType"],
            "application/vnd.oci.image.index.v1+json"
        );
        let m = index["manifests"].as_array().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["digest"], amd.as_str());
        assert_eq!(m[0]["platform"]["architecture"], "amd64");
        assert_eq!(m[1]["digest"], arm.as_str());
        assert_eq!(m[1]["platform"]["architecture"], "arm64");
        assert_eq!(
            index["annotations"]["org.opencontainers.image.version"],
            "0.1.0"
        );
    }

    // Into another repository of the same registry: blobs are mounted, not uploaded.
    let other = format!("{}/release/hello:1", reg.host);
    let before = reg.blob_uploads();
    // An index as input gives all its platforms: with the same annotation, the same index.
    let out = ok(cmd(&[
        "index",
        "--push",
        &other,
        "--annotation",
        "org.opencontainers.image.version=0.1.0",
        &format!("{repo}:multi"),
    ]));
    assert!(out.trim().ends_with(digest), "{out}");
    assert_eq!(
        reg.blob_uploads(),
        before,
        "blobs were uploaded instead of mounted"
    );
    let mounts = reg
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.uri.contains("mount=") && r.status == 201)
        .count();
    assert!(
        mounts >= 3,
        "expected cross-repository mounts, saw {mounts}"
    );

    if peers::check_tools(
        "an_index_over_two_separately_pushed_images",
        &["podman", "runc"],
    ) {
        let podman = Podman::new().unwrap();
        podman.pull(&other, false, None).unwrap();
        assert_says_hello(&podman.run(&other, &["--once-stdout"]));
    }
}

#[test]
fn two_images_of_one_platform_are_refused_and_nothing_is_pushed() {
    let Some(reg) = RealRegistry::start(Mode::Plain, "two_images_of_one_platform") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let repo = format!("{}/demo/dup", reg.host);
    push_one("linux/amd64", &format!("{repo}:a"), &work.path().join("a"));
    ok(slim::on_hello_http(&[
        "--platform",
        "linux/amd64",
        "--env",
        "X=1",
        "--output",
        work.path().join("b").to_str().unwrap(),
        "--push",
        &format!("{repo}:b"),
    ]));
    let puts = reg.manifest_puts();
    let err = fails(cmd(&[
        "index",
        "--push",
        &format!("{repo}:multi"),
        &format!("{repo}:a"),
        &format!("{repo}:b"),
    ]));
    assert!(err.contains("two images for linux/amd64"), "{err}");
    assert_eq!(reg.manifest_puts(), puts);
    let err = fails(cmd(&[
        "index",
        "--push",
        &format!("{repo}:multi"),
        &format!("{repo}:missing"),
    ]));
    assert!(err.contains(&format!("{repo}:missing")), "{err}");
    assert_eq!(reg.manifest_puts(), puts);
}

/// SIGINT while `index` waits on a registry (one that accepts and never answers): the run exits
/// 130 and its blob store in $TMPDIR is gone (it was a tempfile dir no signal handler removed).
#[test]
fn an_interrupted_index_removes_its_temp_store() {
    let tmp = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().collect();
        drop(held);
    });
    let r = |name: &str| format!("127.0.0.1:{port}/{name}:1");
    let mut c = cmd(&["index", &r("a"), &r("b"), "--push", &r("c")]);
    c.env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let entries = || std::fs::read_dir(tmp.path()).unwrap().count();
    let start = std::time::Instant::now();
    while entries() == 0 && start.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(entries(), 1, "index made its temp store in $TMPDIR");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status}");
    assert_eq!(entries(), 0, "the temp store is removed");
}
