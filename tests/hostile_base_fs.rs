//! Issue 11, a hostile base's *filesystem* against what the tool says it kept, through the real
//! binary with `--base oci:DIR` (packaging `/bin/busybox` with `--binary`, so nothing compiles),
//! the result unpacked by umoci (a tool we did not write): a base whose whiteouts are spelt
//! `etc/./.wh.passwd`, `etc/.wh.` or `etc/ssl/.wh...` (runtimes clean the path and remove
//! `/etc/passwd`) gets our passwd and group, not a note that the base's were kept; a base whose CA
//! bundle path, `/etc/passwd` or `/tmp` is the wrong kind of thing (a directory, a dangling link, a
//! file) gets ours, so the image has a bundle at that path as README says; an `index.json` that is
//! a FIFO is an error, not a hang; and a docker-archive layer compressed with zstd (as the
//! containerd image store saves it) is read as zstd; a registry base whose index names a blob
//! already in the cache (a 5 MiB layer) as a manifest is refused by the 4 MiB bound, not read whole
//! (fake registry); and a base whose loader and libraries are directories does not make a dynamic
//! binary (`/bin/ls`) pass as runnable; names from a hostile archive reach stderr with their control
//! characters escaped (no terminal escape sequences).

mod common;

use cargo_slim_image::digest::Digest;
use common::base_layout::{build_on, gzip, kind, layout, tar_of, BUSYBOX};
use common::peers::{self, require};
use common::registry::fake::{Config, FakeRegistry};
use common::slim;
use serde_json::json;
use std::path::Path;
use std::process::Command;

#[test]
fn a_whiteout_spelt_with_dot_components_still_gets_our_passwd() {
    require!("umoci");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let passwd = b"root:x:0:0:root:/root:/bin/sh\n";
    let lower = tar_of(&[
        ("etc/", b'5', b"", ""),
        ("etc/passwd", b'0', passwd, ""),
        ("etc/group", b'0', b"root:x:0:\n", ""),
        ("etc/ssl/", b'5', b"", ""),
    ]);
    // Whiteouts spelt so that only a path cleaned as the runtimes clean it hits /etc/passwd and
    // /etc/group: dot components, an empty name (`etc/.wh.` is `etc`), `..` (`etc/ssl/.wh...` is
    // `etc`).
    let uppers = [
        tar_of(&[
            ("etc/./.wh.passwd", b'0', b"", ""),
            ("etc//.wh.group", b'0', b"", ""),
        ]),
        tar_of(&[("etc/.wh.", b'0', b"", "")]),
        tar_of(&[("etc/ssl/.wh...", b'0', b"", "")]),
    ];
    for (i, upper) in uppers.into_iter().enumerate() {
        let base = layout(&w.join(format!("base{i}")), &[lower.clone(), upper]);
        let out = w.join(format!("out{i}"));
        let err = build_on(&base, w, &out);
        let added = err.split("; added ").nth(1).unwrap_or("");
        assert!(
            added.contains("/etc/passwd") && added.contains("/etc/group"),
            "base {i}: our passwd and group were not added:\n{err}"
        );
        if i > 0 {
            // umoci removes /etc for these too, then fails restoring its metadata: no unpacking.
            continue;
        }
        // umoci (as containerd and podman) cleans the whiteout's path: no passwd or group left.
        let b = peers::umoci_unpack(&base, "1").unwrap();
        assert_eq!(kind(&b.path().join("rootfs/etc/passwd")), "missing");
        assert_eq!(kind(&b.path().join("rootfs/etc/group")), "missing");
        let img = peers::umoci_unpack(&out, "latest").unwrap();
        let root = img.path().join("rootfs");
        for f in ["etc/passwd", "etc/group"] {
            let text = std::fs::read_to_string(root.join(f))
                .unwrap_or_else(|e| panic!("the image has no /{f} ({e}); the tool said:\n{err}"));
            assert!(text.contains("nonroot"), "/{f} is not ours: {text}");
        }
    }
}

#[test]
fn base_files_of_the_wrong_kind_are_replaced_by_ours() {
    require!("umoci");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let bundle = "etc/ssl/certs/ca-certificates.crt";
    // A directory at the bundle's path, at /etc/passwd; a file at /tmp.
    let dirs = tar_of(&[
        ("etc/", b'5', b"", ""),
        ("etc/passwd/", b'5', b"", ""),
        ("etc/ssl/", b'5', b"", ""),
        ("etc/ssl/certs/", b'5', b"", ""),
        ("etc/ssl/certs/ca-certificates.crt/", b'5', b"", ""),
        ("tmp", b'0', b"not a dir\n", ""),
    ]);
    // A dangling link at the bundle's path.
    let dangling = tar_of(&[
        ("etc/", b'5', b"", ""),
        ("etc/ssl/", b'5', b"", ""),
        ("etc/ssl/certs/", b'5', b"", ""),
        (bundle, b'2', b"", "/nowhere/ca.pem"),
    ]);
    for (i, tar) in [dirs, dangling].into_iter().enumerate() {
        let base = layout(&w.join(format!("base{i}")), &[tar]);
        let out = w.join(format!("out{i}"));
        let err = build_on(&base, w, &out);
        assert!(!err.contains("the CA bundle;"), "{err}");
        let img = peers::umoci_unpack(&out, "latest").unwrap();
        let root = img.path().join("rootfs");
        let pem = std::fs::read_to_string(root.join(bundle))
            .unwrap_or_else(|e| panic!("no bundle at /{bundle} ({e}); the tool said:\n{err}"));
        assert!(pem.contains("BEGIN CERTIFICATE"), "base {i}: {pem:.200}");
        assert_eq!(kind(&root.join("etc/passwd")), "file", "base {i}:\n{err}");
        assert_eq!(kind(&root.join("tmp")), "dir", "base {i}:\n{err}");
    }
}

#[test]
fn an_index_json_that_is_a_fifo_is_an_error_not_a_hang() {
    require!("mkfifo");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let base = layout(&w.join("base"), &[tar_of(&[("etc/", b'5', b"", "")])]);
    std::fs::remove_file(base.join("index.json")).unwrap();
    peers::run_ok(Command::new("mkfifo").arg(base.join("index.json"))).unwrap();
    let mut c = slim::cmd(&[
        "--binary",
        BUSYBOX,
        "--platform",
        "linux/amd64",
        "--target-dir",
        w.join("t").to_str().unwrap(),
        "--base",
        &format!("oci:{}:1", base.display()),
        "--output",
        w.join("out").to_str().unwrap(),
    ]);
    let mut child = c
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Not a timing assertion: a watchdog so that the old behaviour (blocking for ever in open(2),
    // waiting for a writer) fails the test instead of hanging the suite. A correct run takes well
    // under a second; 120 s is only there to end a hang.
    let mut waited = 0;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if waited >= 1200 {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the tool hung opening a FIFO index.json");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
    };
    // The error is a few lines: it fits in the pipe, so reading it after the exit cannot block.
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("index.json") && err.contains("not a regular file"),
        "{err}"
    );
    assert!(!w.join("out").exists());
}

#[test]
fn a_docker_archive_with_a_zstd_layer_is_read_as_zstd() {
    require!("tar");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let tar = tar_of(&[
        ("etc/", b'5', b"", ""),
        ("etc/passwd", b'0', b"root:x:0:0:root:/root:/bin/sh\n", ""),
    ]);
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let dir = w.join("a");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("layer.tar.zst"), &zst).unwrap();
    let config = serde_json::to_vec(
        &json!({"architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(&tar).to_string()]}}),
    )
    .unwrap();
    std::fs::write(dir.join("config.json"), &config).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec(&json!([{"Config": "config.json", "RepoTags": ["base:1"],
            "Layers": ["layer.tar.zst"]}]))
        .unwrap(),
    )
    .unwrap();
    let archive = w.join("base.tar");
    peers::run_ok(
        Command::new("tar")
            .arg("-cf")
            .arg(&archive)
            .arg("-C")
            .arg(&dir)
            .arg("."),
    )
    .unwrap();
    let out = w.join("out");
    let mut c = slim::cmd(&[
        "--binary",
        BUSYBOX,
        "--platform",
        "linux/amd64",
        "--target-dir",
        w.join("t").to_str().unwrap(),
        "--base",
        &format!("docker-archive:{}", archive.display()),
        "--output",
        out.to_str().unwrap(),
    ]);
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // The base's passwd was read out of the zstd layer: it lacks uid 65532, so the line is added
    // to it (tests/base_accounts.rs).
    assert!(
        err.contains("so it was added to the base's /etc/passwd"),
        "{err}"
    );
    let (_, m) = slim::manifest_of(&out);
    let base_layer = &m["layers"][0];
    assert_eq!(base_layer["digest"], Digest::of(&zst).to_string(), "{m}");
    assert_eq!(
        base_layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd",
        "{m}"
    );
}

#[test]
fn a_cached_layer_named_as_a_manifest_is_bounded_like_any_manifest() {
    let fake = FakeRegistry::start(Config::default());
    // 5 MiB that gzip cannot shrink (xorshift), so the layer blob is over the 4 MiB manifest bound.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..5 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let tar = tar_of(&[("noise", b'0', &noise, "")]);
    let layer = gzip(&tar);
    assert!(layer.len() > 4 << 20);
    let layer_digest = Digest::of(&layer).to_string();
    let config = serde_json::to_vec(
        &json!({"architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(&tar).to_string()]}}),
    )
    .unwrap();
    let config_digest = Digest::of(&config).to_string();
    let manifest = serde_json::to_vec(&json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest, "size": layer.len()}]}))
    .unwrap();
    fake.put_blob_unchecked(&config_digest, config);
    fake.put_blob_unchecked(&layer_digest, layer.clone());
    let mt = "application/vnd.oci.image.manifest.v1+json";
    fake.put_manifest("base/app", "1", mt, manifest);
    // Tags 2 and 3: an index whose amd64 entry is the layer, with its true size and with a small one.
    for (tag, size) in [("2", layer.len()), ("3", 100)] {
        let index = serde_json::to_vec(&json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": mt, "digest": layer_digest, "size": size,
                "platform": {"os": "linux", "architecture": "amd64"}}]}))
        .unwrap();
        fake.put_manifest(
            "base/app",
            tag,
            "application/vnd.oci.image.index.v1+json",
            index,
        );
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let run = |tag: &str| {
        slim::cmd(&[
            "--binary",
            BUSYBOX,
            "--platform",
            "linux/amd64",
            "--target-dir",
            w.join("t").to_str().unwrap(),
            "--base",
            &format!("{}/base/app:{tag}", fake.host),
            "--output",
            w.join(format!("out{tag}")).to_str().unwrap(),
        ])
        .output()
        .unwrap()
    };
    let first = run("1");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    for tag in ["2", "3"] {
        let o = run(tag);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "tag {tag}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            err.contains(&layer_digest) && err.contains("4194304-byte limit"),
            "tag {tag}: the 4 MiB manifest bound was not applied:\n{err}"
        );
    }
}

#[test]
fn a_loader_that_is_a_directory_does_not_make_a_dynamic_binary_runnable() {
    let ls = Path::new("/bin/ls");
    let interp = "lib64/ld-linux-x86-64.so.2";
    let readelf = Command::new("readelf").args(["-l", "/bin/ls"]).output();
    let dynamic = readelf.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(interp));
    if !dynamic {
        eprintln!("skipped: /bin/ls is not a glibc x86_64 dynamic binary with /{interp}");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // The loader and every library /bin/ls may need, each a directory (or a link to one).
    let tar = tar_of(&[
        ("lib64/", b'5', b"", ""),
        ("lib64/ld-linux-x86-64.so.2/", b'5', b"", ""),
        ("lib/", b'5', b"", ""),
        ("lib/libc.so.6/", b'5', b"", ""),
        ("lib/libselinux.so.1", b'2', b"", "/lib64"),
        ("lib/libpcre2-8.so.0/", b'5', b"", ""),
        ("lib/libcap.so.2/", b'5', b"", ""),
        ("lib/libacl.so.1/", b'5', b"", ""),
        ("lib/libattr.so.1/", b'5', b"", ""),
    ]);
    let base = layout(&w.join("base"), &[tar]);
    let o = slim::cmd(&[
        "--binary",
        ls.to_str().unwrap(),
        "--platform",
        "linux/amd64",
        "--target-dir",
        w.join("t").to_str().unwrap(),
        "--base",
        &format!("oci:{}:1", base.display()),
        "--output",
        w.join("out").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("the loader /{interp}")), "{err}");
    assert!(!w.join("out").exists());
}

#[test]
fn names_from_a_hostile_archive_cannot_drive_the_terminal() {
    require!("tar");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let dir = w.join("a");
    std::fs::create_dir_all(&dir).unwrap();
    // OSC 52 (write the clipboard), a window title, a cursor-up-and-erase, a bare CR, and a
    // right-to-left override (the name would show reversed after it).
    let config = "\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}]0;owned\u{7}\u{1b}[1A\u{1b}[2K\rcfg\u{202e}nosj.";
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec(&json!([{"Config": config, "RepoTags": ["base:1"], "Layers": []}]))
            .unwrap(),
    )
    .unwrap();
    let archive = w.join("base.tar");
    peers::run_ok(
        Command::new("tar")
            .arg("-cf")
            .arg(&archive)
            .arg("-C")
            .arg(&dir)
            .arg("."),
    )
    .unwrap();
    let o = slim::cmd(&[
        "--binary",
        BUSYBOX,
        "--platform",
        "linux/amd64",
        "--target-dir",
        w.join("t").to_str().unwrap(),
        "--base",
        &format!("docker-archive:{}", archive.display()),
        "--output",
        w.join("out").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let controls: Vec<u8> = o
        .stderr
        .iter()
        .copied()
        .filter(|&b| b < 0x20 && b != b'\n' && b != b'\t' || b == 0x7f)
        .collect();
    assert!(
        controls.is_empty(),
        "control bytes {controls:?} on stderr:\n{err:?}"
    );
    assert!(err.contains("\\u{1b}]52;c;cHduZWQ=\\u{7}"), "{err}");
    assert!(!err.contains('\u{202e}'), "{err}");
    assert!(err.contains("cfg\\u{202e}nosj."), "{err}");
}
