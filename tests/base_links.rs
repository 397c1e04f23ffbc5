//! A base whose directory is a symbolic link (`/usr/share -> /opt/share`, as some bases move data
//! out of `/usr`): a layer of ours with a directory at that path replaces the link when the image is
//! unpacked, so what the base keeps under the target is no longer found there. The build says so,
//! naming the link, its target and our layer; umoci's unpack shows the replacement is real.

mod common;

use common::base_layout::{build_with, layout, tar_of};
use common::peers::{self, require};

#[test]
fn a_base_link_that_a_layer_of_ours_puts_a_directory_over_is_a_warning_naming_it() {
    require!("busybox", "umoci");
    let w = tempfile::tempdir().unwrap();
    let base = layout(
        &w.path().join("base"),
        &[tar_of(&[
            ("opt/", b'5', b"", ""),
            ("opt/share/", b'5', b"", ""),
            ("opt/share/doc.txt", b'0', b"the base's doc\n", ""),
            ("usr/", b'5', b"", ""),
            ("usr/share", b'2', b"", "/opt/share"),
        ])],
    );
    let out = w.path().join("img");
    let err = build_with(&base, w.path(), &out, &["--timezones"]);
    assert!(
        err.contains("/usr/share is a symbolic link to /opt/share in the base")
            && err.contains("the zoneinfo layer has a directory there"),
        "{err}"
    );
    // Once: the app layer (/usr/local/bin) does not go through the link.
    assert_eq!(err.matches("is a symbolic link to").count(), 1, "{err}");
    let bundle = peers::umoci_unpack(&out, "latest").unwrap();
    let share = bundle.path().join("rootfs/usr/share");
    assert!(
        share.symlink_metadata().unwrap().is_dir(),
        "usr/share is no directory"
    );
    assert!(!share.join("doc.txt").exists());
    assert!(bundle.path().join("rootfs/opt/share/doc.txt").exists());
}

#[test]
fn a_base_whose_directories_are_directories_gets_no_such_warning() {
    require!("busybox");
    let w = tempfile::tempdir().unwrap();
    let base = layout(
        &w.path().join("base"),
        &[tar_of(&[
            ("usr/", b'5', b"", ""),
            ("usr/share/", b'5', b"", ""),
        ])],
    );
    let err = build_with(&base, w.path(), &w.path().join("img"), &["--timezones"]);
    assert!(!err.contains("symbolic link"), "{err}");
}
