//! The command line after the cli/resolve refactor, through the real binary: flags that `resolve`,
//! `init-k8s` and `verify` take on both sides of the subcommand (or of IMAGE) are joined, and the
//! join must not let through what one command line refuses. `--release` next to `--profile NAME` is
//! refused by clap when both are in one place; split across the subcommand it silently built with
//! NAME.

mod common;

use common::slim::{self, cmd, fails, ok};
use std::fs;

/// `--release` on one side and `--profile dev` on the other: refused, naming both, whichever side
/// each is on, for every subcommand that joins the build flags (exit 1, verify 2); nothing is built.
#[test]
fn release_and_profile_split_across_a_subcommand_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = slim::package_with_meta(&w.join("pkg"), "");
    let yaml = w.join("k8s.yaml");
    fs::write(&yaml, "image: slim-image://bad\n").unwrap();
    let target = w.join("target");
    let (t, y) = (target.to_str().unwrap(), yaml.to_str().unwrap());
    let base = [
        "--manifest-path",
        m.as_str(),
        "--target-dir",
        t,
        "--dry-run",
    ];
    let resolve = ["resolve", "--repo", "localhost:5000/k8s", "-f", y];
    let runs: Vec<Vec<&str>> = vec![
        [&base[..], &["--release"], &resolve, &["--profile", "dev"]].concat(),
        [&base[..], &["--profile", "dev"], &resolve, &["--release"]].concat(),
        [&base[..], &["--release", "init-k8s", "--profile", "dev"]].concat(),
        [&base[..], &["--profile", "dev", "init-k8s", "--release"]].concat(),
    ];
    for a in &runs {
        let err = fails(cmd(a));
        assert!(
            err.contains("--release") && err.contains("--profile dev"),
            "{a:?}: {err}"
        );
    }
    // verify: the check cannot be made, exit status 2 (README's table).
    let verify = [&base[..], &["--release", "verify", "oci:/nonexistent/x"]].concat();
    let out = cmd(&[&verify[..], &["--profile", "dev"]].concat())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--release") && err.contains("--profile dev"),
        "{err}"
    );
    // Either alone, on either side, is still taken.
    let plan = ok(cmd(&[&base[..], &["init-k8s", "--profile", "dev"]].concat()));
    assert!(plan.contains("slim-image://bad"), "{plan}");
    let plan = ok(cmd(&[&base[..], &["--release"], &resolve].concat()));
    assert!(plan.contains("--profile release"), "{plan}");
    assert!(!target.exists(), "a dry run built into {t}");
}
