//! A resolved base image as plain values: per platform its manifest, config, layers, the paths its
//! filesystem holds and its account files. The sources (`remote`, `local`), the platform walk
//! (`fetch`) and the layer scan (`scan`) all fill these in; this leaf imports none of them.

use super::tarread::EntryType;
use crate::blob::Descriptor;
use crate::digest::Digest;
use crate::image::ConfigFile;
use crate::platform::Platform;
use crate::reference::Reference;
use anyhow::{Context, Result};
use std::collections::BTreeMap;

/// The annotation naming the base image (OCI image spec, pre-defined annotation keys).
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
/// The annotation holding the base image's manifest digest.
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// The uncompressed tar layer media type.
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

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

/// Path in a base's filesystem -> its kind and link target.
pub(super) type Paths = BTreeMap<String, (EntryType, String)>;

/// Account file (`etc/passwd`, `etc/group`) -> its bytes and mode.
pub type Accounts = BTreeMap<String, (Vec<u8>, u32)>;
