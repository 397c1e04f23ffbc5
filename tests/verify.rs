//! `cargo slim-image verify IMAGE` (issue 12, item 4): the fixture `hello` built in one checkout is
//! reproduced from a second checkout at another path (an OCI layout, an oci-archive, a real
//! registry), and after a one-line source change or another `--env` the mismatch names the layer,
//! `usr/local/bin/hello` and the config field; a missing or broken IMAGE is a clear error (exit 2);
//! the second checkout's own layout is never touched by verify.

mod common;

use common::checkout::{digest_of, status, text, Checkout};
use common::registry::{Mode, RealRegistry};
use common::slim::{self, ok, run};
use std::path::{Path, PathBuf};

/// Two checkouts of the fixture at different paths, under one temp dir.
fn two_checkouts() -> (tempfile::TempDir, Checkout, Checkout) {
    let work = tempfile::tempdir().unwrap();
    let a = Checkout::new(work.path().join("release"));
    let b = Checkout::new(work.path().join("somewhere/else/other-checkout"));
    (work, a, b)
}

/// Every file of a directory tree with its bytes and mtime, to see that nothing changed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
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
    assert!(!out.is_empty(), "{} is empty", dir.display());
    out
}

#[test]
fn another_checkout_reproduces_a_layout_and_an_archive_and_a_changed_line_is_named() {
    let (work, a, b) = two_checkouts();
    let tar = work.path().join("hello.tar");
    let built = ok(a.cmd(&["--bin", "hello", "--tarball", tar.to_str().unwrap()]));
    let digest = digest_of(&built);
    // The second checkout has a layout of its own, which verify must leave alone.
    ok(b.cmd(&["--bin", "hello"]));
    let before = snapshot(&b.layout());

    let image = format!("oci:{}", a.layout().display());
    // Build flags before `verify` (as for the other subcommands); hello is picked from the two
    // images of the package by the name in the layout.
    let out = run(&mut b.cmd(&["verify", &image]));
    status(&out, 0);
    assert_eq!(text(&out.stdout), format!("Reproduced {image}@{digest}\n"));
    // Build flags after IMAGE, and an oci-archive.
    let archive = format!("oci-archive:{}", tar.display());
    let out = run(&mut b.cmd(&["verify", &archive, "--bin", "hello"]));
    status(&out, 0);
    assert_eq!(
        text(&out.stdout),
        format!("Reproduced {archive}@{digest}\n")
    );
    let out = run(&mut b.cmd(&["--message-format", "json", "verify", &image]));
    status(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["reproduced"], true, "{doc}");
    assert_eq!(doc["digest"], digest.as_str());
    assert_eq!(doc["rebuild"], digest.as_str());

    b.change_one_line();
    let out = run(&mut b.cmd(&["verify", &image]));
    let err = status(&out, 1);
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert!(
        err.contains(&format!(
            "{image}@{digest} does not match the rebuild sha256:"
        )),
        "{err}"
    );
    assert!(err.contains("layer 2 of 2 (sha256:"), "{err}");
    assert!(
        err.contains("usr/local/bin/hello differs: content"),
        "{err}"
    );
    assert!(err.contains("rootfs.diff_ids[1]"), "{err}");
    // The JSON document says the same, on stdout, with exit status 1.
    let out = run(&mut b.cmd(&["verify", &archive, "--message-format", "json"]));
    status(&out, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["reproduced"], false, "{doc}");
    let layer = &doc["platforms"][0]["layer"];
    assert_eq!(layer["number"], 2, "{doc}");
    let file = &layer["finding"]["file"];
    assert_eq!(file["path"], "usr/local/bin/hello", "{doc}");
    assert!(
        file["what"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w == "content"),
        "{doc}"
    );
    assert_ne!(file["image"]["sha256"], file["rebuild"]["sha256"]);

    assert!(
        before == snapshot(&b.layout()),
        "verify touched {}",
        b.layout().display()
    );
}

#[test]
fn a_config_change_names_the_config_field_and_no_layer() {
    let (_work, a, b) = two_checkouts();
    let digest = digest_of(&ok(a.cmd(&["--bin", "hello", "--label", "team=core"])));
    let image = format!("oci:{}", a.layout().display());
    let out = run(&mut b.cmd(&[
        "verify",
        &image,
        "--label",
        "team=core",
        "--env",
        "MODE=prod",
    ]));
    let err = status(&out, 1);
    assert!(
        err.contains(&format!("{image}@{digest} does not match")),
        "{err}"
    );
    assert!(err.contains("config differs (image -> rebuild):"), "{err}");
    assert!(err.contains("config.Env:"), "{err}");
    assert!(err.contains("\"MODE=prod\""), "{err}");
    assert!(!err.contains("layer "), "the layers are the same: {err}");
    let out = run(&mut b.cmd(&["verify", &image, "--label", "team=ops"]));
    let err = status(&out, 1);
    assert!(
        err.contains("config.Labels.team: \"core\" -> \"ops\""),
        "{err}"
    );
    // The same flags reproduce it.
    let out = run(&mut b.cmd(&["verify", &image, "--label", "team=core"]));
    status(&out, 0);
    assert_eq!(text(&out.stdout), format!("Reproduced {image}@{digest}\n"));
}

#[test]
fn a_pushed_image_is_reproduced_from_the_registry_and_a_change_is_named() {
    let Some(reg) = RealRegistry::start(Mode::Plain, "verify: a pushed image") else {
        return;
    };
    let (_work, a, b) = two_checkouts();
    let repo = format!("{}/demo/hello:1", reg.host);
    let digest = digest_of(&ok(a.cmd(&["--bin", "hello", "--push", &repo])));
    let out = run(&mut b.cmd(&["--bin", "hello", "verify", &repo]));
    status(&out, 0);
    assert_eq!(text(&out.stdout), format!("Reproduced {repo}@{digest}\n"));
    let pinned = format!("docker://{}/demo/hello@{digest}", reg.host);
    let out = run(&mut b.cmd(&["--bin", "hello", "verify", &pinned]));
    status(&out, 0);
    assert_eq!(
        text(&out.stdout),
        format!("Reproduced {}/demo/hello@{digest}\n", reg.host)
    );
    // verify pushes nothing, even when the release flags did.
    let puts = reg.manifest_puts();
    b.change_one_line();
    let out = run(&mut b.cmd(&["verify", &repo, "--bin", "hello", "--push", &repo]));
    let err = status(&out, 1);
    assert!(err.contains("--push ignored"), "{err}");
    assert!(
        err.contains("usr/local/bin/hello differs: content"),
        "{err}"
    );
    assert_eq!(reg.manifest_puts(), puts, "verify pushed");
    let nope = format!("{}/demo/nope:1", reg.host);
    let out = run(&mut b.cmd(&["verify", &nope, "--bin", "hello"]));
    let err = status(&out, 2);
    assert!(
        err.contains(&nope) && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn a_missing_or_broken_image_is_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let b = Checkout::new(work.path().join("b"));
    let check = |image: &str, says: &[&str]| {
        let out = run(&mut b.cmd(&["verify", image, "--bin", "hello"]));
        let err = status(&out, 2);
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        for s in says {
            assert!(err.contains(s), "{image}: wanted `{s}` in:\n{err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    };
    check(
        "oci:/nope/layout",
        &["/nope/layout", "not an existing OCI layout directory"],
    );
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = format!("oci:{}", empty.display());
    check(&e, &[&e, "index.json"]);
    let garbage = work.path().join("garbage.tar");
    std::fs::write(&garbage, b"this is not a tar file at all".repeat(40)).unwrap();
    let g = format!("oci-archive:{}", garbage.display());
    check(&g, &[&g]);
    check("docker-archive:x.tar", &["no image manifest"]);
    check("Not An Image", &["Not An Image", "is not an image"]);
    let out = run(&mut b.cmd(&["verify", "oci:/x", "--no-such-flag"]));
    let err = status(&out, 2);
    assert!(
        err.contains("after IMAGE") && err.contains("--no-such-flag"),
        "{err}"
    );
}

#[test]
fn several_images_need_a_name_and_a_dry_run_builds_nothing() {
    let (_work, a, b) = two_checkouts();
    // An image whose name is neither binary's: verify cannot tell which one it is.
    let digest = digest_of(&ok(a.cmd(&["--bin", "hello", "--tag", "other:1"])));
    let image = format!("oci:{}", a.target.join("slim-image/other").display());
    let out = run(&mut b.cmd(&["verify", &image]));
    let err = status(&out, 2);
    assert!(
        err.contains("goodbye, hello") || err.contains("hello, goodbye"),
        "{err}"
    );
    assert!(
        err.contains("--bin NAME") && err.contains("named other"),
        "{err}"
    );
    let out = run(&mut b.cmd(&["verify", &image, "--bin", "hello", "--tag", "other:1"]));
    status(&out, 0);
    assert_eq!(text(&out.stdout), format!("Reproduced {image}@{digest}\n"));

    let out = run(&mut b.cmd(&["verify", &image, "--bin", "hello", "--dry-run"]));
    status(&out, 0);
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!("verify {image}: would rebuild")),
        "{said}"
    );
    assert!(said.contains("binary:     /usr/local/bin/hello"), "{said}");
    assert!(!said.contains("layout:"), "{said}");
    // verify wrote no layout in this checkout, although it built here several times.
    assert!(b.target.join("slim-image/.cache").is_dir());
    assert!(!b.layout().exists() && !b.target.join("slim-image/other").exists());
}

#[test]
fn an_index_is_matched_platform_by_platform() {
    let (_work, a, b) = two_checkouts();
    let both = ["--platform", "linux/amd64,linux/arm64"];
    let digest = digest_of(&ok(a.cmd(&[&both[..], &["--bin", "hello"]].concat())));
    let image = format!("oci:{}", a.layout().display());
    let index = slim::blob_json(&a.layout(), &digest);
    let amd64 = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "amd64")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let out = run(&mut b.cmd(&[&["verify", &image][..], &both[..]].concat()));
    status(&out, 0);
    assert_eq!(text(&out.stdout), format!("Reproduced {image}@{digest}\n"));
    // One platform of the index: that manifest matches, but IMAGE (the index) is not reproduced:
    // exit 1, the matching manifest and the platform not rebuilt are named.
    let out = run(&mut b.cmd(&["verify", &image, "--platform", "linux/amd64"]));
    let err = status(&out, 1);
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert!(
        err.contains(&format!("linux/amd64: manifest {amd64} reproduced")),
        "{err}"
    );
    assert!(
        err.contains("linux/arm64: not rebuilt") && err.contains("--platform linux/arm64"),
        "{err}"
    );
    b.change_one_line();
    let out = run(&mut b.cmd(&[&["verify", &image][..], &both[..]].concat()));
    let err = status(&out, 1);
    for p in ["linux/amd64", "linux/arm64"] {
        let at = err.find(&format!("  {p}: manifest ")).expect(p);
        let rest = &err[at..];
        assert!(
            rest.contains("usr/local/bin/hello differs: content"),
            "{p}: {err}"
        );
    }
}

#[test]
fn a_dry_run_reads_no_image_and_builds_nothing() {
    let work = tempfile::tempdir().unwrap();
    let b = Checkout::new(work.path().join("b"));
    // Stands in for the registry: a dry run must not connect to it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let image = format!("{}/demo/hello:1", listener.local_addr().unwrap());
    let out = run(&mut b.cmd(&[
        "verify",
        &image,
        "--bin",
        "hello",
        "--dry-run",
        "--message-format",
        "json",
    ]));
    status(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (doc["dry_run"].clone(), doc["command"].clone()),
        (true.into(), "verify".into())
    );
    assert_eq!(doc["image"], image.as_str());
    assert_eq!(doc["plan"]["images"][0]["name"], "hello", "{doc}");
    assert!(doc["plan"]["images"][0]["layout"].is_null(), "{doc}");
    assert_eq!(
        listener.accept().map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::WouldBlock),
        "the dry run connected to {image}"
    );
    assert!(
        !b.target.exists(),
        "the dry run built into {}",
        b.target.display()
    );
}

#[test]
fn a_tampered_image_is_an_error_not_a_difference() {
    let (work, a, b) = two_checkouts();
    ok(a.cmd(&["--bin", "hello"]));
    let (_, manifest) = slim::manifest_of(&a.layout());
    let layer = manifest["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = slim::blob_path(&a.layout(), &layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let image = format!("oci:{}", a.layout().display());
    // Another source: the layer is read, and its bytes are not what its digest says. (With the same
    // sources nothing would be read: the digests match, and the rebuild's own blob is that layer.)
    b.change_one_line();
    let out = run(&mut b.cmd(&["verify", &image, "--bin", "hello"]));
    let err = status(&out, 2);
    assert!(
        err.contains(&layer) && err.contains("does not match"),
        "{err}"
    );
    assert!(!err.contains("differs:"), "{err}");
    drop(work);
}
