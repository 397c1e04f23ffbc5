//! Push tests (issue 3): against the real `docker-registry` on a loopback port (anonymous, htpasswd
//! Basic auth from a docker config.json and from a credential helper, TLS with a test CA, TLS + auth),
//! checked with `skopeo inspect --raw`; and against the in-process fake registry for the Bearer token
//! flow, retries and failures. Tests that need a tool print `SKIP: ...` and pass when it is missing.

#[path = "push/against_fake.rs"]
mod against_fake;
mod common;

use cargo_slim_image::blob::{media, Artifact, BlobStore, Descriptor, PlatformSpec};
use cargo_slim_image::digest::Digest;
use cargo_slim_image::reference::Reference;
use cargo_slim_image::registry::{Client, CredentialEnv, Tuning};
use cargo_slim_image::sink::push::PushOptions;
use common::registry::fake::{self, FakeRegistry, Fault};
use common::registry::{
    b64, ci_credentials, docker_auth_json, have, skopeo_digest, Built, Mode, RealRegistry,
    PASSWORD, USER,
};
use std::io::Write;
use std::time::{Duration, Instant};

/// A tar with one regular file, written by the tool's own deterministic tar writer.
fn tar_one_file(name: &str, mode: u64, data: &[u8]) -> Vec<u8> {
    use cargo_slim_image::tar::{Header, TarWriter};
    let mut tar = TarWriter::new(Vec::new());
    let header = Header {
        mode: mode as u32,
        ..Header::file(name, data.len() as u64)
    };
    tar.append(&header, &mut &data[..]).unwrap();
    tar.finish().unwrap()
}

/// Bytes gzip cannot shrink, so layers can be made bigger than a chunk.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// One image manifest (config + one gzip layer) in `store`; returns the manifest's descriptor and blobs.
fn image(
    store: &BlobStore,
    label: &str,
    arch: &str,
    payload: usize,
) -> (Descriptor, Vec<Descriptor>) {
    let mut data = format!("hello from {label} on {arch}\n").into_bytes();
    data.extend(noise(payload, label.len() as u64 + arch.len() as u64));
    image_of_file(store, arch, ("hello.txt", 0o644, &data), &["/hello"])
}

/// An image whose one layer holds one file `(name, mode, bytes)`, with `cmd` as its command.
fn image_of_file(
    store: &BlobStore,
    arch: &str,
    (name, mode, data): (&str, u64, &[u8]),
    cmd: &[&str],
) -> (Descriptor, Vec<Descriptor>) {
    let tar = tar_one_file(name, mode, data);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let layer = store
        .put_bytes(media::LAYER_GZIP, &gz.finish().unwrap())
        .unwrap();
    let config = serde_json::json!({
        "architecture": arch, "os": "linux", "config": {"Cmd": cmd},
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(&tar).to_string()]},
    });
    let (config, _) = store.put_json(media::CONFIG, &config).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": media::MANIFEST, "config": config, "layers": [layer],
    });
    let (m, _) = store.put_json(media::MANIFEST, &manifest).unwrap();
    (m, vec![config, layer])
}

/// The artifact of one image manifest and its blobs.
fn one_image((root, blobs): (Descriptor, Vec<Descriptor>)) -> Artifact {
    Artifact {
        root,
        manifests: vec![],
        blobs,
    }
}

fn single(label: &str) -> Built {
    Built::make(|store| one_image(image(store, label, "amd64", 100)))
}

/// An image that runs: the static busybox as `/busybox`, echoing `message`. None without busybox.
fn runnable(message: &str) -> Option<Built> {
    let busybox = std::fs::read("/bin/busybox").ok()?;
    let cmd = ["/busybox", "echo", message];
    Some(Built::make(|store| {
        one_image(image_of_file(
            store,
            "amd64",
            ("busybox", 0o755, &busybox),
            &cmd,
        ))
    }))
}

/// `podman pull` `reference` into a fresh store and run it; asserts it prints `message`.
fn assert_podman_runs(reference: &str, pull_args: &[&str], message: &str) {
    let podman = common::peers::Podman::new().unwrap();
    podman.pull_with(reference, pull_args).unwrap();
    let out = podman.run(reference, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == message,
        "podman run {reference}: {}",
        common::peers::describe(&podman.cmd(), &out)
    );
}

fn index(label: &str, payload: usize) -> Built {
    Built::make(|store| {
        let mut manifests = Vec::new();
        let mut blobs = Vec::new();
        for arch in ["amd64", "arm64"] {
            let (mut m, b) = image(store, label, arch, payload);
            m.platform = Some(PlatformSpec::new("linux", arch, None));
            manifests.push(m);
            blobs.extend(b);
        }
        let idx = serde_json::json!({
            "schemaVersion": 2, "mediaType": media::INDEX, "manifests": manifests,
        });
        let (root, _) = store.put_json(media::INDEX, &idx).unwrap();
        Artifact {
            root,
            manifests,
            blobs,
        }
    })
}

fn fast() -> Tuning {
    Tuning {
        retries: 3,
        backoff: Duration::from_millis(20),
        max_backoff: Duration::from_secs(1),
        ..Tuning::default()
    }
}

fn opts(env: CredentialEnv) -> PushOptions {
    PushOptions {
        jobs: 3,
        certs_dirs: vec![],
        credentials: env,
        tuning: fast(),
        ..PushOptions::default()
    }
}

/// [`opts`] without credentials.
fn anon() -> PushOptions {
    opts(CredentialEnv::empty())
}

fn r(s: &str) -> Reference {
    s.parse().unwrap()
}

fn assert_skopeo(reference: &str, extra: &[&str], want: &Digest) {
    if let Some(d) = skopeo_digest("skopeo inspect", reference, extra) {
        assert_eq!(&d, want, "skopeo sees another manifest at {reference}");
    }
}

/// [`assert_skopeo`] over plain http with Basic auth as [`USER`]/[`PASSWORD`].
fn assert_skopeo_basic(reference: &Reference, want: &Digest) {
    let creds = format!("{USER}:{PASSWORD}");
    assert_skopeo(
        &reference.to_string(),
        &["--tls-verify=false", "--creds", &creds],
        want,
    );
}

fn write_docker_config(dir: &std::path::Path, json: &str) -> CredentialEnv {
    std::fs::write(dir.join("config.json"), json).unwrap();
    CredentialEnv::empty()
        .with("DOCKER_CONFIG", dir.to_str().unwrap())
        .with("HOME", dir.to_str().unwrap())
}

#[test]
fn anonymous_push_then_second_push_uploads_nothing_and_other_repo_mounts() {
    let Some(reg) = RealRegistry::start(Mode::Plain, "anonymous push") else {
        return;
    };
    let img = single("anon");
    let v1 = r(&format!("{}/slim/anon:v1", reg.host));
    let reports = img
        .push(&[v1.clone(), v1.with_tag("latest")], &anon())
        .unwrap();
    let root = &img.artifact.root.digest;
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].reference, format!("{}/slim/anon:v1", reg.host));
    assert_eq!(
        reports[1].reference,
        format!("{}/slim/anon:latest", reg.host)
    );
    assert_eq!(
        (reports[0].uploaded_blobs, reports[0].skipped_blobs),
        (2, 0)
    );
    assert_eq!(
        reports[0].uploaded_bytes,
        img.artifact.blobs.iter().map(|b| b.size).sum::<u64>()
    );
    assert!(reports.iter().all(|p| &p.digest == root));
    for tag in ["v1", "latest"] {
        assert_skopeo(
            &format!("{}/slim/anon:{tag}", reg.host),
            &["--tls-verify=false"],
            root,
        );
    }
    let uploads = reg.blob_uploads();
    assert_eq!(uploads, 2, "{:?}", reg.requests());

    let before = reg.requests().len();
    let puts = reg.manifest_puts();
    let again = img.push(std::slice::from_ref(&v1), &anon()).unwrap();
    assert_eq!(
        (
            again[0].uploaded_blobs,
            again[0].skipped_blobs,
            again[0].uploaded_bytes
        ),
        (0, 2, 0)
    );
    assert_eq!(
        reg.blob_uploads(),
        uploads,
        "a second push must upload no blob"
    );
    // The same image again: the manifest is found by digest, the tag already names it, so no blob is
    // even asked about and nothing is written.
    let second: Vec<_> = reg.requests().into_iter().skip(before).collect();
    assert!(
        second
            .iter()
            .any(|r| r.method == "HEAD" && r.uri.contains("/manifests/sha256:")),
        "{second:?}"
    );
    assert_eq!(reg.manifest_puts(), puts, "{second:?}");
    assert!(
        second.iter().all(|r| !r.uri.contains("/blobs/")),
        "{second:?}"
    );

    // Two repositories in one call: the second mounts the blobs from the first.
    let copy = r(&format!("{}/slim/copy:v1", reg.host));
    let both = img
        .push(&[v1.with_tag("v2"), copy.clone()], &anon())
        .unwrap();
    assert_eq!(both[1].mounted_blobs, 2, "{both:?}");
    assert_eq!(reg.blob_uploads(), uploads);
    assert_skopeo(&copy.to_string(), &["--tls-verify=false"], root);
    // A new tag for an image already there is still written.
    assert_skopeo(
        &v1.with_tag("v2").to_string(),
        &["--tls-verify=false"],
        root,
    );
}

#[test]
fn index_with_chunked_uploads_then_pull_back() {
    let Some(reg) = RealRegistry::start(Mode::Plain, "index + chunked upload") else {
        return;
    };
    let img = index("chunky", 6000);
    let mut o = anon();
    o.tuning.chunk_threshold = 1024;
    o.tuning.chunk_size = 2000;
    let target = r(&format!("{}/slim/multi:v1", reg.host));
    let rep = img.push(std::slice::from_ref(&target), &o).unwrap();
    let root = &img.artifact.root.digest;
    assert_eq!(&rep[0].digest, root);
    assert_skopeo(&target.to_string(), &["--tls-verify=false"], root);
    let patches = reg
        .requests()
        .iter()
        .filter(|q| q.method == "PATCH")
        .count();
    assert!(
        patches >= 6,
        "the two big layers go up in chunks: {patches} PATCHes"
    );

    // The same index again under a new tag: found by digest with both children, so no blob is even
    // asked about and the only write is the new tag.
    let (before, puts) = (reg.requests().len(), reg.manifest_puts());
    let again = img.push(&[target.with_tag("v2")], &o).unwrap();
    assert_eq!((again[0].uploaded_blobs, again[0].skipped_blobs), (0, 4));
    let second: Vec<_> = reg.requests().into_iter().skip(before).collect();
    let heads = second
        .iter()
        .filter(|q| q.method == "HEAD" && q.uri.contains("/manifests/sha256:"))
        .count();
    assert_eq!(heads, 3, "the index and its two children: {second:?}");
    assert!(
        second.iter().all(|q| !q.uri.contains("/blobs/")),
        "{second:?}"
    );
    assert_eq!(reg.manifest_puts(), puts + 1, "{second:?}");
    assert_skopeo(
        &target.with_tag("v2").to_string(),
        &["--tls-verify=false"],
        root,
    );

    // The pull side against the same registry.
    let client = Client::new(&reg.host, &o.client_options()).unwrap();
    let m = client.get_manifest("slim/multi", "v1").unwrap();
    assert_eq!((&m.digest, m.media_type.as_str()), (root, media::INDEX));
    let by_digest = client
        .get_manifest("slim/multi", &img.artifact.manifests[1].digest.to_string())
        .unwrap();
    assert_eq!(
        by_digest.bytes,
        img.store.read(&img.artifact.manifests[1].digest).unwrap()
    );
    assert_eq!(
        client
            .head_manifest("slim/multi", "v1")
            .unwrap()
            .unwrap()
            .digest,
        *root
    );
    assert!(client
        .head_manifest("slim/multi", "nope")
        .unwrap()
        .is_none());
    let layer = &img.artifact.blobs[1];
    assert_eq!(
        client.head_blob("slim/multi", &layer.digest).unwrap(),
        Some(layer.size)
    );
    assert_eq!(
        client
            .head_blob("slim/multi", &Digest::of(b"absent"))
            .unwrap(),
        None
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobStore::open(dir.path()).unwrap();
    client.fetch_blob("slim/multi", layer, &cache).unwrap();
    assert_eq!(
        cache.read(&layer.digest).unwrap(),
        img.store.read(&layer.digest).unwrap()
    );
    // A descriptor that lies about the size is refused and nothing enters the store.
    let mut wrong = img.artifact.blobs[0].clone();
    wrong.size -= 1;
    let e = client.fetch_blob("slim/multi", &wrong, &cache).unwrap_err();
    assert!(
        format!("{e:#}").contains("does not match the descriptor"),
        "{e:#}"
    );
    assert!(!cache.contains(&wrong.digest));
}

#[test]
fn basic_auth_from_docker_config() {
    let Some(reg) = RealRegistry::start(Mode::Basic, "basic auth (config.json)") else {
        return;
    };
    let cfg = reg.scratch();
    let env = write_docker_config(
        &cfg,
        &docker_auth_json(&format!("http://{}", reg.host), PASSWORD),
    );
    let img = single("basic");
    let target = r(&format!("{}/slim/basic:v1", reg.host));
    img.push(std::slice::from_ref(&target), &opts(env.clone()))
        .unwrap();
    assert_skopeo_basic(&target, &img.artifact.root.digest);
    let uploads = reg.blob_uploads();
    let again = img.push(&[target], &opts(env)).unwrap();
    assert_eq!(again[0].uploaded_blobs, 0);
    assert_eq!(reg.blob_uploads(), uploads);
}

#[test]
fn basic_auth_from_credential_helper() {
    let Some(reg) = RealRegistry::start(Mode::Basic, "basic auth (credential helper)") else {
        return;
    };
    let dir = reg.scratch();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-test");
    std::fs::write(
        &helper,
        format!("#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let env = write_docker_config(
        &dir,
        &format!(r#"{{"credHelpers":{{"{}":"test"}}}}"#, reg.host),
    )
    .with("PATH", format!("{}:/usr/bin:/bin", bin.display()));
    let img = single("helper");
    let target = r(&format!("{}/slim/helper:v1", reg.host));
    img.push(std::slice::from_ref(&target), &opts(env)).unwrap();
    assert_skopeo_basic(&target, &img.artifact.root.digest);
}

#[test]
fn tls_with_test_ca_and_tls_failure_hint() {
    let Some(reg) = RealRegistry::start(Mode::Tls, "TLS push") else {
        return;
    };
    let img = single("tls");
    let target = r(&format!("{}/slim/tls:v1", reg.host));
    // Without the CA: a clear TLS error that points at --registry-ca, and nothing pushed.
    let e = img
        .push(std::slice::from_ref(&target), &anon())
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("--registry-ca") && msg.contains("TLS"),
        "{msg}"
    );
    // With --registry-ca.
    let mut o = anon();
    o.registry_ca = vec![reg.ca_file()];
    img.push(std::slice::from_ref(&target), &o).unwrap();
    let cert_dir = reg.cert_dir();
    assert_skopeo(
        &target.to_string(),
        &["--cert-dir", cert_dir.to_str().unwrap()],
        &img.artifact.root.digest,
    );
    // With a certs.d directory laid out like /etc/containers/certs.d/<host:port>/ca.crt.
    let certs_d = reg.scratch().join("certs.d");
    std::fs::create_dir_all(certs_d.join(&reg.host)).unwrap();
    std::fs::copy(reg.ca_file(), certs_d.join(&reg.host).join("ca.crt")).unwrap();
    let mut o = anon();
    o.certs_dirs = vec![certs_d];
    let again = img.push(&[target], &o).unwrap();
    assert_eq!(again[0].uploaded_blobs, 0);
}

#[test]
fn tls_and_basic_auth_from_ci_variables() {
    let Some(reg) = RealRegistry::start(Mode::TlsBasic, "TLS + auth") else {
        return;
    };
    let env = ci_credentials(PASSWORD);
    let mut o = opts(env);
    o.registry_ca = vec![reg.ca_file()];
    let img = single("tlsauth");
    let target = r(&format!("{}/slim/tlsauth:v1", reg.host));
    img.push(std::slice::from_ref(&target), &o).unwrap();
    let (cert_dir, creds) = (reg.cert_dir(), format!("{USER}:{PASSWORD}"));
    assert_skopeo(
        &target.to_string(),
        &["--cert-dir", cert_dir.to_str().unwrap(), "--creds", &creds],
        &img.artifact.root.digest,
    );
}

#[test]
fn wrong_or_missing_password_is_clear_and_secret_free() {
    let Some(reg) = RealRegistry::start(Mode::Basic, "wrong password") else {
        return;
    };
    let wrong = "Wr0ng-pass-5e1f7a";
    let env = ci_credentials(wrong);
    let img = single("wrong");
    let target = r(&format!("{}/slim/wrong:v1", reg.host));
    let e = img
        .push(std::slice::from_ref(&target), &opts(env))
        .unwrap_err();
    for text in [format!("{e:#}"), format!("{e:?}")] {
        assert!(
            text.contains("rejected the credentials") && text.contains(USER),
            "{text}"
        );
        assert!(
            !text.contains(wrong) && !text.contains(&b64(&format!("{USER}:{wrong}"))),
            "secret leaked: {text}"
        );
    }
    let e = img.push(&[target], &anon()).unwrap_err();
    assert!(
        format!("{e:#}").contains("no credentials were found"),
        "{e:#}"
    );
    assert_eq!(reg.manifest_puts(), 0);
}

#[test]
fn unknown_host_fails_fast_and_clearly() {
    let img = single("nohost");
    let start = Instant::now();
    let e = img
        .push(&[r("nonexistent.invalid:5000/slim/x:1")], &anon())
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("cannot resolve registry host `nonexistent.invalid:5000`"),
        "{msg}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "no retries for an unknown host"
    );
}

#[test]
fn pushed_image_pulls_and_runs_with_podman() {
    let Some(reg) = RealRegistry::start(Mode::TlsBasic, "podman pull + run") else {
        return;
    };
    if !have("podman", "podman pull + run") || !have("busybox", "podman pull + run") {
        return;
    }
    let Some(img) = runnable("pushed-and-ran") else {
        panic!("/bin/busybox is not readable");
    };
    let env = ci_credentials(PASSWORD);
    let mut o = opts(env);
    o.registry_ca = vec![reg.ca_file()];
    let target = format!("{}/slim/runs:v1", reg.host);
    img.push(&[r(&target)], &o).unwrap();
    let (cert_dir, creds) = (reg.cert_dir(), format!("--creds={USER}:{PASSWORD}"));
    let cert_dir = format!("--cert-dir={}", cert_dir.display());
    assert_skopeo(&target, &[&cert_dir, &creds], &img.artifact.root.digest);
    assert_podman_runs(&target, &[&cert_dir, &creds], "pushed-and-ran");
}
