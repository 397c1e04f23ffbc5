//! Issue 16, "Conventions": `-p` takes package ID specs as cargo does (`name`, `name@version`,
//! `path+file:///...#name@version`, `file:///...`), matched against the workspace members' ids from
//! `cargo metadata`; an unknown or mismatched spec is an error that names the spec and the members.
//! Run on examples/workspace (members greeting, hello, bye, all 0.1.0).

mod common;

use common::slim::{self, fails, ok};
use std::path::PathBuf;

fn workspace() -> PathBuf {
    slim::repo().join("examples/workspace")
}

/// The images a `--dry-run` with `-p SPEC`... plans (`image NAME:TAGS` lines).
fn planned(specs: &[&str]) -> Vec<String> {
    let target = tempfile::tempdir().unwrap();
    let manifest = workspace().join("Cargo.toml");
    let mut args = vec!["--dry-run"];
    for s in specs {
        args.extend(["-p", s]);
    }
    let text = ok(slim::on(
        manifest.to_str().unwrap(),
        target.path().to_str().unwrap(),
        &args,
    ));
    text.lines()
        .filter_map(|l| l.strip_prefix("image "))
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect()
}

fn refused(specs: &[&str]) -> String {
    let target = tempfile::tempdir().unwrap();
    let manifest = workspace().join("Cargo.toml");
    let mut args = vec!["--dry-run"];
    for s in specs {
        args.extend(["-p", s]);
    }
    fails(slim::on(
        manifest.to_str().unwrap(),
        target.path().to_str().unwrap(),
        &args,
    ))
}

#[test]
fn package_id_specs_select_workspace_members() {
    let dir = workspace().join("hello");
    let dir = dir.to_str().unwrap();
    for spec in [
        "hello".to_string(),
        "hello@0.1.0".to_string(),
        "hello@0.1".to_string(),
        "hello@0".to_string(),
        format!("path+file://{dir}#0.1.0"),
        format!("path+file://{dir}#hello@0.1.0"),
        format!("path+file://{dir}"),
        format!("file://{dir}"),
        format!("file://{dir}#hello"),
    ] {
        assert_eq!(planned(&[&spec]), ["hello"], "-p {spec}");
    }
    // Several, in any spelling; the same package twice is one image.
    let mut both = planned(&["bye@0.1.0", "hello", "hello@0.1.0"]);
    both.sort();
    assert_eq!(both, ["bye", "hello"]);
}

#[test]
fn unknown_or_mismatched_specs_name_the_spec_and_the_members() {
    let err = refused(&["nope"]);
    assert!(
        err.contains("-p nope: no package named `nope` in this workspace"),
        "{err}"
    );
    for m in ["greeting@0.1.0", "hello@0.1.0", "bye@0.1.0"] {
        assert!(err.contains(m), "{m} not listed: {err}");
    }
    let err = refused(&["hello@0.2.0"]);
    assert!(
        err.contains("-p hello@0.2.0: no package in this workspace matches that spec"),
        "{err}"
    );
    assert!(err.contains("write -p hello@0.1.0"), "{err}");
    assert!(err.contains("path+file://"), "the full id is shown: {err}");
    let err = refused(&["registry+https://github.com/rust-lang/crates.io-index#hello"]);
    assert!(err.contains("matches that spec"), "{err}");
    let err = refused(&["hello@one"]);
    assert!(
        err.contains("-p hello@one: `one` is not a version"),
        "{err}"
    );
    // A library member is selected, but has nothing to put in an image.
    let err = refused(&["greeting@0.1.0"]);
    assert!(
        err.contains("package `greeting` has no binary target"),
        "{err}"
    );
}

#[test]
fn a_build_with_a_versioned_spec_gives_the_image_of_its_name() {
    let manifest = workspace().join("Cargo.toml");
    let work = tempfile::tempdir().unwrap();
    let t = slim::shared_target();
    let build = |spec: &str, out: &str| {
        ok(slim::on(
            manifest.to_str().unwrap(),
            t.to_str().unwrap(),
            &["-p", spec, "-o", work.path().join(out).to_str().unwrap()],
        ))
    };
    let by_spec = build(
        &format!(
            "path+file://{}#hello@0.1.0",
            workspace().join("hello").display()
        ),
        "a",
    );
    assert!(by_spec.starts_with("hello@sha256:"), "{by_spec}");
    let by_name = build("hello", "b");
    assert_eq!(by_spec, by_name, "the same package, the same image");
}
