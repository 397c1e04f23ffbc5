//! Issue 4, bad base images: a base that does not exist, one without the requested platform, one
//! whose blob does not match its digest (fake registry): each a clear error, nothing pushed. And a
//! dynamically linked musl binary: refused FROM scratch, accepted on a base that has its loader.

#[path = "fixtures/alpine-like/mod.rs"]
mod alpine_like;
mod common;

use alpine_like::*;
use common::peers::{self, require, run_ok, Podman};
use common::registry::fake::{Config, FakeRegistry};
use common::registry::{Mode, RealRegistry};
use common::slim::{self, cmd, fails, ok};
use serde_json::json;
use std::process::Command;

#[test]
fn a_base_that_does_not_exist_is_a_clear_error_and_nothing_is_pushed() {
    let Some(reg) = RealRegistry::start(Mode::Plain, "a_base_that_does_not_exist") else {
        return;
    };
    let base = format!("{}/base/nope:1", reg.host);
    let err = fails(slim::on_hello_http(&[
        "--base",
        &base,
        "--push",
        &format!("{}/demo/x:1", reg.host),
    ]));
    assert!(
        err.contains(&base) && err.contains("does not exist"),
        "{err}"
    );
    assert_eq!(reg.manifest_puts(), 0);
    assert_eq!(reg.blob_uploads(), 0);
}

#[test]
fn a_base_without_the_requested_platform_is_a_clear_error_and_nothing_is_pushed() {
    require!("umoci", "skopeo", "busybox", "docker-registry");
    let Some(reg) = RealRegistry::start(Mode::Plain, "a_base_without_the_requested_platform")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let layout = alpine_like(work.path());
    let base = format!("{}/base/amd64-only:1", reg.host);
    peers::skopeo_copy(
        &format!("oci:{}:amd64", layout.display()),
        &format!("docker://{base}"),
        &["--dest-tls-verify=false"],
    )
    .unwrap();
    let puts = reg.manifest_puts();
    let err = fails(slim::on_hello_http(&[
        "--platform",
        "linux/arm64",
        "--base",
        &base,
        "--push",
        &format!("{}/demo/x:1", reg.host),
    ]));
    assert!(err.contains("linux/arm64") && err.contains(&base), "{err}");
    assert_eq!(reg.manifest_puts(), puts, "nothing pushed");
}

#[test]
fn a_base_blob_with_a_wrong_digest_is_refused_and_nothing_is_pushed() {
    let fake = FakeRegistry::start(Config::default());
    // A one-layer amd64 base whose layer the registry serves with other bytes.
    let layer = b"not the layer whose digest the manifest names".to_vec();
    let claimed = cargo_slim_image::digest::Digest::of(b"the real layer").to_string();
    let config = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [claimed]}}))
    .unwrap();
    let config_digest = cargo_slim_image::digest::Digest::of(&config).to_string();
    fake.put_blob_unchecked(&config_digest, config.clone());
    fake.put_blob_unchecked(&claimed, layer.clone());
    let manifest = serde_json::to_vec(&json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": claimed, "size": layer.len()}]}))
    .unwrap();
    fake.put_manifest(
        "base/bad",
        "1",
        "application/vnd.oci.image.manifest.v1+json",
        manifest,
    );
    let work = tempfile::tempdir().unwrap();
    let err = fails(slim::on_hello_http(&[
        "--platform",
        "linux/amd64",
        "--base",
        &format!("{}/base/bad:1", fake.host),
        "--output",
        work.path().join("l").to_str().unwrap(),
        "--push",
        &format!("{}/demo/x:1", fake.host),
    ]));
    assert!(err.contains(&claimed), "{err}");
    assert!(err.contains("does not match"), "{err}");
    let puts: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT" || s.method == "POST" || s.method == "PATCH")
        .collect();
    assert!(puts.is_empty(), "something was pushed: {puts:?}");
}

#[test]
fn a_dynamically_linked_binary_needs_a_base_with_its_loader() {
    require!("musl-gcc", "umoci");
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("hi.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(void){puts(\"hi from dynamic musl\");return 0;}\n",
    )
    .unwrap();
    let bin = work.path().join("hi");
    run_ok(Command::new("musl-gcc").arg("-o").arg(&bin).arg(&src)).unwrap();
    let info = cargo_slim_image::elf::inspect(&bin).unwrap();
    let Some(loader) = info.interpreter.clone() else {
        eprintln!("SKIP: musl-gcc made a static binary here");
        return;
    };
    // FROM scratch: refused, naming the loader.
    let err = fails(cmd(&[
        "--binary",
        bin.to_str().unwrap(),
        "--output",
        work.path().join("s").to_str().unwrap(),
    ]));
    assert!(
        err.contains("dynamically linked") && err.contains(&loader),
        "{err}"
    );

    // A base with the musl loader (copied from the host's musl).
    let layout = work.path().join("musl-base");
    let image = format!("{}:1", layout.display());
    run_ok(
        Command::new("umoci")
            .args(["init", "--layout"])
            .arg(&layout),
    )
    .unwrap();
    peers::umoci_image(&image, &work.path().join("bundle"), |rootfs| {
        let dest = rootfs.join(loader.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().unwrap())?;
        std::fs::copy(&loader, &dest)?;
        Ok(())
    })
    .unwrap();
    let out = work.path().join("dyn");
    ok(cmd(&[
        "--binary",
        bin.to_str().unwrap(),
        "--base",
        &format!("oci:{}:1", layout.display()),
        "--output",
        out.to_str().unwrap(),
    ]));
    if peers::check_tools(
        "a_dynamically_linked_binary_needs_a_base_with_its_loader",
        &["podman", "runc", "skopeo"],
    ) {
        let tar = work.path().join("dyn.tar");
        peers::skopeo_copy(
            &format!("oci:{}:latest", out.display()),
            &format!("oci-archive:{}:localhost/hi:1", tar.display()),
            &[],
        )
        .unwrap();
        let podman = Podman::new().unwrap();
        podman.load(&tar).unwrap();
        let run = podman.run("localhost/hi:1", &[]);
        assert_eq!(
            String::from_utf8_lossy(&run.stdout).trim(),
            "hi from dynamic musl"
        );
    }
}
