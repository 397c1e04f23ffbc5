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
