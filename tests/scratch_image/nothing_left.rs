//! A --dry-run writes nothing, and bad input is a clear error that leaves nothing behind.

use super::*;

#[test]
fn dry_run_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("l");
    let out = ok(slim::on(
        &slim::hello_http(),
        work.path().join("t").to_str().unwrap(),
        &[
            "--output",
            layout.to_str().unwrap(),
            "--tarball",
            "x.tar",
            "--dry-run",
        ],
    ));
    assert!(out.contains("image hello-http:0.1.0,latest"), "{out}");
    assert!(out.contains("x86_64-unknown-linux-musl"), "{out}");
    assert!(!layout.exists());
    assert!(
        !work.path().join("t").exists(),
        "dry run compiled something"
    );
}

#[test]
fn bad_input_is_a_clear_error_and_leaves_nothing_behind() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let t = slim::shared_target();
    let t = t.to_str().unwrap();
    let out_dir = w.join("out");
    let o = out_dir.to_str().unwrap();

    let unknown = slim::package_with_meta(&w.join("unknown"), "nmae = \"x\"");
    let e = fails(slim::on(&unknown, t, &["--output", o]));
    assert!(e.contains("nmae") && e.contains(&unknown), "{e}");

    let wrong_type = slim::package_with_meta(&w.join("wrongtype"), "tags = \"latest\"");
    let e = fails(slim::on(&wrong_type, t, &["--output", o]));
    assert!(e.contains("tags") && e.contains(&wrong_type), "{e}");

    let e = fails(slim::on_hello_http(&["--output", o, "--bin", "nope"]));
    assert!(e.contains("nope"), "{e}");

    let e = fails(slim::on_hello_http(&[
        "--output",
        o,
        "--tag",
        "Hello/App:1",
    ]));
    assert!(e.contains("Hello/App"), "{e}");

    let e = fails(cmd(&[
        "--binary",
        "/bin/ls",
        "--target-dir",
        t,
        "--output",
        o,
    ]));
    assert!(
        e.contains("/bin/ls") && e.contains("dynamically linked") && e.contains("ld-linux"),
        "{e}"
    );

    let e = fails(cmd(&[
        "--binary",
        "/no/such/binary",
        "--target-dir",
        t,
        "--output",
        o,
    ]));
    assert!(e.contains("/no/such/binary"), "{e}");

    assert!(!out_dir.exists(), "a failed run left {}", out_dir.display());

    // An output path that is a file: refused, the file untouched, no temp dirs left beside it.
    let file = w.join("occupied");
    std::fs::write(&file, "keep me").unwrap();
    let e = fails(slim::on_hello_http(&["--output", file.to_str().unwrap()]));
    assert!(e.contains(file.to_str().unwrap()), "{e}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

    // A tarball path below a file: refused before anything is built or written.
    let layout2 = w.join("l2");
    let bad_tar = file.join("x.tar");
    let e = fails(slim::on_hello_http(&[
        "--output",
        layout2.to_str().unwrap(),
        "--tarball",
        bad_tar.to_str().unwrap(),
    ]));
    assert!(e.contains(bad_tar.to_str().unwrap()), "{e}");
    assert!(!layout2.exists());
    let leftovers: Vec<_> = std::fs::read_dir(w)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".slim-image"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
