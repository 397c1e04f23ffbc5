//! The C toolchain (issue 12, item 2): chosen by the platform and the configuration, never by what is
//! on PATH, and recorded in the SBOM. A pure-Rust build is byte-identical with failing fake
//! `cargo-zigbuild`, `musl-gcc`, `zig`, `cc`, `ld` and `rust-lld` first on PATH, none of which is ever called; C code
//! (tests/fixtures/with-c, which uses the `cc` crate) is compiled with musl-gcc natively and zig
//! when cross-compiling, and the SBOM says so; a missing tool is a clear error before any build;
//! `c-toolchain` / `--c-toolchain` pick another and show in the plan. What the user configured is
//! left alone and recorded: link arguments for a C compiler driver, a linker in a `cfg(..)` table, a
//! C compiler in `[env]`, a C compiler alone (still linked with rust-lld: same image as the rule's).

mod common;

use cargo_slim_image::platform::Platform;
use common::peers;
use common::slim::{self, fails, ok};
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> String {
    slim::repo()
        .join("tests/fixtures")
        .join(name)
        .join("Cargo.toml")
        .display()
        .to_string()
}

/// A temp dir under cargo's per-target temp dir (builds in it share the disk of target/).
fn work() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// The machine's platform and the other one (native and cross builds).
fn native_and_cross() -> (Platform, Platform) {
    let native = Platform::host().expect("tests run on x86_64 or aarch64");
    let cross = Platform::ALL.into_iter().find(|p| *p != native).unwrap();
    (native, cross)
}

/// `dir` with an executable script per name that appends its name and arguments to `log`, then
/// fails.
fn fakes(dir: &Path, names: &[&str], log: &Path) {
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
fn path_with_first(dir: &Path) -> OsString {
    let rest = std::env::var_os("PATH").unwrap_or_default();
    let mut all = vec![dir.to_path_buf()];
    all.extend(std::env::split_paths(&rest));
    std::env::join_paths(all).unwrap()
}

/// `cargo slim-image` on fixture `name` into `target`, with PATH `path` if given; the JSON report.
fn build(name: &str, target: &Path, path: Option<&OsString>, rest: &[&str]) -> Value {
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
fn sbom(target: &Path, platform: Platform, suffix: &str, several: bool) -> (PathBuf, Value) {
    let name = if several {
        format!("out.linux-{}.{suffix}", platform.architecture())
    } else {
        format!("out.{suffix}")
    };
    let path = target.join(name);
    let doc = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    (path, doc)
}

fn spdx_creators(doc: &Value) -> Vec<String> {
    doc["creationInfo"]["creators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// The first line `program ARGS` prints (what the tool records as a version).
fn first_line(program: &str, args: &[&str]) -> String {
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

fn validate(kind: &str, path: &Path) {
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

#[test]
fn pure_rust_builds_are_the_same_whatever_c_tools_are_on_path() {
    let w = work();
    let (log, bin) = (w.path().join("called.log"), w.path().join("fake-bin"));
    // cc and gcc too: rustc's own default linker for the x86_64 musl target is `cc`; and rust-lld
    // and ld: rustc runs the rust-lld of its own sysroot, whatever PATH says.
    fakes(
        &bin,
        &[
            "cargo-zigbuild",
            "musl-gcc",
            "zig",
            "cc",
            "gcc",
            "ld",
            "ld.lld",
            "rust-lld",
            "python3",
        ],
        &log,
    );
    let platforms = ["--platform", "linux/amd64,linux/arm64", "--bin", "hello"];
    let with = build(
        "hello",
        &w.path().join("with"),
        Some(&path_with_first(&bin)),
        &platforms,
    );
    let called = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(called, "", "a fake C tool on PATH was called");
    let without = build("hello", &w.path().join("without"), None, &platforms);
    let digests = |report: &Value| -> Vec<String> {
        let img = &report["images"][0];
        let mut d = vec![img["digest"].as_str().unwrap().to_string()];
        for m in img["manifests"].as_array().unwrap() {
            d.push(m["digest"].as_str().unwrap().to_string());
        }
        d
    };
    assert_eq!(digests(&with).len(), 3, "an index of two manifests: {with}");
    assert_eq!(digests(&with), digests(&without));

    // Both platforms record rust-lld, whose version is rustc's (it ships with it).
    let rustc = first_line("rustc", &["-V"]);
    for p in Platform::ALL {
        let (path, doc) = sbom(&w.path().join("with"), p, "spdx.json", true);
        let creators = spdx_creators(&doc);
        assert!(
            creators.contains(&format!("Tool: rust-lld-{rustc}")),
            "{creators:?}"
        );
        let version = rustc.strip_prefix("rustc ").unwrap();
        assert!(
            creators.contains(&format!("Tool: rustc-{version}")),
            "{creators:?}"
        );
        validate("spdx", &path);
    }
}

#[test]
fn c_code_is_compiled_with_musl_gcc_natively_and_the_sbom_records_it() {
    if !peers::check_tools(
        "c_code_is_compiled_with_musl_gcc_natively_and_the_sbom_records_it",
        &["musl-gcc"],
    ) {
        return;
    }
    let (native, _) = native_and_cross();
    let w = work();
    let platform = ["--platform", &native.to_string()].map(str::to_string);
    let args: Vec<&str> = platform.iter().map(String::as_str).collect();
    // The fixture's C file refuses glibc headers: it only builds with a musl C compiler.
    build("with-c", w.path(), None, &args);
    let musl_gcc = first_line("musl-gcc", &["--version"]);
    let (path, doc) = sbom(w.path(), native, "spdx.json", false);
    let creators = spdx_creators(&doc);
    assert!(
        creators.contains(&format!("Tool: musl-gcc-{musl_gcc}")),
        "{creators:?}"
    );
    let comment = doc["creationInfo"]["comment"].as_str().unwrap();
    assert!(
        comment.contains(&format!(
            "C toolchain (compiler and linker) for {native}: musl-gcc"
        )),
        "{comment}"
    );
    validate("spdx", &path);

    let mut cdx_args = args.clone();
    cdx_args.extend(["--sbom", "cyclonedx"]);
    build("with-c", w.path(), None, &cdx_args);
    let (path, doc) = sbom(w.path(), native, "cdx.json", false);
    let tools = doc["metadata"]["tools"]["components"].as_array().unwrap();
    let c = tools.iter().find(|t| t["name"] == "musl-gcc").unwrap();
    assert_eq!(c["version"], musl_gcc.as_str());
    assert!(tools.iter().any(|t| t["name"] == "rustc"), "{tools:?}");
    assert_eq!(
        doc["metadata"]["properties"][0],
        serde_json::json!({"name": "cargo-slim-image:c-toolchain", "value": "musl-gcc"})
    );
    validate("cyclonedx", &path);
}

#[test]
fn a_missing_c_toolchain_is_a_clear_error_before_building() {
    // PATH with cargo and rustc only: no musl-gcc, no cargo-zigbuild.
    let w = work();
    let bin = w.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["cargo", "rustc"] {
        let real = peers::which(tool).expect("cargo and rustc are on PATH");
        std::os::unix::fs::symlink(real, bin.join(tool)).unwrap();
    }
    let (native, cross) = native_and_cross();
    let target = w.path().join("t");
    let attempt = |p: Platform| {
        let mut c = slim::on(
            &fixture("with-c"),
            target.to_str().unwrap(),
            &["--platform", &p.to_string(), "--locked"],
        );
        c.env("PATH", &bin).env_remove("CARGO_HOME");
        fails(c)
    };
    let err = attempt(native);
    for part in [
        &format!(
            "with-c@0.1.0 compile C code for {native} (their build scripts use the `cc` crate)"
        ),
        "cargo slim-image compiles it with musl-gcc, but `musl-gcc` is not installed (not on PATH)",
        "apt-get install musl-tools",
        "--c-toolchain",
    ] {
        assert!(err.contains(part), "{part:?} not in:\n{err}");
    }
    let err = attempt(cross);
    for part in [
        &format!("with-c@0.1.0 compile C code for {cross}"),
        "with zig (cargo zigbuild), but `cargo-zigbuild` is not installed",
        "pip install cargo-zigbuild",
    ] {
        assert!(err.contains(part), "{part:?} not in:\n{err}");
    }
    // Nothing was compiled.
    assert!(!target.join(native.rust_target()).exists());
    assert!(!target.join(cross.rust_target()).exists());
}

#[test]
fn c_toolchain_zig_builds_arm64_c_code_and_is_recorded() {
    if !peers::check_tools(
        "c_toolchain_zig_builds_arm64_c_code_and_is_recorded",
        &["cargo-zigbuild"],
    ) {
        return;
    }
    let w = work();
    let report = build(
        "with-c",
        w.path(),
        None,
        &[
            "--platform",
            "linux/arm64",
            "--c-toolchain",
            "zig",
            "--sbom",
            "cyclonedx",
        ],
    );
    let config = &report["images"][0]["manifests"][0];
    assert_eq!(config["platform"], "linux/arm64", "{report}");
    let (path, doc) = sbom(w.path(), Platform::LinuxArm64, "cdx.json", false);
    let tools = doc["metadata"]["tools"]["components"].as_array().unwrap();
    let zig = tools.iter().find(|t| t["name"] == "zig").unwrap();
    let zigbuild = first_line("cargo-zigbuild", &["--version"]);
    assert!(
        zig["version"].as_str().unwrap().starts_with(&zigbuild),
        "{zig}"
    );
    validate("cyclonedx", &path);
}

/// `--dry-run --message-format json` of `manifest`: the plan's `cargo` part.
fn planned(manifest: &str, rest: &[&str]) -> Value {
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
fn toolchains(cargo: &Value) -> Vec<String> {
    cargo["toolchains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["c_toolchain"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_plan_shows_the_toolchain_per_platform_from_the_key_and_the_flag() {
    let (native, _) = native_and_cross();
    let by_rule = |p: Platform| if p == native { "musl-gcc" } else { "zig" };
    let with_c = fixture("with-c");
    let cargo = planned(&with_c, &[]);
    assert_eq!(cargo["c_toolchain"], "auto");
    assert_eq!(
        toolchains(&cargo),
        Platform::ALL.map(by_rule).map(String::from)
    );
    assert_eq!(cargo["toolchains"][0]["c_crates"][0], "with-c@0.1.0");
    let cargo = planned(&with_c, &["--c-toolchain", "zig"]);
    assert_eq!(toolchains(&cargo), ["zig", "zig"]);

    // rust-lld cannot compile C: an error that names the crate, before anything runs.
    let mut c = slim::cmd(&[
        "--manifest-path",
        &with_c,
        "--dry-run",
        "--c-toolchain",
        "rust-lld",
    ]);
    c.env_remove("CC_x86_64_unknown_linux_musl");
    let err = fails(c);
    assert!(
        err.contains("c-toolchain rust-lld links pure Rust only"),
        "{err}"
    );
    assert!(err.contains("with-c@0.1.0 compile C code"), "{err}");

    // The metadata key, and the flag over it.
    let w = work();
    let manifest = slim::package_with_meta(&w.path().join("zig"), "c-toolchain = \"zig\"");
    // Without Cargo.lock the plan cannot know (cargo metadata would write one; a dry run writes
    // nothing).
    let cargo = planned(&manifest, &[]);
    assert_eq!(cargo["c_toolchain"], "zig");
    assert_eq!(cargo["toolchains"], serde_json::json!([]));
    let lock = w.path().join("zig/Cargo.lock");
    assert!(!lock.exists());
    let lock_text = "version = 4\n\n[[package]]\nname = \"bad\"\nversion = \"0.1.0\"\n";
    std::fs::write(&lock, lock_text).unwrap();
    let cargo = planned(&manifest, &[]);
    assert_eq!(toolchains(&cargo), ["zig", "zig"]);
    let cargo = planned(&manifest, &["--c-toolchain", "auto"]);
    assert_eq!(toolchains(&cargo), ["rust-lld", "rust-lld"]);
    assert_eq!(cargo["toolchains"][1]["c_crates"], serde_json::json!([]));

    let manifest = slim::package_with_meta(&w.path().join("bad"), "c-toolchain = \"gcc\"");
    let err = fails(slim::cmd(&["--manifest-path", &manifest, "--dry-run"]));
    for part in [
        "at key `c-toolchain`",
        "`gcc` is not a C toolchain: write one of auto (default), musl-gcc, zig, rust-lld",
        manifest.as_str(),
    ] {
        assert!(err.contains(part), "{part:?} not in:\n{err}");
    }
}

/// A copy of fixture `name` in `dir` (so a `.cargo/config.toml` can sit beside it), without target/.
fn copy_fixture(name: &str, dir: &Path) -> String {
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
fn planned_toolchain(mut c: Command) -> String {
    c.args(["--dry-run", "--message-format", "json"]);
    let plan: Value = serde_json::from_str(&ok(c)).unwrap();
    plan["cargo"]["toolchains"][0]["c_toolchain"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn link_arguments_for_a_c_compiler_driver_leave_the_linker_alone() {
    // `-Wl,...` is what gcc and clang understand; rust-lld (a plain ld) rejects it ("unknown
    // argument"), so such flags mean the linker is the user's (rustc's default, `cc`): the build
    // works as it did before cargo slim-image chose rust-lld, and the SBOM says so.
    if !peers::check_tools(
        "link_arguments_for_a_c_compiler_driver_leave_the_linker_alone",
        &["cc"],
    ) {
        return;
    }
    let (native, _) = native_and_cross();
    let w = work();
    let flags = "-C link-arg=-Wl,-z,stack-size=1000000";
    let mut c = slim::on(
        &fixture("hello"),
        w.path().to_str().unwrap(),
        &["--platform", &native.to_string(), "--bin", "hello"],
    );
    c.env("RUSTFLAGS", flags);
    assert_eq!(planned_toolchain(c), format!("user: {flags} in RUSTFLAGS"));
    let mut args = vec!["--platform".to_string(), native.to_string()];
    args.extend(["--bin", "hello", "--output"].map(String::from));
    args.push(w.path().join("out").display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = slim::on(&fixture("hello"), w.path().to_str().unwrap(), &args);
    c.env("RUSTFLAGS", flags).args(["--locked"]);
    ok(c);
    let (_, doc) = sbom(w.path(), native, "spdx.json", false);
    let comment = doc["creationInfo"]["comment"].as_str().unwrap();
    assert!(
        comment.contains(&format!("user: {flags} in RUSTFLAGS")),
        "{comment}"
    );

    // Across architectures rustc's default `cc` cannot link either: an error that says what would,
    // before anything is built (not gcc's "Relocations in generic ELF" after compiling).
    let (_, cross) = native_and_cross();
    let target = w.path().join("cross");
    let mut c = slim::on(
        &fixture("hello"),
        target.to_str().unwrap(),
        &["--platform", &cross.to_string(), "--locked"],
    );
    c.env("RUSTFLAGS", flags);
    let err = fails(c);
    for part in [
        format!("{flags} in RUSTFLAGS: only a C compiler driver understands that link argument"),
        format!("cannot link {cross}"),
        format!(
            "CARGO_TARGET_{}_LINKER",
            cross.rust_target().replace('-', "_").to_ascii_uppercase()
        ),
        "--c-toolchain zig".to_string(),
    ] {
        assert!(err.contains(&part), "{part:?} not in:\n{err}");
    }
    assert!(!target.join(cross.rust_target()).exists());
}

#[test]
fn a_linker_in_a_cfg_table_of_a_cargo_config_is_the_one_that_links() {
    // `[target.'cfg(..)'] linker` (cargo 1.74+) applies to the target as `[target.<triple>]` does: a
    // CARGO_TARGET_<T>_LINKER of ours would silently win over it.
    if !peers::check_tools(
        "a_linker_in_a_cfg_table_of_a_cargo_config_is_the_one_that_links",
        &["cc"],
    ) {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let (native, _) = native_and_cross();
    let w = work();
    let ws = w.path().join("ws");
    let manifest = copy_fixture("hello", &ws);
    // A name with quotes, a backslash and unicode: the SBOMs that record it must stay valid.
    let (log, linker) = (
        w.path().join("linked.log"),
        w.path().join("my \"link\\er\" ü"),
    );
    let script = format!(
        "#!/bin/sh\necho linked >> '{}'\nexec cc \"$@\"\n",
        log.display()
    );
    std::fs::write(&linker, script).unwrap();
    std::fs::set_permissions(&linker, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(ws.join(".cargo")).unwrap();
    let table = "[target.'cfg(all(target_os = \"linux\", target_env = \"musl\"))']";
    std::fs::write(
        ws.join(".cargo/config.toml"),
        format!("{table}\nlinker = '{}'\n", linker.display()),
    )
    .unwrap();
    let target = w.path().join("t");
    let out = w.path().join("out");
    let args = [
        "--platform",
        &native.to_string(),
        "--bin",
        "hello",
        "--locked",
    ]
    .map(String::from);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = || {
        let mut c = slim::on(&manifest, target.to_str().unwrap(), &args);
        c.current_dir(&ws);
        c
    };
    let shown = planned_toolchain(run());
    assert!(
        shown.starts_with(
            "user: target.cfg(all(target_os = \"linux\", target_env = \"musl\")).linker"
        ) && shown.ends_with(" in .cargo/config.toml"),
        "{shown}"
    );
    for sbom_format in ["spdx", "cyclonedx"] {
        let mut c = run();
        c.args(["--output", out.to_str().unwrap(), "--sbom", sbom_format]);
        ok(c);
    }
    let linked = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        linked.contains("linked"),
        "the configured linker was not run"
    );
    let (spdx, doc) = sbom(w.path(), native, "spdx.json", false);
    let comment = doc["creationInfo"]["comment"].as_str().unwrap();
    assert!(
        comment.contains("my \"link\\er\" ü in .cargo/config.toml"),
        "{comment}"
    );
    validate("spdx", &spdx);
    let (cdx, doc) = sbom(w.path(), native, "cdx.json", false);
    let recorded = &doc["metadata"]["properties"][0]["value"];
    assert!(
        recorded
            .as_str()
            .unwrap()
            .ends_with("ü in .cargo/config.toml"),
        "{recorded}"
    );
    validate("cyclonedx", &cdx);
}

#[test]
fn a_c_compiler_in_the_env_table_of_a_cargo_config_is_left_alone() {
    // cargo's `[env]` does not override a variable that is already set: a CC_<triple>=musl-gcc of
    // ours would silently win over the user's compiler.
    let w = work();
    let ws = w.path().join("ws");
    let manifest = copy_fixture("with-c", &ws);
    std::fs::create_dir_all(ws.join(".cargo")).unwrap();
    let (native, _) = native_and_cross();
    let var = format!("CC_{}", native.rust_target().replace('-', "_"));
    std::fs::write(
        ws.join(".cargo/config.toml"),
        format!("[env]\n{var} = \"clang\"\n"),
    )
    .unwrap();
    let mut c = slim::cmd(&[
        "--manifest-path",
        &manifest,
        "--platform",
        &native.to_string(),
    ]);
    c.current_dir(&ws).env_remove(&var);
    assert_eq!(
        planned_toolchain(c),
        format!("user: {var}=clang in [env] of .cargo/config.toml, linked with rust-lld")
    );
}

#[test]
fn a_c_compiler_the_user_sets_changes_the_compiler_only_not_the_linker() {
    // CC_<triple> says which C compiler compiles C code; linking stays rust-lld's. Setting the very
    // compiler the rule picks gives the very same image, not one linked by whatever `cc` is on PATH.
    if !peers::check_tools(
        "a_c_compiler_the_user_sets_changes_the_compiler_only_not_the_linker",
        &["musl-gcc"],
    ) {
        return;
    }
    let (native, _) = native_and_cross();
    let var = format!("CC_{}", native.rust_target().replace('-', "_"));
    let w = work();
    let platform = native.to_string();
    let digest = |dir: &str, cc: Option<&str>| {
        let target = w.path().join(dir);
        let out = target.join("out");
        let args = [
            "--platform",
            &platform,
            "--locked",
            "--output",
            out.to_str().unwrap(),
        ];
        let mut c = slim::on(&fixture("with-c"), target.to_str().unwrap(), &args);
        c.env_remove(&var);
        if let Some(cc) = cc {
            c.env(&var, cc);
        }
        ok(c);
        let (_, doc) = sbom(&target, native, "spdx.json", false);
        let comment = doc["creationInfo"]["comment"].as_str().unwrap().to_string();
        (slim::manifest_of(&out).0, comment)
    };
    let (by_rule, _) = digest("rule", None);
    let (by_user, comment) = digest("user", Some("musl-gcc"));
    assert_eq!(by_user, by_rule);
    assert!(
        comment.contains(&format!("user: {var}=musl-gcc, linked with rust-lld")),
        "{comment}"
    );
}

/// A workspace: `clib` (a build script whose `cc` build-dependency is behind its feature `c`),
/// `app` (uses clib without `c`, but turns `c` on for its tests) and `other` (turns `c` on).
fn feature_workspace(dir: &Path) -> String {
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
            "{}[features]\nc = [\"dep:cc\"]\n[build-dependencies]\ncc = {{ version = \"=1.11.3\", optional = true }}\n",
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

#[test]
fn c_code_is_what_the_selected_packages_build_with_their_features() {
    // `cargo build -p app` does not turn on clib's `c` (only `other` and app's tests do): no C code,
    // so rust-lld for both platforms, not musl-gcc and zig (zig would link a pure-Rust arm64 app).
    let w = work();
    let manifest = feature_workspace(w.path());
    let plan = |rest: &[&str]| {
        let cargo = planned(&manifest, rest);
        assert_eq!(cargo["toolchains"].as_array().unwrap().len(), 2, "{cargo}");
        cargo
    };
    let (native, _) = native_and_cross();
    let by_rule: Vec<String> = Platform::ALL
        .map(|p| if p == native { "musl-gcc" } else { "zig" }.to_string())
        .to_vec();
    let cargo = plan(&["-p", "app", "--locked"]);
    assert_eq!(toolchains(&cargo), ["rust-lld", "rust-lld"]);
    assert_eq!(cargo["toolchains"][0]["c_crates"], serde_json::json!([]));
    for sel in [
        &["-p", "other"][..],
        &["-p", "app", "-p", "other"],
        &["--workspace"],
    ] {
        let cargo = plan(sel);
        assert_eq!(toolchains(&cargo), by_rule, "{sel:?}");
        assert_eq!(cargo["toolchains"][1]["c_crates"][0], "clib@0.1.0");
    }
    // The features of the command line count as cargo build counts them.
    let cargo = plan(&["-p", "app", "--features", "clib/c"]);
    assert_eq!(toolchains(&cargo), by_rule);
}

#[test]
fn the_sbom_records_the_rustc_cargo_runs_from_build_rustc() {
    // `[build] rustc = "..."` in a cargo config is the compiler cargo runs: the SBOM's rustc is its
    // version, not that of the `rustc` on PATH. (Its `-V` answers differently from the real one.)
    use std::os::unix::fs::PermissionsExt;
    let (native, _) = native_and_cross();
    let w = work();
    let ws = w.path().join("ws");
    let manifest = copy_fixture("hello", &ws);
    let real = peers::which("rustc").unwrap();
    std::fs::create_dir_all(ws.join(".cargo")).unwrap();
    std::fs::create_dir_all(ws.join("tools")).unwrap();
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = -V ] && {{ echo 'rustc 9.9.9-wrapped (from build.rustc)'; exit 0; }}\nexec '{}' \"$@\"\n",
        real.display()
    );
    let wrapper = ws.join("tools/my-rustc");
    std::fs::write(&wrapper, script).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A relative path: from the directory that holds .cargo, as cargo reads it.
    std::fs::write(
        ws.join(".cargo/config.toml"),
        "[build]\nrustc = \"tools/my-rustc\"\n",
    )
    .unwrap();
    let target = w.path().join("t");
    let out = w.path().join("out");
    let platform = native.to_string();
    let args = [
        "--platform",
        &platform,
        "--bin",
        "hello",
        "--locked",
        "--output",
        out.to_str().unwrap(),
    ];
    let mut c = slim::on(&manifest, target.to_str().unwrap(), &args);
    c.current_dir(&ws).env_remove("RUSTC");
    ok(c);
    let (_, doc) = sbom(w.path(), native, "spdx.json", false);
    let creators = spdx_creators(&doc);
    assert!(
        creators.contains(&"Tool: rustc-9.9.9-wrapped (from build.rustc)".to_string()),
        "{creators:?}"
    );
}

#[test]
fn a_dry_run_with_an_out_of_date_cargo_lock_writes_nothing() {
    // A dependency added to Cargo.toml but not yet to Cargo.lock: `cargo tree` (like `cargo build`)
    // would rewrite the lock file, and a dry run writes nothing, so the plan says the build decides.
    let w = work();
    let ws = w.path().join("ws");
    let manifest = copy_fixture("with-c", &ws);
    let toml = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("{toml}\n[dependencies]\nshlex = \"2\"\n"),
    )
    .unwrap();
    let read_lock = || std::fs::read_to_string(ws.join("Cargo.lock")).unwrap();
    let lock = read_lock();
    let cargo = planned(&manifest, &["--offline"]);
    assert_eq!(read_lock(), lock, "Cargo.lock changed");
    assert_eq!(cargo["toolchains"], serde_json::json!([]));
    // With --locked it is the error the build would give.
    let err = fails(slim::cmd(&[
        "--manifest-path",
        &manifest,
        "--dry-run",
        "--locked",
    ]));
    assert!(err.contains("--locked"), "{err}");
    assert_eq!(read_lock(), lock);
}
