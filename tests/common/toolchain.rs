//! Helpers of the C toolchain tests (tests/toolchain.rs, tests/toolchain_user.rs): fixtures, fake
//! tools on PATH, the plan's toolchains, the SBOM beside a layout.

use super::peers;
use super::slim::{self, ok};
use cargo_slim_image::platform::Platform;
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Cargo.toml of fixture `name` (tests/fixtures/NAME).
pub fn fixture(name: &str) -> String {
    slim::repo()
        .join("tests/fixtures")
        .join(name)
        .join("Cargo.toml")
        .display()
        .to_string()
}

/// A temp dir under cargo's per-target temp dir (builds in it share the disk of target/).
pub fn work() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// The machine's platform and the other one (native and cross builds).
pub fn native_and_cross() -> (Platform, Platform) {
    let native = cargo_slim_image::host::Host::current()
        .native_platform()
        .expect("tests run on x86_64 or aarch64");
    let cross = Platform::ALL.into_iter().find(|p| *p != native).unwrap();
    (native, cross)
}

/// `dir` with an executable script per name that appends its name and arguments to `log`, then
/// fails.
pub fn fakes(dir: &Path, names: &[&str], log: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    for n in names {
        let p = dir.join(n);
        let script = format!(
            "#!/bin/sh\necho \"{n} $*\" >> '{}'\nexit 1\n",
            log.display()
        );
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// PATH with `dir` first.
pub fn path_with_first(dir: &Path) -> OsString {
    let rest = std::env::var_os("PATH").unwrap_or_default();
    let mut all = vec![dir.to_path_buf()];
    all.extend(std::env::split_paths(&rest));
    std::env::join_paths(all).unwrap()
}

/// `cargo slim-image` on fixture `name` into `target`, with PATH `path` if given; the JSON report.
pub fn build(name: &str, target: &Path, path: Option<&OsString>, rest: &[&str]) -> Value {
    let out = target.join("out");
    let mut args = vec![
        "--output",
        out.to_str().unwrap(),
        "--message-format",
        "json",
        "--locked",
    ];
    args.extend_from_slice(rest);
    let mut c = slim::on(&fixture(name), target.to_str().unwrap(), &args);
    if let Some(p) = path {
        c.env("PATH", p);
    }
    serde_json::from_str(&ok(c)).expect("JSON report")
}

/// The SBOM document of `platform` beside the layout `target/out` of a two-platform build.
pub fn sbom(target: &Path, platform: Platform, suffix: &str, several: bool) -> (PathBuf, Value) {
    let name = if several {
        format!("out.linux-{}.{suffix}", platform.architecture())
    } else {
        format!("out.{suffix}")
    };
    let path = target.join(name);
    let doc = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    (path, doc)
}

/// The `creationInfo.creators` of an SPDX document.
pub fn spdx_creators(doc: &Value) -> Vec<String> {
    doc["creationInfo"]["creators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// The first line `program ARGS` prints (what the tool records as a version).
pub fn first_line(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_string()
}

/// Check `path` against the `kind` (spdx, cyclonedx) JSON schema (skipped without python3).
pub fn validate(kind: &str, path: &Path) {
    if !peers::check_tools("toolchain::validate", &["python3"]) {
        return;
    }
    let script = slim::repo().join("tests/fixtures/sbom-schemas/validate.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(kind)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} does not validate against the {kind} schema:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--dry-run --message-format json` of `manifest`: the plan's `cargo` part.
pub fn planned(manifest: &str, rest: &[&str]) -> Value {
    let mut args = vec![
        "--manifest-path",
        manifest,
        "--dry-run",
        "--message-format",
        "json",
        "--platform",
        "linux/amd64,linux/arm64",
    ];
    args.extend_from_slice(rest);
    let plan: Value = serde_json::from_str(&ok(slim::cmd(&args))).unwrap();
    plan["cargo"].clone()
}

/// The planned toolchain per platform, in platform order (amd64, arm64).
pub fn toolchains(cargo: &Value) -> Vec<String> {
    cargo["toolchains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["c_toolchain"].as_str().unwrap().to_string())
        .collect()
}

/// A copy of fixture `name` in `dir` (so a `.cargo/config.toml` can sit beside it), without target/.
pub fn copy_fixture(name: &str, dir: &Path) -> String {
    let from = slim::repo().join("tests/fixtures").join(name);
    let status = Command::new("cp")
        .arg("-r")
        .arg(&from)
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
    dir.join("Cargo.toml").display().to_string()
}

/// The planned toolchain of the first platform of `cmd`'s dry-run plan.
pub fn planned_toolchain(mut c: Command) -> String {
    c.args(["--dry-run", "--message-format", "json"]);
    let plan: Value = serde_json::from_str(&ok(c)).unwrap();
    plan["cargo"]["toolchains"][0]["c_toolchain"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A workspace: `clib` (a build script whose `cc` build-dependency, and its dependency `itoa`, are
/// behind its feature `c`),
/// `app` (uses clib without `c`, but turns `c` on for its tests) and `other` (turns `c` on).
pub fn feature_workspace(dir: &Path) -> String {
    let write = |path: &str, text: &str| {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    let package = |name: &str| {
        format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n")
    };
    write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"app\", \"other\", \"clib\"]\nresolver = \"2\"\n",
    );
    write(
        "clib/Cargo.toml",
        &format!(
            "{}[features]\nc = [\"dep:cc\", \"dep:itoa\"]\n[dependencies]\nitoa = {{ version = \"1\", optional = true }}\n[build-dependencies]\ncc = {{ version = \"=1.11.3\", optional = true }}\n",
            package("clib")
        ),
    );
    write("clib/build.rs", "fn main() {}\n");
    write("clib/src/lib.rs", "");
    let with_c = "{ path = \"../clib\", features = [\"c\"] }";
    write(
        "app/Cargo.toml",
        &format!(
            "{}[dependencies]\nclib = {{ path = \"../clib\" }}\n[dev-dependencies]\nclib = {with_c}\n",
            package("app")
        ),
    );
    write(
        "other/Cargo.toml",
        &format!("{}[dependencies]\nclib = {with_c}\n", package("other")),
    );
    for p in ["app", "other"] {
        write(&format!("{p}/src/main.rs"), "fn main() {}\n");
    }
    let status = Command::new("cargo")
        .args(["generate-lockfile", "--offline", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .status()
        .unwrap();
    assert!(status.success());
    dir.join("Cargo.toml").display().to_string()
}

/// `cargo slim-image` on tz-local's binary `bin` into `target`, layout `out`, then `rest`; the
/// whole output (checked for success).
pub fn build_tz_local(bin: &str, target: &Path, out: &Path, rest: &[&str]) -> std::process::Output {
    let mut c = slim::on(
        &fixture("tz-local"),
        target.to_str().unwrap(),
        &["--bin", bin, "--output", out.to_str().unwrap()],
    );
    c.args(rest);
    let o = slim::run(&mut c);
    assert!(
        o.status.success(),
        "the build failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}
