//! The OCI image layout sink: a directory with `oci-layout`, `index.json` and `blobs/sha256/*`.
//!
//! Written into a temp directory beside the destination and renamed into place, so a failed run never
//! leaves a half layout; blobs are hard-linked from the store when they share a file system (copied
//! otherwise). `index.json` has one entry per tag with `org.opencontainers.image.ref.name` set to the tag
//! (what `skopeo oci:DIR:TAG` and `umoci --image DIR:TAG` look up), plus `io.containerd.image.name`
//! with the full name, which `ctr import` and podman use.
//!
//! Two runs writing the same layout at once take turns: each holds an advisory lock (`flock`) on
//! `.<name>.slim-image-lock` beside the destination while it swaps the directory in; the second one
//! says on stderr that it waits. The lock file is empty and stays (removing it would race).

use super::Named;
use crate::blob::{canonical_json, media, Descriptor};
use crate::image::Index;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The annotation holding an index entry's tag.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation holding an index entry's full image name (containerd convention).
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// The `index.json` of a layout or archive: one entry per tag. `full_names` puts `name:tag` into
/// ref.name (what podman wants in an oci-archive) instead of the bare tag (what layouts use).
pub fn index_for(img: &Named<'_>, full_names: bool) -> Index {
    let manifests = img
        .tags
        .iter()
        .map(|tag| {
            let mut d: Descriptor = img.artifact.root.clone();
            let full = format!("{}:{tag}", img.name);
            let mut ann = BTreeMap::new();
            ann.insert(CONTAINERD_NAME.to_string(), full.clone());
            ann.insert(
                REF_NAME.to_string(),
                if full_names { full } else { tag.clone() },
            );
            d.annotations = ann;
            d
        })
        .collect();
    Index {
        schema_version: 2,
        media_type: Some(media::INDEX.to_string()),
        manifests,
        annotations: BTreeMap::new(),
    }
}

/// The blob digests a layout of `img` holds: root, child manifests, configs and layers.
pub fn all_blobs(img: &Named<'_>) -> Vec<Descriptor> {
    let a = img.artifact;
    let mut v = vec![a.root.clone()];
    v.extend(a.manifests.iter().cloned());
    v.extend(a.blobs.iter().cloned());
    v.sort_by(|x, y| x.digest.cmp(&y.digest));
    v.dedup_by(|x, y| x.digest == y.digest);
    v
}

/// The `oci-layout` file's content.
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Write `img` as an OCI layout at `dest`, replacing what was there. Returns `dest`.
pub fn write(img: &Named<'_>, dest: &Path) -> Result<PathBuf> {
    if dest.exists() && !dest.is_dir() {
        bail!(
            "the output path {} exists and is not a directory: pass --output with a directory path, or remove the file",
            dest.display()
        );
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)
        .with_context(|| format!("creating the output directory {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".slim-image-layout-")
        .tempdir_in(&parent)
        .with_context(|| {
            format!(
                "creating a temp directory in {} for the OCI layout",
                parent.display()
            )
        })?;
    let writing = || format!("writing the OCI layout {}", dest.display());
    let blobs = tmp.path().join("blobs").join("sha256");
    fs::create_dir_all(&blobs).with_context(writing)?;
    for d in all_blobs(img) {
        img.store
            .export(&d, &blobs.join(d.digest.hex()))
            .with_context(writing)?;
    }
    fs::write(tmp.path().join("oci-layout"), OCI_LAYOUT).with_context(writing)?;
    fs::write(
        tmp.path().join("index.json"),
        canonical_json(&index_for(img, false)),
    )
    .with_context(writing)?;
    // From here on the destination changes: one writer at a time (see the module docs).
    let _lock = lock_beside(dest, &parent)?;
    // Swap the finished directory in. A directory cannot be renamed over a non-empty one, so the old
    // layout is moved aside first and removed after.
    crate::blob::set_mode(tmp.path(), 0o755)?;
    let staged = tmp.keep();
    let mut old = None;
    if dest.exists() {
        let aside = parent.join(format!(
            ".slim-image-old-{}-{}",
            std::process::id(),
            dest.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("layout")
        ));
        let _ = fs::remove_dir_all(&aside);
        fs::rename(dest, &aside)
            .with_context(|| format!("moving the previous layout {} aside", dest.display()))?;
        old = Some(aside);
    }
    if let Err(e) = fs::rename(&staged, dest) {
        let _ = fs::remove_dir_all(&staged);
        if let Some(aside) = &old {
            let _ = fs::rename(aside, dest);
        }
        return Err(e).with_context(|| format!("moving the new layout into {}", dest.display()));
    }
    if let Some(aside) = old {
        let _ = fs::remove_dir_all(aside);
    }
    Ok(dest.to_path_buf())
}

/// Take the advisory lock for writing `dest` (a file `.<name>.slim-image-lock` in `parent`), waiting
/// for another run that holds it; the lock is released when the returned file is dropped.
fn lock_beside(dest: &Path, parent: &Path) -> Result<fs::File> {
    let name = dest
        .file_name()
        .map_or_else(|| "layout".into(), |n| n.to_string_lossy());
    let path = parent.join(format!(".{name}.slim-image-lock"));
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(fs::TryLockError::WouldBlock) => crate::ui::note(format!(
            "waiting for another cargo slim-image that is writing {} (lock {})",
            dest.display(),
            path.display()
        )),
        Err(fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
    file.lock()
        .with_context(|| format!("waiting for the lock {}", path.display()))?;
    Ok(file)
}
