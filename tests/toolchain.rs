//! The C toolchain (issue 12, item 2): chosen by the platform and the configuration, never by what is
//! on PATH, and recorded in the SBOM. A pure-Rust build is byte-identical with failing fake
//! `cargo-zigbuild`, `musl-gcc`, `zig`, `cc`, `ld` and `rust-lld` first on PATH, none of which is
//! ever called; C code (tests/fixtures/with-c, which uses the `cc` crate) is compiled with musl-gcc
//! natively and zig when cross-compiling, and the SBOM says so; "needs C" is what the selected
//! packages build with their features; a missing tool is a clear error before any build;
//! `c-toolchain` / `--c-toolchain` pick another and show in the plan, and a dry run writes no
//! Cargo.lock. What the user configured: tests/toolchain_user.rs.

mod common;

use cargo_slim_image::platform::Platform;
use common::peers;
use common::slim::{self, fails, ok};
use common::toolchain::*;
use serde_json::Value;

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

#[test]
fn the_sbom_lists_what_the_selected_packages_build_not_what_other_members_turn_on() {
    // `-p app` compiles app and clib only: itoa comes with clib's feature `c`, which only `other`
    // and app's dev-dependencies turn on (cargo metadata's whole-workspace graph has it).
    let w = work();
    let manifest = feature_workspace(&w.path().join("ws"));
    let (native, _) = native_and_cross();
    let crates = |package: &str| {
        let target = w.path().join("t");
        let out = w.path().join(package);
        let args = [
            "-p",
            package,
            "--platform",
            &native.to_string(),
            "--locked",
            "--offline",
            "--output",
            out.to_str().unwrap(),
        ]
        .map(String::from);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(slim::on(&manifest, target.to_str().unwrap(), &args));
        let path = w.path().join(format!("{package}.spdx.json"));
        let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let mut names: Vec<String> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names.dedup();
        names
    };
    assert_eq!(crates("app"), ["app", "clib"]);
}

#[test]
fn a_rust_without_rust_lld_is_a_clear_error_before_building() {
    // A distribution's rustc may ship no rust-lld: say so before compiling, not rustc's "linker
    // `rust-lld` not found" at the end. (A RUSTC whose sysroot has none stands in for one.)
    use std::os::unix::fs::PermissionsExt;
    if peers::which("rust-lld").is_some() {
        eprintln!(
            "SKIP: a_rust_without_rust_lld_is_a_clear_error_before_building: rust-lld is on PATH"
        );
        return;
    }
    let w = work();
    let sysroot = w.path().join("sysroot");
    std::fs::create_dir_all(sysroot.join("lib/rustlib")).unwrap();
    let real = peers::which("rustc").unwrap();
    let wrapper = w.path().join("rustc");
    let script = format!(
        "#!/bin/sh\n[ \"$*\" = '--print sysroot' ] && {{ echo '{}'; exit 0; }}\nexec '{}' \"$@\"\n",
        sysroot.display(),
        real.display()
    );
    std::fs::write(&wrapper, script).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (native, _) = native_and_cross();
    let target = w.path().join("t");
    let mut c = slim::on(
        &fixture("hello"),
        target.to_str().unwrap(),
        &["--platform", &native.to_string(), "--locked"],
    );
    c.env("RUSTC", &wrapper);
    let err = fails(c);
    for part in [
        format!("{native} is linked with rust-lld (rust-lld), but this Rust"),
        "has no rust-lld".to_string(),
        "https://rustup.rs".to_string(),
        "_LINKER".to_string(),
    ] {
        assert!(err.contains(&part), "{part:?} not in:\n{err}");
    }
    assert!(
        !target.join(native.rust_target()).exists(),
        "something was built"
    );
}
