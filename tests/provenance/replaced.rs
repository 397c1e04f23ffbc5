//! A prebuilt binary that another process keeps replacing while it is packaged: the provenance
//! never names bytes the image does not hold.

use super::*;

/// `sha256sum FILE` (an independent tool) as `sha256:<hex>`.
fn sha256sum(file: &Path) -> String {
    let out = peers::run_ok(Command::new("sha256sum").arg(file)).unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", &text[..64])
}

/// The prebuilt binary `name` as the app layer of `layout` holds it, extracted into `dir`.
fn binary_in_layer(layout: &Path, name: &str, dir: &Path) -> std::path::PathBuf {
    let (_, m) = common::slim::manifest_of(layout);
    let app = m["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let member = format!("usr/local/bin/{name}");
    peers::run_ok(
        Command::new("tar")
            .arg("xzf")
            .arg(common::slim::blob_path(layout, &app))
            .arg("-C")
            .arg(dir)
            .arg(&member),
    )
    .unwrap();
    dir.join(member)
}

/// A `--binary` that another process keeps replacing while it is packaged (two same-length
/// versions, neither with DWARF, so `split` and `drop` put it in unchanged): every run either
/// fails (exit 1) naming the file, or writes a provenance whose `binary:app` digest is, by
/// `sha256sum`, the binary in the image. The provenance must never name bytes the image does not
/// hold, in any `--debuginfo` mode.
#[test]
fn a_prebuilt_binary_replaced_while_it_is_packaged_is_never_misnamed_by_the_provenance() {
    use std::sync::atomic::{AtomicBool, Ordering};
    if !peers::check_tools(
        "provenance::a_prebuilt_binary_replaced_while_it_is_packaged_is_never_misnamed_by_the_provenance",
        &["busybox", "sha256sum", "tar"],
    ) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let versions = work.path().join("versions");
    std::fs::create_dir(&versions).unwrap();
    let a = common::blob_cache::app_binary(&versions);
    let mut bytes = std::fs::read(&a).unwrap();
    let at = bytes
        .windows(9)
        .position(|w| w == b"BusyBox v")
        .expect("busybox's banner");
    bytes[at] = b'b';
    let b = versions.join("app-b");
    std::fs::write(&b, &bytes).unwrap();
    let bin = work.path().join("app");
    std::fs::copy(&a, &bin).unwrap();
    /// Stops the replacing thread when dropped, also when an assertion fails (else the scope would
    /// wait for it forever).
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let stop = AtomicBool::new(false);
    let mut ran = 0;
    std::thread::scope(|s| {
        s.spawn(|| {
            let tmp = work.path().join("app.next");
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let _ = std::fs::remove_file(&tmp);
                std::fs::hard_link(if i % 2 == 0 { &b } else { &a }, &tmp).unwrap();
                std::fs::rename(&tmp, &bin).unwrap();
                std::thread::sleep(std::time::Duration::from_micros(300));
            }
        });
        let _stop = Stop(&stop);
        for round in 0..6 {
            for mode in ["split", "drop", "keep"] {
                let out = work.path().join(format!("img-{mode}-{round}"));
                let mut c = common::blob_cache::build_with(
                    &bin,
                    &work.path().join("target"),
                    &out,
                    &["--debuginfo", mode, "-q"],
                );
                let run = c.stdin(std::process::Stdio::null()).output().unwrap();
                let err = String::from_utf8_lossy(&run.stderr);
                if !run.status.success() {
                    assert_eq!(run.status.code(), Some(1), "{mode}: {err}");
                    assert!(err.contains(bin.to_str().unwrap()), "{mode}: {err}");
                    assert!(
                        !out.exists(),
                        "{mode}: a failed run wrote {}",
                        out.display()
                    );
                    continue;
                }
                ran += 1;
                let stmt: Value = serde_json::from_slice(
                    &std::fs::read(out.with_extension("provenance.json")).unwrap(),
                )
                .unwrap();
                let named = format!(
                    "sha256:{}",
                    dependency(&stmt, "binary:app")["digest"]["sha256"]
                        .as_str()
                        .unwrap()
                );
                let dir = work.path().join(format!("x-{mode}-{round}"));
                std::fs::create_dir(&dir).unwrap();
                let packaged = binary_in_layer(&out, "app", &dir);
                assert_eq!(
                    named,
                    sha256sum(&packaged),
                    "{mode}, round {round}: the provenance names other bytes than the image holds"
                );
            }
        }
    });
    assert!(ran > 0, "every run failed: the check above never ran");
}
