//! Adversarial checks of the outputs (issue 11): `-o` and `--tarball` pointed at the wrong place
//! never lose or replace anything of the user's, and a bad combination is refused before anything
//! is written.

mod common;

use common::slim::{cmd, fails, ok};
use std::fs;
use std::path::Path;
use std::process::Command;

const BUSYBOX: &str = "/bin/busybox";

fn busy(target: &Path, rest: &[&str]) -> Command {
    let mut args = vec![
        "--binary",
        BUSYBOX,
        "--target-dir",
        target.to_str().unwrap(),
    ];
    args.extend_from_slice(rest);
    cmd(&args)
}

/// An OCI layout the user keeps their own files in (oci-layout present, plus `src/` and a note) is
/// not the tool's to replace: the run is refused, naming the extra entry, and every file stays.
#[test]
fn a_layout_directory_with_user_files_in_it_is_refused_not_replaced() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let out = w.join("out");
    ok(busy(&target, &["-o", out.to_str().unwrap()]));
    fs::create_dir(out.join("src")).unwrap();
    fs::write(out.join("src/main.rs"), "fn main() {}\n").unwrap();
    let err = fails(busy(&target, &["-o", out.to_str().unwrap()]));
    assert!(
        err.contains(out.to_str().unwrap()) && err.contains("src"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(out.join("src/main.rs")).unwrap(),
        "fn main() {}\n"
    );
    assert!(out.join("oci-layout").is_file() && out.join("index.json").is_file());
    // A layout with only the layout's own entries is still replaced.
    fs::remove_dir_all(out.join("src")).unwrap();
    ok(busy(&target, &["-o", out.to_str().unwrap()]));
}

/// `-o LINK` where LINK is a symlink to a layout: the layout at the link's target is replaced, and
/// the link (the user's) stays a link, like `--tarball` through a symlink.
#[test]
fn output_through_a_symlink_replaces_the_target_and_keeps_the_link() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let real = w.join("real");
    ok(busy(&target, &["-o", real.to_str().unwrap()]));
    let before = fs::metadata(real.join("index.json")).unwrap();
    let link = w.join("link");
    std::os::unix::fs::symlink("real", &link).unwrap();
    ok(busy(
        &target,
        &["-o", link.to_str().unwrap(), "--tag", "other:1"],
    ));
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink -o named was replaced by a directory"
    );
    let index = fs::read_to_string(real.join("index.json")).unwrap();
    assert!(
        index.contains("other:1"),
        "the link's target was not rewritten: {index}"
    );
    use std::os::unix::fs::MetadataExt;
    assert_ne!(
        fs::metadata(real.join("index.json")).unwrap().ino(),
        before.ino()
    );
    // A symlink loop is an error naming it, not a hang or a replaced link.
    let a = w.join("loop-a");
    std::os::unix::fs::symlink("loop-b", &a).unwrap();
    std::os::unix::fs::symlink("loop-a", w.join("loop-b")).unwrap();
    let err = fails(busy(&target, &["-o", a.to_str().unwrap()]));
    assert!(err.contains("loop-a"), "{err}");
    assert!(fs::symlink_metadata(&a).unwrap().file_type().is_symlink());
}

/// `--tarball` equal to `-o`, or inside the layout directory, cannot both be written (the tarball
/// would be deleted by the next layout, or the layout written and then the tarball fail): refused
/// before anything is built or written.
#[test]
fn tarball_at_or_inside_the_layout_is_refused_before_anything_is_written() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let target = w.join("target");
    let out = w.join("out");
    for t in [
        out.clone(),
        out.join("img.tar"),
        w.join("./out/sub/../img.tar"),
    ] {
        let err = fails(busy(
            &target,
            &[
                "-o",
                out.to_str().unwrap(),
                "--tarball",
                t.to_str().unwrap(),
            ],
        ));
        assert!(
            err.contains("--tarball") && err.contains("--output"),
            "{err}"
        );
        assert!(
            !out.exists(),
            "the layout was written before the refusal: {err}"
        );
        assert!(!target.join("slim-image").exists(), "{err}");
    }
    // Relative spellings of the same place too.
    let mut c = busy(&target, &["-o", "out", "--tarball", "./out/x.tar"]);
    c.current_dir(w);
    fails(c);
    assert!(!out.exists());
    // The layout inside the tarball's path: neither could be written.
    let err = fails(busy(
        &target,
        &[
            "-o",
            w.join("img.tar/layout").to_str().unwrap(),
            "--tarball",
            w.join("img.tar").to_str().unwrap(),
        ],
    ));
    assert!(err.contains("--tarball") && err.contains("inside"), "{err}");
    assert!(!w.join("img.tar").exists(), "{err}");
    // Beside the layout is fine.
    ok(busy(
        &target,
        &[
            "-o",
            out.to_str().unwrap(),
            "--tarball",
            w.join("out.tar").to_str().unwrap(),
        ],
    ));
}
