//! Unit tests of credential lookup (split out to keep credentials.rs one screenful of logic).
use super::env::utf8_vars;
use super::*;
use std::ffi::OsString;

#[test]
fn auth_files_are_read_in_podmans_then_dockers_order() {
    let files = |env: CredentialEnv| -> Vec<String> {
        env.auth_files()
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    };
    // Root without XDG_RUNTIME_DIR: where `podman login` writes then.
    let env = CredentialEnv::empty().with("HOME", "/h").with_uid(0);
    assert_eq!(
        files(env),
        [
            "/run/containers/0/auth.json",
            "/h/.config/containers/auth.json",
            "/h/.docker/config.json"
        ]
    );
    let env = CredentialEnv::empty()
        .with("REGISTRY_AUTH_FILE", "/a.json")
        .with("XDG_RUNTIME_DIR", "/run/user/1000")
        .with("XDG_CONFIG_HOME", "/cfg")
        .with("DOCKER_CONFIG", "/d")
        .with("HOME", "/h")
        .with_uid(1000);
    assert_eq!(
        files(env),
        [
            "/a.json",
            "/run/user/1000/containers/auth.json",
            "/cfg/containers/auth.json",
            "/d/config.json"
        ]
    );
    // A snapshot made from nothing reads no per-user file of this machine.
    assert!(files(CredentialEnv::empty()).is_empty());
}

#[test]
fn keys_normalise() {
    assert_eq!(normalize_key(DOCKER_HUB_AUTH_KEY), "docker.io");
    assert_eq!(normalize_key("https://ghcr.io/v2/"), "ghcr.io");
    assert_eq!(normalize_key("localhost:5000"), "localhost:5000");
}

#[test]
fn reads_docker_config_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode("bob:hunter2");
    let cfg = format!(
        r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{b64}"}},
           "reg.lan:5000":{{"auth":"","identitytoken":"refresh-me"}}}}}}"#
    );
    std::fs::write(dir.path().join("config.json"), cfg).unwrap();
    let env = CredentialEnv::empty().with("DOCKER_CONFIG", dir.path().to_str().unwrap());
    let c = lookup("docker.io", &env).unwrap().unwrap();
    assert_eq!((c.username.as_str(), c.secret.expose()), ("bob", "hunter2"));
    assert_eq!(c.kind, CredentialKind::Password);
    assert!(!format!("{c:?}").contains("hunter2"));
    let t = lookup("reg.lan:5000", &env).unwrap().unwrap();
    assert_eq!(t.kind, CredentialKind::IdentityToken);
    assert!(lookup("ghcr.io", &env).unwrap().is_none());
    // CI variables win; a host filter limits them.
    let ci = env
        .clone()
        .with("SLIM_IMAGE_REGISTRY_USERNAME", "ci")
        .with("SLIM_IMAGE_REGISTRY_PASSWORD", "pw")
        .with("SLIM_IMAGE_REGISTRY_HOST", "ghcr.io");
    assert_eq!(lookup("ghcr.io", &ci).unwrap().unwrap().username, "ci");
    assert_eq!(lookup("docker.io", &ci).unwrap().unwrap().username, "bob");
    assert!(!format!("{ci:?}").contains("pw\""));
}

#[test]
fn missing_helper_means_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"credsStore":"nope-xyz"}"#,
    )
    .unwrap();
    let env = CredentialEnv::empty()
        .with("DOCKER_CONFIG", dir.path().to_str().unwrap())
        .with("PATH", dir.path().to_str().unwrap());
    assert!(lookup("ghcr.io", &env).unwrap().is_none());
}

#[test]
fn variables_that_are_not_utf8_are_left_out_and_path_keeps_its_utf8_dirs() {
    use std::os::unix::ffi::OsStringExt;
    let os = |s: &[u8]| OsString::from_vec(s.to_vec());
    let vars = utf8_vars(
        [
            (os(b"HOME"), os(b"/home/me")),
            (os(b"FOO"), os(b"\xff")),
            (os(b"\xffKEY"), os(b"v")),
            (os(b"PATH"), os(b"/usr/bin:/opt/\xff/bin:/bin")),
        ]
        .into_iter(),
    );
    let keys: Vec<&str> = vars.keys().map(String::as_str).collect();
    assert_eq!(keys, ["HOME", "PATH"]);
    assert_eq!(vars["PATH"], "/usr/bin:/bin");
}
