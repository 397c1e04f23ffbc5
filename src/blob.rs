//! Content-addressed blob storage and OCI descriptors.
//!
//! Every blob the tool produces (layers, configs, manifests, indexes) is written once into a
//! [`BlobStore`] (`<root>/sha256/<hex>`), hashed while it is written to a temp file and renamed into
//! place. Sinks (layout, archive, push) read from here, and every blob taken out is checked against its
//! digest first ([`verify`]): by hashing it, or by a mark that is written only after the blob's bytes
//! were fsynced. So a crash that leaves a name without its bytes costs a rebuild of that blob, never a
//! wrong output (outputs are fsynced when they are committed).
//!
//! [`Descriptor`] and [`PlatformSpec`] here, and `Manifest`, `Index` and `ConfigFile` in
//! `image`, are our own types, not oci-spec's (0.10.0 with only its `image` feature was
//! measured against them, 2-core machine, rustc 1.95). Cost: 22 crates new to Cargo.lock (syn 2
//! beside the syn 3 the tree builds, for derive_builder/darling, getset and strum_macros; regex,
//! regex-automata and regex-syntax, which it depends on unconditionally though its image module does
//! not use them; const_format, konst, ...): +42.7 s of CPU in a release build (39.6 s user, 3.1 s
//! system; 68.6 s wall at load 4-7) and +25.7 s in a debug build (52.1 s wall), against some 135 s
//! for the whole `cargo install`. What it would not give: (1) its descriptor `Platform` has no serde
//! renames, so it reads and writes `os_version`/`os_features` and silently drops the spec's
//! `os.version`/`os.features` (a Docker manifest list's Windows entry lost both); (2) its `Digest`
//! takes any algorithm (`sha512:...`, `multihash+base58:Qm...`), so our sha256-only [`Digest`], which
//! blob paths are made of, would still have to be checked at every use; (3) its
//! `ImageConfiguration` drops what it does not model (a base's `Healthcheck`, `Shell`, `OnBuild`,
//! `ArgsEscaped`, `container_config`, `moby.buildkit.buildinfo.v1`), which `ConfigFile` keeps.
//! What it got right and ours then lacked (a descriptor's `artifactType`, `urls`, `data`; a
//! platform's `os.version`, `os.features`, `features`; an index's `artifactType`, `subject`) our
//! types now carry. Both accept Docker v2 media types and a buildx `unknown/unknown` entry, both drop
//! unknown top-level fields (nothing needs them), and neither panicked on 34 inputs, 25 of them
//! malformed (digests such as `../../etc/passwd`, sizes -1, 1.5, 2^64 or `"3"`, non-string
//! annotations, Docker schema 1, 100,000 nested arrays, truncated JSON, an 8 MiB string); they
//! rejected the same ones except `"annotations": null` and non-sha256 digests, which it accepts. Our
//! manifests and indexes read by it and written through [`canonical_json`] came back byte-identical;
//! its own writer does not give our bytes (field order), and a `Some` empty annotations map would add
//! `"annotations":{}`.

mod export;
pub mod media;
pub mod plain;
mod store;
mod sweep;
/// Whether a process with this pid exists (used by the output sweep too).
pub(crate) use sweep::alive as pid_alive;
pub mod verify;

pub use store::BlobStore;

use crate::digest::{Digest, HashingWriter};
use crate::platform::Platform;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The `platform` object of an index entry. Every field the image spec defines is kept, so an entry
/// read from an index (`cargo slim-image index` copies them) is written back as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformSpec {
    /// e.g. `amd64`.
    pub architecture: String,
    /// e.g. `linux`.
    pub os: String,
    /// e.g. `v8`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub variant: Option<String>,
    /// e.g. `10.0.17763.1` (Windows images).
    #[serde(
        rename = "os.version",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub os_version: Option<String>,
    /// e.g. `["win32k"]`.
    #[serde(
        rename = "os.features",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub os_features: Option<Vec<String>>,
    /// Reserved by the spec; Docker manifest lists used it for CPU features.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub features: Option<Vec<String>>,
}

impl PlatformSpec {
    /// A platform of `os`, `architecture` and `variant`, with no OS version or features.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> PlatformSpec {
        PlatformSpec {
            architecture: architecture.to_string(),
            os: os.to_string(),
            variant: variant.map(str::to_string),
            os_version: None,
            os_features: None,
            features: None,
        }
    }
}

/// `linux/amd64`, or `linux/arm64/v8` with a variant.
impl std::fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl From<Platform> for PlatformSpec {
    fn from(p: Platform) -> Self {
        PlatformSpec::new(p.os(), p.architecture(), p.variant())
    }
}

/// An OCI content descriptor: what a manifest or index says about a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The blob's media type.
    pub media_type: String,
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// Platform, on index entries.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub platform: Option<PlatformSpec>,
    /// Annotations (sorted: BTreeMap keeps serialisation canonical).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
    /// The artifact type of the manifest this points to (OCI 1.1, index entries).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub artifact_type: Option<String>,
    /// Other places the blob may be fetched from (kept as read, never followed).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub urls: Option<Vec<String>>,
    /// The blob's bytes, base64, embedded (kept as read, never trusted instead of the blob).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub data: Option<String>,
}

impl Descriptor {
    /// A descriptor with no platform and no annotations.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            platform: None,
            annotations: BTreeMap::new(),
            artifact_type: None,
            urls: None,
            data: None,
        }
    }
}

/// Serialise to canonical JSON: object keys sorted (serde_json's `Value` map is a BTreeMap in this
/// build: we never enable `preserve_order`), no insignificant whitespace. Same value, same bytes,
/// on any machine, so digests are reproducible.
pub fn canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    let v = serde_json::to_value(value).expect("our JSON values always serialise");
    serde_json::to_vec(&v).expect("a serde_json::Value always serialises")
}

/// The largest blob [`BlobStore::read`] reads into memory (manifests, configs, SBOM documents).
pub const READ_LIMIT: u64 = 64 << 20;

impl BlobStore {
    /// Open (creating if needed) a store at `root`, and sweep up temp files of interrupted runs.
    pub fn open(root: impl Into<PathBuf>) -> Result<BlobStore> {
        let root = root.into();
        for d in [root.join("sha256"), root.join("tmp")] {
            fs::create_dir_all(&d)
                .with_context(|| format!("creating the blob cache directory {}", d.display()))?;
        }
        let store = BlobStore {
            root,
            marks: Arc::default(),
        };
        store.sweep()?;
        Ok(store)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this digest lives (whether or not it is there, right or damaged).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root.join("sha256").join(digest.hex())
    }

    /// Whether the blob is present with the right bytes (checked by its mark or by hashing it). A
    /// damaged blob is removed, with a note naming it, and counts as missing, so that the caller makes
    /// it again (rebuilds the layer, fetches the base blob again).
    pub fn contains(&self, digest: &Digest) -> bool {
        self.size_of(digest).is_some()
    }

    /// The size of the blob, when it is present with the right bytes; see [`BlobStore::contains`].
    pub fn size_of(&self, digest: &Digest) -> Option<u64> {
        match self.state(digest) {
            Ok(verify::State::Good(size)) => Some(size),
            Ok(verify::State::Missing) => None,
            Ok(verify::State::Damaged(d, stat)) => {
                self.evict(&d, &stat);
                crate::ui::note(format!(
                    "the cached blob {digest} is damaged (its {} bytes hash to {}): removed it from \
                     the blob cache {}; it is made again",
                    d.size,
                    d.found,
                    self.root.display()
                ));
                None
            }
            Err(e) => {
                crate::ui::note(format!(
                    "cannot read the cached blob {digest} ({e}); it is made again"
                ));
                None
            }
        }
    }

    /// The path of the blob `d`, once it is checked to be there with the right bytes and size (for
    /// readers that take the file by path, such as push uploads). A damaged blob is evicted.
    pub fn verified_path(&self, d: &Descriptor) -> Result<PathBuf> {
        let path = self.path(&d.digest);
        let state = self
            .state(&d.digest)
            .with_context(|| format!("checking blob {} at {}", d.digest, path.display()))?;
        match state {
            verify::State::Good(size) if size == d.size => Ok(path),
            verify::State::Damaged(damaged, stat) => {
                self.evict(&damaged, &stat);
                Err(damaged.into())
            }
            _ => bail!(
                "blob {} is not in the blob store at {} with its size of {} bytes: rebuild the image",
                d.digest,
                path.display(),
                d.size
            ),
        }
    }

    /// Read a whole (small, up to [`READ_LIMIT`]) blob: manifests, configs. Its bytes are hashed; a
    /// damaged blob is evicted and is an error naming it.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let p = self.path(digest);
        let reading = || format!("reading blob {digest} from {}", p.display());
        let f = plain::open(&p).with_context(reading)?;
        let stat = store::Stat::of(&f.metadata().with_context(reading)?);
        let bytes = crate::bounded::read_at_most(&f, READ_LIMIT).with_context(reading)?;
        if bytes.len() as u64 > READ_LIMIT {
            bail!(
                "blob {digest} at {} is over {} MiB, more than a manifest or config can be: remove it",
                p.display(),
                READ_LIMIT >> 20
            );
        }
        let found = Digest::of(&bytes);
        if found != *digest {
            let d = verify::Damaged {
                digest: digest.clone(),
                path: p.clone(),
                found,
                size: bytes.len() as u64,
            };
            self.evict(&d, &stat);
            return Err(d.into());
        }
        Ok(bytes)
    }

    /// Open a blob for streaming: the reader checks the bytes against the digest as they pass (see
    /// [`verify::BlobReader`]).
    pub fn open_blob(&self, digest: &Digest) -> Result<verify::BlobReader> {
        let p = self.path(digest);
        verify::BlobReader::new(self, digest, &p)
            .with_context(|| format!("opening blob {digest} at {}", p.display()))
    }

    /// Store bytes; returns a descriptor with the given media type.
    pub fn put_bytes(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
        let mut w = self.writer()?;
        w.write_all(bytes)
            .with_context(|| format!("writing a blob into {}", self.root.display()))?;
        let (digest, size) = w.commit()?;
        Ok(Descriptor::new(media_type, digest, size))
    }

    /// Store a value as canonical JSON.
    pub fn put_json<T: Serialize>(
        &self,
        media_type: &str,
        value: &T,
    ) -> Result<(Descriptor, Vec<u8>)> {
        let bytes = canonical_json(value);
        let d = self.put_bytes(media_type, &bytes)?;
        Ok((d, bytes))
    }

    /// A writer for a new blob: hashes as it writes into a temp file; `commit` renames it into place.
    pub fn writer(&self) -> Result<BlobWriter> {
        let tmp = self.temp_file().with_context(|| unwritable(&self.root))?;
        Ok(BlobWriter {
            store: self.clone(),
            inner: HashingWriter::new(BufWriter::with_capacity(256 * 1024, tmp)),
        })
    }
}

/// A blob being written; see [`BlobStore::writer`].
pub struct BlobWriter {
    store: BlobStore,
    inner: HashingWriter<BufWriter<tempfile::NamedTempFile>>,
}

impl BlobWriter {
    /// The digest and size of what was written so far: what `commit` would store. Check them before
    /// committing bytes that must match a descriptor; dropping the writer instead deletes the temp file.
    pub fn peek(&self) -> (Digest, u64) {
        self.inner.peek()
    }

    /// Finish the blob: flush, rename to `sha256/<hex>` (over whatever file was there: these bytes were
    /// just hashed, a file there may be damaged); return digest and size.
    ///
    /// Not fsynced, on purpose: the store is a cache whose every use checks the bytes (see
    /// [`verify`]), and nothing vouches for a blob across runs until its bytes are on disk (a mark is
    /// written only after an fsync of the blob). So a crash can at worst leave a name whose bytes are
    /// missing, which the next use finds damaged and makes again; outputs are fsynced when they are
    /// committed. Measured (strace, `--binary` of a 34 MB ripgrep, this 2-core VM under load): 46 of
    /// the run's 77 fsyncs were the cache's, 0.17 s of 0.28 s spent in fsync.
    pub fn commit(self) -> Result<(Digest, u64)> {
        let (buf, digest, size) = self.inner.finish();
        let tmp = buf
            .into_inner()
            .map_err(|e| e.into_error())
            .context("flushing a blob to disk")?;
        // Temp files are created 0600; blobs are content, readable like any file we write.
        set_mode(tmp.path(), 0o644)?;
        let dest = self.store.path(&digest);
        if fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
            bail!(
                "{} is a directory, not a blob the tool wrote (blob {digest} belongs there): remove \
                 it and run the command again",
                dest.display()
            );
        }
        let file = tmp
            .persist(&dest)
            .map_err(|e| e.error)
            .with_context(|| format!("moving blob {digest} into {}", dest.display()))?;
        // Known right for the rest of this run: these are the bytes just hashed. (No mark on disk: the
        // file is too fresh, see `verify`.)
        let stat = store::Stat::of(&file.metadata().context("reading a new blob's metadata")?);
        self.store.remember(&digest, stat, false);
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The error for a blob cache that takes no new file (read-only, full, not ours): names it and says
/// what to do.
pub fn unwritable(root: &Path) -> String {
    format!(
        "creating a temp file in the blob cache {}: the cache must be writable and have free space; \
         fix that, or give another --target-dir",
        root.display()
    )
}

/// Set permission bits on a file or directory we created (temp files and dirs start as 0600/0700).
pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the permissions of {}", path.display()))
}

/// Something a sink can write or push: a root manifest or index, the manifests an index points at,
/// and every config/layer blob below them. All of their bytes are in one [`BlobStore`].
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The root: an image manifest, or an index over per-platform manifests.
    pub root: Descriptor,
    /// For an index, the image manifests it lists (in order); empty for a single manifest.
    pub manifests: Vec<Descriptor>,
    /// Every config and layer blob referenced below the root, without duplicates.
    pub blobs: Vec<Descriptor>,
}

impl Artifact {
    /// The (platform, manifest) pairs of an image built for `platforms` (in the plan's order): the
    /// root itself, or the index's entries. What an SBOM, a provenance statement or a debug-info
    /// artifact of one platform names as its `subject`.
    pub fn platform_manifests(&self, platforms: &[Platform]) -> Vec<(Platform, Descriptor)> {
        if self.manifests.is_empty() {
            platforms
                .first()
                .map(|&p| vec![(p, self.root.clone())])
                .unwrap_or_default()
        } else {
            platforms
                .iter()
                .copied()
                .zip(self.manifests.iter().cloned())
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_text_and_index_types() {
        let mut p = PlatformSpec::new("linux", "arm64", None);
        assert_eq!(p.to_string(), "linux/arm64");
        p.variant = Some("v8".into());
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!(media::is_index(media::INDEX) && media::is_index(media::DOCKER_MANIFEST_LIST));
        assert!(!media::is_index(media::MANIFEST));
    }

    #[test]
    fn put_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = store.put_bytes(media::CONFIG, b"{}").unwrap();
        assert_eq!(d.digest, Digest::of(b"{}"));
        assert_eq!(d.size, 2);
        assert_eq!(store.read(&d.digest).unwrap(), b"{}");
        // What was written so far, before committing.
        let mut w = store.writer().unwrap();
        w.write_all(b"{}").unwrap();
        assert_eq!(w.peek(), (d.digest.clone(), 2));
        drop(w);
        // Writing the same content again is a no-op.
        store.put_bytes(media::CONFIG, b"{}").unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn verified_paths_are_only_handed_out_for_the_right_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = store.put_bytes(media::CONFIG, b"{\"x\":1}").unwrap();
        assert_eq!(store.verified_path(&d).unwrap(), store.path(&d.digest));
        let mut wrong_size = d.clone();
        wrong_size.size += 1;
        assert!(store.verified_path(&wrong_size).is_err());
        fs::write(store.path(&d.digest), b"{\"x\":2}").unwrap();
        // Another run (this one remembers the blob as it wrote it).
        let store = BlobStore::open(dir.path()).unwrap();
        let e = format!("{:#}", store.verified_path(&d).unwrap_err());
        assert!(
            e.contains(&d.digest.to_string()) && e.contains("damaged"),
            "{e}"
        );
        assert!(!store.path(&d.digest).exists());
        let e = format!("{:#}", store.verified_path(&d).unwrap_err());
        assert!(e.contains("is not in the blob store"), "{e}");
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let mut m = std::collections::HashMap::new();
        for k in ["zeta", "alpha", "mid", "beta"] {
            m.insert(k, 1);
        }
        assert_eq!(
            canonical_json(&m),
            br#"{"alpha":1,"beta":1,"mid":1,"zeta":1}"#
        );
    }
}
