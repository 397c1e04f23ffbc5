//! A base image made by hand for the tests: an OCI layout (tag `1`, linux/amd64) whose layers are
//! tar streams written entry by entry, and the tool run on it with `--binary /bin/busybox`
//! (nothing compiles).

use cargo_slim_image::digest::Digest;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::slim;
use super::tar::ustar_header;

pub const BUSYBOX: &str = "/bin/busybox";

/// A tar stream of `(name, type flag, data, link)` entries, with the trailer.
pub fn tar_of(entries: &[(&str, u8, &[u8], &str)]) -> Vec<u8> {
    let mut t = Vec::new();
    for (name, flag, data, link) in entries {
        t.extend_from_slice(&ustar_header(name, *flag, data.len() as u64, link));
        t.extend_from_slice(data);
        t.resize(t.len().div_ceil(512) * 512, 0);
    }
    t.extend_from_slice(&[0u8; 1024]);
    t
}

/// `data` gzipped (fast).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// An OCI layout at `dir` (tag `1`, linux/amd64) whose layers are the tar streams `tars`, gzipped.
pub fn layout(dir: &Path, tars: &[Vec<u8>]) -> PathBuf {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = Digest::of(bytes);
        std::fs::write(blobs.join(d.hex()), bytes).unwrap();
        json!({"digest": d.to_string(), "size": bytes.len()})
    };
    let diff_ids: Vec<String> = tars.iter().map(|t| Digest::of(t).to_string()).collect();
    let config = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux",
        "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}))
    .unwrap();
    let mut c = put(&config);
    c["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    let layers: Vec<_> = tars
        .iter()
        .map(|t| {
            let mut l = put(&gzip(t));
            l["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
            l
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": c, "layers": layers}))
    .unwrap();
    let mut m = put(&manifest);
    m["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
    m["annotations"] = json!({"org.opencontainers.image.ref.name": "1"});
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [m]})).unwrap(),
    )
    .unwrap();
    dir.to_path_buf()
}

/// The tool on `--base oci:LAYOUT:1`, packaging busybox into the layout `out`; returns stderr.
pub fn build_on(layout: &Path, work: &Path, out: &Path) -> String {
    build_with(layout, work, out, &[])
}

/// [`build_on`] with more flags (`--user`, `--tarball`, ...); returns stderr.
pub fn build_with(layout: &Path, work: &Path, out: &Path, extra: &[&str]) -> String {
    let base = format!("oci:{}:1", layout.display());
    let target = work.join("t");
    let mut args = vec![
        "--binary",
        BUSYBOX,
        "--platform",
        "linux/amd64",
        "--target-dir",
        target.to_str().unwrap(),
        "--base",
        &base,
        "--output",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = slim::cmd(&args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "the build failed:\n{err}");
    err
}

/// The kind of `p` in an unpacked rootfs, not following a final link.
pub fn kind(p: &Path) -> &'static str {
    match std::fs::symlink_metadata(p) {
        Err(_) => "missing",
        Ok(m) if m.is_file() => "file",
        Ok(m) if m.is_dir() => "dir",
        Ok(m) if m.is_symlink() => "symlink",
        Ok(_) => "other",
    }
}
