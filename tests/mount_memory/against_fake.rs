//! The mount memory against the in-process fake registry, for what the real one does not do on
//! request: mounts answered 202 or 201 for a blob it lacks, refused mounts, hostile memory files,
//! and failed pushes and dry runs that remember nothing.

use super::*;

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
    let img = Built::one_layer(300);
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
    let img = Built::one_layer(300);
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
    let img = Built::one_layer(300);
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
    let img = Built::one_layer(300);
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
    let img = Built::one_layer(300);
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
