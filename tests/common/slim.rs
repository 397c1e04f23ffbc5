//! Running the real `cargo-slim-image` binary in tests, and reading what it wrote.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root (where Cargo.toml of cargo-slim-image is).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A cargo target dir shared by the tests of one run, so fixtures compile once.
pub fn shared_target() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("slim-cargo-target")
}

/// `cargo-slim-image slim-image ARGS...` as cargo would run it, with a clean environment for the
/// variables that change outputs.
pub fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cargo-slim-image"));
    c.arg("slim-image").args(args).stdin(Stdio::null());
    c.env_remove("SOURCE_DATE_EPOCH");
    // A developer's default repository must not rename the images of every test.
    c.env_remove("SLIM_IMAGE_REPO");
    // The per-user cache (the mount memory of pushes, OpenSSL builds) of this run's tests, not the
    // developer's: a test sets its own to see the memory of its pushes alone.
    c.env(
        "SLIM_IMAGE_CACHE_DIR",
        shared_target().with_file_name("slim-user-cache"),
    );
    c
}

/// The binary packaging busybox and pushing it to `target` (`-vv`, `--retries retries`, a 5 s
/// timeout), into `work/target` and `work/out`, in a clean home under `work`: no auth file, no
/// runtime directory, no registry host override. The caller adds the credentials it wants.
pub fn push_busybox(work: &Path, target: &str, retries: u32) -> Command {
    let t = work.join("target");
    let o = work.join("out");
    let retries = retries.to_string();
    let mut c = cmd(&[
        "--binary",
        "/bin/busybox",
        "-vv",
        "--retries",
        &retries,
        "--timeout",
        "5",
        "--push",
        target,
        "--target-dir",
        t.to_str().unwrap(),
        "--output",
        o.to_str().unwrap(),
    ]);
    c.env("HOME", work)
        .env("DOCKER_CONFIG", work)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("SLIM_IMAGE_REGISTRY_HOST");
    c
}

/// Run and return the output, whatever the status.
pub fn run(c: &mut Command) -> Output {
    c.output().expect("cargo-slim-image starts")
}

/// Run, require success, return stdout.
pub fn ok(mut c: Command) -> String {
    let out = run(&mut c);
    assert!(
        out.status.success(),
        "cargo-slim-image failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Run, require failure, return stderr (and check nothing went to stdout).
pub fn fails(mut c: Command) -> String {
    let out = run(&mut c);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "expected a failure, got success; stderr:\n{stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "exit code; stderr:\n{stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout on failure: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// Parse a layout's index.json.
pub fn index_json(layout: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
        .expect("JSON")
}

/// The digest and JSON of what the first entry of a layout's index.json points to (its image
/// manifest, or the image index of a multi-platform layout).
pub fn manifest_of(layout: &Path) -> (String, Value) {
    let d = index_json(layout)["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let m = blob_json(layout, &d);
    (d, m)
}

/// Read a blob of a layout as JSON.
pub fn blob_json(layout: &Path, digest: &str) -> Value {
    serde_json::from_slice(&std::fs::read(blob_path(layout, digest)).expect("blob"))
        .expect("JSON blob")
}

/// Path of a blob in a layout.
pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// A throwaway package whose `[package.metadata.slim-image]` table is `meta`; returns the path of
/// its Cargo.toml.
pub fn package_with_meta(dir: &Path, meta: &str) -> String {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"bad\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n\
             [package.metadata.slim-image]\n{meta}\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    dir.join("Cargo.toml").display().to_string()
}

/// `cargo slim-image --manifest-path MANIFEST --target-dir TARGET REST...`.
pub fn on(manifest: &str, target: &str, rest: &[&str]) -> Command {
    let mut args = vec!["--manifest-path", manifest, "--target-dir", target];
    args.extend_from_slice(rest);
    cmd(&args)
}

/// The manifest of examples/hello-http, the example most tests build.
pub fn hello_http() -> String {
    repo()
        .join("examples/hello-http/Cargo.toml")
        .display()
        .to_string()
}

/// `cargo slim-image` on examples/hello-http with the shared target dir, then REST.
pub fn on_hello_http(rest: &[&str]) -> Command {
    on(
        &hello_http(),
        shared_target().to_str().expect("utf-8 target dir"),
        rest,
    )
}

/// What hello-http prints with `--once-stdout` when it runs as the image's nonroot user.
pub const HELLO: &str = "hello from slim-image uid=65532";

/// `out` (of a container run of hello-http with `--once-stdout`) printed [`HELLO`].
pub fn assert_says_hello(out: &Output) {
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        HELLO,
        "hello-http's output ({}); stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `Env` entries of an image config.
pub fn config_env(config: &Value) -> Vec<String> {
    config["config"]["Env"]
        .as_array()
        .expect("Env is a list")
        .iter()
        .map(|v| v.as_str().expect("Env entries are strings").to_string())
        .collect()
}

/// The newest `<triple>/release/<name>` that cargo-slim-image built under `target` (its builds live
/// in `<target>/slim-image/.build/<stamp key>/`), with the `stamp.json` of its build dir; `min_size`
/// picks the build with `--min-size`'s profile overrides (a non-empty `extra_env`), or one without.
#[allow(dead_code)]
pub fn built_binary(target: &Path, triple: &str, name: &str, min_size: bool) -> PathBuf {
    let dirs = std::fs::read_dir(target.join("slim-image/.build")).expect("build dirs");
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for d in dirs.flatten() {
        let stamp: Value = match std::fs::read(d.path().join("stamp.json")) {
            Ok(b) => serde_json::from_slice(&b).expect("stamp JSON"),
            Err(_) => continue,
        };
        let extra = stamp["extra_env"].as_array().is_some_and(|e| !e.is_empty());
        let bin = d.path().join(triple).join("release").join(name);
        if let (true, Ok(m)) = (extra == min_size, bin.metadata()) {
            found.push((m.modified().unwrap(), bin));
        }
    }
    found.sort();
    found
        .pop()
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("no {triple}/release/{name} under {}", target.display()))
}
