//! Our image on top of a base: which of our files the base still needs, whether a binary can run on
//! it, and the annotations that name it.
//!
//! Takes a resolved [`BaseImage`] platform and an [`ImageSpec`], and gives the bottom of our image (the
//! base's layers, referenced as they are, plus a small *base-files* layer with only what the base
//! lacks), the check for each binary, and the `org.opencontainers.image.base.*` annotations.
//!
//! What is kept and what is replaced on a base: the base's `/etc/passwd`, `/etc/group`,
//! `/etc/nsswitch.conf`, `/tmp` and `/home/nonroot` are kept when it has them, and ours are added
//! where it has none (the default user 65532 is numeric, so it works whether or not the base's passwd
//! lists it). CA bundle: with the default `ca-certificates` setting the base's
//! `/etc/ssl/certs/ca-certificates.crt` is kept when it has one, and the Mozilla bundle is added when it
//! has none; `ca-certificates = "host"` or `extra-ca-certificates` write our bundle over the base's.
//! Either way the image ends up with a bundle at that path (unless `none` on a base without one).

use super::accounts::NonrootFix;
use super::{BaseImage, PlatformBase, BASE_DIGEST, BASE_NAME};
use crate::blob::BlobStore;
use crate::image::Image;
use crate::layer::{self, LayerCompression};
use crate::plan::ImageSpec;
use crate::platform::Platform;
use crate::report::LayerReport;
use crate::rootfs::{self, CA_BUNDLE_PATH};
use crate::ui;
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Check that the binary at `path` runs on `base` (or FROM scratch when `None`): static binaries run
/// anywhere; a dynamic one only where the base has its loader and libraries.
pub fn check_binary(
    path: &Path,
    platform: Platform,
    base: Option<(&BaseImage, &PlatformBase)>,
) -> Result<()> {
    let Some((b, pb)) = base else {
        crate::elf::require_static(path, platform)?;
        return Ok(());
    };
    let info = crate::elf::require_machine(path, platform)?;
    if info.is_static() {
        return Ok(());
    }
    let mut missing = Vec::new();
    // Regular files (through links): a directory or device at the loader's path loads nothing.
    if let Some(interp) = info.interpreter.as_ref().filter(|i| !pb.has_file(i)) {
        missing.push(format!("the loader {interp}"));
    }
    // musl's loader is its libc too: it answers for libc, libm, libpthread... itself.
    let musl = info
        .interpreter
        .as_deref()
        .is_some_and(|i| i.contains("ld-musl-"));
    let in_musl = |lib: &str| {
        [
            "libc.",
            "libm.",
            "libpthread.",
            "libdl.",
            "librt.",
            "libutil.",
            "libxnet.",
            "libcrypt.",
        ]
        .iter()
        .any(|p| lib.starts_with(p))
    };
    for lib in info.needed.iter().filter(|l| !(musl && in_musl(l))) {
        if !["lib", "usr/lib", "usr/local/lib", "lib64", "usr/lib64"]
            .iter()
            .any(|d| pb.has_file(&format!("{d}/{lib}")))
        {
            missing.push(format!("the library {lib}"));
        }
    }
    if !missing.is_empty() {
        bail!(
            "{} is dynamically linked and needs {}, which the base image {} ({platform}) does not have: \
             build it static (the default for {}: do not set `-C target-feature=-crt-static`), or use a \
             base that has them (alpine has the musl loader /lib/ld-musl-{}.so.1)",
            path.display(),
            missing.join(" and "),
            b.name,
            platform.rust_target(),
            platform.rust_target().split('-').next().unwrap_or("x86_64")
        );
    }
    ui::note(format!(
        "{} is dynamically linked ({}); the base image {} provides it",
        path.display(),
        info.interpreter.as_deref().unwrap_or("shared libraries"),
        b.name
    ));
    Ok(())
}

/// The bottom of our image on `pb`: the base's layers, then a base-files layer with what it lacks.
pub fn bottom(
    store: &BlobStore,
    base: &BaseImage,
    pb: &PlatformBase,
    img: &ImageSpec,
    platform: Platform,
    created: &str,
    compression: LayerCompression,
) -> Result<(Image, Vec<LayerReport>)> {
    let mut image = Image::from_base(platform, &pb.config, &pb.layers, created);
    let mut reports: Vec<LayerReport> = pb
        .layers
        .iter()
        .zip(&pb.layer_sizes)
        .map(|(l, &n)| LayerReport::new("base", l, n))
        .collect();
    let mut entries: Vec<_> = rootfs::base_entries()
        .into_iter()
        .filter(|e| !base_has_as(pb, e))
        .collect();
    let nonroot = super::accounts::nonroot(pb, &img.user);
    let (kept, replaced) = kept_or_added(pb, img, &nonroot, &mut entries);
    let added = entries
        .iter()
        .map(|e| e.path.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    note_nonroot(base, platform, img, &nonroot);
    entries.extend(nonroot.entries);
    ui::note(format!(
        "on {} ({platform}): {}; added {}{replaced}",
        base.name,
        if kept.is_empty() {
            "the base has none of our base files".to_string()
        } else {
            format!("kept the base's {}", kept.join(", "))
        },
        if added.is_empty() { "nothing" } else { &added },
    ));
    if !entries.is_empty() {
        warn_links_replaced(base, pb, platform, "base-files", dir_flags(&entries));
        // mtime 0: tool content, the same for every build on this base.
        let l = layer::build(
            store,
            entries,
            0,
            compression,
            &format!(
                "cargo slim-image {}: base files the base lacks ({})",
                env!("CARGO_PKG_VERSION"),
                added
            ),
        )?;
        reports.push(
            LayerReport::new("base-files", &l.descriptor, l.uncompressed_size)
                .at_level(l.compression.level()),
        );
        image = image.append(&l);
    }
    Ok((image, reports))
}

/// Which of the base's account files and CA bundle are kept (for the note), adding our CA bundle to
/// `entries` where the default setting finds none; the second value is the note's tail when the
/// configured bundle replaces the base's.
fn kept_or_added(
    pb: &PlatformBase,
    img: &ImageSpec,
    nonroot: &NonrootFix,
    entries: &mut Vec<layer::Entry>,
) -> (Vec<&'static str>, &'static str) {
    let mut kept: Vec<&str> = ["/etc/passwd", "/etc/group", "/etc/nsswitch.conf"]
        .into_iter()
        .filter(|p| pb.has_file(p) && !nonroot.extended.contains(p))
        .collect();
    // A directory, device or dangling link at the bundle's path is no bundle: ours goes there.
    let base_bundle = pb.has_file(CA_BUNDLE_PATH);
    let mut replaced = "";
    if img.ca.is_default() {
        if base_bundle {
            kept.push("the CA bundle");
        } else {
            entries.push(rootfs::ca_entry(rootfs::mozilla_bundle()));
        }
    } else if base_bundle && img.ca.source != rootfs::CaSource::None {
        replaced = "; the CA bundle you configured replaces the base's";
    } else if base_bundle {
        kept.push("the CA bundle");
    }
    (kept, replaced)
}

/// Say what was done for the default user on a base that lacks it, or could not be checked.
fn note_nonroot(base: &BaseImage, platform: Platform, img: &ImageSpec, nonroot: &NonrootFix) {
    if !nonroot.extended.is_empty() {
        ui::note(format!(
            "on {} ({platform}): the base has no user {}, so it was added to the base's {} (home \
             /home/nonroot), as the image runs as {}",
            base.name,
            rootfs::NONROOT_UID,
            nonroot.extended.join(" and "),
            img.user
        ));
    }
    if !nonroot.unread.is_empty() {
        ui::warn(format!(
            "on {} ({platform}): could not check whether the base lists user {}: {}; if it does \
             not, the process has no user name and HOME=/: set `user`, or use a base that has it",
            base.name,
            rootfs::NONROOT_UID,
            nonroot.unread.join(", ")
        ));
    }
}

/// `(path, is a directory)` of each of `entries`, for [`warn_links_replaced`].
pub fn dir_flags(entries: &[layer::Entry]) -> impl Iterator<Item = (&str, bool)> {
    entries
        .iter()
        .map(|e| (e.path.as_str(), matches!(e.kind, layer::EntryKind::Dir)))
}

/// Warn when `entries` (`(path, is a directory)`) of the `layer` layer on base `b` put a directory
/// where the base has a symbolic link ([`PlatformBase::links_replaced`]): the image then no longer
/// has what the base keeps under the link's target at that path.
pub fn warn_links_replaced<'a>(
    b: &BaseImage,
    pb: &PlatformBase,
    platform: Platform,
    layer: &str,
    entries: impl IntoIterator<Item = (&'a str, bool)>,
) {
    for (path, target) in pb.links_replaced(entries) {
        ui::warn(format!(
            "on {} ({platform}): /{path} is a symbolic link to {target} in the base, and the {layer} \
             layer has a directory there, which replaces the link when the image is unpacked: what \
             the base has under {target} is no longer at /{path}",
            b.name
        ));
    }
}

/// Whether the base has `e` as what it is (a regular file for a file, a directory for a directory),
/// following links: an `/etc/passwd` that is a directory, or a `/tmp` that is a file, is replaced by
/// ours (an upper layer's entry of another kind replaces the lower one).
fn base_has_as(pb: &PlatformBase, e: &layer::Entry) -> bool {
    match e.kind {
        layer::EntryKind::Dir => pb.has_dir(&e.path),
        layer::EntryKind::File(_) | layer::EntryKind::Hardlink(_) => pb.has_file(&e.path),
        layer::EntryKind::Symlink(_) => pb.has(&e.path),
    }
}

/// The manifest annotations that name the base: its reference and its manifest digest.
pub fn annotations(base: &BaseImage, pb: &PlatformBase) -> BTreeMap<String, String> {
    BTreeMap::from([
        (BASE_NAME.to_string(), base.name.clone()),
        (BASE_DIGEST.to_string(), pb.manifest.digest.to_string()),
    ])
}
