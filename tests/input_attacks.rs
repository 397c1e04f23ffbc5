//! Issue 11, an adversarial review of the input checks and of `--dry-run`, through the real binary:
//! paths that are not UTF-8 in `--message-format json` (dry run and real run) give JSON that python3
//! reads, not a panic; `--dry-run` and `--message-format` are taken after the subcommand too and
//! contact nothing (a TCP listener counts connections); the dry-run text spells the CA source and the
//! SBOM format as the flags do, not as Rust's Debug; and the limits on `files[].dest` are no tighter
//! than Linux's (a 255-byte file name builds and `umoci unpack`s). The refusals are rows of the table
//! in tests/bad_input.rs.

mod common;

use common::peers::require;
use common::slim::{self, cmd, ok};
use serde_json::Value;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BUSYBOX: &str = "/bin/busybox";

/// `text` parsed by python3's json module (a reader we did not write) and by serde_json.
fn json(text: &[u8]) -> Value {
    let mut py = Command::new("python3")
        .args(["-c", "import json,sys; json.load(sys.stdin)"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    py.stdin.take().unwrap().write_all(text).unwrap();
    assert!(
        py.wait().unwrap().success(),
        "python3 json cannot read: {}",
        String::from_utf8_lossy(text)
    );
    serde_json::from_slice(text).expect("one JSON document")
}

/// `dir/<name>\xff<rest>`: a path whose bytes are not UTF-8 (Linux allows any byte but `/` and NUL).
fn not_utf8(dir: &Path, name: &str, rest: &str) -> PathBuf {
    let mut b = name.as_bytes().to_vec();
    b.push(0xff);
    b.extend_from_slice(rest.as_bytes());
    dir.join(OsStr::from_bytes(&b))
}

/// Run the binary with `args` (some not UTF-8); require exit 0; stdout.
fn run_ok(args: &[&OsStr]) -> Vec<u8> {
    let mut c = cmd(&[]);
    c.args(args);
    let out = slim::run(&mut c);
    assert!(
        out.status.success(),
        "exit {}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn paths_that_are_not_utf8_give_json_not_a_panic() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let out = not_utf8(w, "out", "");
    let tar = not_utf8(w, "image", ".tar");
    let target = w.join("target");
    let base: Vec<&OsStr> = vec![
        "--binary".as_ref(),
        BUSYBOX.as_ref(),
        "--target-dir".as_ref(),
        target.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--tarball".as_ref(),
        tar.as_os_str(),
        "--message-format".as_ref(),
        "json".as_ref(),
    ];
    // The dry run: the plan names both paths (U+FFFD for the byte that is not UTF-8).
    let mut dry = base.clone();
    dry.push("--dry-run".as_ref());
    let v = json(&run_ok(&dry));
    assert_eq!(v["images"][0]["layout"], out.to_string_lossy().as_ref());
    assert_eq!(v["images"][0]["tarball"], tar.to_string_lossy().as_ref());
    assert!(!out.exists() && !tar.exists(), "a dry run wrote");
    // The real run: the report too.
    let v = json(&run_ok(&base));
    let img = &v["images"][0];
    assert_eq!(img["layout"], out.to_string_lossy().as_ref());
    assert_eq!(img["tarball"], tar.to_string_lossy().as_ref());
    assert!(img["sbom"][0]["path"]
        .as_str()
        .unwrap()
        .contains('\u{fffd}'));
    assert!(out.join("index.json").is_file() && tar.is_file());
    // init-k8s -o FILE under --dry-run.
    let m = slim::package_with_meta(&w.join("pkg"), "");
    let file = not_utf8(w, "k8s", ".yaml");
    let v = json(&run_ok(&[
        "--manifest-path".as_ref(),
        m.as_ref(),
        "--dry-run".as_ref(),
        "--message-format".as_ref(),
        "json".as_ref(),
        "init-k8s".as_ref(),
        "-o".as_ref(),
        file.as_os_str(),
    ]));
    assert_eq!(v["output"], file.to_string_lossy().as_ref());
    assert!(!file.exists());
}

/// A listener on 127.0.0.1 that counts the connections made to it (they queue in its backlog
/// whether or not anyone accepts them).
struct Listener(TcpListener);

impl Listener {
    fn new() -> Listener {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Listener(l)
    }

    fn host(&self) -> String {
        self.0.local_addr().unwrap().to_string()
    }

    fn connections(&self) -> usize {
        std::iter::from_fn(|| self.0.accept().ok()).count()
    }
}

#[test]
fn dry_run_after_the_subcommand_is_honoured_and_contacts_nothing() {
    let reg = Listener::new();
    let host = reg.host();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // index: flags after the subcommand, as `cargo build --release` takes them.
    let (dst, src) = (format!("{host}/idx:1"), format!("{host}/app:1"));
    let v = json(
        ok(cmd(&[
            "index",
            "--push",
            &dst,
            &src,
            "--dry-run",
            "--message-format",
            "json",
        ]))
        .as_bytes(),
    );
    assert_eq!(
        (&v["command"], &v["dry_run"]),
        (&"index".into(), &true.into())
    );
    assert_eq!(v["push"][0], dst.as_str());
    // resolve, reading the YAML from stdin.
    let m = slim::package_with_meta(&w.join("pkg"), "");
    let target = w.join("target");
    let mut c = cmd(&[
        "--manifest-path",
        &m,
        "--target-dir",
        target.to_str().unwrap(),
        "resolve",
        "--repo",
        &host,
        "-f",
        "-",
        "--dry-run",
    ]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"spec:\n  containers:\n    - image: slim-image://bad\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("push:       {host}/bad:0.1.0")),
        "{text}"
    );
    assert!(text.contains("(in <stdin>)"), "{text}");
    // init-k8s -o FILE.
    let file = w.join("k8s.yaml");
    ok(cmd(&[
        "--manifest-path",
        &m,
        "init-k8s",
        "-o",
        file.to_str().unwrap(),
        "--dry-run",
    ]));
    assert!(
        !file.exists(),
        "init-k8s --dry-run wrote {}",
        file.display()
    );
    assert!(
        !target.exists(),
        "a dry run built into {}",
        target.display()
    );
    assert_eq!(reg.connections(), 0, "a dry run connected to {host}");
}

#[test]
fn the_dry_run_text_spells_formats_as_the_flags_do() {
    let text = ok(cmd(&[
        "--binary",
        BUSYBOX,
        "--ca-certificates",
        "none",
        "--sbom",
        "cyclonedx",
        "--dry-run",
    ]));
    assert!(
        text.contains("  ca:         none + 0 extra file(s)"),
        "{text}"
    );
    assert!(text.contains("  sbom:       cyclonedx"), "{text}");
    let v = json(
        ok(cmd(&[
            "--binary",
            BUSYBOX,
            "--sbom",
            "cyclonedx",
            "--dry-run",
            "--message-format",
            "json",
        ]))
        .as_bytes(),
    );
    assert_eq!(v["images"][0]["ca_certificates"], "mozilla");
    assert_eq!(v["images"][0]["sbom"], "cyclonedx");
}

#[test]
fn a_255_byte_file_name_is_accepted_and_unpacks() {
    require!("umoci");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let name = "n".repeat(255);
    let m = slim::package_with_meta(
        &w.join("pkg"),
        &format!("files = [{{ src = \"Cargo.toml\", dest = \"/etc/app/{name}\" }}]"),
    );
    let out = w.join("out");
    // A target dir of its own: other tests build other packages named `bad`.
    let target = w.join("target");
    ok(slim::on(
        &m,
        target.to_str().unwrap(),
        &["-o", out.to_str().unwrap(), "--sbom", "none"],
    ));
    let bundle = common::peers::umoci_unpack(&out, "latest").unwrap();
    let got = fs::read_to_string(bundle.path().join("rootfs/etc/app").join(&name)).unwrap();
    assert!(got.contains("name = \"bad\""), "{got}");
}

#[test]
fn a_misspelt_table_is_warned_about_once_per_run() {
    // `resolve` plans each image on its own (and a package name twice: as a binary, then as a
    // package), reading the Cargo.toml each time; the warning was printed once per reading.
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("pkg");
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"pkg\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n\
         [[bin]]\nname = \"app\"\npath = \"src/main.rs\"\n[package.metadata.slim_image]\nuser = \"0\"\n",
    )
    .unwrap();
    let yaml = work.path().join("k8s.yaml");
    fs::write(&yaml, "a: slim-image://app\nb: slim-image://pkg\n").unwrap();
    let out = slim::run(&mut cmd(&[
        "--manifest-path",
        dir.join("Cargo.toml").to_str().unwrap(),
        "--dry-run",
        "resolve",
        "--repo",
        "127.0.0.1:9",
        "-f",
        yaml.to_str().unwrap(),
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let warnings = err.lines().filter(|l| l.starts_with("warning: ")).count();
    assert_eq!(warnings, 1, "{err}");
}
