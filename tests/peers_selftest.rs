//! Self-test of the peer harness in `tests/common/peers.rs`: an image made without our tool
//! (umoci + Debian's static busybox) must validate, unpack, inspect, load into an isolated podman
//! from both archive formats and run there as uid 65532; the strict tar reader must accept a whole
//! archive and reject a missing trailer, a truncated member and garbage after the last member.
//! If this fails, the integration tests' verdicts on our own images mean nothing.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::peers::{self, require, Podman};

#[test]
fn have_finds_tools_on_path() {
    assert!(peers::have("sh"));
    assert!(!peers::have("no-such-tool-slim-image"));
}

#[test]
fn podman_loads_and_runs_an_image_made_by_umoci() {
    require!(
        "podman",
        "runc",
        "umoci",
        "skopeo",
        "oci-image-tool",
        "busybox"
    );
    let layout = peers::busybox_layout("1.0", &["--config.env", "GREETING=hi"]).unwrap();

    peers::oci_image_tool_validate(&layout.path).unwrap();
    let bundle = peers::umoci_unpack(&layout.path, "1.0").unwrap();
    assert!(bundle.path().join("rootfs/bin/busybox").is_file());
    let inspect = peers::skopeo_inspect(&layout.oci_ref(), &[]).unwrap();
    assert_eq!(inspect["Architecture"], "amd64", "{inspect}");
    let config = peers::skopeo_inspect_config(&layout.oci_ref(), &[]).unwrap();
    assert_eq!(config["config"]["User"], "65532:65532", "{config}");
    let raw = peers::skopeo_inspect_raw(&layout.oci_ref(), &[]).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);

    let tmp = tempfile::tempdir().unwrap();
    let podman = Podman::new().unwrap();
    eprintln!("podman storage driver: {}", podman.driver());
    for (format, name) in [
        ("oci-archive", "localhost/peers-oci:1.0"),
        ("docker-archive", "localhost/peers-docker:1.0"),
    ] {
        let tar = tmp.path().join(format!("{format}.tar"));
        peers::skopeo_copy(
            &layout.oci_ref(),
            &format!("{format}:{}:{name}", tar.display()),
            &[],
        )
        .unwrap();
        let loaded = podman.load(&tar).unwrap();
        assert!(
            loaded.contains(name),
            "{format}: expected {name} in:\n{loaded}"
        );

        let out = podman.run(name, &["sh", "-c", "id -u; echo $GREETING"]);
        assert!(out.status.success(), "{format}: podman run failed");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "65532\nhi\n",
            "{format}"
        );
    }
    assert_eq!(
        podman.images().unwrap(),
        ["localhost/peers-docker:1.0", "localhost/peers-oci:1.0"]
    );
    assert_eq!(
        podman.inspect("localhost/peers-oci:1.0").unwrap()["Config"]["User"],
        "65532:65532"
    );
}

#[test]
fn strict_tar_check_wants_whole_members_and_the_trailer() {
    require!("python3", "tar");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("hello.txt"), "hi\n").unwrap();
    let tar = tmp.path().join("whole.tar");
    peers::run_ok(
        Command::new("tar")
            .args([
                "--format=ustar",
                "--owner=0",
                "--group=0",
                "--mtime=@0",
                "-cf",
            ])
            .arg(&tar)
            .arg("-C")
            .arg(tmp.path())
            .arg("hello.txt"),
    )
    .unwrap();
    let whole = std::fs::read(&tar).unwrap();

    let entries = peers::strict_tar_check(&gzip_to(tmp.path(), "whole.tar.gz", &whole)).unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(
        (entry.name.as_str(), entry.kind.as_str(), entry.size),
        ("hello.txt", "file", 3)
    );
    assert_eq!((entry.uid, entry.gid, entry.mtime), (0, 0, 0));
    // Plain (uncompressed) layers are read too.
    assert_eq!(peers::strict_tar_check(&tar).unwrap(), entries);

    // One header block and one data block, then nothing: what tarfile alone accepts quietly.
    let no_trailer =
        peers::strict_tar_check(&gzip_to(tmp.path(), "a.gz", &whole[..1024])).unwrap_err();
    assert!(
        format!("{no_trailer:#}").contains("missing end-of-archive trailer"),
        "{no_trailer:#}"
    );
    let truncated =
        peers::strict_tar_check(&gzip_to(tmp.path(), "b.gz", &whole[..512])).unwrap_err();
    assert!(
        format!("{truncated:#}").contains("truncated"),
        "{truncated:#}"
    );
    let mut garbage = whole.clone();
    garbage[1024..1536].fill(b'x');
    let garbage = peers::strict_tar_check(&gzip_to(tmp.path(), "c.gz", &garbage)).unwrap_err();
    assert!(
        format!("{garbage:#}").contains("non-zero byte at offset 1024"),
        "{garbage:#}"
    );
    let mut bad_gzip = std::fs::read(gzip_to(tmp.path(), "d.gz", &whole)).unwrap();
    bad_gzip.truncate(bad_gzip.len() - 4);
    std::fs::write(tmp.path().join("d.gz"), bad_gzip).unwrap();
    let bad_gzip = peers::strict_tar_check(&tmp.path().join("d.gz")).unwrap_err();
    assert!(
        format!("{bad_gzip:#}").contains("bad gzip stream"),
        "{bad_gzip:#}"
    );
}

/// Writes `bytes` gzip-compressed to `dir/name` and returns the path.
fn gzip_to(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap();
    path
}
