//! The nonroot user on a base that lacks it (issue 16): images run as 65532:65532, and on a base
//! whose `/etc/passwd` has no such account (alpine's has none) the process would have no user name
//! and `HOME=/`. The tool appends the nonroot line to the base's own passwd and group (keeping every
//! line of theirs), adds `/home/nonroot`, and leaves a base that has the user, or an image that
//! runs as another user, alone. What it cannot read (a link, a file over 1 MiB) it leaves as it is
//! and warns. Checked with umoci (the files) and podman (`id`, `$HOME` inside the container).

mod common;

use common::base_layout::{build_on, layout, tar_of, BUSYBOX};
use common::peers::{self, require, Podman};
use std::path::Path;

const ALPINE_PASSWD: &[u8] =
    b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n";
const ALPINE_GROUP: &[u8] = b"root:x:0:root\nnobody:x:65534:";

fn base_with(dir: &Path, passwd: &[u8], group: &[u8]) -> std::path::PathBuf {
    layout(
        dir,
        &[tar_of(&[
            ("etc/", b'5', b"", ""),
            ("etc/passwd", b'0', passwd, ""),
            ("etc/group", b'0', group, ""),
            ("home/", b'5', b"", ""),
        ])],
    )
}

fn read(root: &Path, f: &str) -> String {
    std::fs::read_to_string(root.join(f)).unwrap_or_else(|e| panic!("/{f}: {e}"))
}

#[test]
fn a_base_without_the_nonroot_user_gets_it_added_to_its_own_files() {
    require!("umoci", "podman", "runc");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let base = base_with(&w.join("base"), ALPINE_PASSWD, ALPINE_GROUP);
    let out = w.join("out");
    let err = build_on(&base, w, &out);
    assert!(
        err.contains(
            "the base has no user 65532, so it was added to the base's /etc/passwd and /etc/group"
        ),
        "{err}"
    );
    let img = peers::umoci_unpack(&out, "latest").unwrap();
    let root = img.path().join("rootfs");
    let passwd = read(&root, "etc/passwd");
    assert_eq!(
        passwd,
        format!(
            "{}nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
            String::from_utf8_lossy(ALPINE_PASSWD)
        )
    );
    // The base's group had no final newline: one is added before our line.
    assert_eq!(
        read(&root, "etc/group"),
        "root:x:0:root\nnobody:x:65534:\nnonroot:x:65532:\n"
    );
    let home = std::fs::metadata(root.join("home/nonroot")).unwrap();
    assert!(home.is_dir());

    // In a container: the user has its name, and HOME is its home (not `/`).
    let tar = w.join("img.tar");
    let c = common::slim::cmd(&[
        "--binary",
        BUSYBOX,
        "--platform",
        "linux/amd64",
        "--target-dir",
        w.join("t").to_str().unwrap(),
        "--base",
        &format!("oci:{}:1", base.display()),
        "--output",
        w.join("out2").to_str().unwrap(),
        "--tarball",
        tar.to_str().unwrap(),
        "-t",
        "accounts-test:1",
        "-q",
    ]);
    common::slim::ok(c);
    let podman = Podman::new().unwrap();
    podman.load(&tar).unwrap();
    let run = podman.run(
        "localhost/accounts-test:1",
        &["sh", "-c", "id; echo HOME=$HOME"],
    );
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{text}");
    assert!(
        text.contains("uid=65532(nonroot) gid=65532(nonroot)"),
        "{text}"
    );
    assert!(text.contains("HOME=/home/nonroot"), "{text}");
}

#[test]
fn a_base_that_has_the_user_or_another_user_keeps_its_files_as_they_are() {
    require!("umoci");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // uid 65532 under another name, and a group named nonroot with another gid: nothing is added.
    let passwd: &[u8] = b"root:x:0:0:root:/root:/bin/sh\napp:x:65532:65532:app:/srv:/bin/sh\n";
    let group: &[u8] = b"root:x:0:\nnonroot:x:1000:\n";
    let base = base_with(&w.join("base"), passwd, group);
    let err = build_on(&base, w, &w.join("out"));
    assert!(!err.contains("so it was added"), "{err}");
    assert!(
        err.contains("kept the base's /etc/passwd, /etc/group"),
        "{err}"
    );
    let img = peers::umoci_unpack(&w.join("out"), "latest").unwrap();
    let root = img.path().join("rootfs");
    assert_eq!(read(&root, "etc/passwd").as_bytes(), passwd);
    assert_eq!(read(&root, "etc/group").as_bytes(), group);

    // Another user (`--user 1000`): the base's files are not touched even though 65532 is missing.
    let base2 = base_with(&w.join("base2"), ALPINE_PASSWD, ALPINE_GROUP);
    let o = common::slim::cmd(&[
        "--binary",
        BUSYBOX,
        "--platform",
        "linux/amd64",
        "--target-dir",
        w.join("t").to_str().unwrap(),
        "--base",
        &format!("oci:{}:1", base2.display()),
        "--output",
        w.join("out3").to_str().unwrap(),
        "--user",
        "1000:1000",
    ])
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("so it was added"), "{err}");
    let img = peers::umoci_unpack(&w.join("out3"), "latest").unwrap();
    assert_eq!(
        read(&img.path().join("rootfs"), "etc/passwd").as_bytes(),
        ALPINE_PASSWD
    );
}

#[test]
fn a_passwd_that_is_a_link_or_too_big_is_left_alone_with_a_warning() {
    require!("umoci");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // A link: its target is not followed (it could point anywhere); the image keeps the link.
    let linked = layout(
        &w.join("linked"),
        &[tar_of(&[
            ("etc/", b'5', b"", ""),
            ("usr/", b'5', b"", ""),
            ("usr/passwd", b'0', ALPINE_PASSWD, ""),
            ("etc/passwd", b'2', b"", "../usr/passwd"),
            ("etc/group", b'0', ALPINE_GROUP, ""),
        ])],
    );
    let err = build_on(&linked, w, &w.join("out1"));
    assert!(
        err.contains("could not check whether the base lists user 65532: /etc/passwd (a link"),
        "{err}"
    );
    // Its group is a regular file and is still extended.
    assert!(
        err.contains("so it was added to the base's /etc/group"),
        "{err}"
    );

    // Over the 1 MiB bound: not read into memory, not changed.
    let mut big = ALPINE_PASSWD.to_vec();
    while big.len() <= 1 << 20 {
        big.extend_from_slice(b"user:x:1234:1234::/:/sbin/nologin\n");
    }
    let huge = base_with(&w.join("huge"), &big, ALPINE_GROUP);
    let err = build_on(&huge, w, &w.join("out2"));
    assert!(
        err.contains("/etc/passwd (a link, not a regular file, or over 1048576 bytes)"),
        "{err}"
    );
    let img = peers::umoci_unpack(&w.join("out2"), "latest").unwrap();
    let size = std::fs::metadata(img.path().join("rootfs/etc/passwd"))
        .unwrap()
        .len();
    assert_eq!(size, big.len() as u64);
}

#[test]
fn the_last_layer_that_writes_passwd_is_the_one_extended() {
    require!("umoci");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let upper_passwd: &[u8] = b"root:x:0:0:root:/root:/bin/sh\nsvc:x:100:100::/:/bin/sh\n";
    let base = layout(
        &w.join("base"),
        &[
            tar_of(&[
                ("etc/", b'5', b"", ""),
                ("etc/passwd", b'0', ALPINE_PASSWD, ""),
                ("etc/group", b'0', ALPINE_GROUP, ""),
            ]),
            // Removed, then written again by a later layer.
            tar_of(&[("etc/.wh.passwd", b'0', b"", "")]),
            tar_of(&[("etc/passwd", b'0', upper_passwd, "")]),
        ],
    );
    build_on(&base, w, &w.join("out"));
    let img = peers::umoci_unpack(&w.join("out"), "latest").unwrap();
    let passwd = read(&img.path().join("rootfs"), "etc/passwd");
    assert!(
        passwd.starts_with(std::str::from_utf8(upper_passwd).unwrap())
            && passwd.ends_with("nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
            && !passwd.contains("nobody"),
        "{passwd}"
    );
}
