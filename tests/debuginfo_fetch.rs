//! The split debug info fetched back: the referrer a `--push` attaches (reachable through the
//! `sha256-<hex>` tag of a real registry, distribution 2.8 having no referrers API) and
//! `cargo slim-image debuginfo IMAGE -o DIR` from a registry and from a tarball, into a new or empty
//! DIR only. Fixture: tests/common/debuginfo.rs.

mod common;

use common::debuginfo::*;
use common::registry::{Mode, RealRegistry};
use common::slim::{cmd, fails, ok};
use serde_json::Value;

#[test]
fn the_debug_referrer_is_reachable_from_the_pushed_image() {
    let Some(reg) = RealRegistry::start(Mode::Plain, "the_debug_referrer_is_reachable") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let repo = format!("{}/debug/hello", reg.host);
    let report = build(&work.path().join("hello"), &["--push", &repo]);
    let digest = report["images"][0]["digest"].as_str().unwrap().to_string();
    let file = &report["images"][0]["debuginfo"][0];
    let artifact = file["artifact_digest"].as_str().unwrap();

    use cargo_slim_image::registry::{Client, ClientOptions};
    let client = Client::new(&reg.host, &ClientOptions::default()).unwrap();
    // distribution 2.8 has no referrers API: the fallback tag lists the SBOM and the debug info.
    let tag = format!("sha256-{}", digest.trim_start_matches("sha256:"));
    let index: Value =
        serde_json::from_slice(&client.get_manifest("debug/hello", &tag).unwrap().bytes).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["artifactType"] == "application/vnd.cargo-slim-image.debuginfo.v1")
        .unwrap_or_else(|| panic!("no debuginfo referrer in {index}"))
        .clone();
    assert_eq!(entry["digest"], artifact);
    let m: Value =
        serde_json::from_slice(&client.get_manifest("debug/hello", artifact).unwrap().bytes)
            .unwrap();
    assert_eq!(m["subject"]["digest"], digest.as_str());
    assert_eq!(
        m["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "hello.debug"
    );
    let store_dir = tempfile::tempdir().unwrap();
    let store = cargo_slim_image::blob::BlobStore::open(store_dir.path()).unwrap();
    let desc: cargo_slim_image::blob::Descriptor =
        serde_json::from_value(m["layers"][0].clone()).unwrap();
    client.fetch_blob("debug/hello", &desc, &store).unwrap();
    let beside = std::fs::read(work.path().join("hello.hello.debug")).unwrap();
    assert!(
        store.read(&desc.digest).unwrap() == beside,
        "the pushed debug file is not the one beside the layout"
    );

    // `debuginfo IMAGE -o DIR` fetches it back by tag.
    let dir = work.path().join("fetched");
    ok(cmd(&[
        "debuginfo",
        &format!("{repo}:0.1.0"),
        "-o",
        dir.to_str().unwrap(),
    ]));
    assert_eq!(slim_names(&dir), ["hello.debug"]);
    assert!(std::fs::read(dir.join("hello.debug")).unwrap() == beside);
}

#[test]
fn debuginfo_fetches_from_a_tarball_and_a_layout_and_replaces_nothing_of_the_users() {
    let work = tempfile::tempdir().unwrap();
    let tar = work.path().join("hello.tar");
    build(
        &work.path().join("hello"),
        &["--tarball", tar.to_str().unwrap()],
    );
    let image = format!("oci-archive:{}", tar.display());
    let dir = work.path().join("d");
    ok(cmd(&["debuginfo", &image, "-o", dir.to_str().unwrap()]));
    assert_eq!(slim_names(&dir), ["hello.debug"]);
    assert!(
        std::fs::read(dir.join("hello.debug")).unwrap()
            == std::fs::read(work.path().join("hello.hello.debug")).unwrap()
    );
    // From the layout: its blobs hold the artifact too.
    let from_layout = work.path().join("from-layout");
    let layout = format!("oci:{}", work.path().join("hello").display());
    ok(cmd(&[
        "debuginfo",
        &layout,
        "-o",
        from_layout.to_str().unwrap(),
    ]));
    assert!(
        std::fs::read(from_layout.join("hello.debug")).unwrap()
            == std::fs::read(dir.join("hello.debug")).unwrap()
    );
    // An empty directory is fine; a non-empty one (this run's own output too) is refused, untouched.
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    ok(cmd(&["debuginfo", &image, "-o", empty.to_str().unwrap()]));
    assert_eq!(slim_names(&empty), ["hello.debug"]);
    let mine = work.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "mine").unwrap();
    let err = fails(cmd(&["debuginfo", &image, "-o", mine.to_str().unwrap()]));
    assert!(
        err.contains("is not empty") && err.contains("mine"),
        "{err}"
    );
    assert_eq!(slim_names(&mine), ["notes.txt"]);
    let err = fails(cmd(&["debuginfo", &image, "-o", dir.to_str().unwrap()]));
    assert!(err.contains("is not empty"), "{err}");
    // --dry-run reads and writes nothing.
    let dry = work.path().join("dry");
    let out = ok(cmd(&[
        "debuginfo",
        &image,
        "-o",
        dry.to_str().unwrap(),
        "--dry-run",
    ]));
    assert!(
        out.contains("dry run") && out.contains("hello.tar"),
        "{out}"
    );
    assert!(!dry.exists());
    // An image without debug info attached says so and writes nothing.
    let keep_tar = work.path().join("keep.tar");
    build(
        &work.path().join("keep"),
        &[
            "--debuginfo",
            "keep",
            "--tarball",
            keep_tar.to_str().unwrap(),
        ],
    );
    let none = work.path().join("none");
    let err = fails(cmd(&[
        "debuginfo",
        &format!("oci-archive:{}", keep_tar.display()),
        "-o",
        none.to_str().unwrap(),
    ]));
    assert!(err.contains("has no debug info attached"), "{err}");
    assert!(!none.exists());
    assert!(slim_names(work.path())
        .iter()
        .all(|n| !n.starts_with(".slim-image-")));
}

#[test]
fn several_platforms_get_one_debug_file_and_one_referrer_each() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("mp");
    let report = build(
        &layout,
        &["--platform", "linux/amd64", "--platform", "linux/arm64"],
    );
    let files = report["images"][0]["debuginfo"].as_array().unwrap();
    let platforms: Vec<&str> = files
        .iter()
        .map(|f| f["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert_ne!(files[0]["artifact_digest"], files[1]["artifact_digest"]);
    assert_ne!(files[0]["subject"], files[1]["subject"]);
    for (f, arch) in files.iter().zip(["amd64", "arm64"]) {
        let p = std::path::PathBuf::from(f["path"].as_str().unwrap());
        assert_eq!(p, work.path().join(format!("mp.linux-{arch}.hello.debug")));
        assert!(p.is_file());
    }
    // Each platform's binary lost its DWARF (the arm64 ELF too) and links to its own debug file.
    let (_, index) = common::slim::manifest_of(&layout);
    for (entry, f) in index["manifests"].as_array().unwrap().iter().zip(files) {
        let m = common::slim::blob_json(&layout, entry["digest"].as_str().unwrap());
        assert_eq!(entry["digest"], f["subject"]);
        let (_, bin) = binary_of(&layout, &m);
        let s = sections(&bin);
        assert!(!s.iter().any(|(n, fl, _)| is_dwarf(n, *fl)));
        let link = &s.iter().find(|x| x.0 == ".gnu_debuglink").unwrap().2;
        let debug = std::fs::read(f["path"].as_str().unwrap()).unwrap();
        assert_eq!(
            u32::from_le_bytes(link[12..16].try_into().unwrap()),
            crc32fast::hash(&debug)
        );
    }
    let dir = work.path().join("d");
    ok(cmd(&[
        "debuginfo",
        &format!("oci:{}", layout.display()),
        "-o",
        dir.to_str().unwrap(),
    ]));
    assert_eq!(slim_names(&dir), ["linux-amd64", "linux-arm64"]);
    for (f, arch) in files.iter().zip(["amd64", "arm64"]) {
        assert!(
            std::fs::read(dir.join(format!("linux-{arch}/hello.debug"))).unwrap()
                == std::fs::read(f["path"].as_str().unwrap()).unwrap()
        );
    }
}
