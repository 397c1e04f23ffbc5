//! Offline bases: an OCI layout directory, an oci-archive, a docker-archive -> [`BaseImage`].
//!
//! A layout's `index.json` entry is picked by tag (`org.opencontainers.image.ref.name`, bare tag or
//! `name:tag`), or taken when the layout holds one image. Blobs are copied into the store through a
//! hashing writer (never more than the descriptor's size and one byte) and committed only when digest
//! and size match the descriptor. index.json, manifest.json and configs are read through
//! [`super::bounded`]. Archives are unpacked into a temp dir first ([`super::archive`]: regular files
//! only, no path may leave it); an oci-archive is then a layout, and a docker-archive (`manifest.json`)
//! is read as config + layer files, gzip, zstd or plain tar, each of which must be a regular file of the
//! archive itself.

use super::fetch::{per_platform, Fetch};
use super::image::{BaseImage, LAYER_TAR};
use super::{archive, bounded};
use crate::blob::{media, BlobStore, Descriptor};
use crate::digest::Digest;
use crate::image::Index;
use crate::platform::Platform;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

const REF_NAME: &str = "org.opencontainers.image.ref.name";

struct Layout {
    dir: PathBuf,
    name: String,
}

/// Copy `file` into the store; it must hash to `want` (and be `size` bytes when given).
pub(crate) fn store_file(
    file: &Path,
    want: Option<&Digest>,
    size: Option<u64>,
    store: &BlobStore,
) -> Result<(Digest, u64)> {
    if let Some(d) = want {
        if store.contains(d) {
            return Ok((d.clone(), std::fs::metadata(store.path(d))?.len()));
        }
    }
    let f = bounded::open_regular(file)?;
    let mut w = store.writer()?;
    // Never more than the descriptor's size and one byte: enough to tell the file is too long.
    std::io::copy(
        &mut f.take(size.map_or(u64::MAX, |s| s.saturating_add(1))),
        &mut w,
    )
    .with_context(|| format!("copying {} into the blob store", file.display()))?;
    let (digest, n) = w.peek();
    if want.is_some_and(|d| *d != digest) || size.is_some_and(|s| s != n) {
        bail!(
            "{} does not match its descriptor: expected {} ({} bytes), found {digest} ({n} bytes); the \
             image is corrupt, export it again",
            file.display(),
            want.map(|d| d.to_string()).unwrap_or_default(),
            size.map(|s| s.to_string()).unwrap_or_else(|| "?".into())
        );
    }
    w.commit()
}

impl Fetch for Layout {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn fetch(&self, desc: &Descriptor, store: &BlobStore) -> Result<()> {
        let file = self
            .dir
            .join("blobs")
            .join(desc.digest.algorithm())
            .join(desc.digest.hex());
        if !file.exists() && !store.contains(&desc.digest) {
            bail!(
                "base image {}: blob {} is missing ({} does not exist)",
                self.name,
                desc.digest,
                file.display()
            );
        }
        store_file(&file, Some(&desc.digest), Some(desc.size), store)
            .with_context(|| format!("reading blob {} of base image {}", desc.digest, self.name))?;
        Ok(())
    }
}

/// Does an index.json entry carry `tag`?
fn has_tag(d: &Descriptor, tag: &str) -> bool {
    d.annotations.get(REF_NAME).is_some_and(|r| {
        r == tag
            || r.rsplit_once(':')
                .is_some_and(|(n, t)| t == tag && !t.contains('/') && !n.is_empty())
    })
}

/// Resolve an OCI layout directory, reported as `name`.
pub fn resolve_layout(
    dir: &Path,
    tag: Option<&str>,
    platforms: &[Platform],
    store: &BlobStore,
    name: String,
) -> Result<BaseImage> {
    let index_path = dir.join("index.json");
    let bytes =
        bounded::read_file(&index_path, &format!("{name}: index.json")).with_context(|| {
            format!(
                "reading {}: is {} an OCI image layout?",
                index_path.display(),
                dir.display()
            )
        })?;
    let index: Index = serde_json::from_slice(&bytes)
        .with_context(|| format!("parsing {}", index_path.display()))?;
    let tags = || {
        let v: Vec<String> = index
            .manifests
            .iter()
            .filter_map(|d| d.annotations.get(REF_NAME).cloned())
            .collect();
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let root = match tag {
        Some(t) => index
            .manifests
            .iter()
            .find(|d| has_tag(d, t))
            .with_context(|| {
                format!(
                    "{name}: the layout has no image tagged `{t}` (its tags: {})",
                    tags()
                )
            })?,
        None => {
            let first = index
                .manifests
                .first()
                .with_context(|| format!("{name}: the layout holds no image"))?;
            if index.manifests.iter().any(|d| d.digest != first.digest) {
                bail!(
                    "{name}: the layout holds several images; pick one with :TAG (its tags: {})",
                    tags()
                );
            }
            first
        }
    };
    let src = Layout {
        dir: dir.to_path_buf(),
        name: name.clone(),
    };
    let root = Descriptor::new(&root.media_type, root.digest.clone(), root.size);
    let root_bytes = src.manifest(&root, store)?;
    crate::ui::status("Base", format!("{name}@{}", root.digest));
    let platforms = per_platform(&src, &root, &root_bytes, platforms, store)?;
    Ok(BaseImage {
        name,
        digest: root.digest,
        registry: None,
        platforms,
    })
}

/// Resolve an oci-archive, reported as `name`.
pub fn resolve_oci_archive(
    file: &Path,
    tag: Option<&str>,
    platforms: &[Platform],
    store: &BlobStore,
    name: String,
) -> Result<BaseImage> {
    let tmp = archive::unpack(file, &store.root().join("tmp"))?;
    resolve_layout(tmp.dir(), tag, platforms, store, name)
}

/// One image of a docker-archive's `manifest.json`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerEntry {
    /// The archive member holding the config.
    pub config: String,
    /// `name:tag`s of the image.
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    /// The archive members holding the layers, bottom first.
    pub layers: Vec<String>,
}

/// Parse a docker-archive's `manifest.json` (already read through [`bounded`]).
pub fn parse_docker_manifest(bytes: &[u8]) -> Result<Vec<DockerEntry>> {
    Ok(serde_json::from_slice(bytes)?)
}

/// Resolve a docker-archive (`docker save` output), reported as `name`: one platform, the config's.
pub fn resolve_docker_archive(
    file: &Path,
    tag: Option<&str>,
    platforms: &[Platform],
    store: &BlobStore,
    name: String,
) -> Result<BaseImage> {
    let tmp = archive::unpack(file, &store.root().join("tmp"))?;
    let (mpath, _) = tmp
        .file("manifest.json", "the docker-archive format needs")
        .with_context(|| format!("{name}: is it a docker-archive (docker save)?"))?;
    let bytes = bounded::read_file(&mpath, &format!("{name}: manifest.json"))?;
    let entries: Vec<DockerEntry> =
        serde_json::from_slice(&bytes).with_context(|| format!("{name}: parsing manifest.json"))?;
    let entry = match tag {
        Some(t) => entries
            .iter()
            .find(|e| {
                e.repo_tags
                    .iter()
                    .flatten()
                    .any(|r| r == t || r.ends_with(&format!(":{t}")))
            })
            .with_context(|| format!("{name}: no image tagged `{t}` in the archive"))?,
        None if entries.len() == 1 => &entries[0],
        None => bail!(
            "{name}: the archive holds {} images; pick one with :NAME:TAG",
            entries.len()
        ),
    };
    let (config_path, size) = tmp.file(&entry.config, "manifest.json names as the config")?;
    bounded::check_size(
        &format!("{name}: the config {}", entry.config),
        size,
        bounded::MAX_JSON,
    )?;
    let (config_digest, config_size) = store_file(&config_path, None, Some(size), store)?;
    let mut layers = Vec::new();
    for l in &entry.layers {
        let (path, size) = tmp.file(l, "manifest.json names as a layer")?;
        // docker-archive has no media types: the layer's magic says (gzip, zstd as the containerd
        // image store saves it, else plain tar).
        let mut magic = Vec::with_capacity(4);
        std::fs::File::open(&path)
            .and_then(|f| f.take(4).read_to_end(&mut magic))
            .with_context(|| format!("{name}: reading layer {l}"))?;
        let mt = if magic.starts_with(&[0x1f, 0x8b]) {
            media::LAYER_GZIP
        } else if magic == [0x28, 0xb5, 0x2f, 0xfd] {
            media::LAYER_ZSTD
        } else {
            LAYER_TAR
        };
        let (d, n) = store_file(&path, None, Some(size), store)?;
        layers.push(Descriptor::new(mt, d, n));
    }
    // No manifest in a docker-archive: make the OCI one it stands for, so the rest is the same path.
    let manifest = crate::image::Manifest {
        schema_version: 2,
        media_type: Some(media::MANIFEST.to_string()),
        config: Descriptor::new(media::CONFIG, config_digest.clone(), config_size),
        layers,
        annotations: Default::default(),
        artifact_type: None,
        subject: None,
    };
    let (root, bytes) = store.put_json(media::MANIFEST, &manifest)?;
    let src = Stored { name: name.clone() };
    crate::ui::status("Base", format!("{name} (image ID {config_digest})"));
    let platforms = per_platform(&src, &root, &bytes, platforms, store)?;
    Ok(BaseImage {
        name,
        digest: config_digest,
        registry: None,
        platforms,
    })
}

/// Blobs already copied into the store (docker-archive).
struct Stored {
    name: String,
}

impl Fetch for Stored {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn fetch(&self, desc: &Descriptor, store: &BlobStore) -> Result<()> {
        if !store.contains(&desc.digest) {
            bail!(
                "base image {}: blob {} is missing from the archive",
                self.name,
                desc.digest
            );
        }
        Ok(())
    }
}
