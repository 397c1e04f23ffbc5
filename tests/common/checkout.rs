//! A copy of the `hello` fixture in a temp dir, built and verified through the real binary: what the
//! `verify` tests share (a checkout with its own target dir, exit-status checks, and hand edits of
//! the OCI layout a build wrote).

use super::slim;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A copy of the `hello` fixture (two binaries: hello, goodbye) at `dir`, with its target dir.
pub struct Checkout {
    /// The workspace root.
    pub dir: PathBuf,
    /// Its target dir.
    pub target: PathBuf,
}

impl Checkout {
    /// Copy the fixture to `dir`.
    pub fn new(dir: PathBuf) -> Checkout {
        let src = slim::repo().join("tests/fixtures/hello");
        std::fs::create_dir_all(dir.join("src/bin")).unwrap();
        for f in [
            "Cargo.toml",
            "Cargo.lock",
            "src/main.rs",
            "src/bin/goodbye.rs",
        ] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        let target = dir.join("target");
        Checkout { dir, target }
    }

    /// `cargo slim-image --manifest-path ... --target-dir ... REST`.
    pub fn cmd(&self, rest: &[&str]) -> Command {
        slim::on(
            self.dir.join("Cargo.toml").to_str().unwrap(),
            self.target.to_str().unwrap(),
            rest,
        )
    }

    /// This checkout's default layout of the `hello` image.
    pub fn layout(&self) -> PathBuf {
        self.target.join("slim-image/hello")
    }

    /// Change one line of hello's source.
    pub fn change_one_line(&self) {
        let main = self.dir.join("src/main.rs");
        let text = std::fs::read_to_string(&main).unwrap();
        let changed = text.replace("hello from a slim image", "hello from a changed image");
        assert_ne!(text, changed, "the fixture's line to change");
        std::fs::write(main, changed).unwrap();
    }
}

/// The digest of a build's `name@sha256:...` line.
pub fn digest_of(stdout: &str) -> String {
    let line = stdout.lines().next().expect("a result line");
    line.split_once('@').expect("name@digest").1.to_string()
}

/// Bytes as text, lossily.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Require exit status `code` and return stderr (never a panic).
pub fn status(out: &Output, code: i32) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status; stdout:\n{}\nstderr:\n{stderr}",
        text(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Write `bytes` as a blob of `layout`; its descriptor (`mediaType`, `digest`, `size`).
pub fn put_blob(layout: &Path, media_type: &str, bytes: &[u8]) -> Value {
    let digest = sha256(bytes);
    std::fs::write(slim::blob_path(layout, &digest), bytes).unwrap();
    serde_json::json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
}

/// Make index.json of `layout` list exactly `manifests`.
pub fn set_index(layout: &Path, manifests: Vec<Value>) {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
}

/// Copy a layout directory (flat: oci-layout, index.json, blobs/sha256/*) to `to`.
pub fn copy_layout(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("blobs/sha256")).unwrap();
    for f in ["oci-layout", "index.json"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    for e in std::fs::read_dir(from.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join("blobs/sha256").join(e.file_name())).unwrap();
    }
}
