//! Base images: `--base` (or `base = "..."`) -> a [`BaseImage`] whose blobs are verified in our
//! [`BlobStore`].
//!
//! Takes a [`BaseSource`] and the platforms to build, and gives per platform the base's manifest
//! descriptor, its config, its layers (media types normalised to OCI, bytes untouched, so they are
//! referenced and never recompressed) and the set of paths its filesystem holds (to know whether it has
//! a CA bundle, a passwd file or a musl loader). A registry base is resolved to a digest first, and an
//! index is narrowed to each requested platform; a platform the base lacks is an error that lists the
//! platforms it has. Sources live in [`remote`] (registries) and [`local`] (OCI layout, oci-archive,
//! docker-archive, taken apart by [`archive`]); [`merge`] lays our runtime config over the base's.
//! Every length a base claims is bounded by [`bounded`] before it is read, and layers are read by
//! [`tarread`].

mod accounts;
pub mod archive;
pub mod assemble;
pub mod bounded;
pub mod local;
pub mod merge;
pub mod remote;
mod scan;
pub mod source;
pub mod tarread;

pub use source::BaseSource;

use crate::blob::{media, BlobStore, Descriptor};
use crate::digest::Digest;
use crate::image::{ConfigFile, Manifest};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::registry::ClientOptions;
use crate::ui::progress;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use tarread::EntryType;

/// The annotation naming the base image (OCI image spec, pre-defined annotation keys).
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
/// The annotation holding the base image's manifest digest.
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// One platform of a base image.
#[derive(Debug, Clone)]
pub struct PlatformBase {
    /// The base's image manifest for this platform.
    pub manifest: Descriptor,
    /// Its config.
    pub config: ConfigFile,
    /// Its layers, bottom first (OCI media types; same bytes and digests as the base's).
    pub layers: Vec<Descriptor>,
    /// Uncompressed size of each layer (its diff_id was checked while measuring it).
    pub layer_sizes: Vec<u64>,
    /// Paths in its filesystem (no leading `/`) after every layer and whiteout, with their kind and
    /// link target.
    pub paths: BTreeMap<String, (EntryType, String)>,
    /// The bytes and mode of its `etc/passwd` and `etc/group` (keys as in `paths`), when they are
    /// regular files of at most `bounded::MAX_ACCOUNT_FILE` bytes.
    pub accounts: Accounts,
}

impl PlatformBase {
    /// Whether `path` exists in the base's filesystem, following symbolic links (as
    /// `/lib64 -> usr/lib64` in merged-/usr distributions).
    pub fn has(&self, path: &str) -> bool {
        self.kind_at(path).is_some()
    }

    /// Whether `path` is a regular file of the base's filesystem (or a hard link, which can only be
    /// to one), following symbolic links: a directory, device or dangling link at `path` is not.
    pub fn has_file(&self, path: &str) -> bool {
        matches!(
            self.kind_at(path),
            Some(EntryType::File | EntryType::Hardlink)
        )
    }

    /// The symbolic links of the base that a layer on it replaces: those at a directory the layer
    /// holds, given as `(path, is a directory)` of its entries (every parent of an entry is a
    /// directory of it too). Unpacking puts a directory in place of such a link, so what the base has
    /// under the link's target is no longer found at that path. `(path, link target)`, sorted, no
    /// leading `/`.
    pub fn links_replaced<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, bool)>,
    ) -> Vec<(String, String)> {
        let mut out = BTreeMap::new();
        for (path, is_dir) in entries {
            let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
            let dirs = if is_dir {
                parts.len()
            } else {
                parts.len().saturating_sub(1)
            };
            for n in 1..=dirs {
                let at = parts[..n].join("/");
                if let Some((EntryType::Symlink, target)) = self.paths.get(&at) {
                    out.insert(at, target.clone());
                }
            }
        }
        out.into_iter().collect()
    }

    /// Whether `path` is a directory of the base's filesystem, following symbolic links.
    pub fn has_dir(&self, path: &str) -> bool {
        self.kind_at(path) == Some(EntryType::Dir)
    }

    /// What `path` is in the base's filesystem once every symbolic link on the way (and at the end)
    /// is followed; `None` when it does not exist or the links go round more than 16 times.
    pub fn kind_at(&self, path: &str) -> Option<EntryType> {
        let mut todo: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        todo.reverse();
        let mut at: Vec<String> = Vec::new();
        let mut hops = 0;
        let mut kind = EntryType::Dir; // the root
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "." => continue,
                ".." => {
                    at.pop();
                    kind = EntryType::Dir;
                    continue;
                }
                _ => {}
            }
            at.push(c);
            match self.paths.get(&at.join("/")) {
                None => return None,
                Some((EntryType::Symlink, target)) => {
                    hops += 1;
                    if hops > 16 {
                        return None;
                    }
                    at.pop();
                    if target.starts_with('/') {
                        at.clear();
                    }
                    kind = EntryType::Dir; // where the target is resolved from
                    todo.extend(
                        target
                            .split('/')
                            .filter(|c| !c.is_empty())
                            .rev()
                            .map(str::to_string),
                    );
                }
                Some((k, _)) => kind = *k,
            }
        }
        Some(kind)
    }
}

/// A resolved base image.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// The name as given, normalised (`docker.io/library/alpine:3.20`, `oci:DIR:TAG`).
    pub name: String,
    /// The digest the name resolved to (an index or a manifest; for a docker-archive, the image ID).
    pub digest: Digest,
    /// For a registry base: where its blobs live (cross-repository mounts when pushing there).
    pub registry: Option<Reference>,
    /// One entry per requested platform.
    pub platforms: BTreeMap<Platform, PlatformBase>,
}

impl BaseImage {
    /// Its entry in the run's report: the name, the digest it resolved to and each platform's
    /// manifest.
    pub fn report(&self) -> crate::report::BaseReport {
        crate::report::BaseReport {
            name: self.name.clone(),
            digest: self.digest.clone(),
            manifests: self
                .platforms
                .iter()
                .map(|(p, pb)| (p.to_string(), pb.manifest.digest.clone()))
                .collect(),
        }
    }

    /// The base for `platform` (resolution made sure every requested platform is there).
    pub fn platform(&self, platform: Platform) -> Result<&PlatformBase> {
        self.platforms
            .get(&platform)
            .with_context(|| format!("base image {} was not resolved for {platform}", self.name))
    }

    /// Which repositories hold the base's layers, for `--push` cross-repository mounts.
    pub fn mount_hints(&self) -> BTreeMap<Digest, Vec<Reference>> {
        let mut m = BTreeMap::new();
        if let Some(r) = &self.registry {
            for pb in self.platforms.values() {
                for l in &pb.layers {
                    m.insert(l.digest.clone(), vec![r.clone()]);
                }
            }
        }
        m
    }
}

/// A place base blobs come from.
pub(crate) trait Fetch {
    /// The base's name, for messages.
    fn name(&self) -> String;
    /// Put the blob into `store`, verified against `desc`; a no-op when the store has it.
    fn fetch(&self, desc: &Descriptor, store: &BlobStore) -> Result<()>;
    /// Whether fetching downloads (a registry), so that it gets progress bars.
    fn pulls(&self) -> bool {
        false
    }
    /// The bytes of a manifest, verified against `desc` (at most [`bounded::MAX_JSON`] bytes: a
    /// descriptor claiming more is refused before anything is fetched).
    fn manifest(&self, desc: &Descriptor, store: &BlobStore) -> Result<Vec<u8>> {
        let what = format!("manifest {} of base image {}", desc.digest, self.name());
        bounded::check_size(&what, desc.size, bounded::MAX_JSON)?;
        self.fetch(desc, store)?;
        bounded::read_blob(store, &desc.digest, &what)
    }
}

/// Resolve `source` for `platforms`, fetching and verifying every blob into `store`. `None` for scratch.
pub fn resolve(
    source: &BaseSource,
    platforms: &[Platform],
    store: &BlobStore,
    client: &ClientOptions,
) -> Result<Option<BaseImage>> {
    // Local bases are reported as `TRANSPORT:PATH[:TAG]`, which is what `source` displays as.
    let name = source.to_string();
    let base = match source {
        BaseSource::Scratch => return Ok(None),
        BaseSource::Registry(r) => remote::resolve(r, platforms, store, client),
        BaseSource::OciDir(dir, tag) => {
            local::resolve_layout(dir, tag.as_deref(), platforms, store, name)
        }
        BaseSource::OciArchive(file, tag) => {
            local::resolve_oci_archive(file, tag.as_deref(), platforms, store, name)
        }
        BaseSource::DockerArchive(file, tag) => {
            local::resolve_docker_archive(file, tag.as_deref(), platforms, store, name)
        }
    }
    .with_context(|| format!("resolving the base image {source}"))?;
    Ok(Some(base))
}

/// `linux/amd64`-style text of an index entry's platform (`unknown` without one).
fn platform_text(d: &Descriptor) -> String {
    d.platform
        .as_ref()
        .map_or_else(|| "unknown".into(), |p| p.to_string())
}

fn matches(platform: Platform, os: &str, arch: &str, variant: Option<&str>) -> bool {
    os == platform.os()
        && arch == platform.architecture()
        && (variant.is_none() || variant == platform.variant())
}

/// From a root (index or manifest), each requested platform's base.
pub(crate) fn per_platform(
    src: &dyn Fetch,
    root: &Descriptor,
    root_bytes: &[u8],
    platforms: &[Platform],
    store: &BlobStore,
) -> Result<BTreeMap<Platform, PlatformBase>> {
    let mut out = BTreeMap::new();
    if media::is_index(&root.media_type) {
        let index: crate::image::Index = serde_json::from_slice(root_bytes).with_context(|| {
            format!("parsing the image index {} of {}", root.digest, src.name())
        })?;
        for &p in platforms {
            let entry = index.manifests.iter().find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|s| matches(p, &s.os, &s.architecture, s.variant.as_deref()))
            });
            let Some(entry) = entry else {
                let have: Vec<String> = index.manifests.iter().map(platform_text).collect();
                bail!(
                    "base image {} has no {p} image (it has: {}): pick a base that provides {p}, or \
                     build only the platforms it has with --platform",
                    src.name(),
                    have.join(", ")
                );
            };
            let bytes = src.manifest(entry, store)?;
            out.insert(p, platform_image(src, entry, &bytes, p, store)?);
        }
    } else {
        for &p in platforms {
            out.insert(p, platform_image(src, root, root_bytes, p, store)?);
        }
    }
    Ok(out)
}

/// One platform's manifest -> config, layers (fetched and verified), paths.
fn platform_image(
    src: &dyn Fetch,
    desc: &Descriptor,
    bytes: &[u8],
    platform: Platform,
    store: &BlobStore,
) -> Result<PlatformBase> {
    let manifest: Manifest = serde_json::from_slice(bytes).with_context(|| {
        format!(
            "parsing the image manifest {} of {}",
            desc.digest,
            src.name()
        )
    })?;
    // The config is read whole: its claimed size is checked before it is fetched.
    let what = format!(
        "the image config {} of base image {}",
        manifest.config.digest,
        src.name()
    );
    bounded::check_size(&what, manifest.config.size, bounded::MAX_JSON)?;
    src.fetch(&manifest.config, store)?;
    let config: ConfigFile =
        serde_json::from_slice(&bounded::read_blob(store, &manifest.config.digest, &what)?)
            .with_context(|| {
                format!(
                    "parsing the image config {} of {}",
                    manifest.config.digest,
                    src.name()
                )
            })?;
    if !matches(
        platform,
        &config.os,
        &config.architecture,
        config.variant.as_deref(),
    ) {
        bail!(
            "base image {} is {}/{} only, and has no {platform} image: pick a base that provides \
             {platform} (an index over several platforms), or build only {}/{} with --platform",
            src.name(),
            config.os,
            config.architecture,
            config.os,
            config.architecture
        );
    }
    let layers = manifest
        .layers
        .iter()
        .map(|l| oci_layer(l, &src.name()))
        .collect::<Result<Vec<_>>>()?;
    if layers.len() != config.rootfs.diff_ids.len() {
        bail!(
            "base image {}: manifest {} lists {} layers but its config has {} diff_ids: the image is broken",
            src.name(),
            desc.digest,
            layers.len(),
            config.rootfs.diff_ids.len()
        );
    }
    // On a terminal, what a registry base downloads gets bars: in total, and per layer.
    let missing = |l: &&Descriptor| !store.contains(&l.digest);
    let bytes: u64 = layers.iter().filter(missing).map(|l| l.size).sum();
    let bar = if src.pulls() && bytes > 0 {
        progress::bytes("Pulling", &format!("{} ({platform})", src.name()), bytes)
    } else {
        progress::Bar::none()
    };
    for l in &layers {
        let part = missing(&l).then(|| bar.part("Pulling", &l.digest.to_string(), l.size));
        src.fetch(l, store)?;
        if let Some(p) = part {
            p.done();
        }
    }
    bar.finish();
    let (paths, layer_sizes, accounts) =
        scan::scan(store, &layers, &config.rootfs.diff_ids, &src.name())?;
    let mut manifest_desc = Descriptor::new(&desc.media_type, desc.digest.clone(), desc.size);
    manifest_desc.platform = Some(platform.into());
    Ok(PlatformBase {
        manifest: manifest_desc,
        config,
        layers,
        layer_sizes,
        paths,
        accounts,
    })
}

/// The uncompressed tar layer media type.
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// A base layer's descriptor with an OCI media type (same bytes), or an error for what we cannot use.
fn oci_layer(l: &Descriptor, name: &str) -> Result<Descriptor> {
    let mt = match l.media_type.as_str() {
        media::LAYER_GZIP | media::DOCKER_LAYER_GZIP => media::LAYER_GZIP,
        LAYER_TAR | "application/vnd.docker.image.rootfs.diff.tar" => LAYER_TAR,
        media::LAYER_ZSTD => media::LAYER_ZSTD,
        other => bail!(
            "base image {name}: layer {} has media type {other}, which cargo slim-image cannot use as a \
             base layer (gzip, zstd or uncompressed tar layers only): pick another base",
            l.digest
        ),
    };
    Ok(Descriptor::new(mt, l.digest.clone(), l.size))
}

type Paths = BTreeMap<String, (EntryType, String)>;

/// Account file (`etc/passwd`, `etc/group`) -> its bytes and mode.
pub type Accounts = BTreeMap<String, (Vec<u8>, u32)>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_at_a_directory_of_a_layer_are_replaced_links_elsewhere_are_not() {
        let link = |t: &str| (EntryType::Symlink, t.to_string());
        let pb = PlatformBase {
            manifest: Descriptor::new(media::MANIFEST, Digest::of(b"m"), 1),
            config: serde_json::from_value(serde_json::json!({"architecture": "amd64",
                "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}))
            .unwrap(),
            layers: Vec::new(),
            layer_sizes: Vec::new(),
            paths: BTreeMap::from([
                ("usr".to_string(), (EntryType::Dir, String::new())),
                ("usr/share".to_string(), link("/opt/share")),
                ("etc".to_string(), (EntryType::Dir, String::new())),
                ("etc/ssl".to_string(), link("../pki")),
                ("bin".to_string(), link("usr/bin")),
            ]),
            accounts: Default::default(),
        };
        // A file at a link's own path replaces it as any file would: not this check's business.
        assert_eq!(pb.links_replaced([("/bin", false)]), vec![]);
        assert_eq!(
            pb.links_replaced([("/usr/share/zoneinfo", true), ("/usr/local/bin/app", false)]),
            vec![("usr/share".to_string(), "/opt/share".to_string())]
        );
        assert_eq!(
            pb.links_replaced([("/etc/ssl", true), ("/etc/ssl/certs/ca.crt", false)]),
            vec![("etc/ssl".to_string(), "../pki".to_string())]
        );
    }

    #[test]
    fn platform_matching() {
        assert!(matches(Platform::LinuxArm64, "linux", "arm64", Some("v8")));
        assert!(matches(Platform::LinuxArm64, "linux", "arm64", None));
        assert!(!matches(Platform::LinuxArm64, "linux", "arm", Some("v7")));
        assert!(!matches(Platform::LinuxAmd64, "windows", "amd64", None));
    }

    #[test]
    fn docker_layers_become_oci_and_foreign_ones_are_refused() {
        let d = Descriptor::new(media::DOCKER_LAYER_GZIP, Digest::of(b"x"), 1);
        assert_eq!(oci_layer(&d, "b").unwrap().media_type, media::LAYER_GZIP);
        let f = Descriptor::new(
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            Digest::of(b"x"),
            1,
        );
        assert!(oci_layer(&f, "b")
            .unwrap_err()
            .to_string()
            .contains("foreign"));
    }
}
