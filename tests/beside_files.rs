//! The files written beside an OCI layout (`<layout>.spdx.json` / `.cdx.json`,
//! `<layout>.provenance.json`, their `<layout>.<os>-<arch>.*` forms for several platforms): a file of
//! the user's at one of those paths (or a symlink there) is refused before anything is built, and
//! left as it was; the tool's own files of an earlier run are replaced, and removed when a run
//! does not write them again (`--sbom none`, `--provenance none`, a platform dropped), while a file
//! of the user's beside them (`<layout>.notes.txt`, an edited SBOM) is never touched. The layout,
//! which now carries the SBOM and provenance artifacts that prove those files are ours, stays one
//! that umoci, skopeo and oci-image-tool accept.

mod common;

use common::checkout::sha256;
use common::peers;
use common::slim::{fails, hello_http, ok, on, on_hello_http};
use std::fs;
use std::path::{Path, PathBuf};

const TWO: &str = "linux/amd64,linux/arm64";

/// Every entry of `dir` with its bytes (a symlink as `-> target`), sorted.
fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let t = e.file_type().unwrap();
            let bytes = if t.is_symlink() {
                format!("-> {}", fs::read_link(e.path()).unwrap().display()).into_bytes()
            } else if t.is_dir() {
                b"<dir>".to_vec()
            } else {
                fs::read(e.path()).unwrap()
            };
            (name, bytes)
        })
        .collect();
    out.sort();
    out
}

/// The names in `dir`, sorted; no temp of the tool is ever among them after a run.
fn names(dir: &Path) -> Vec<String> {
    let v: Vec<String> = listing(dir).into_iter().map(|(n, _)| n).collect();
    assert!(
        !v.iter().any(|n| n.starts_with(".slim-image-")),
        "a temp was left behind: {v:?}"
    );
    v
}

/// Build hello-http into `layout` (shared target dir), then `rest`; must succeed.
fn build(layout: &Path, rest: &[&str]) {
    let mut args = vec!["-o", layout.to_str().unwrap()];
    args.extend_from_slice(rest);
    ok(on_hello_http(&args));
}

/// The build of hello-http into `layout` with `rest`, expected to fail, with a target dir of its
/// own that must not be created (so nothing was built); its stderr.
fn refused(layout: &Path, rest: &[&str]) -> String {
    let target = layout.with_file_name("fresh-target");
    let mut args = vec!["-o", layout.to_str().unwrap()];
    args.extend_from_slice(rest);
    let err = fails(on(&hello_http(), target.to_str().unwrap(), &args));
    assert!(!target.exists(), "it built before refusing: {err}");
    assert!(!layout.exists(), "the layout was written: {err}");
    err
}

/// Whether the file's sha256 is a blob of the layout (the record that it is the tool's).
fn recorded(layout: &Path, file: &Path) -> bool {
    let d = sha256(&fs::read(file).unwrap());
    layout
        .join("blobs/sha256")
        .join(d.trim_start_matches("sha256:"))
        .is_file()
}

#[test]
fn a_users_file_at_each_beside_path_is_refused_before_the_build_and_left_alone() {
    let cases: [(&str, &[&str], &str); 6] = [
        ("out.spdx.json", &[], "--sbom none"),
        ("out.provenance.json", &[], "--provenance none"),
        ("out.cdx.json", &["--sbom", "cyclonedx"], "--sbom none"),
        (
            "out.linux-amd64.spdx.json",
            &["--platform", TWO],
            "--sbom none",
        ),
        (
            "out.linux-arm64.spdx.json",
            &["--platform", TWO],
            "--sbom none",
        ),
        (
            "out.linux-arm64.provenance.json",
            &["--platform", TWO],
            "--provenance none",
        ),
    ];
    for (name, rest, flag) in cases {
        let work = tempfile::tempdir().unwrap();
        let mine = work.path().join(name);
        fs::write(&mine, b"{\"mine\": true}\n").unwrap();
        fs::write(work.path().join("out.notes.txt"), b"notes").unwrap();
        let before = listing(work.path());
        let err = refused(&work.path().join("out"), rest);
        assert!(
            err.contains(&format!("{} exists and is not", mine.display()))
                && err.contains("move it away, or choose another -o")
                && err.contains(flag)
                && err.contains("nothing was built or written"),
            "{name}: {err}"
        );
        assert_eq!(listing(work.path()), before, "{name}: something changed");
    }
}

#[test]
fn a_symlink_at_a_beside_path_is_refused_and_never_followed() {
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("elsewhere.json");
    fs::write(&target, b"keep me").unwrap();
    std::os::unix::fs::symlink(&target, work.path().join("out.spdx.json")).unwrap();
    // A dangling one too: following it would create the file it names.
    let nowhere = work.path().join("nowhere.json");
    std::os::unix::fs::symlink(&nowhere, work.path().join("out.provenance.json")).unwrap();
    let before = listing(work.path());
    let err = refused(&work.path().join("out"), &[]);
    assert!(
        err.contains("out.spdx.json exists and is not an SBOM file"),
        "{err}"
    );
    let err = refused(&work.path().join("out"), &["--sbom", "none"]);
    assert!(
        err.contains("out.provenance.json exists and is not a provenance file"),
        "{err}"
    );
    assert_eq!(listing(work.path()), before);
    assert!(!nowhere.exists());

    // Also when a layout of ours is there: a link is never a file the layout records.
    fs::remove_file(work.path().join("out.spdx.json")).unwrap();
    fs::remove_file(work.path().join("out.provenance.json")).unwrap();
    let layout = work.path().join("out");
    build(&layout, &[]);
    let sbom = work.path().join("out.spdx.json");
    let ours = fs::read(&sbom).unwrap();
    fs::write(&target, &ours).unwrap();
    fs::remove_file(&sbom).unwrap();
    std::os::unix::fs::symlink(&target, &sbom).unwrap();
    let err = fails(on_hello_http(&["-o", layout.to_str().unwrap()]));
    assert!(
        err.contains("out.spdx.json exists and is not an SBOM file"),
        "{err}"
    );
    assert!(fs::symlink_metadata(&sbom)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(&target).unwrap(), ours);
}

#[test]
fn a_rerun_replaces_its_own_files_and_an_edited_one_becomes_the_users() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("out");
    let sbom = work.path().join("out.spdx.json");
    let prov = work.path().join("out.provenance.json");
    fs::write(work.path().join("out.notes.txt"), b"notes").unwrap();
    build(&layout, &[]);
    assert!(recorded(&layout, &sbom) && recorded(&layout, &prov));
    let first = (fs::read(&sbom).unwrap(), fs::read(&prov).unwrap());
    // Another image (another env): both files are ours, so both are replaced.
    build(&layout, &["--env", "BESIDE=1"]);
    let second = (fs::read(&sbom).unwrap(), fs::read(&prov).unwrap());
    assert_ne!(
        first.0, second.0,
        "the SBOM names the manifest, which changed"
    );
    assert_ne!(first.1, second.1);
    assert!(recorded(&layout, &sbom) && recorded(&layout, &prov));
    assert_eq!(
        names(work.path()),
        [
            "out",
            "out.notes.txt",
            "out.provenance.json",
            "out.spdx.json"
        ]
    );
    // Edited by hand, the SBOM is the user's: refused, the layout and both files as they were.
    fs::write(&sbom, b"edited by hand").unwrap();
    let before = listing(work.path());
    let index = fs::read(layout.join("index.json")).unwrap();
    let err = fails(on_hello_http(&["-o", layout.to_str().unwrap()]));
    assert!(
        err.contains("out.spdx.json exists and is not an SBOM file written with the layout"),
        "{err}"
    );
    assert_eq!(listing(work.path()), before);
    assert_eq!(fs::read(layout.join("index.json")).unwrap(), index);
    // And `--sbom none` does not remove it as stale: it is not ours any more.
    build(&layout, &["--sbom", "none"]);
    assert_eq!(fs::read(&sbom).unwrap(), b"edited by hand");
    assert_eq!(
        fs::read(work.path().join("out.notes.txt")).unwrap(),
        b"notes"
    );
}

#[test]
fn files_of_an_earlier_run_that_this_run_does_not_write_are_removed_and_only_those() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("out");
    let notes = work.path().join("out.notes.txt");
    fs::write(&notes, b"notes").unwrap();
    // A copy of our SBOM under a name the tool does not write is the user's.
    let copy = work.path().join("out.spdx.json.bak");
    let dir = |v: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };

    build(&layout, &[]);
    fs::copy(work.path().join("out.spdx.json"), &copy).unwrap();
    build(&layout, &["--provenance", "none"]);
    assert_eq!(
        names(work.path()),
        dir(&["out", "out.notes.txt", "out.spdx.json", "out.spdx.json.bak"])
    );
    build(&layout, &["--sbom", "none"]);
    assert_eq!(
        names(work.path()),
        dir(&[
            "out",
            "out.notes.txt",
            "out.provenance.json",
            "out.spdx.json.bak"
        ])
    );
    // Another format: the SPDX file goes, the CycloneDX one comes.
    build(&layout, &["--sbom", "cyclonedx"]);
    build(&layout, &["--sbom", "spdx"]);
    assert_eq!(
        names(work.path()),
        dir(&[
            "out",
            "out.notes.txt",
            "out.provenance.json",
            "out.spdx.json",
            "out.spdx.json.bak"
        ])
    );
    // Two platforms: the single-platform names go, the per-platform ones come; then one platform
    // with neither file: all four go.
    build(&layout, &["--platform", TWO]);
    assert_eq!(
        names(work.path()),
        dir(&[
            "out",
            "out.linux-amd64.provenance.json",
            "out.linux-amd64.spdx.json",
            "out.linux-arm64.provenance.json",
            "out.linux-arm64.spdx.json",
            "out.notes.txt",
            "out.spdx.json.bak"
        ])
    );
    build(
        &layout,
        &[
            "--platform",
            "linux/amd64",
            "--sbom",
            "none",
            "--provenance",
            "none",
        ],
    );
    assert_eq!(
        names(work.path()),
        dir(&["out", "out.notes.txt", "out.spdx.json.bak"])
    );
    assert_eq!(fs::read(&notes).unwrap(), b"notes");
    // A layout that records nothing beside it (the last one) removes nothing: the user's file at
    // an SBOM path is then refused, not taken for ours.
    fs::copy(&copy, work.path().join("out.spdx.json")).unwrap();
    let err = fails(on_hello_http(&["-o", layout.to_str().unwrap()]));
    assert!(
        err.contains("out.spdx.json exists and is not an SBOM file"),
        "{err}"
    );
}

#[test]
fn the_layout_carrying_the_records_is_accepted_by_umoci_skopeo_and_oci_image_tool() {
    peers::require!("umoci", "skopeo", "oci-image-tool");
    let work = tempfile::tempdir().unwrap();
    for (name, rest) in [("one", &[][..]), ("two", &["--platform", TWO][..])] {
        let layout = work.path().join(name);
        build(&layout, rest);
        let several = rest.len() > 1;
        let files: Vec<PathBuf> = ["spdx.json", "provenance.json"]
            .iter()
            .flat_map(|s| {
                let names = if several {
                    vec![
                        format!("{name}.linux-amd64.{s}"),
                        format!("{name}.linux-arm64.{s}"),
                    ]
                } else {
                    vec![format!("{name}.{s}")]
                };
                names.into_iter().map(|n| work.path().join(n))
            })
            .collect();
        for f in &files {
            assert!(recorded(&layout, f), "{} is not in the layout", f.display());
        }
        // index.json still names the one image, under its tags.
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");
        peers::oci_image_tool_validate(&layout).unwrap();
        peers::skopeo_inspect(&format!("oci:{}:0.1.0", layout.display()), &[]).unwrap();
        if !several {
            let bundle = peers::umoci_unpack(&layout, "0.1.0").unwrap();
            assert!(bundle
                .path()
                .join("rootfs/usr/local/bin/hello-http")
                .is_file());
        } else {
            let ls = peers::stdout_of(
                std::process::Command::new("umoci")
                    .args(["ls", "--layout"])
                    .arg(&layout),
            )
            .unwrap();
            assert_eq!(ls.lines().count(), 2, "{ls}");
        }
    }
}
