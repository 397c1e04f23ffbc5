//! Secrets (issue 11) the user types or the build sees: credentials in reference flags (`--push`,
//! `-t`, `--base`, `index`) are refused without being echoed, and `cargo build` (build scripts)
//! never sees `SLIM_IMAGE_REGISTRY_PASSWORD`. Through the real binary; nothing is contacted.

mod common;

use common::pieces::assert_no_piece;
use common::registry::USER;
use common::slim::{self, cmd};

#[test]
fn credentials_typed_into_a_reference_flag_are_refused_unechoed() {
    const PW: &str = "Typed-Pw-31c8";
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let o = w.join("out");
    let cases: [(&str, &[&str]); 7] = [
        ("--push", &["--push", "bob:Typed-Pw-31c8@127.0.0.1:9/app:1"]),
        (
            "--push",
            &["--push", "https://bob:Typed-Pw-31c8@127.0.0.1:9/app"],
        ),
        ("--push", &["--push", "bob:Typed-Pw-31c8@127.0.0.1:9"]),
        ("--tag", &["-t", "bob:Typed-Pw-31c8@127.0.0.1:9/app:1"]),
        (
            "--tag",
            &[
                "--tag",
                "bob:Typed-Pw-31c8@127.0.0.1:9/app:1",
                "--tag",
                "x/y:2",
            ],
        ),
        (
            "--base",
            &["--base", "bob:Typed-Pw-31c8@127.0.0.1:9/base:1"],
        ),
        (
            "--base",
            &["--base", "docker://bob:Typed-Pw-31c8@127.0.0.1:9/base"],
        ),
    ];
    for (flag, args) in cases {
        let mut all = vec!["--binary", "/bin/busybox", "-vv", "-o", o.to_str().unwrap()];
        all.extend(args);
        let mut c = cmd(&all);
        c.env("HOME", w).env("DOCKER_CONFIG", w);
        let out = slim::run(&mut c);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            !stdout.contains(PW) && !stderr.contains(PW) && !stderr.contains("Typed"),
            "{args:?} echoed the password:\n{stdout}\n{stderr}"
        );
        assert!(
            stderr.contains("credentials in an image reference")
                && stderr.contains(flag)
                && stderr.contains("podman login 127.0.0.1:9")
                && stderr.contains("SLIM_IMAGE_REGISTRY_USERNAME"),
            "{args:?}: {stderr}"
        );
    }
    // The index subcommand: its --push and its input images.
    for args in [
        [
            "index",
            "--push",
            "bob:Typed-Pw-31c8@127.0.0.1:9/app:1",
            "127.0.0.1:9/a:1",
        ],
        [
            "index",
            "--push",
            "127.0.0.1:9/app:1",
            "bob:Typed-Pw-31c8@127.0.0.1:9/a:1",
        ],
    ] {
        let mut c = cmd(&args);
        c.env("HOME", w).env("DOCKER_CONFIG", w);
        let out = slim::run(&mut c);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_no_piece(&out, &[PW.to_string()]);
        assert!(
            stderr.contains("credentials in an image reference") && !stderr.contains("bob"),
            "{args:?}: {stderr}"
        );
    }
    // A file path with `@` in an `oci:` base is a path, not credentials.
    let mut c = cmd(&[
        "--binary",
        "/bin/busybox",
        "--base",
        "oci:/nonexistent/u:p@x/dir",
        "-o",
        o.to_str().unwrap(),
    ]);
    c.env("HOME", w).env("DOCKER_CONFIG", w);
    let err = slim::fails(c);
    assert!(!err.contains("credentials in an image reference"), "{err}");
}

#[test]
fn cargo_build_scripts_never_see_the_registry_password() {
    const PW: &str = "Build-Env-Pw-6e0a";
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let pkg = w.join("pkg");
    let manifest = slim::package_with_meta(&pkg, "");
    // A dependency's build script runs with cargo's environment and can print (or send) it.
    std::fs::write(
        pkg.join("build.rs"),
        "fn main() {\n    println!(\"cargo:warning=registry password: {:?}\", \
         std::env::var(\"SLIM_IMAGE_REGISTRY_PASSWORD\"));\n}\n",
    )
    .unwrap();
    let (t, o) = (w.join("target"), w.join("out"));
    let mut c = slim::on(
        &manifest,
        t.to_str().unwrap(),
        &["--output", o.to_str().unwrap()],
    );
    c.env("HOME", w)
        .env("DOCKER_CONFIG", w)
        .env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
        .env("SLIM_IMAGE_REGISTRY_PASSWORD", PW);
    let out = slim::run(&mut c);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_no_piece(&out, &[PW.to_string()]);
    assert!(
        stderr.contains("registry password: Err(NotPresent)"),
        "the build script did not run, or saw something: {stderr}"
    );
}
