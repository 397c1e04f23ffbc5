//! Issue 4, base images: `--base` with a registry index, an OCI layout, an oci-archive and a
//! docker-archive, checked by podman, umoci and skopeo; the `base` metadata key. The test base is made
//! by `tests/fixtures/alpine-like` (busybox-static for amd64, a mini `sh -c` for arm64).

#[path = "fixtures/alpine-like/mod.rs"]
mod alpine_like;
mod common;

use alpine_like::*;
use common::peers::{self, require, Podman};
use common::registry::{Mode, RealRegistry};
use common::slim::{self, assert_says_hello, blob_json, cmd, fails, ok, HELLO};
use serde_json::Value;

#[test]
fn builds_on_a_pushed_multiarch_base_and_sh_inside_finds_our_binary() {
    require!(
        "umoci",
        "skopeo",
        "podman",
        "runc",
        "busybox",
        "docker-registry"
    );
    let Some(reg) = RealRegistry::start(Mode::Plain, "builds_on_a_pushed_multiarch_base") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let layout = alpine_like(work.path());
    let base = format!("{}/base/alpine-like:1", reg.host);
    peers::skopeo_copy(
        &format!("oci:{}:multi", layout.display()),
        &format!("docker://{base}"),
        &["--all", "--dest-tls-verify=false"],
    )
    .unwrap();
    let base_raw =
        peers::skopeo_inspect_raw(&format!("docker://{base}"), &["--tls-verify=false"]).unwrap();
    let base_digest = cargo_slim_image::digest::Digest::of(&base_raw).to_string();

    let out_layout = work.path().join("out");
    let target = format!("{}/demo/on-base:1", reg.host);
    let json = ok(slim::on_hello_http(&[
        "--platform",
        "linux/amd64,linux/arm64",
        "--base",
        &base,
        "--output",
        out_layout.to_str().unwrap(),
        "--push",
        &target,
        "--message-format",
        "json",
    ]));
    let report: Value = serde_json::from_str(&json).unwrap();
    let img = &report["images"][0];
    assert_eq!(img["base"]["name"], base.as_str(), "{json}");
    assert_eq!(img["base"]["digest"], base_digest.as_str(), "{json}");
    // Base layers are mounted from the base's repository, not uploaded again.
    let mounted = img["pushed"][0]["mounted_blobs"].as_u64().unwrap();
    assert!(mounted >= 2, "base layers were not mounted: {json}");

    let base_index: Value = serde_json::from_slice(&base_raw).unwrap();
    for (arch, m) in manifests_of(&out_layout) {
        let base_entry = base_index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["platform"]["architecture"] == arch.as_str())
            .unwrap();
        let bm = blob_json(&layout, base_entry["digest"].as_str().unwrap());
        // The base's layers, referenced as they are, at the bottom.
        let ours = layer_digests(&m);
        let theirs = layer_digests(&bm);
        assert_eq!(&ours[..theirs.len()], &theirs[..], "{arch}");
        assert_eq!(
            m["annotations"]["org.opencontainers.image.base.digest"], base_entry["digest"],
            "{arch}"
        );
        assert_eq!(
            m["annotations"]["org.opencontainers.image.base.name"],
            base.as_str()
        );
        let config = blob_json(&out_layout, m["config"]["digest"].as_str().unwrap());
        assert_eq!(config["architecture"], arch.as_str());
        let env_owned = common::slim::config_env(&config);
        let env: Vec<&str> = env_owned.iter().map(String::as_str).collect();
        assert!(
            env.contains(&"PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
            "{env:?}"
        );
        assert!(env.contains(&"BASE_FLAVOR=alpine-like"), "{env:?}");
        assert!(env.contains(&"PORT=8080"), "{env:?}");
        assert!(
            config["config"]["Cmd"].is_null(),
            "the base's Cmd must not survive"
        );
        let history = config["history"].as_array().unwrap();
        let base_config = blob_json(&layout, bm["config"]["digest"].as_str().unwrap());
        let base_history = base_config["history"].as_array().map_or(0, Vec::len);
        assert!(history.len() > base_history, "history kept and extended");
        assert_eq!(
            config["rootfs"]["diff_ids"].as_array().unwrap().len(),
            ours.len()
        );
    }

    let podman = Podman::new().unwrap();
    podman.pull(&target, false, None).unwrap();
    let out = podman.run_with(
        &["--entrypoint", "/bin/sh"],
        &target,
        &["-c", "ls /usr/local/bin/hello-http && cat /etc/base-release /etc/passwd && hello-http --once-stdout && ls /etc/ssl/certs"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("/usr/local/bin/hello-http"), "{text}");
    assert!(text.contains(RELEASE.trim()), "{text}");
    assert!(
        text.contains("base:x:1000"),
        "the base's passwd is kept: {text}"
    );
    assert!(text.contains(HELLO), "{text}");
    assert!(
        text.contains("ca-certificates.crt"),
        "a CA bundle is added: {text}"
    );

    if peers::binfmt_aarch64() {
        let arm = Podman::with_arm64_of(&target).unwrap();
        assert_says_hello(&arm.run_arm64(
            &["--entrypoint", "/bin/sh"],
            &target,
            &["-c", "/usr/local/bin/hello-http --once-stdout"],
        ));
    }

    // Pinned by digest, the same inputs give the same image, even with the registry gone: what was
    // fetched once is in the blob cache.
    let pinned = format!("{}/base/alpine-like@{base_digest}", reg.host);
    let a = ok(slim::on_hello_http(&[
        "--platform",
        "linux/amd64,linux/arm64",
        "--base",
        &pinned,
        "--output",
        work.path().join("p1").to_str().unwrap(),
    ]));
    drop(reg);
    let b = ok(slim::on_hello_http(&[
        "--platform",
        "linux/amd64,linux/arm64",
        "--base",
        &pinned,
        "--output",
        work.path().join("p2").to_str().unwrap(),
    ]));
    assert_eq!(a, b);
}

#[test]
fn oci_layout_oci_archive_and_docker_archive_bases_work_offline() {
    require!("umoci", "skopeo", "busybox");
    let work = tempfile::tempdir().unwrap();
    let layout = alpine_like(work.path());
    let out = work.path().join("from-layout");
    ok(slim::on_hello_http(&[
        "--platform",
        "linux/amd64",
        "--offline",
        "--base",
        &format!("oci:{}:multi", layout.display()),
        "--output",
        out.to_str().unwrap(),
    ]));
    let (_, m) = manifests_of(&out).remove(0);
    let bundle = peers::umoci_unpack(&out, "0.1.0").unwrap();
    let root = bundle.path().join("rootfs");
    assert!(root.join("bin/busybox").is_file());
    assert!(root.join("usr/local/bin/hello-http").is_file());
    // The base's passwd, kept, with the nonroot user it lacked appended (tests/base_accounts.rs).
    assert_eq!(
        std::fs::read_to_string(root.join("etc/passwd")).unwrap(),
        format!("{PASSWD}nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
    );
    assert!(root.join("etc/ssl/certs/ca-certificates.crt").is_file());
    assert!(root.join("home/nonroot").is_dir());

    // The same base as an oci-archive: the same config and layers.
    let archive = work.path().join("base.tar");
    peers::skopeo_copy(
        &format!("oci:{}:amd64", layout.display()),
        &format!("oci-archive:{}:amd64", archive.display()),
        &[],
    )
    .unwrap();
    let out2 = work.path().join("from-archive");
    ok(slim::on_hello_http(&[
        "--offline",
        "--base",
        &format!("oci-archive:{}", archive.display()),
        "--output",
        out2.to_str().unwrap(),
    ]));
    let (_, m2) = manifests_of(&out2).remove(0);
    assert_eq!(m["config"], m2["config"]);
    assert_eq!(m["layers"], m2["layers"]);

    // A docker-archive (uncompressed layers): our image stands on it all the same.
    let darchive = work.path().join("base-docker.tar");
    peers::skopeo_copy(
        &format!("oci:{}:amd64", layout.display()),
        &format!("docker-archive:{}:base/alpine-like:1", darchive.display()),
        &[],
    )
    .unwrap();
    let out3 = work.path().join("from-docker-archive");
    let json = ok(slim::on_hello_http(&[
        "--offline",
        "--base",
        &format!("docker-archive:{}", darchive.display()),
        "--output",
        out3.to_str().unwrap(),
        "--message-format",
        "json",
    ]));
    assert!(json.contains("docker-archive:"), "{json}");
    let bundle = peers::umoci_unpack(&out3, "0.1.0").unwrap();
    assert!(bundle.path().join("rootfs/bin/busybox").is_file());
    assert!(bundle
        .path()
        .join("rootfs/usr/local/bin/hello-http")
        .is_file());
}

#[test]
fn the_base_metadata_key_is_read_and_local_paths_are_relative_to_the_cargo_toml() {
    let work = tempfile::tempdir().unwrap();
    let pkg = work.path().join("app");
    std::fs::create_dir_all(pkg.join("src")).unwrap();
    std::fs::create_dir_all(pkg.join("images/base")).unwrap();
    std::fs::write(pkg.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(
        pkg.join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [package.metadata.slim-image]\nbase = \"oci:images/base:amd64\"\n",
    )
    .unwrap();
    let manifest = pkg.join("Cargo.toml");
    let plan = ok(cmd(&[
        "--manifest-path",
        manifest.to_str().unwrap(),
        "--dry-run",
    ]));
    let want = format!(
        "base:       oci:{}:amd64",
        pkg.join("images/base").display()
    );
    assert!(plan.contains(&want), "{plan}");
    // The flag wins over the key.
    let plan = ok(cmd(&[
        "--manifest-path",
        manifest.to_str().unwrap(),
        "--dry-run",
        "--base",
        "alpine:3.20",
    ]));
    assert!(
        plan.contains("base:       docker.io/library/alpine:3.20"),
        "{plan}"
    );
    let err = fails(cmd(&[
        "--manifest-path",
        manifest.to_str().unwrap(),
        "--dry-run",
        "--base",
        "oci:/no/such/layout",
    ]));
    assert!(err.contains("/no/such/layout"), "{err}");
}
