//! The mount memory (issue 16, "Registries as people use them"): a blob pushed to one repository of
//! a registry is mounted, not uploaded again, when a later run pushes it into another repository of
//! that registry; the report says how many bytes that saved.
//!
//! Against the real `docker-registry`: image A (examples/hello-http) and image B
//! (tests/fixtures/hello) share the base-files layer; with htpasswd Basic auth (and no secret in the
//! memory file), a blob deleted from the remembered repository (a 202, an upload, the entry dropped)
//! and a FIFO in place of the memory file; with token auth, where the token must carry pull on the
//! remembered source, and a user without it uploads instead. Against the in-process fake registry,
//! for what the real one does not do on request: a mount refused with 403, and hostile memory files.
//! Each test keeps its memory in its own `SLIM_IMAGE_CACHE_DIR`.

#[path = "mount_memory/against_fake.rs"]
mod against_fake;
mod common;

use cargo_slim_image::digest::Digest;
use cargo_slim_image::sink::mounts::MountMemory;
use cargo_slim_image::sink::push::{PushOptions, PushReport};
use common::registry::fake::{self, FakeRegistry, Fault};
use common::registry::{b64, basic_header, Built, Mode, RealRegistry, PASSWORD, USER};
use common::slim;
use common::token::{docker_config, password_entry, TokenRegistry, User};
use serde_json::Value;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

/// The two images: different binaries on the same base-files layer.
#[derive(Clone, Copy)]
enum Image {
    /// examples/hello-http.
    A,
    /// tests/fixtures/hello, its `hello` binary.
    B,
}

/// `cargo slim-image` building `image` into `layout` and pushing it to `target`, with the mount
/// memory under `cache` and a JSON report.
fn build_push(image: Image, target: &str, cache: &Path, layout: &Path, rest: &[&str]) -> Command {
    let (manifest, bin) = match image {
        Image::A => (slim::hello_http(), "hello-http"),
        Image::B => (
            slim::repo()
                .join("tests/fixtures/hello/Cargo.toml")
                .display()
                .to_string(),
            "hello",
        ),
    };
    let mut args = vec![
        "--bin",
        bin,
        "--output",
        layout.to_str().unwrap(),
        "--push",
        target,
        "--message-format",
        "json",
    ];
    args.extend_from_slice(rest);
    let mut c = slim::on(&manifest, slim::shared_target().to_str().unwrap(), &args);
    c.env("SLIM_IMAGE_CACHE_DIR", cache);
    c
}

/// Run `c`, require success: (the JSON report, stderr).
fn pushed_ok(mut c: Command) -> (Value, String) {
    let out = slim::run(&mut c);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "the push failed:\n{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

/// The first push report of a JSON report.
fn pushed(report: &Value) -> &Value {
    &report["images"][0]["pushed"][0]
}

/// The digest and size of an image's base-files layer, from its JSON report.
fn base_files(report: &Value) -> (String, u64) {
    let layers = report["images"][0]["manifests"][0]["layers"]
        .as_array()
        .unwrap();
    let l = layers.iter().find(|l| l["role"] == "base-files").unwrap();
    (
        l["digest"].as_str().unwrap().into(),
        l["size"].as_u64().unwrap(),
    )
}

/// The memory file under `cache`, parsed: (registry, digest) -> repositories.
fn memory_entries(cache: &Path) -> Vec<(String, String, Vec<String>)> {
    let text = std::fs::read_to_string(cache.join("mounts/blobs.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let repos = e["repositories"].as_array().unwrap();
            (
                e["registry"].as_str().unwrap().into(),
                e["digest"].as_str().unwrap().into(),
                repos.iter().map(|r| r.as_str().unwrap().into()).collect(),
            )
        })
        .collect()
}

/// The repositories the memory under `cache` names for `digest`.
fn holders(cache: &Path, digest: &str) -> Vec<String> {
    memory_entries(cache)
        .into_iter()
        .find(|(_, d, _)| d == digest)
        .map(|e| e.2)
        .unwrap_or_default()
}

/// Requests to `docker-registry` that carried bytes of blob `hex` into `repo`.
fn uploads_of(reg: &RealRegistry, repo: &str, hex: &str) -> usize {
    reg.requests()
        .iter()
        .filter(|r| {
            matches!(r.method.as_str(), "PUT" | "PATCH")
                && r.uri.starts_with(&format!("/v2/{repo}/blobs/uploads/"))
                && r.uri.contains(hex)
        })
        .count()
}

/// The statuses of mount requests of blob `hex` into `repo`.
fn mounts_of(reg: &RealRegistry, repo: &str, hex: &str) -> Vec<(String, u16)> {
    reg.requests()
        .into_iter()
        .filter(|r| {
            r.method == "POST"
                && r.uri.starts_with(&format!("/v2/{repo}/blobs/uploads/?"))
                && r.uri.contains("mount=")
                && r.uri.contains(hex)
        })
        .map(|r| (r.uri, r.status))
        .collect()
}

#[test]
fn the_base_files_layer_pushed_to_one_repository_is_mounted_into_another() {
    let test = "the_base_files_layer_pushed_to_one_repository_is_mounted_into_another";
    let Some(reg) = RealRegistry::start(Mode::Basic, test) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let push = |image: Image, repo: &str, cache: &Path, rest: &[&str]| {
        let target = format!("{}/mm/{repo}:1", reg.host);
        let mut c = build_push(image, &target, cache, &work.path().join(repo), rest);
        c.env("SLIM_IMAGE_REGISTRY_USERNAME", USER)
            .env("SLIM_IMAGE_REGISTRY_PASSWORD", PASSWORD);
        pushed_ok(c)
    };
    let (a, _) = push(Image::A, "one", &cache, &[]);
    assert_eq!(pushed(&a)["mounted_blobs"], 0, "{a}");
    let (layer, size) = base_files(&a);
    let hex = layer.trim_start_matches("sha256:").to_string();
    assert_eq!(uploads_of(&reg, "mm/one", &hex), 1);

    // B into another repository: its base-files layer is mounted from `one`, and only B's own
    // config and app layer go up.
    let (b, stderr) = push(Image::B, "two", &cache, &[]);
    assert_eq!(base_files(&b), (layer.clone(), size), "A and B share it");
    let p = pushed(&b);
    assert_eq!(
        (
            &p["mounted_blobs"],
            &p["mounted_bytes"],
            &p["uploaded_blobs"]
        ),
        (&Value::from(1), &Value::from(size), &Value::from(2)),
        "{b}"
    );
    let mounted = mounts_of(&reg, "mm/two", &hex);
    assert!(
        matches!(&mounted[..], [(uri, 201)] if uri.contains("from=mm%2Fone")),
        "{mounted:?}"
    );
    assert_eq!(uploads_of(&reg, "mm/two", &hex), 0, "{}", reg.log_text());
    assert!(
        stderr.contains("1 mounted (") && stderr.contains(" not uploaded)"),
        "{stderr}"
    );
    // The memory: this user's only, and no secret in it.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let file = cache.join("mounts/blobs.json");
    assert_eq!((mode(&cache.join("mounts")), mode(&file)), (0o700, 0o600));
    let text = std::fs::read_to_string(&file).unwrap();
    for secret in [
        PASSWORD.to_string(),
        USER.to_string(),
        b64(&format!("{USER}:{PASSWORD}")),
    ] {
        assert!(!text.contains(&secret), "{text}");
    }
    assert!(memory_entries(&cache)
        .iter()
        .all(|(r, _, _)| *r == reg.host));
    assert_eq!(holders(&cache, &layer), ["mm/two", "mm/one"]);

    // Without the memory (another cache), the same push uploads the layer: the memory did it.
    let (fresh, _) = push(Image::B, "three", &work.path().join("other-cache"), &[]);
    assert_eq!(pushed(&fresh)["mounted_blobs"], 0, "{fresh}");
    assert_eq!(uploads_of(&reg, "mm/three", &hex), 1);

    // The layer deleted from `two`, the newest holder: the registry answers the mount with an
    // upload session (202), the layer goes up in it, and `two` is forgotten. A's own blobs are
    // mounted from `one`.
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let resp = agent
        .delete(format!("http://{}/v2/mm/two/blobs/{layer}", reg.host))
        .header("Authorization", basic_header(PASSWORD))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let (four, _) = push(Image::A, "four", &cache, &[]);
    let p = pushed(&four);
    assert_eq!(
        (&p["mounted_blobs"], &p["uploaded_blobs"]),
        (&Value::from(2), &Value::from(1)),
        "{four}"
    );
    let refused = mounts_of(&reg, "mm/four", &hex);
    assert!(
        matches!(&refused[..], [(uri, 202)] if uri.contains("from=mm%2Ftwo")),
        "{refused:?}"
    );
    assert_eq!(uploads_of(&reg, "mm/four", &hex), 1);
    assert_eq!(holders(&cache, &layer), ["mm/four", "mm/one"]);

    // A FIFO where the memory file goes: not opened for a blocking read, not replaced; the push
    // works without it (and says so with -v).
    let file = cache.join("mounts/blobs.json");
    std::fs::remove_file(&file).unwrap();
    let made = Command::new("mkfifo").arg(&file).status().unwrap();
    assert!(made.success());
    let (five, stderr) = push(Image::B, "five", &cache, &["-v"]);
    assert_eq!(pushed(&five)["mounted_blobs"], 0, "{five}");
    assert!(
        stderr.contains("mount memory") && stderr.contains("not used"),
        "{stderr}"
    );
    assert!(std::fs::symlink_metadata(&file)
        .unwrap()
        .file_type()
        .is_fifo());
}

#[test]
fn a_remembered_mount_asks_the_token_for_pull_on_its_source_and_uploads_without_it() {
    const CAROL_PW: &str = "Carol-pw-41b7-never-print";
    const DAVE_PW: &str = "Dave-pw-90ce-never-print";
    const PULL_PUSH: &[&str] = &["pull", "push"];
    let users = [
        User::new("carol", CAROL_PW, &[("one", PULL_PUSH), ("two", PULL_PUSH)]),
        User::new("dave", DAVE_PW, &[("three", PULL_PUSH)]),
    ];
    let Some(reg) = TokenRegistry::start(&users, "a_remembered_mount_asks_the_token") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let push = |image: Image, user: &str, password: &str, repo: &str| {
        let config = docker_config(
            work.path(),
            user,
            reg.host(),
            password_entry(user, password),
        );
        let target = format!("{}/{repo}:1", reg.host());
        let mut c = build_push(image, &target, &cache, &work.path().join(repo), &[]);
        c.env("DOCKER_CONFIG", config)
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("SLIM_IMAGE_REGISTRY_USERNAME")
            .env_remove("SLIM_IMAGE_REGISTRY_PASSWORD");
        pushed_ok(c)
    };
    let (a, _) = push(Image::A, "carol", CAROL_PW, "one");
    let (layer, size) = base_files(&a);
    let hex = layer.trim_start_matches("sha256:").to_string();
    // carol may pull `one` and push `two`: the token for `two` carries both, and the layer is mounted.
    let (b, _) = push(Image::B, "carol", CAROL_PW, "two");
    let p = pushed(&b);
    assert_eq!(
        (&p["mounted_blobs"], &p["mounted_bytes"]),
        (&Value::from(1), &Value::from(size)),
        "{b}"
    );
    let carol = reg.tokens.requests_of("carol");
    let granted =
        |r: &Value, name: &str, actions: &[&str]| common::token::granted(r, name, actions);
    assert!(
        carol
            .iter()
            .any(|r| granted(r, "two", PULL_PUSH) && granted(r, "one", &["pull"])),
        "{carol:#?}"
    );
    assert!(
        matches!(&mounts_of(&reg.registry, "two", &hex)[..], [(_, 201)]),
        "{}",
        reg.registry.log_text()
    );
    // dave may push `three` but not pull `two`, which the memory names: his token is asked for it
    // and does not get it, the registry refuses the mount, and the layer is uploaded, quietly.
    let (c, stderr) = push(Image::B, "dave", DAVE_PW, "three");
    assert_eq!(pushed(&c)["mounted_blobs"], 0, "{c}");
    let dave = reg.tokens.requests_of("dave");
    assert!(
        dave.iter()
            .any(|r| r["scopes"].to_string().contains("repository:two:pull")
                && !granted(r, "two", &["pull"])),
        "{dave:#?}"
    );
    let refused = mounts_of(&reg.registry, "three", &hex);
    assert!(
        !refused.is_empty() && refused.iter().all(|(_, s)| *s == 401),
        "{refused:?}"
    );
    assert_eq!(uploads_of(&reg.registry, "three", &hex), 1);
    assert!(
        !stderr.to_lowercase().contains("warning") && !stderr.contains("error"),
        "the fallback should be quiet:\n{stderr}"
    );
    assert!(!stderr.contains(DAVE_PW) && !stderr.contains(CAROL_PW));
    let memory = std::fs::read_to_string(cache.join("mounts/blobs.json")).unwrap();
    assert!(!memory.contains(CAROL_PW) && !memory.contains(DAVE_PW) && !memory.contains("carol"));
}
