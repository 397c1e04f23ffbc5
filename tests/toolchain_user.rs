//! The C toolchain and what the user configured (issue 12, item 2): link arguments for a C compiler
//! driver, a linker in a `cfg(..)` table, a C compiler in `[env]`, a C compiler alone (still linked
//! with rust-lld: the same image as the rule's) and `build.rustc` are left alone, and recorded as
//! they are in the plan and the SBOM.

mod common;

use common::peers;
use common::slim::{self, fails, ok};
use common::toolchain::*;

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
    let build_with = |sbom_format: &str| {
        let mut c = run();
        c.args(["--output", out.to_str().unwrap(), "--sbom", sbom_format]);
        ok(c);
    };
    // Each SBOM is read right after its build: the next build, in another format, removes it as a
    // file of ours it does not write (tests/beside_files.rs).
    build_with("spdx");
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
    build_with("cyclonedx");
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
    let wanted = format!("user: {var}=clang in [env] of .cargo/config.toml, linked with rust-lld");
    // Named from the workspace root: the same record from the root and from a subdirectory.
    for dir in [ws.clone(), ws.join("src")] {
        let mut c = slim::cmd(&[
            "--manifest-path",
            &manifest,
            "--platform",
            &native.to_string(),
        ]);
        c.current_dir(&dir).env_remove(&var);
        assert_eq!(planned_toolchain(c), wanted, "from {}", dir.display());
    }
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
