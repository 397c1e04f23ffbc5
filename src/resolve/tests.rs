//! Unit tests of `resolve` (kept beside it so resolve.rs stays about the code).
use super::build::c_choice;
use super::ctx::split_name_tag;
use super::spec::{check_name, version_tag};
use super::*;
use crate::cli::{BuildArgs, Cli};
use crate::compile::c_toolchain;
use crate::platform::Platform;
use cargo_metadata::Metadata;
use std::path::PathBuf;

#[test]
fn name_and_tag_split_around_ports() {
    assert_eq!(
        split_name_tag("app:1.0"),
        ("app".into(), Some("1.0".into()))
    );
    assert_eq!(
        split_name_tag("localhost:5000/app"),
        ("localhost:5000/app".into(), None)
    );
    assert_eq!(
        split_name_tag("localhost:5000/a/b:x"),
        ("localhost:5000/a/b".into(), Some("x".into()))
    );
    assert_eq!(version_tag("1.0.0+git.1"), "1.0.0_git.1");
}

#[test]
fn upper_case_names_are_refused_with_the_origin() {
    let err = check_name("MyApp", "latest", "--tag").unwrap_err();
    assert!(format!("{err:#}").contains("MyApp"), "{err:#}");
    assert!(format!("{err:#}").contains("--tag"), "{err:#}");
}

#[test]
fn one_c_toolchain_per_run_from_the_flag_or_the_tables() {
    use c_toolchain::Choice;
    let pair = |p: &str, v: &str| (p.to_string(), v.to_string());
    let cli = BuildArgs::default();
    assert_eq!(c_choice(&cli, &[]).unwrap(), Choice::Auto);
    let same = [pair("api", "zig"), pair("worker", "zig")];
    assert_eq!(c_choice(&cli, &same).unwrap(), Choice::Zig);
    let differ = [pair("api", "zig"), pair("worker", "musl-gcc")];
    let err = c_choice(&cli, &differ).unwrap_err().to_string();
    assert!(
        err.contains("c-toolchain is `zig` for package `api` but `musl-gcc` for package `worker`"),
        "{err}"
    );
    assert!(err.contains("--c-toolchain"), "{err}");
    // The flag wins over the tables, even when they disagree.
    let flag = BuildArgs {
        c_toolchain: Some(crate::cli::CToolchainArg::RustLld),
        ..BuildArgs::default()
    };
    assert_eq!(c_choice(&flag, &differ).unwrap(), Choice::RustLld);
}

/// `cargo metadata --no-deps` of a workspace at /ws (which does not exist: nothing is read) with
/// packages `app` (bins `app`, `admin`) and `api` (bin `api-server`, a `slim-image` table).
fn fixture() -> Metadata {
    let bin = |name: &str, pkg: &str| {
        serde_json::json!({
            "name": name, "kind": ["bin"], "crate_types": ["bin"],
            "src_path": format!("/ws/{pkg}/src/main.rs"), "edition": "2021",
        })
    };
    let pkg = |name: &str, bins: Vec<serde_json::Value>, meta: serde_json::Value| {
        serde_json::json!({
            "name": name, "version": "0.1.0", "id": format!("path+file:///ws/{name}#0.1.0"),
            "dependencies": [], "targets": bins, "features": {},
            "manifest_path": format!("/ws/{name}/Cargo.toml"), "metadata": meta,
        })
    };
    let v = serde_json::json!({
        "packages": [
            pkg("app", vec![bin("app", "app"), bin("admin", "app")], serde_json::Value::Null),
            pkg("api", vec![bin("api-server", "api")], serde_json::json!({"slim-image": {
                "name": "ghcr.io/acme/api", "platforms": ["linux/arm64"], "user": "1000",
            }})),
        ],
        "workspace_members": ["path+file:///ws/app#0.1.0", "path+file:///ws/api#0.1.0"],
        "workspace_default_members": ["path+file:///ws/app#0.1.0"],
        "resolve": null,
        "workspace_root": "/ws",
        "target_directory": "/ws/target",
        "version": 1,
    });
    serde_json::from_value(v).expect("the fixture is cargo metadata")
}

/// The command line `args` (after `cargo slim-image`), parsed.
fn cli(args: &[&str]) -> Cli {
    let argv = crate::cli::as_cargo_runs_it(["cargo-slim-image"].iter().chain(args));
    let crate::cli::CargoCli::SlimImage(c) =
        <crate::cli::CargoCli as clap::Parser>::try_parse_from(argv).expect("the flags parse");
    c
}

#[test]
fn a_plan_is_resolved_from_flags_and_metadata_without_cargo() {
    let md = fixture();
    let plan = resolve_with(&cli(&["-p", "app", "--bin", "admin"]), Some(&md)).unwrap();
    assert_eq!(plan.images.len(), 1);
    let img = &plan.images[0];
    assert_eq!(
        (img.name.as_str(), &img.tags[..]),
        ("admin", &["0.1.0".to_string(), "latest".into()][..])
    );
    assert_eq!(img.layout, PathBuf::from("/ws/target/slim-image/admin"));
    let cargo = plan.cargo.as_ref().unwrap();
    assert_eq!(
        (&cargo.packages[..], &cargo.bins[..]),
        (&["app".to_string()][..], &["admin".to_string()][..])
    );
    assert!(
        cargo.toolchains.is_empty(),
        "resolve_with runs no cargo tree"
    );
    assert_eq!(plan.build.profile, "release");
    assert_eq!(plan.compression, crate::layer::LayerCompression::GzipBySize);
    assert!(!plan.dry_run && !plan.json);
    // The package's table: its name, platforms and user.
    let plan = resolve_with(&cli(&["-p", "api"]), Some(&md)).unwrap();
    let img = &plan.images[0];
    assert_eq!(img.name, "ghcr.io/acme/api");
    assert_eq!(img.platforms, [Platform::LinuxArm64]);
    assert_eq!(img.user, "1000");
    // The default members: `app`, both of its binaries.
    let plan = resolve_with(&cli(&[]), Some(&md)).unwrap();
    let names: Vec<&str> = plan.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["app", "admin"]);
}

#[test]
fn every_output_flag_becomes_a_checked_value_of_the_plan() {
    let md = fixture();
    let args = [
        "--bin",
        "app",
        "--compression",
        "zstd",
        "--compression-level",
        "9",
        "--tarball-format",
        "docker",
        "--sbom",
        "none",
        "--retries",
        "2",
        "--timeout",
        "5",
        "--insecure-registry",
        "localhost:5000",
        "--push",
        "localhost:5000/x/app:1",
        "--message-format",
        "json",
        "--dry-run",
        "-F",
        "a,b",
        "--locked",
    ];
    let plan = resolve_with(&cli(&args), Some(&md)).unwrap();
    assert_eq!(plan.compression, crate::layer::LayerCompression::Zstd(9));
    assert_eq!(
        plan.tarball_format,
        crate::sink::tarball_format::Format::Docker
    );
    assert_eq!(plan.images[0].sbom, None);
    assert_eq!(plan.client.tuning.retries, 2);
    assert_eq!(
        plan.client.tuning.io_timeout,
        std::time::Duration::from_secs(5)
    );
    assert_eq!(plan.client.insecure_registries, ["localhost:5000"]);
    assert_eq!(plan.images[0].push[0].to_string(), "localhost:5000/x/app:1");
    assert!(plan.dry_run && plan.json);
    assert_eq!(plan.build.features, ["a,b"]);
    assert_eq!(plan.build.lock_flags(), ["--locked"]);
    // Checked here, before any base is fetched or anything built.
    let err = resolve_with(&cli(&["--compression-level", "13"]), Some(&md)).unwrap_err();
    assert!(
        err.to_string()
            .contains("--compression-level 13 is out of range for gzip"),
        "{err}"
    );
    let err = resolve_with(&cli(&["--bin", "nope"]), Some(&md)).unwrap_err();
    assert!(err.downcast_ref::<NoSuchBin>().is_some(), "{err}");
}

#[test]
fn build_flags_after_resolve_or_init_k8s_plan_as_those_before_it() {
    let md = fixture();
    let described = |args: &[&str]| {
        let top = cli(args);
        let joined = match &top.command {
            Some(crate::cli::Command::Resolve(r)) => {
                let mut c = top.clone();
                c.build = crate::cli::join::build(top.build.clone(), r.build.clone()).unwrap();
                c.output = crate::cli::join::output(top.output.clone(), r.output.clone());
                c
            }
            other => panic!("not resolve: {other:?}"),
        };
        resolve_with(&joined, Some(&md)).unwrap().describe()
    };
    let old = described(&["-p", "api", "--tag", "a/b:1", "resolve", "-f", "k.yaml"]);
    let new = described(&["resolve", "-p", "api", "--tag", "a/b:1", "-f", "k.yaml"]);
    assert_eq!(old, new);
    assert!(new.contains("image a/b:1"), "{new}");
}
