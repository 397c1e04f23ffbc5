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

mod common;

use cargo_slim_image::blob::{media, Artifact};
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

/// An image of a config and one layer of `size` bytes, as a blob store of its own.
fn image(size: usize) -> Built {
    Built::make(|store| {
        let bytes: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
        let layer = store.put_bytes(media::LAYER_GZIP, &bytes).unwrap();
        let config = serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs":
            {"type": "layers", "diff_ids": [layer.digest.to_string()]}});
        let (config, _) = store.put_json(media::CONFIG, &config).unwrap();
        let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": media::MANIFEST,
            "config": config, "layers": [layer]});
        let (root, _) = store.put_json(media::MANIFEST, &manifest).unwrap();
        Artifact {
            root,
            manifests: vec![],
            blobs: vec![config, layer],
        }
    })
}

/// Push options for the fake: one job, no credentials, quick retries, the memory `memory`.
fn opts(memory: &MountMemory) -> PushOptions {
    PushOptions {
        mount_memory: Some(memory.clone()),
        ..common::registry::quick_push_options()
    }
}

/// Push `img` to `repo:v1` of the fake.
fn push_to(reg: &FakeRegistry, img: &Built, repo: &str, memory: &MountMemory) -> PushReport {
    let target = format!("{}/{repo}:v1", reg.host).parse().unwrap();
    img.push(&[target], &opts(memory)).unwrap().remove(0)
}

fn layer_of(img: &Built) -> Digest {
    img.artifact.blobs[1].digest.clone()
}

#[test]
fn a_mount_answered_202_uploads_in_that_session_and_the_source_is_forgotten() {
    let reg = FakeRegistry::start(fake::Config::default());
    let cache = tempfile::tempdir().unwrap();
    let memory = MountMemory::in_cache(cache.path());
    let img = image(300);
    // The memory names a repository that never held the layer (the fake has no such blob).
    memory.remember(&reg.host, "slim/gone", &[layer_of(&img)], &[]);
    let r = push_to(&reg, &img, "slim/target", &memory);
    assert_eq!(
        (r.uploaded_blobs, r.mounted_blobs, r.mounted_bytes),
        (2, 0, 0)
    );
    let seen = reg.seen();
    let posts: Vec<_> = seen.iter().filter(|s| s.method == "POST").collect();
    // One session per blob: the one the refused mount opened carried the layer.
    assert_eq!(posts.len(), 2, "{posts:?}");
    let mount: Vec<_> = posts.iter().filter(|s| s.path.contains("mount=")).collect();
    assert!(
        matches!(&mount[..], [s] if s.status == 202 && s.path.contains("from=slim%2Fgone")),
        "{mount:?}"
    );
    let m = memory.load();
    assert_eq!(m.holders(&reg.host, &layer_of(&img)), ["slim/target"]);
}

#[test]
fn a_mount_refused_for_access_uploads_and_keeps_the_source() {
    let reg = FakeRegistry::with_faults(vec![Fault::new("POST", "mount=", 403, 1)]);
    let cache = tempfile::tempdir().unwrap();
    let memory = MountMemory::in_cache(cache.path());
    let img = image(300);
    memory.remember(&reg.host, "slim/private", &[layer_of(&img)], &[]);
    let r = push_to(&reg, &img, "slim/target", &memory);
    assert_eq!((r.uploaded_blobs, r.mounted_blobs), (2, 0));
    let statuses: Vec<u16> = reg
        .seen()
        .iter()
        .filter(|s| s.method == "POST")
        .map(|s| s.status)
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 1);
    assert!(reg.manifest("slim/target", "v1").is_some());
    // A 403 says nothing about whether `slim/private` holds the layer: it stays remembered.
    let m = memory.load();
    assert_eq!(
        m.holders(&reg.host, &layer_of(&img)),
        ["slim/target", "slim/private"]
    );
}

#[test]
fn hostile_memory_files_are_ignored_and_the_push_uploads() {
    let img = image(300);
    let cache = tempfile::tempdir().unwrap();
    let memory = MountMemory::in_cache(cache.path());
    let file = memory.path();
    let dir = file.parent().unwrap().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let layer = layer_of(&img);
    let naming = |registry: &str, repo: &str| {
        format!(
            r#"{{"version":1,"entries":[{{"registry":"{registry}","digest":"{layer}","repositories":["{repo}"],"used":1}}]}}"#
        )
    };
    let nested = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bigger than its bound", vec![b'{'; 3 << 20]),
        ("nested past serde's depth limit", nested.into_bytes()),
        ("not a registry and repository", Vec::new()),
    ];
    for (what, bytes) in cases {
        let reg = FakeRegistry::start(fake::Config::default());
        let bytes = if bytes.is_empty() {
            naming(&reg.host, "../../etc").into_bytes()
        } else {
            bytes
        };
        std::fs::write(&file, &bytes).unwrap();
        let r = push_to(&reg, &img, "slim/target", &memory);
        assert_eq!((r.uploaded_blobs, r.mounted_blobs), (2, 0), "{what}");
        assert!(
            !reg.seen().iter().any(|s| s.path.contains("mount=")),
            "{what}: a mount was tried"
        );
        // Replaced by a memory of this push, within the bound.
        let len = std::fs::metadata(&file).unwrap().len();
        assert!(len < 4096, "{what}: {len}");
        assert_eq!(
            memory.load().holders(&reg.host, &layer),
            ["slim/target"],
            "{what}"
        );
    }
    // A symlink to a file that names a real source: not followed, not replaced.
    let reg = FakeRegistry::start(fake::Config::default());
    let elsewhere = cache.path().join("elsewhere.json");
    std::fs::write(&elsewhere, naming(&reg.host, "slim/source")).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
    let r = push_to(&reg, &img, "slim/target", &memory);
    assert_eq!((r.uploaded_blobs, r.mounted_blobs), (2, 0));
    assert!(!reg.seen().iter().any(|s| s.path.contains("mount=")));
    assert!(std::fs::symlink_metadata(&file)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(&elsewhere).unwrap(),
        naming(&reg.host, "slim/source")
    );
}

/// A registry that answers the mount 201 but does not hold the blob (a lie, or a blob its garbage
/// collector took meanwhile), with a `Location` elsewhere and, the second time, a
/// `Docker-Content-Digest` of another blob: the push checks the blob is there (HEAD) before it counts
/// it as mounted, uploads it instead, forgets the source, and never follows the `Location`.
#[test]
fn a_mount_answered_201_for_a_blob_the_registry_lacks_is_uploaded_and_forgotten() {
    let img = image(300);
    let layer = layer_of(&img);
    let other = Digest::of(b"another blob");
    for claimed in [layer.to_string(), other.to_string()] {
        let lie = Fault::new("POST", "mount=", 201, 1)
            .header("Location", "/v2/slim/elsewhere/blobs/sha256:0")
            .header("Docker-Content-Digest", claimed.clone());
        let reg = FakeRegistry::with_faults(vec![lie]);
        let cache = tempfile::tempdir().unwrap();
        let memory = MountMemory::in_cache(cache.path());
        memory.remember(&reg.host, "slim/liar", std::slice::from_ref(&layer), &[]);
        let r = push_to(&reg, &img, "slim/target", &memory);
        assert_eq!(
            (r.uploaded_blobs, r.mounted_blobs, r.mounted_bytes),
            (2, 0, 0),
            "{claimed}"
        );
        let seen = reg.seen();
        let stored = seen
            .iter()
            .any(|s| s.method == "PUT" && s.path.contains(layer.hex()) && s.status == 201);
        assert!(stored, "the layer was never uploaded ({claimed}): {seen:?}");
        assert!(
            !seen.iter().any(|s| s.path.contains("elsewhere")),
            "{seen:?}"
        );
        assert!(reg.manifest("slim/target", "v1").is_some());
        assert_eq!(
            memory.load().holders(&reg.host, &layer),
            ["slim/target"],
            "{claimed}"
        );
    }
}

/// Only a push that went through is remembered: a failed one (the registry refuses the manifest)
/// and a `--dry-run` write no memory.
#[test]
fn a_failed_push_and_a_dry_run_remember_nothing() {
    let reg = FakeRegistry::with_faults(vec![Fault::new("PUT", "/manifests/", 400, usize::MAX)]);
    let cache = tempfile::tempdir().unwrap();
    let memory = MountMemory::in_cache(cache.path());
    let img = image(300);
    let target = format!("{}/slim/target:v1", reg.host).parse().unwrap();
    assert!(img.push(&[target], &opts(&memory)).is_err());
    assert!(!memory.path().exists(), "a failed push was remembered");

    let work = tempfile::tempdir().unwrap();
    let user_cache = work.path().join("cache");
    let layout = work.path().join("l");
    let mut c = build_push(
        Image::A,
        "127.0.0.1:1/slim/app:1",
        &user_cache,
        &layout,
        &[],
    );
    c.arg("--dry-run");
    let out = slim::run(&mut c);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!user_cache.join("mounts").exists());
}
