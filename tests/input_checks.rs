//! Issue 11, input checks that do not fail a run, through the real binary: a misspelt `slim-image`
//! table is warned about (naming the table, the Cargo.toml and the right spelling), and values the
//! engines accept in several spellings are accepted and normalised as the engines read them
//! (`stop-signal = "term"` is `SIGTERM`), with `--dry-run --message-format json` showing the plan.
//! The cases that fail are rows of the table in tests/bad_input.rs.

mod common;

use common::slim::{self, cmd};
use serde_json::Value;
use std::fs;
use std::path::Path;

/// A package `bad` whose Cargo.toml is `[package]` then `rest`; its Cargo.toml path.
fn package(dir: &Path, rest: &str) -> String {
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"bad\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n{rest}\n"
        ),
    )
    .unwrap();
    fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    dir.join("Cargo.toml").display().to_string()
}

/// `--dry-run --message-format json` on `manifest`: the plan and stderr (the run must succeed).
fn plan(manifest: &str, target: &Path, extra: &[&str]) -> (Value, String) {
    let mut args = vec![
        "--manifest-path",
        manifest,
        "--target-dir",
        target.to_str().unwrap(),
        "--dry-run",
        "--message-format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = slim::run(&mut cmd(&args));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", out.stdout));
    (v, stderr)
}

#[test]
fn a_misspelt_table_is_a_warning_that_names_it_and_the_file() {
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("target");
    for (i, table) in [
        "package.metadata.slim_image",
        "package.metadata.slim-images",
        "package.metadata.slimimage",
        "package.metadata.slim_images",
        "package.metadata.Slim-Image",
        "package.metadata.SLIMIMAGE",
        "workspace.metadata.slim_image",
        // Typos and near names (not warned about before the adversarial review).
        "package.metadata.slim-imag",
        "package.metadata.slimage",
        "package.metadata.slim-iamge",
        "package.metadata.cargo-slim-image",
        "workspace.metadata.slim-imgae",
    ]
    .iter()
    .enumerate()
    {
        let m = package(
            &work.path().join(format!("p{i}")),
            &format!("[{table}]\nuser = \"0\"\n"),
        );
        let (v, err) = plan(&m, &target, &[]);
        let right = if table.starts_with("workspace") {
            "[workspace.metadata.slim-image]"
        } else {
            "[package.metadata.slim-image]"
        };
        let warning = err
            .lines()
            .find(|l| l.starts_with("warning: "))
            .unwrap_or_else(|| panic!("{table}: no warning:\n{err}"));
        for word in [&format!("[{table}]"), m.as_str(), right] {
            assert!(warning.contains(word), "{table}: `{word}` not in {warning}");
        }
        // The table is not read (the default user stays), and the run goes on.
        assert_eq!(v["images"][0]["user"], "65532:65532", "{table}");
    }
    // The right spelling gives no warning.
    let m = package(
        &work.path().join("right"),
        "[package.metadata.slim-image]\nuser = \"0\"\n",
    );
    let (v, err) = plan(&m, &target, &[]);
    assert!(!err.contains("warning:"), "{err}");
    assert_eq!(v["images"][0]["user"], "0");
}

#[test]
fn accepted_values_are_normalised_as_the_engines_read_them() {
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("target");
    for (written, stored) in [
        ("term", "SIGTERM"),
        ("SIGINT", "SIGINT"),
        ("sigrtmin+3", "SIGRTMIN+3"),
        ("RTMAX-1", "SIGRTMAX-1"),
        ("15", "15"),
    ] {
        let m = package(
            &work.path().join(written.replace('+', "p")),
            &format!(
                "[package.metadata.slim-image]\nstop-signal = \"{written}\"\nuser = \"2147483647:0\"\n\
                 files = [{{ src = \"Cargo.toml\", dest = \"/etc/app/app.toml\" }}, {{ src = \"src/main.rs\", dest = \"/usr/local/bin/helper\" }}]\n"
            ),
        );
        let (v, _) = plan(&m, &target, &["--push", "127.0.0.1:9/x/bad"]);
        let img = &v["images"][0];
        assert_eq!(img["stop_signal"], stored, "{written}");
        assert_eq!(img["user"], "2147483647:0");
        assert_eq!(img["files"][0]["dest"], "/etc/app/app.toml");
        assert_eq!(img["files"][1]["dest"], "/usr/local/bin/helper");
        assert_eq!(img["push"][0], "127.0.0.1:9/x/bad:0.1.0");
    }
    assert!(
        !target.join("slim-image").exists(),
        "a dry run wrote into the target dir"
    );
}
