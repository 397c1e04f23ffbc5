//! Issue 11, hostile base images and archives, through the real binary with `--base oci:DIR`,
//! `--base oci-archive:FILE` and `--base docker-archive:FILE` (packaging `/bin/busybox` with
//! `--binary`, so nothing compiles): a malformed PAX record, a 256 MiB PAX record, a 256 MiB GNU long
//! name and a 512 MiB config are each exit 1 with an error naming the base and the blob, never a panic,
//! in bounded memory (the run is under `prlimit --as`), and a registry base's config claiming 512 MiB
//! is refused before anything is downloaded (fake registry); a docker-archive whose manifest.json names host
//! files (absolute, `..`, through a symbolic link, `/proc/self/environ`, `/dev/zero`) is refused naming
//! the archive and the path, and nothing of the host lands in the blob cache; a layer without the
//! end-of-archive trailer (umoci 0.4.7 `insert`) is accepted as podman accepts it (umoci unpacks the
//! image built on it), and one cut inside a header or inside an entry's data is refused.

mod common;
#[path = "hostile_base/trailer.rs"]
mod trailer;

use cargo_slim_image::digest::Digest;
use common::peers::{self, require, run_ok};
use common::registry::fake::{Config, FakeRegistry};
use common::slim;
use common::tar::ustar_header;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BUSYBOX: &str = "/bin/busybox";
/// Address space the tool may use in the huge-record cases. A run on a small base stays well under
/// it; reading a 256 MiB record whole (as the old reader did) does not.
const ADDRESS_SPACE: u64 = 1536 << 20;

/// A tar stream (no compression) of `(name, type flag, data)` entries, with the trailer.
fn tar_of(entries: &[(&str, u8, &[u8])]) -> Vec<u8> {
    let mut t = Vec::new();
    for (name, flag, data) in entries {
        t.extend_from_slice(&ustar_header(name, *flag, data.len() as u64, ""));
        t.extend_from_slice(data);
        t.resize(t.len().div_ceil(512) * 512, 0);
    }
    t.extend_from_slice(&[0u8; 1024]);
    t
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// One blob of a layer: its compressed bytes (or a file holding them) and its diff_id.
struct Layer {
    file: PathBuf,
    digest: String,
    size: u64,
    diff_id: String,
}

/// `sha256:<hex>` of a (large) file, by coreutils' sha256sum.
fn sha256_file(p: &Path) -> String {
    let out = run_ok(Command::new("sha256sum").arg(p)).unwrap();
    let hex = String::from_utf8_lossy(&out.stdout);
    format!("sha256:{}", hex.split_whitespace().next().unwrap())
}

fn layer_from_tar(dir: &Path, tar: &[u8]) -> Layer {
    let gz = gzip(tar);
    let file = dir.join(format!("layer-{}.tar.gz", Digest::of(&gz).hex()));
    std::fs::write(&file, &gz).unwrap();
    Layer {
        file,
        digest: Digest::of(&gz).to_string(),
        size: gz.len() as u64,
        diff_id: Digest::of(tar).to_string(),
    }
}

/// A gzip layer whose first entry is an extended header (`flag`: `x` PAX, `L` GNU long name) of
/// `size` bytes, made by python3 (C gzip and sha256: fast for hundreds of MiB).
fn huge_record_layer(dir: &Path, flag: &str, size: u64) -> Layer {
    let file = dir.join(format!("huge-{flag}.tar.gz"));
    let py = r#"
import gzip, hashlib, sys, tarfile
flag, size, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def header(name, typ, n):
    h = bytearray(512)
    h[:len(name)] = name.encode()
    h[100:108] = b"0000644\0"; h[108:116] = b"0000000\0"; h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % n; h[136:148] = b"00000000000\0"
    h[156:157] = typ.encode(); h[257:263] = b"ustar\0"; h[263:265] = b"00"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)
sha = hashlib.sha256()
with gzip.open(path, "wb", compresslevel=1) as out:
    def put(b):
        sha.update(b); out.write(b)
    put(header("././@LongLink" if flag == "L" else "PaxHeader/x", flag, size))
    if flag == "x":
        key = b" path="
        prefix = str(size).encode() + key
        put(prefix)
        left = size - len(prefix) - 1
    else:
        left = size - 1
    chunk = b"a" * (1 << 20)
    while left > 0:
        n = min(left, len(chunk)); put(chunk[:n]); left -= n
    put(b"\n" if flag == "x" else b"\0")
    put(b"\0" * ((512 - size % 512) % 512))
    put(header("etc/hostname", "0", 0))
    put(b"\0" * 1024)
print("sha256:" + sha.hexdigest())
"#;
    let out = run_ok(
        Command::new("python3")
            .args(["-c", py, flag, &size.to_string()])
            .arg(&file),
    )
    .unwrap();
    Layer {
        digest: sha256_file(&file),
        size: std::fs::metadata(&file).unwrap().len(),
        diff_id: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        file,
    }
}

fn amd64_config(diff_ids: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux",
        "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}))
    .unwrap()
}

/// An OCI layout at `dir` (tag `1`): `config` is the path of the config blob, `layers` its layers.
fn layout(dir: &Path, config: &Path, layers: &[&Layer]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |from: &Path, digest: &str| {
        let to = blobs.join(digest.trim_start_matches("sha256:"));
        // A hard link keeps a sparse config sparse.
        std::fs::hard_link(from, &to)
            .or_else(|_| std::fs::copy(from, &to).map(|_| ()))
            .unwrap();
    };
    let config_digest = sha256_file(config);
    put(config, &config_digest);
    for l in layers {
        put(&l.file, &l.digest);
    }
    let manifest = serde_json::to_vec(&json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest, "size": std::fs::metadata(config).unwrap().len()},
        "layers": layers.iter().map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": l.digest, "size": l.size})).collect::<Vec<_>>()}))
    .unwrap();
    let md = Digest::of(&manifest);
    std::fs::write(blobs.join(md.hex()), &manifest).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md.to_string(),
            "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "1"}}]}))
        .unwrap(),
    )
    .unwrap();
}

/// A one-layer base in a layout under `dir`; returns the layout directory.
fn layout_with(dir: &Path, layer: &Layer) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("config.json");
    std::fs::write(&config, amd64_config(&[&layer.diff_id])).unwrap();
    let l = dir.join("layout");
    layout(&l, &config, &[layer]);
    l
}

/// `tar -cf archive -C dir .` (GNU tar: a tool we did not write).
fn tar_dir(dir: &Path, archive: &Path) {
    run_ok(
        Command::new("tar")
            .arg("-cf")
            .arg(archive)
            .arg("-C")
            .arg(dir)
            .arg("."),
    )
    .unwrap();
}

/// A docker-archive at `archive` whose manifest.json names `config` and `layers` (paths inside the
/// archive) and which holds `files` (name in the archive, path on disk).
fn docker_archive(archive: &Path, config: &str, layers: &[&str], files: &[(&str, &Path)]) {
    let dir = archive.with_extension("d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec(&json!([{"Config": config, "RepoTags": ["base:1"], "Layers": layers}]))
            .unwrap(),
    )
    .unwrap();
    for (name, from) in files {
        std::fs::copy(from, dir.join(name)).unwrap();
    }
    tar_dir(&dir, archive);
}

/// The tool on `--base BASE`, packaging busybox, its cache under `target`.
fn on_base(base: &str, target: &Path, out: &Path) -> Command {
    slim::cmd(&[
        "--binary",
        BUSYBOX,
        "--platform",
        "linux/amd64",
        "--target-dir",
        target.to_str().unwrap(),
        "--base",
        base,
        "--output",
        out.to_str().unwrap(),
    ])
}

/// The same command under `prlimit --as=ADDRESS_SPACE`.
fn bounded(c: Command) -> Command {
    let mut p = Command::new("prlimit");
    p.arg(format!("--as={ADDRESS_SPACE}"))
        .arg("--")
        .arg(c.get_program())
        .args(c.get_args())
        .stdin(Stdio::null());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => p.env(k, v),
            None => p.env_remove(k),
        };
    }
    p
}

/// Run; require exit 1, no panic, and an error naming every one of `names`.
fn refused(mut c: Command, names: &[&str]) -> String {
    check_refused(&c.output().unwrap(), names)
}

/// [`refused`] for a command already run.
fn check_refused(out: &Output, names: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "a panic:\n{err}");
    assert_eq!(out.status.code(), Some(1), "exit status; stderr:\n{err}");
    assert!(out.stdout.is_empty(), "stdout on failure");
    for n in names {
        assert!(err.contains(n), "the error does not name {n}:\n{err}");
    }
    err
}

fn kinds(work: &Path, layer: &Layer) -> Vec<(String, String)> {
    // oci:DIR
    let l = layout_with(&work.join("oci"), layer);
    let oci = format!("oci:{}:1", l.display());
    // oci-archive:FILE
    let oa = work.join("base-oci.tar");
    tar_dir(&l, &oa);
    // docker-archive:FILE
    let config = work.join("oci/config.json");
    let da = work.join("base-docker.tar");
    docker_archive(
        &da,
        "config.json",
        &["layer.tar.gz"],
        &[("config.json", &config), ("layer.tar.gz", &layer.file)],
    );
    vec![
        (oci.clone(), oci),
        (
            format!("oci-archive:{}", oa.display()),
            oa.display().to_string(),
        ),
        (
            format!("docker-archive:{}", da.display()),
            da.display().to_string(),
        ),
    ]
}

#[test]
fn a_malformed_pax_record_in_a_base_layer_is_an_error_not_a_panic() {
    require!("tar");
    for rec in [&b"1 x"[..], b"99999 path=a\n", b"5 a=b\n"] {
        let work = tempfile::tempdir().unwrap();
        let tar = tar_of(&[("PaxHeader/x", b'x', rec), ("etc/hostname", b'0', b"h\n")]);
        let layer = layer_from_tar(work.path(), &tar);
        for (base, name) in kinds(work.path(), &layer) {
            let err = refused(
                on_base(&base, &work.path().join("t"), &work.path().join("out")),
                &[&name, &layer.digest, "PAX"],
            );
            assert!(!work.path().join("out").exists(), "{err}");
            no_temp_left(&work.path().join("t"));
        }
    }
}

#[test]
fn huge_records_and_configs_are_refused_in_bounded_memory() {
    require!("tar", "python3", "prlimit", "sha256sum");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // A 256 MiB PAX record, in an oci-archive; a 256 MiB GNU long name, in a docker-archive.
    for (flag, kind) in [("x", 1), ("L", 2)] {
        let d = w.join(format!("rec-{flag}"));
        std::fs::create_dir_all(&d).unwrap();
        let layer = huge_record_layer(&d, flag, 256 << 20);
        let (base, name) = kinds(&d, &layer).swap_remove(kind);
        refused(
            bounded(on_base(&base, &d.join("t"), &d.join("out"))),
            &[&name, &layer.digest, "limit"],
        );
    }
    // A 512 MiB config (sparse on disk), in a layout, with its right digest.
    let d = w.join("config");
    std::fs::create_dir_all(&d).unwrap();
    let layer = layer_from_tar(&d, &tar_of(&[("etc/hostname", b'0', b"h\n")]));
    let config = d.join("config.json");
    std::fs::File::create(&config)
        .unwrap()
        .set_len(512 << 20)
        .unwrap();
    let l = d.join("layout");
    layout(&l, &config, &[&layer]);
    let base = format!("oci:{}:1", l.display());
    let digest = sha256_file(&config);
    refused(
        bounded(on_base(&base, &d.join("t"), &d.join("out"))),
        &[&base, &digest, "limit"],
    );
    let cached = walk(&d.join("t"));
    assert!(
        cached
            .iter()
            .all(|p| std::fs::metadata(p).unwrap().len() < 1 << 20),
        "the config was copied into the cache: {cached:?}"
    );
}

/// The blob cache under the target dir `target` holds no temp files or unpacked archives.
fn no_temp_left(target: &Path) {
    let tmp = target.join("slim-image/.cache/blobs/tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap_or_else(|e| panic!("{}: {e}", tmp.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        left.is_empty(),
        "left behind in {}: {left:?}",
        tmp.display()
    );
}

/// Every file below `root`.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                todo.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

/// Replace the trailer of the tar `archive` with a `flag` member `name`, then a new trailer.
fn append_member(archive: &Path, name: &str, flag: u8) {
    let mut t = std::fs::read(archive).unwrap();
    // GNU tar pads archives to 10 KiB records: drop every zero block at the end.
    while t.len() >= 512 && t[t.len() - 512..].iter().all(|&b| b == 0) {
        t.truncate(t.len() - 512);
    }
    t.extend_from_slice(&ustar_header(name, flag, 0, ""));
    t.extend_from_slice(&[0u8; 1024]);
    std::fs::write(archive, t).unwrap();
}

#[test]
fn a_docker_archive_cannot_name_host_files() {
    require!("tar");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let marker = format!("slim-secret-{}", std::process::id());
    let env_marker = format!("slim-env-secret-{}", std::process::id());
    let secret = w.join("credentials");
    std::fs::write(&secret, format!("{marker}\n")).unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let layer = layer_from_tar(w, &tar_of(&[("etc/hostname", b'0', b"h\n")]));
    let config = w.join("config.json");
    std::fs::write(&config, amd64_config(&[&layer.diff_id])).unwrap();
    let abs = secret.display().to_string();
    let dotdot = format!("../../../../../../../..{abs}");
    let cases: Vec<(String, &str)> = vec![
        (abs.clone(), "is an absolute path"),
        (dotdot.clone(), "`..`"),
        ("/proc/self/environ".into(), "is an absolute path"),
        ("/dev/zero".into(), "is an absolute path"),
        ("/etc/hostname".into(), "is an absolute path"),
        ("link-abs".into(), "absolute path"),
        ("link-up".into(), "leaves the archive"),
        ("dev-node".into(), "not a regular file"),
    ];
    for (i, (bad, why)) in cases.iter().enumerate() {
        for as_config in [true, false] {
            let archive = w.join(format!("a{i}-{as_config}.tar"));
            let dir = archive.with_extension("d");
            std::fs::create_dir_all(&dir).unwrap();
            std::os::unix::fs::symlink(&secret, dir.join("link-abs")).unwrap();
            std::os::unix::fs::symlink(format!("../../../../../..{abs}"), dir.join("link-up"))
                .unwrap();
            let (c, l) = if as_config {
                (bad.as_str(), "layer.tar.gz")
            } else {
                ("config.json", bad.as_str())
            };
            docker_archive(
                &archive,
                c,
                &[l],
                &[("config.json", &config), ("layer.tar.gz", &layer.file)],
            );
            // A character device member, appended by hand (GNU tar would need root to make one).
            if bad == "dev-node" {
                append_member(&archive, "dev-node", b'3');
            }
            let target = w.join(format!("t{i}-{as_config}"));
            let mut c = on_base(
                &format!("docker-archive:{}", archive.display()),
                &target,
                &w.join("out"),
            );
            c.env("SLIM_IMAGE_REGISTRY_PASSWORD", &env_marker);
            let out = c.output().unwrap();
            for f in walk(&target) {
                let bytes = std::fs::read(&f).unwrap();
                let text = String::from_utf8_lossy(&bytes);
                assert!(
                    !text.contains(&marker) && !text.contains(&env_marker),
                    "{bad}: a host secret landed in the cache: {}",
                    f.display()
                );
            }
            check_refused(&out, &[&archive.display().to_string(), bad, why]);
            no_temp_left(&target);
        }
    }
}

#[test]
fn prlimit_leaves_room_for_a_normal_run() {
    // The memory bound of the huge-record test must not fail a good run: the same base with a
    // small record passes under it.
    require!("tar", "prlimit");
    let work = tempfile::tempdir().unwrap();
    let rec = "29 path=etc/a-long-name-here\n";
    assert_eq!(rec.len(), 29);
    let tar = tar_of(&[
        ("PaxHeader/x", b'x', rec.as_bytes()),
        ("etc/x", b'0', b"h\n"),
    ]);
    let layer = layer_from_tar(work.path(), &tar);
    let l = layout_with(work.path(), &layer);
    let mut c = bounded(on_base(
        &format!("oci:{}:1", l.display()),
        &work.path().join("t"),
        &work.path().join("out"),
    ));
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_registry_base_whose_config_claims_512_mib_is_refused_before_the_download() {
    let fake = FakeRegistry::start(Config::default());
    let layer = gzip(&tar_of(&[("etc/hostname", b'0', b"h\n")]));
    let layer_digest = Digest::of(&layer).to_string();
    let config =
        amd64_config(&[&Digest::of(&tar_of(&[("etc/hostname", b'0', b"h\n")])).to_string()]);
    let config_digest = Digest::of(&config).to_string();
    fake.put_blob_unchecked(&config_digest, config);
    fake.put_blob_unchecked(&layer_digest, layer.clone());
    let manifest = serde_json::to_vec(&json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest, "size": 512u64 << 20},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest, "size": layer.len()}]}))
    .unwrap();
    fake.put_manifest(
        "base/big",
        "1",
        "application/vnd.oci.image.manifest.v1+json",
        manifest,
    );
    let work = tempfile::tempdir().unwrap();
    let base = format!("{}/base/big:1", fake.host);
    refused(
        on_base(&base, &work.path().join("t"), &work.path().join("out")),
        &[&base, &config_digest, "limit"],
    );
    let blob_gets: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.path.contains("/blobs/"))
        .collect();
    assert!(blob_gets.is_empty(), "blobs were fetched: {blob_gets:?}");
}
