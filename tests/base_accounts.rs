//! The nonroot user on a base that lacks it (issue 16): images run as 65532:65532, and on a base
//! whose `/etc/passwd` has no such account (alpine's has none) the process would have no user name
//! and `HOME=/`. The tool appends the nonroot line to the base's own passwd and group (keeping every
//! line of theirs), adds `/home/nonroot`, and leaves a base that has the user, or an image that
//! runs as another user, alone. What it cannot read (a link, a file over 1 MiB) it leaves as it is
//! and warns. Checked with umoci (the files) and podman (`id`, `$HOME` inside the container).

mod common;

use common::base_layout::{build_on, build_with, layout, tar_of};
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
    build_with(
        &base,
        w,
        &w.join("out2"),
        &[
            "--tarball",
            tar.to_str().unwrap(),
            "-t",
            "accounts-test:1",
            "-q",
        ],
    );
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
    let err = build_with(&base2, w, &w.join("out3"), &["--user", "1000:1000"]);
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

/// Hostile and odd account files in base layers: what the runtimes would see is what is extended.
/// A passwd that is a directory is replaced by ours whole (no "could not check" warning: nothing
/// was left unchecked); a hard link is left alone with the warning; a passwd named by a PAX
/// `path` record, the last of two entries in one layer, CRLF lines with NUL bytes and no final
/// newline are extended keeping every byte; an opaque whiteout of `etc/` in an upper layer leaves
/// no base passwd, so ours goes in whole.
#[test]
fn odd_and_hostile_account_files_in_base_layers() {
    require!("umoci");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let line = "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
    let unpack = |name: &str, tars: &[Vec<u8>]| {
        let base = layout(&w.join(format!("base-{name}")), tars);
        let out = w.join(format!("out-{name}"));
        let err = build_on(&base, w, &out);
        (err, peers::umoci_unpack(&out, "latest").unwrap())
    };

    // etc/passwd a directory: ours replaces it, and nothing says it could not be checked.
    let (err, img) = unpack(
        "dir",
        &[tar_of(&[
            ("etc/", b'5', b"", ""),
            ("etc/passwd/", b'5', b"", ""),
            ("etc/passwd/x", b'0', b"x", ""),
            ("etc/group", b'0', ALPINE_GROUP, ""),
        ])],
    );
    assert!(!err.contains("could not check"), "{err}");
    let passwd = read(&img.path().join("rootfs"), "etc/passwd");
    assert!(passwd.contains(line), "{passwd}");

    // A hard link to another file: not followed, left alone, with the warning.
    let (err, img) = unpack(
        "hardlink",
        &[tar_of(&[
            ("etc/", b'5', b"", ""),
            ("etc/passwd.real", b'0', ALPINE_PASSWD, ""),
            ("etc/passwd", b'1', b"", "etc/passwd.real"),
            ("etc/group", b'0', ALPINE_GROUP, ""),
        ])],
    );
    assert!(
        err.contains("could not check whether the base lists user 65532: /etc/passwd"),
        "{err}"
    );
    let passwd = read(&img.path().join("rootfs"), "etc/passwd");
    assert_eq!(passwd.as_bytes(), ALPINE_PASSWD);

    // Named by a PAX record (the header's own name is something else), written twice in one
    // layer (the second wins), CRLF, a NUL byte and no final newline.
    let odd: &[u8] = b"root:x:0:0:root:/root:/bin/sh\r\nweird\0:x:7:7::/:\r\nlast:x:8:8::/:/bin/sh";
    let mut pax = tar_of(&[("etc/", b'5', b"", "")]);
    pax.truncate(pax.len() - 1024);
    let record = b"19 path=etc/passwd\n";
    pax.extend_from_slice(&tar_of(&[
        ("PaxHeaders/passwd", b'x', record, ""),
        ("not-the-name", b'0', b"first:x:1:1::/:/bin/sh\n", ""),
        ("etc/passwd", b'0', odd, ""),
        ("etc/group", b'0', ALPINE_GROUP, ""),
    ]));
    let (_, img) = unpack("pax", &[pax]);
    let root = img.path().join("rootfs");
    assert!(!root.join("not-the-name").exists());
    let passwd = std::fs::read(root.join("etc/passwd")).unwrap();
    let mut want = odd.to_vec();
    want.push(b'\n');
    want.extend_from_slice(line.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&passwd),
        String::from_utf8_lossy(&want)
    );

    // An opaque whiteout of etc/ above the base's passwd: the base has none, ours goes in whole.
    let (err, img) = unpack(
        "opaque",
        &[
            tar_of(&[
                ("etc/", b'5', b"", ""),
                ("etc/passwd", b'0', ALPINE_PASSWD, ""),
                ("etc/group", b'0', ALPINE_GROUP, ""),
            ]),
            tar_of(&[("etc/", b'5', b"", ""), ("etc/.wh..wh..opq", b'0', b"", "")]),
        ],
    );
    assert!(!err.contains("could not check"), "{err}");
    let passwd = read(&img.path().join("rootfs"), "etc/passwd");
    // Ours whole (root's shell is /sbin/nologin in ours, /bin/sh in the whited-out one).
    assert!(
        passwd.contains(line) && !passwd.contains("/bin/sh"),
        "{passwd}"
    );
}
