//! Kubernetes (issue 5): `resolve` on multi-document YAML with comments builds and pushes each
//! `slim-image://NAME` once to a real registry and changes nothing else, byte for byte; `-f -` and
//! directories; `init-k8s` writes a starter manifest that `resolve` understands.

mod common;

use common::registry::{Mode, RealRegistry};
use common::slim::{self, cmd, fails, ok};
use std::io::Write;
use std::process::Stdio;

fn hello() -> String {
    slim::repo()
        .join("tests/fixtures/hello/Cargo.toml")
        .display()
        .to_string()
}

const YAML: &str = "\
# Deploys hello. The image below is built by cargo slim-image: slim-image://hello
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello   # keep this name
spec:
  template:
    spec:
      containers:
        - name: hello
          image: slim-image://hello # built from the workspace
        - name: sidecar
          image: \"slim-image://hello\"
---
# second document: unrelated images stay as they are
apiVersion: v1
kind: Pod
metadata: {name: other}
spec:
  containers:
    - {name: x, image: 'docker.io/library/busybox:1.36', args: [\"echo\", \"#not-a-comment slim-image://hello\"]}
";

fn resolve_cmd(host: &str, target: &str, extra: &[&str]) -> std::process::Command {
    let repo = format!("{host}/k8s");
    // No referrers (SBOM, provenance): the manifest count below is the image's alone.
    let mut rest = vec![
        "--sbom",
        "none",
        "--provenance",
        "none",
        "resolve",
        "--repo",
        &repo,
    ];
    rest.extend_from_slice(extra);
    slim::on(&hello(), target, &rest)
}

#[test]
fn resolve_multi_document_yaml_with_comments() {
    let Some(reg) = RealRegistry::start(Mode::Plain, "resolve_multi_document_yaml_with_comments")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("deploy.yaml");
    std::fs::write(&file, YAML).unwrap();
    let t = slim::shared_target().display().to_string();
    let out = ok(resolve_cmd(&reg.host, &t, &["-f", file.to_str().unwrap()]));

    // The pushed digest, as the registry serves it.
    use cargo_slim_image::registry::{Client, ClientOptions};
    let client = Client::new(&reg.host, &ClientOptions::default()).unwrap();
    let m = client.get_manifest("k8s/hello", "latest").unwrap();
    let pinned = format!("{}/k8s/hello@{}", reg.host, m.digest);
    // Every mention outside a `#` comment changes (a `#` inside quotes starts no comment); the
    // comment on the first line, quoting, spacing and the other document stay byte for byte.
    let (first, rest) = YAML.split_at(YAML.find('\n').unwrap());
    let want = format!("{first}{}", rest.replace("slim-image://hello", &pinned));
    assert_eq!(out, want);
    assert!(out.starts_with(
        "# Deploys hello. The image below is built by cargo slim-image: slim-image://hello\n"
    ));
    assert!(out.contains(&format!("\"#not-a-comment {pinned}\"")));
    // Built and pushed once, though named three times.
    assert_eq!(reg.manifest_puts(), 2, "{}", reg.log_text()); // tags 0.1.0 and latest

    // stdin, and a directory (files in name order, joined by ---).
    let mut c = resolve_cmd(&reg.host, &t, &["-f", "-"]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(YAML.as_bytes())
        .unwrap();
    let got = child.wait_with_output().unwrap();
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(String::from_utf8(got.stdout).unwrap(), want);

    let dir = work.path().join("dir");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("b.yaml"), "image: slim-image://hello").unwrap();
    std::fs::write(dir.join("a.yml"), "kind: Namespace\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "slim-image://nothing").unwrap();
    let out = ok(resolve_cmd(&reg.host, &t, &["-f", dir.to_str().unwrap()]));
    assert_eq!(out, format!("kind: Namespace\n---\nimage: {pinned}"));
}

#[test]
fn resolve_names_an_unknown_image_and_the_file() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("x.yaml");
    std::fs::write(&file, "image: slim-image://no-such-bin\n").unwrap();
    let t = slim::shared_target().display().to_string();
    let err = fails(resolve_cmd(
        "127.0.0.1:9",
        &t,
        &["-f", file.to_str().unwrap()],
    ));
    assert!(err.contains("slim-image://no-such-bin"), "{err}");
    assert!(err.contains("x.yaml"), "{err}");
}

#[test]
fn resolve_reports_the_real_error_not_an_unknown_name() {
    // Issue 11: `slim-image://hello` is a binary; an error in its plan (here a --repo that names no
    // registry) is reported as such, not as "no binary or package of that name".
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("x.yaml");
    std::fs::write(&file, "image: slim-image://hello\n").unwrap();
    let t = slim::shared_target().display().to_string();
    let err = fails(slim::on(
        &hello(),
        &t,
        &["resolve", "--repo", "acme", "-f", file.to_str().unwrap()],
    ));
    assert!(
        err.contains("--repo acme") && err.contains("no registry"),
        "{err}"
    );
    assert!(!err.contains("no binary or package"), "{err}");
    let err = fails(slim::on(
        &hello(),
        &t,
        &[
            "--user",
            "nonroot",
            "resolve",
            "--repo",
            "127.0.0.1:9/k",
            "-f",
            file.to_str().unwrap(),
        ],
    ));
    assert!(
        err.contains("--user") && err.contains("use 65532 (nonroot)"),
        "{err}"
    );
    assert!(!err.contains("no binary or package"), "{err}");
}

#[test]
fn init_k8s_writes_a_starter_manifest() {
    let work = tempfile::tempdir().unwrap();
    let out = ok(cmd(&["--manifest-path", &hello(), "init-k8s", "hello"]));
    assert!(out.contains("image: slim-image://hello\n"), "{out}");
    assert!(out.contains("runAsNonRoot: true"), "{out}");
    assert!(out.contains("readOnlyRootFilesystem: true"), "{out}");
    assert!(out.contains("kind: Service"), "{out}");
    assert!(out.contains("containerPort: 8080"), "{out}");
    let file = work.path().join("k8s.yaml");
    ok(cmd(&[
        "--manifest-path",
        &hello(),
        "init-k8s",
        "hello",
        "--port",
        "3000",
        "-o",
        file.to_str().unwrap(),
    ]));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("containerPort: 3000"));
    // Never overwrites.
    let err = fails(cmd(&[
        "--manifest-path",
        &hello(),
        "init-k8s",
        "hello",
        "-o",
        file.to_str().unwrap(),
    ]));
    assert!(err.contains("exists"), "{err}");
}

/// `init-k8s -o -` is stdout, as `--tarball -` is: the manifest is printed and no file named `-`
/// appears (also when one is already there, it is left alone and not refused).
#[test]
fn init_k8s_output_dash_is_stdout() {
    let work = tempfile::tempdir().unwrap();
    let plain = ok(cmd(&["--manifest-path", &hello(), "init-k8s", "hello"]));
    let mut c = cmd(&["--manifest-path", &hello(), "init-k8s", "hello", "-o", "-"]);
    c.current_dir(work.path());
    assert_eq!(ok(c), plain);
    assert!(!work.path().join("-").exists(), "wrote a file named -");
    std::fs::write(work.path().join("-"), "mine").unwrap();
    let mut c = cmd(&["--manifest-path", &hello(), "init-k8s", "hello", "-o", "-"]);
    c.current_dir(work.path());
    assert_eq!(ok(c), plain);
    assert_eq!(
        std::fs::read_to_string(work.path().join("-")).unwrap(),
        "mine"
    );
}
