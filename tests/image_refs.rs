//! `--image-refs FILE` (issue 13): every reference pushed, with its digest, one per line, written
//! atomically (a failed run leaves the old file as it was, a symlink is followed, no temp is left),
//! and refused before anything is built when nothing is pushed or FILE is a directory.

mod common;

use common::checkout::Checkout;
use common::outputs::names_with;
use common::registry::{Mode, RealRegistry};
use common::slim::{fails, ok};
use serde_json::Value;

#[test]
fn image_refs_lists_every_pushed_reference_with_its_digest() {
    let Some(reg) = RealRegistry::start(Mode::Plain, "image_refs_lists_every_pushed_reference")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let c = Checkout::new(work.path().join("src"));
    let name = format!("{}/refs/hello", reg.host);
    let other = format!("{}/refs/mirror:edge", reg.host);
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // Through a symlink to an old file: the file is replaced, the link stays.
    let real = out.join("real-refs.txt");
    std::fs::write(&real, "old\n").unwrap();
    let link = out.join("refs.txt");
    std::os::unix::fs::symlink("real-refs.txt", &link).unwrap();
    let report: Value = serde_json::from_str(&ok(c.cmd(&[
        "--bin",
        "hello",
        "-t",
        &format!("{name}:1.0"),
        "-t",
        &format!("{name}:latest"),
        "--push",
        "",
        "--push",
        &other,
        "--image-refs",
        link.to_str().unwrap(),
        "--message-format",
        "json",
    ])))
    .unwrap();
    let digest = report["images"][0]["digest"].as_str().unwrap();
    let text = std::fs::read_to_string(&real).unwrap();
    assert_eq!(
        text,
        format!("{name}:1.0@{digest}\n{name}:latest@{digest}\n{other}@{digest}\n")
    );
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(
        names_with(&out, ".slim-image-").is_empty(),
        "a temp was left"
    );

    // Each line names what the registry has under it.
    use cargo_slim_image::registry::{Client, ClientOptions};
    let client = Client::new(&reg.host, &ClientOptions::default()).unwrap();
    for line in text.lines() {
        let (reference, d) = line.split_once('@').unwrap();
        let (repo_tag, _) = (reference.split_once('/').unwrap().1, ());
        let (repo, tag) = repo_tag.rsplit_once(':').unwrap();
        let m = client.get_manifest(repo, tag).unwrap();
        assert_eq!(common::checkout::sha256(&m.bytes), d, "{line}");
    }

    // A run that fails while pushing (nothing listens there) leaves the old list as it was.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let err = fails(c.cmd(&[
        "--bin",
        "hello",
        "--push",
        &format!("127.0.0.1:{port}/refs/hello:1"),
        "--retries",
        "0",
        "--image-refs",
        link.to_str().unwrap(),
    ]));
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(std::fs::read_to_string(&real).unwrap(), text);
    assert!(
        names_with(&out, ".slim-image-").is_empty(),
        "a temp was left"
    );
}

#[test]
fn image_refs_without_push_or_at_a_directory_is_refused_before_building() {
    let work = tempfile::tempdir().unwrap();
    let c = Checkout::new(work.path().join("src"));
    let file = work.path().join("refs.txt");
    let err = fails(c.cmd(&["--bin", "hello", "--image-refs", file.to_str().unwrap()]));
    assert!(err.contains("--image-refs"), "{err}");
    assert!(err.contains("add --push"), "{err}");
    assert!(!file.exists());
    let err = fails(c.cmd(&[
        "--bin",
        "hello",
        "--push",
        "127.0.0.1:1/x/y:1",
        "--image-refs",
        work.path().to_str().unwrap(),
    ]));
    assert!(err.contains("is not a regular file"), "{err}");
    assert!(!err.contains("Compiling"), "it built first:\n{err}");
}

/// `--image-refs` at another output of the run (the tarball, the layout, inside the layout, the
/// provenance or SBOM beside it) or at a FIFO is refused before anything is built: written after
/// them, the list would replace the tarball (the run exiting 0 with the tarball gone) or make the
/// layout a directory the next run refuses to replace.
#[test]
fn image_refs_at_another_output_or_a_fifo_is_refused_before_building() {
    let work = tempfile::tempdir().unwrap();
    let c = Checkout::new(work.path().join("src"));
    let layout = work.path().join("app");
    let tar = work.path().join("app.tar");
    std::fs::write(&tar, "the user's tarball\n").unwrap();
    let fifo = work.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let cases = [
        (tar.clone(), "the same file as --tarball"),
        (layout.clone(), "the same path as --output"),
        (layout.join("refs.txt"), "inside --output"),
        (work.path().join("app.provenance.json"), "provenance"),
        (work.path().join("app.spdx.json"), "SBOM"),
        (fifo.clone(), "is not a regular file"),
    ];
    for (refs, says) in cases {
        let err = fails(c.cmd(&[
            "--bin",
            "hello",
            "-o",
            layout.to_str().unwrap(),
            "--tarball",
            tar.to_str().unwrap(),
            "--push",
            "127.0.0.1:1/x/y:1",
            "--image-refs",
            refs.to_str().unwrap(),
        ]));
        assert!(err.contains("--image-refs"), "{}: {err}", refs.display());
        assert!(err.contains(says), "{}: {err}", refs.display());
        assert!(!err.contains("Compiling"), "it built first:\n{err}");
        assert_eq!(
            std::fs::read_to_string(&tar).unwrap(),
            "the user's tarball\n"
        );
        assert!(!layout.exists());
    }
}
