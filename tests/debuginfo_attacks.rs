//! Attacks on the debug files written beside a layout (issue 14): a file of the user's that happens
//! to have a debug file's name is never replaced (a regular file, a symlink, a directory), and the
//! debug file of an earlier `split` build goes when a `keep` build replaces its layout, while a
//! `.debug` file of the user's beside it stays.

mod common;

use common::debuginfo::*;
use common::slim::{cmd, fails};
use std::path::Path;

/// The build of the debug fixture into `layout` with `rest`, expected to fail; its stderr.
fn build_fails(layout: &Path, rest: &[&str]) -> String {
    let (manifest, target) = fixture();
    let mut args = vec![
        "--manifest-path",
        manifest.to_str().unwrap(),
        "--target-dir",
        target.to_str().unwrap(),
        "--bin",
        "hello",
        "-o",
        layout.to_str().unwrap(),
    ];
    args.extend_from_slice(rest);
    fails(cmd(&args))
}

#[test]
fn a_file_of_the_users_at_the_debug_files_path_is_refused_and_untouched() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("hello");
    let mine = work.path().join("hello.hello.debug");
    std::fs::write(&mine, b"my notes").unwrap();
    let err = build_fails(&layout, &[]);
    assert!(
        err.contains("hello.hello.debug") && err.contains("not a debug file written with"),
        "{err}"
    );
    assert_eq!(std::fs::read(&mine).unwrap(), b"my notes");
    assert!(!layout.exists(), "the layout was written anyway");
}

#[test]
fn a_symlink_at_the_debug_files_path_is_refused_and_stays_a_link() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("hello");
    let target = work.path().join("elsewhere");
    std::fs::write(&target, b"keep me").unwrap();
    let link = work.path().join("hello.hello.debug");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = build_fails(&layout, &[]);
    assert!(err.contains("not a debug file written with"), "{err}");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
}

#[test]
fn a_rebuild_replaces_its_own_debug_file_but_not_an_edited_one() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("hello");
    let debug = work.path().join("hello.hello.debug");
    build(&layout, &[]);
    let first = std::fs::read(&debug).unwrap();
    build(&layout, &[]);
    assert_eq!(
        std::fs::read(&debug).unwrap(),
        first,
        "the rebuild replaces it"
    );
    std::fs::write(&debug, b"edited by hand").unwrap();
    let err = build_fails(&layout, &[]);
    assert!(err.contains("not a debug file written with"), "{err}");
    assert_eq!(std::fs::read(&debug).unwrap(), b"edited by hand");
}

#[test]
fn a_keep_build_removes_the_split_builds_debug_file_and_nothing_else() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("hello");
    let debug = work.path().join("hello.hello.debug");
    let users = work.path().join("hello.mine.debug");
    std::fs::write(&users, b"mine").unwrap();
    build(&layout, &[]);
    assert!(debug.is_file());
    build(&layout, &["--debuginfo", "keep"]);
    assert!(
        !debug.exists(),
        "the stale debug file of the split build stayed"
    );
    assert_eq!(std::fs::read(&users).unwrap(), b"mine");
    // And a split build after it writes it again (no layout record of it: nothing there).
    build(&layout, &[]);
    assert!(debug.is_file());
}

#[test]
fn ctrl_c_while_debuginfo_waits_on_a_registry_leaves_nothing_in_tmpdir_or_beside_dir() {
    use std::io::Read;
    let work = tempfile::tempdir().unwrap();
    let tmp = work.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = work.path().join("sym");
    // A registry that takes every connection and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            held.push(s);
        }
    });
    let image = format!("127.0.0.1:{port}/app:1");
    let mut c = cmd(&["debuginfo", &image, "-o", out.to_str().unwrap()]);
    c.env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "it did not wait on the registry"
    );
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    let beside: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "tmp")
        .collect();
    assert!(beside.is_empty(), "left beside -o: {beside:?}");
}

#[test]
fn debuginfo_refuses_an_output_dir_that_names_no_directory_of_its_own_and_creates_nothing() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("app");
    build(&layout, &[]);
    let empty = work.path().join("e");
    std::fs::create_dir(&empty).unwrap();
    let image = format!("oci:{}", layout.display());
    for o in [".", "./", "x/..", "sub/.", "/"] {
        if o == "sub/." {
            std::fs::create_dir(empty.join("sub")).unwrap();
        }
        let mut c = cmd(&["debuginfo", &image, "-o", o]);
        c.current_dir(&empty);
        let err = fails(c);
        assert!(
            err.contains("names no directory of its own"),
            "-o {o}: {err}"
        );
        let mut left: Vec<_> = std::fs::read_dir(&empty)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        left.retain(|n| n != "sub");
        assert!(left.is_empty(), "-o {o} left {left:?}");
    }
}

/// Replace the debug artifact of `layout` with one whose only layer is `layer` (a JSON descriptor),
/// `blob` (if any) put under its digest.
fn forge_debug_layer(layout: &Path, layer: serde_json::Value, blob: Option<&[u8]>) {
    use sha2::Digest;
    let blobs = layout.join("blobs/sha256");
    let hex = |b: &[u8]| format!("{:x}", sha2::Sha256::digest(b));
    let mut found = None;
    for e in std::fs::read_dir(&blobs).unwrap().flatten() {
        let b = std::fs::read(e.path()).unwrap();
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&b) {
            if v["artifactType"] == "application/vnd.cargo-slim-image.debuginfo.v1" {
                found = Some((e.path(), v));
            }
        }
    }
    let (path, mut art) = found.expect("the layout holds its debug artifact");
    std::fs::remove_file(path).unwrap();
    if let Some(b) = blob {
        std::fs::write(blobs.join(hex(b)), b).unwrap();
    }
    art["layers"] = serde_json::json!([layer]);
    let bytes = serde_json::to_vec(&art).unwrap();
    std::fs::write(blobs.join(hex(&bytes)), &bytes).unwrap();
}

#[test]
fn debuginfo_refuses_a_debug_layer_that_is_not_elf_or_claims_100_gb() {
    use sha2::Digest;
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("app");
    build(&layout, &[]);
    let text = b"#!/bin/sh\nrm -rf ~\n";
    let layer = |digest: String, size: u64| {
        serde_json::json!({
            "mediaType": "application/vnd.cargo-slim-image.debuginfo.v1+elf",
            "digest": digest,
            "size": size,
            "annotations": {"org.opencontainers.image.title": "hello.debug"},
        })
    };
    let d = format!("sha256:{:x}", sha2::Sha256::digest(text));
    forge_debug_layer(&layout, layer(d.clone(), text.len() as u64), Some(text));
    let out = work.path().join("out");
    let image = format!("oci:{}", layout.display());
    let err = fails(cmd(&["debuginfo", &image, "-o", out.to_str().unwrap()]));
    assert!(err.contains("is not an ELF file"), "{err}");
    assert!(!out.exists());
    forge_debug_layer(&layout, layer(d, 100 << 30), None);
    let err = fails(cmd(&["debuginfo", &image, "-o", out.to_str().unwrap()]));
    assert!(err.contains("over the") && err.contains("limit"), "{err}");
    assert!(!out.exists());
}

#[test]
fn debuginfo_refuses_an_index_platform_that_is_a_path() {
    use sha2::Digest;
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("app");
    build(&layout, &[]);
    let index_path = layout.join("index.json");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let m = index["manifests"][0].clone();
    let mut amd = m.clone();
    amd["platform"] = serde_json::json!({"os": "linux", "architecture": "amd64"});
    let mut evil = m.clone();
    evil["platform"] = serde_json::json!({"os": "../../escape", "architecture": "amd64"});
    for e in [&mut amd, &mut evil] {
        e.as_object_mut().unwrap().remove("annotations");
    }
    let image_index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [amd, evil],
    }))
    .unwrap();
    let hex = format!("{:x}", sha2::Sha256::digest(&image_index));
    std::fs::write(layout.join("blobs/sha256").join(&hex), &image_index).unwrap();
    let top = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": format!("sha256:{hex}"),
            "size": image_index.len(),
        }],
    });
    std::fs::write(&index_path, serde_json::to_vec(&top).unwrap()).unwrap();
    let out = work.path().join("a").join("out");
    std::fs::create_dir_all(work.path().join("a")).unwrap();
    let image = format!("oci:{}", layout.display());
    let err = fails(cmd(&["debuginfo", &image, "-o", out.to_str().unwrap()]));
    assert!(err.contains("escape"), "{err}");
    let escaped: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().contains("escape"))
        .collect();
    assert!(escaped.is_empty(), "written outside -o: {escaped:?}");
    assert!(!out.exists());
}

#[test]
fn debuginfo_that_fails_creates_no_parent_of_the_output_dir() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("app");
    build(&layout, &["--debuginfo", "keep"]);
    let out = work.path().join("new").join("deep").join("out");
    let image = format!("oci:{}", layout.display());
    let err = fails(cmd(&["debuginfo", &image, "-o", out.to_str().unwrap()]));
    assert!(err.contains("has no debug info attached"), "{err}");
    assert!(
        !work.path().join("new").exists(),
        "the parents of -o were created"
    );
}
