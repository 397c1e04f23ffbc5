//! The OCI image layout sink: a directory with `oci-layout`, `index.json` and `blobs/sha256/*`.
//!
//! Written into a temp directory beside the destination, fsynced, and swapped into place, so a failed
//! or interrupted run never leaves a half layout; each blob is its own copy of the store's (a reflink
//! where the file system has them), never a hard link, so a later change to the cache cannot reach it. `index.json` has one entry per tag with `org.opencontainers.image.ref.name` set to the tag
//! (what `skopeo oci:DIR:TAG` and `umoci --image DIR:TAG` look up), plus `io.containerd.image.name`
//! with the full name, which `ctr import` and podman use.
//!
//! Only a missing path, an empty directory or an existing OCI layout is replaced ([`check_replaceable`]):
//! a project folder given as `-o .` is refused, at plan time and again just before the swap.
//!
//! Two runs writing the same layout at once take turns on the lock of [`commit::DestLock`]; the second
//! one says on stderr that it waits. The layout and the files beside it (SBOM, provenance, debug
//! files) are one unit: all are staged first and renamed into place under that one lock
//! ([`commit::commit_removing`]), which also removes the files an earlier run wrote beside it and
//! this one does not ([`super::beside`]: the layout records which are ours).
//!
//! [`Layout`] is the sink: every image to the `layout` directory of its plan entry.

use super::api::{BuiltImage, Named, Sink};
use super::commit::{self, DestLock, Kind, Temp};
use crate::blob::{canonical_json, media, Descriptor};
use crate::image::Index;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

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
        artifact_type: None,
        subject: None,
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

/// The top-level entries of an OCI image layout (image-layout spec); a directory with anything else
/// in it is not replaced.
const LAYOUT_ENTRIES: [&str; 3] = ["oci-layout", "index.json", "blobs"];

/// Whether `dest` may be replaced by a layout: it does not exist, or it is an empty directory, or an
/// OCI image layout (an `oci-layout` file, and nothing but `index.json` and `blobs` beside it). Anything else is the user's and is refused, with
/// `what` naming where the path came from (e.g. `--output`). Checked at plan time and again under
/// the lock, just before the swap.
pub fn check_replaceable(dest: &Path, what: &str) -> Result<()> {
    if !matches!(dest.components().next_back(), Some(Component::Normal(_))) {
        bail!(
            "{what} {} names no directory of its own (`.`, `..` or `/`), and the OCI layout replaces \
             its destination: give a new directory name, e.g. {}",
            dest.display(),
            dest.join("image").display()
        );
    }
    let meta = match fs::metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("looking at {what} {}", dest.display())),
    };
    if !meta.is_dir() {
        bail!(
            "{what} {} exists and is not a directory: give a directory path (the OCI layout is a \
             directory), or remove the file",
            dest.display()
        );
    }
    let mut entries =
        fs::read_dir(dest).with_context(|| format!("reading {what} {}", dest.display()))?;
    if dest.join("oci-layout").is_file() {
        // A layout is replaced whole: only when it holds nothing but a layout's own entries.
        for e in entries {
            let e = e.with_context(|| format!("reading {what} {}", dest.display()))?;
            let name = e.file_name();
            if !LAYOUT_ENTRIES.iter().any(|n| name == *n) {
                bail!(
                    "{what} {} is an OCI image layout that also holds {}, which is not part of a \
                     layout, and writing the layout would replace everything in it: move {} out of \
                     it, or give another directory",
                    dest.display(),
                    e.path().display(),
                    name.to_string_lossy()
                );
            }
        }
        return Ok(());
    }
    if entries.next().is_some() {
        bail!(
            "{what} {} is a directory that is neither empty nor an OCI image layout (it has no \
             `oci-layout` file), and writing the layout would replace everything in it: give a new or \
             empty directory, e.g. {}, or move its contents away yourself",
            dest.display(),
            dest.join("image").display()
        );
    }
    Ok(())
}

/// Copy every blob of `img` into `blobs`, the layout's `blobs/sha256`: its own copy (a reflink where
/// the file system has them), never a hard link, checked against its digest ([`BlobStore::export`]).
///
/// [`BlobStore::export`]: crate::blob::BlobStore::export
fn place_blobs(
    img: &Named<'_>,
    referrers: &[&crate::blob::Artifact],
    blobs: &Path,
    dest: &Path,
) -> Result<()> {
    let mut all = all_blobs(img);
    for r in referrers {
        all.push(r.root.clone());
        all.extend(r.blobs.iter().cloned());
    }
    all.sort_by(|x, y| x.digest.cmp(&y.digest));
    all.dedup_by(|x, y| x.digest == y.digest);
    for d in all {
        img.store
            .export(&d, &blobs.join(d.digest.hex()))
            .with_context(|| format!("writing the OCI layout {}", dest.display()))?;
    }
    Ok(())
}

/// Write `img` as an OCI layout at `dest`, replacing the layout (or empty directory) there, together
/// with `beside` (the staged SBOM, provenance and debug files): all of it is committed as one unit
/// under the lock of `dest` (see [`commit`]), after [`super::beside::settle`] has checked, against
/// the layout there now, that none of them replaces a file of the user's. The blobs of `referrers`
/// (the artifacts about the image whose layers are those files) go under `blobs/` too, not into
/// `index.json` (which then names one image only, as podman and `verify` want): that is how the
/// next run knows the files are ours, and `cargo slim-image debuginfo oci:DIR` finds them there.
/// Returns `dest`.
pub fn write(
    img: &Named<'_>,
    given: &Path,
    beside: Vec<super::beside::Staged>,
    referrers: &[&crate::blob::Artifact],
) -> Result<PathBuf> {
    check_replaceable(given, "the output directory")?;
    // A symlink is followed: the layout it points to is replaced, the link stays.
    let followed = commit::follow_links(given)?;
    let dest = followed.as_path();
    check_replaceable(dest, "the output directory")?;
    let parent = commit::parent_of(dest);
    fs::create_dir_all(&parent)
        .with_context(|| format!("creating the output directory {}", parent.display()))?;
    commit::sweep(&parent);
    let tmp = Temp::dir(&parent, Kind::Layout)?;
    let writing = || format!("writing the OCI layout {}", dest.display());
    let blobs = tmp.path().join("blobs").join("sha256");
    fs::create_dir_all(&blobs).with_context(writing)?;
    place_blobs(img, referrers, &blobs, dest)?;
    fs::write(tmp.path().join("oci-layout"), OCI_LAYOUT).with_context(writing)?;
    fs::write(
        tmp.path().join("index.json"),
        canonical_json(&index_for(img, false)),
    )
    .with_context(writing)?;
    crate::blob::set_mode(tmp.path(), 0o755)?;
    // From here on the destination changes: one writer at a time (see the module docs).
    let lock = DestLock::take(dest)?;
    // Another run (or the user) may have changed it while we waited.
    check_replaceable(dest, "the output directory")?;
    let (files, stale) = super::beside::settle(given, beside)?;
    let mut unit = vec![(tmp, dest.to_path_buf())];
    unit.extend(files);
    commit::commit_removing(&lock, unit, &stale)?;
    Ok(given.to_path_buf())
}

/// The OCI layout sink: each image to the directory its plan entry names (`-o`), with the files
/// beside it and its referrers' blobs (see [`write()`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Layout;

impl Sink for Layout {
    fn write(&self, image: &BuiltImage<'_>, report: &mut crate::report::ImageReport) -> Result<()> {
        // The files beside the layout go with it, as one unit; which of the files there are ours
        // (replaced, or removed when this run does not write them) is decided by super::beside.
        let beside = (image.stage_beside)()?;
        // Their artifacts go into the layout's blobs: the record of which files beside it are ours.
        let referrers: Vec<&crate::blob::Artifact> =
            image.referrers.iter().map(|r| r.artifact).collect();
        let layout = write(&image.named, &image.spec.layout, beside, &referrers)?;
        crate::ui::status("Wrote", format!("OCI layout {}", layout.display()));
        report.layout = layout;
        Ok(())
    }
}
