//! Unit tests of `resolve` (kept beside it so resolve.rs stays about the code).
use super::spec::{check_name, version_tag};
use super::*;

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
    let cli = Cli::default();
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
    let flag = Cli {
        c_toolchain: Some(Choice::RustLld),
        ..Cli::default()
    };
    assert_eq!(c_choice(&flag, &differ).unwrap(), Choice::RustLld);
}
