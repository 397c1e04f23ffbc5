//! Issue 4, multi-arch: `--platform linux/amd64,linux/arm64` gives one image per platform under one OCI
//! index, in the layout, the oci-archive and the push; each binary's ELF machine matches its platform;
//! the arm64 image runs under qemu-user-static (`podman run --platform linux/arm64`); a docker-archive,
//! which holds one image, gets the host's platform.

mod common;

use cargo_slim_image::base::tarread;
use common::peers::{self, Podman};
use common::registry::{Mode, RealRegistry};
use common::slim::{self, assert_says_hello, blob_json, blob_path, index_json, ok};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The ELF `e_machine` of `usr/local/bin/hello-http` in a gzip layer of `layout`.
fn elf_machine_in_layer(layout: &Path, digest: &str) -> Option<u16> {
    let f = std::fs::File::open(blob_path(layout, digest)).unwrap();
    let mut machine = None;
    tarread::for_each(flate2::read::MultiGzDecoder::new(f), |e, data| {
        if e.path == "usr/local/bin/hello-http" {
            let mut head = [0u8; 20];
            data.read_exact(&mut head)?;
            machine = Some(u16::from_le_bytes([head[18], head[19]]));
        }
        Ok(())
    })
    .unwrap();
    machine
}

/// `cargo slim-image` on hello-http for linux/amd64 and linux/arm64, writing `layout` and
/// `tarball`, then `rest`.
fn two_platforms(layout: &Path, tarball: &Path, rest: &[&str]) -> Command {
    let mut args = vec![
        "--platform",
        "linux/amd64,linux/arm64",
        "--output",
        layout.to_str().unwrap(),
        "--tarball",
        tarball.to_str().unwrap(),
    ];
    args.extend_from_slice(rest);
    slim::on_hello_http(&args)
}

#[test]
fn two_platforms_make_an_index_in_layout_archive_and_registry_and_arm64_runs_under_qemu() {
    let Some(reg) = RealRegistry::start(Mode::Plain, "two_platforms_make_an_index") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let tarball = work.path().join("multi.tar");
    let target = format!("{}/demo/multi:1", reg.host);
    let json = ok(two_platforms(
        &layout,
        &tarball,
        &["--push", &target, "--message-format", "json"],
    ));
    let report: Value = serde_json::from_str(&json).unwrap();
    let img = &report["images"][0];
    assert_eq!(img["media_type"], "application/vnd.oci.image.index.v1+json");
    let digest = img["digest"].as_str().unwrap().to_string();
    assert_eq!(img["pushed"][0]["digest"], digest.as_str());

    // Layout: index.json points at our index, which lists one manifest per platform.
    let idx = index_json(&layout);
    assert_eq!(idx["manifests"][0]["digest"], digest.as_str());
    let index = blob_json(&layout, &digest);
    let entries = index["manifests"].as_array().unwrap();
    let plats: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["platform"]["architecture"].as_str().unwrap().to_string(),
                e["platform"]["variant"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        plats,
        [("amd64".into(), "".into()), ("arm64".into(), "v8".into())]
    );
    for e in entries {
        let m = blob_json(&layout, e["digest"].as_str().unwrap());
        let config = blob_json(&layout, m["config"]["digest"].as_str().unwrap());
        let arch = e["platform"]["architecture"].as_str().unwrap();
        assert_eq!(config["architecture"], arch);
        let want = if arch == "amd64" { 62 } else { 183 };
        let machines: Vec<u16> = m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| elf_machine_in_layer(&layout, l["digest"].as_str().unwrap()))
            .collect();
        assert_eq!(machines, [want], "{arch}");
    }
    if peers::check_tools("two_platforms_make_an_index", &["oci-image-tool"]) {
        peers::oci_image_tool_validate(&layout).unwrap();
    }

    if peers::check_tools("two_platforms_make_an_index", &["skopeo"]) {
        // The oci-archive carries the same index; the registry holds it under the same digest.
        let raw =
            peers::skopeo_inspect_raw(&format!("oci-archive:{}", tarball.display()), &[]).unwrap();
        assert_eq!(
            cargo_slim_image::digest::Digest::of(&raw).to_string(),
            digest
        );
        let raw = peers::skopeo_inspect_raw(&format!("docker://{target}"), &["--tls-verify=false"])
            .unwrap();
        assert_eq!(
            cargo_slim_image::digest::Digest::of(&raw).to_string(),
            digest
        );
    }

    if peers::check_tools("two_platforms_make_an_index", &["podman", "runc"]) {
        let podman = Podman::new().unwrap();
        podman.load(&tarball).unwrap();
        assert_says_hello(&podman.run("localhost/hello-http:0.1.0", &["--once-stdout"]));
        if peers::binfmt_aarch64() {
            let arm = Podman::with_arm64_of(&target).unwrap();
            let info = arm.inspect(&target).unwrap();
            assert_eq!(info["Architecture"], "arm64");
            assert_says_hello(&arm.run_arm64(&[], &target, &["--once-stdout"]));
        }
    }
}

#[test]
fn a_docker_archive_of_two_platforms_holds_the_hosts() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let tarball = work.path().join("docker.tar");
    let mut c = two_platforms(&layout, &tarball, &["--tarball-format", "docker"]);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("docker-archive holds one platform: linux/amd64"),
        "{stderr}"
    );
    let mut manifest = String::new();
    tarread::for_each(std::fs::File::open(&tarball).unwrap(), |e, data| {
        if e.path == "manifest.json" {
            data.read_to_string(&mut manifest)?;
        }
        Ok(())
    })
    .unwrap();
    let m: Value = serde_json::from_str(&manifest).unwrap();
    let config = m[0]["Config"].as_str().unwrap();
    let config = blob_json(
        &layout,
        &format!("sha256:{}", config.rsplit('/').next().unwrap()),
    );
    assert_eq!(config["architecture"], "amd64");
}
