//! From a base's root (an index or a manifest) to each requested platform's [`PlatformBase`]: the
//! [`Fetch`] trait the sources implement, narrowing an index to the platforms asked for, and one
//! platform's config and layers fetched, verified and scanned.

use super::image::{PlatformBase, LAYER_TAR};
use super::{bounded, scan};
use crate::blob::{media, BlobStore, Descriptor};
use crate::image::{ConfigFile, Manifest};
use crate::platform::Platform;
use crate::ui::progress;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

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
    let config = platform_config(src, &manifest, platform, store)?;
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
    fetch_layers(src, &layers, platform, store)?;
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

/// The config of `manifest` (fetched into `store`, size-bounded), which must be for `platform`.
fn platform_config(
    src: &dyn Fetch,
    manifest: &Manifest,
    platform: Platform,
    store: &BlobStore,
) -> Result<ConfigFile> {
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
    Ok(config)
}

/// Fetch `layers` into `store`; on a terminal, what a registry base downloads gets bars: in total,
/// and per layer.
fn fetch_layers(
    src: &dyn Fetch,
    layers: &[Descriptor],
    platform: Platform,
    store: &BlobStore,
) -> Result<()> {
    let missing = |l: &&Descriptor| !store.contains(&l.digest);
    let bytes: u64 = layers.iter().filter(missing).map(|l| l.size).sum();
    let bar = if src.pulls() && bytes > 0 {
        progress::bytes("Pulling", &format!("{} ({platform})", src.name()), bytes)
    } else {
        progress::Bar::none()
    };
    for l in layers {
        let part = missing(&l).then(|| bar.part("Pulling", &l.digest.to_string(), l.size));
        src.fetch(l, store)?;
        if let Some(p) = part {
            p.done();
        }
    }
    bar.finish();
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::super::tarread::EntryType;
    use super::*;
    use crate::digest::Digest;

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
