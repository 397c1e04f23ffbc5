//! Where `podman login` really writes, and a hint that works (issue 16): as root with no
//! `XDG_RUNTIME_DIR`, `podman login` writes `/run/containers/0/auth.json`, and a push then finds those
//! credentials; with none anywhere, the error's hint for a plain-http registry is a `podman login`
//! command with `--tls-verify=false`, and running that very command makes the push work. Against a
//! real docker-registry with htpasswd Basic auth and the real podman.

mod common;

use common::peers::require;
use common::registry::{Mode, RealRegistry, PASSWORD, USER};
use common::slim::{self, fails, ok};
use std::path::Path;
use std::process::Command;

/// The push of hello-http to `repo` with only the environment `env` for credentials: HOME and
/// DOCKER_CONFIG point into `home` (nothing there unless the test put it there).
fn push(repo: &str, home: &Path, layout: &Path, env: &[(&str, &str)]) -> Command {
    let mut c = slim::on_hello_http(&["--output", layout.to_str().unwrap(), "--push", repo, "-q"]);
    c.env("HOME", home)
        .env("DOCKER_CONFIG", home.join("docker"))
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("SLIM_IMAGE_REGISTRY_USERNAME")
        .env_remove("SLIM_IMAGE_REGISTRY_PASSWORD");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

#[test]
fn the_hint_is_a_podman_login_that_works_on_a_plain_http_registry() {
    require!("podman");
    let Some(reg) = RealRegistry::start(Mode::Basic, "the_hint_is_a_podman_login") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let runtime = w.join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    let repo = format!("{}/hint/app", reg.host);
    let rt = runtime.to_str().unwrap();
    let err = fails(push(&repo, w, &w.join("l1"), &[("XDG_RUNTIME_DIR", rt)]));
    let want = format!("`podman login --tls-verify=false {}`", reg.host);
    assert!(err.contains(&want), "no `{want}` in:\n{err}");
    // The hint's command, as a user would paste it (with the password on stdin), then the push.
    let mut login = Command::new("podman");
    login
        .args([
            "login",
            "--tls-verify=false",
            "-u",
            USER,
            "--password-stdin",
            &reg.host,
        ])
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("HOME", w)
        .env_remove("REGISTRY_AUTH_FILE")
        .stdin(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "podman login failed");
    assert!(runtime.join("containers/auth.json").is_file());
    let out = ok(push(&repo, w, &w.join("l2"), &[("XDG_RUNTIME_DIR", rt)]));
    assert!(out.contains(&format!("{repo}:")), "{out}");
}

#[test]
fn root_without_xdg_runtime_dir_reads_run_containers_uid() {
    require!("podman");
    let uid = rustix::process::getuid().as_raw();
    let file = std::path::PathBuf::from(format!("/run/containers/{uid}/auth.json"));
    if file.exists() {
        // Never touch a user's real login.
        eprintln!(
            "SKIP: root_without_xdg_runtime_dir_reads_run_containers_uid: {} exists (a real podman login); not touching it",
            file.display()
        );
        assert!(!in_ci(), "{} exists on a CI machine", file.display());
        return;
    }
    let Some(reg) = RealRegistry::start(Mode::Basic, "root_without_xdg_runtime_dir") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let dir_existed = file.parent().unwrap().exists();
    let out = Command::new("podman")
        .args([
            "login",
            "--tls-verify=false",
            "-u",
            USER,
            "-p",
            PASSWORD,
            &reg.host,
        ])
        .env("HOME", w)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("REGISTRY_AUTH_FILE")
        .output()
        .unwrap();
    let created = file.exists();
    let result = std::panic::catch_unwind(|| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(created, "podman login did not write {}", file.display());
        let repo = format!("{}/run/app", reg.host);
        let out = ok(push(&repo, w, &w.join("l"), &[]));
        assert!(out.contains(&format!("{repo}:")), "{out}");
    });
    // Only what this test created goes.
    if created {
        let _ = std::fs::remove_file(&file);
        if !dir_existed {
            let _ = std::fs::remove_dir(file.parent().unwrap());
        }
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Auth files are inputs like any other: a FIFO at one (a plain read would wait for ever for a
/// writer, at the start of every run) or a link to `/dev/zero` (never ends) is skipped, and the
/// credentials in the next file are found and used.
#[test]
fn an_auth_file_that_is_a_fifo_or_endless_is_skipped_not_waited_on() {
    let Some(reg) = RealRegistry::start(Mode::Basic, "an_auth_file_that_is_a_fifo_or_endless")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let runtime = w.join("runtime/containers");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::create_dir_all(w.join("docker")).unwrap();
    std::fs::create_dir_all(w.join(".config/containers")).unwrap();
    let ok = Command::new("mkfifo")
        .arg(runtime.join("auth.json"))
        .status()
        .unwrap();
    assert!(ok.success());
    std::os::unix::fs::symlink("/dev/zero", w.join(".config/containers/auth.json")).unwrap();
    std::fs::write(
        w.join("docker/config.json"),
        common::registry::docker_auth_json(&reg.host, PASSWORD),
    )
    .unwrap();
    let repo = format!("{}/fifo/app", reg.host);
    let rt = w.join("runtime");
    let mut c = push(
        &repo,
        w,
        &w.join("l"),
        &[("XDG_RUNTIME_DIR", rt.to_str().unwrap())],
    );
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the push waited on an auth file");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains(&format!("{repo}:")), "{stdout}");
}
