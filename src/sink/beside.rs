//! The files a run writes beside its OCI layout (SBOM, provenance, split debug info), and which
//! files there are this tool's: one rule for all of them, so a file of the user's with such a name
//! is refused (never replaced, never followed if it is a symlink), a file of an earlier run is
//! replaced, and the files of an earlier run that this run does not write (`--sbom none`,
//! `--provenance none`, `--debuginfo keep`, a platform or binary gone) are removed with the layout's
//! replacement, and nothing else.
//!
//! **The rule.** A file beside the layout `DIR` is the tool's when it is a regular file named
//! `DIR.<rest>` and the layout `DIR` holds, under `blobs/sha256`, one of our referrer artifacts
//! ([`TYPES`]) with a layer titled after it (the whole name, or the tail of `<rest>`) whose digest
//! is the file's sha256. The layout written with the file records it, because each file beside the
//! layout is a layer of a referrer artifact of the image and `sink::layout::write` puts those
//! artifacts' blobs into the layout, unlisted in `index.json`, as the tarball carries them.
//!
//! Why this rule: the proof of ownership lives in the output that was written with the files, in
//! one unit under one lock, so it cannot disagree with them; nothing extra is written (no record
//! file, no marker that could be lost or forged by a copy), `index.json` and every image digest stay
//! as they were (a layout still names one image; skopeo, umoci and `verify` see no change), and an
//! edited file no longer matches its digest, so it counts as the user's. The one cost: a file
//! written by a version that did not keep its SBOM or provenance in the layout is refused once.
//!
//! Checked twice: at plan time ([`check_planned`], every path the run may write, before anything
//! is built) and under the layout's lock just before the commit ([`settle`], the paths it writes).

use super::commit::{self, Kind, Temp};
use crate::blob::{BlobStore, Descriptor};
use crate::digest::Digest;
use crate::plan::ImageSpec;
use crate::platform::Platform;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The `artifactType`s of the referrers whose layers are written beside a layout.
pub const TYPES: [&str; 4] = [
    crate::debuginfo::mode::ARTIFACT_TYPE,
    "application/spdx+json",
    "application/vnd.cyclonedx+json",
    crate::provenance::choice::MEDIA_TYPE,
];

/// One file a run writes (or may write) beside its layout.
#[derive(Debug, Clone)]
pub struct File {
    /// Its path: `<layout>.[<os>-<arch>.]<suffix>`.
    pub path: PathBuf,
    /// What it is: [`Kind::Sbom`], [`Kind::Provenance`] or [`Kind::Debug`].
    pub kind: Kind,
    /// What it holds, for messages: `SBOM`, `provenance`, `debug file of hello`.
    pub noun: String,
}

impl File {
    /// The flag that stops this run writing it.
    pub fn off_flag(&self) -> &'static str {
        match self.kind {
            Kind::Sbom => "--sbom none",
            Kind::Provenance => "--provenance none",
            _ => "--debuginfo keep",
        }
    }

    fn kind_noun(&self) -> &'static str {
        match self.kind {
            Kind::Sbom => "an SBOM file",
            Kind::Provenance => "a provenance file",
            _ => "a debug file",
        }
    }
}

/// The file beside `layout` with `suffix` (`spdx.json`, `provenance.json`, `<binary>.debug`):
/// `<layout>.<suffix>`, or `<layout>.<os>-<arch>.<suffix>` when the image has several platforms.
pub fn path(layout: &Path, platform: Platform, several: bool, suffix: &str) -> PathBuf {
    let base = layout
        .file_name()
        .map_or_else(|| "image".to_string(), |n| n.to_string_lossy().into_owned());
    let file = if several {
        format!(
            "{base}.{}-{}.{suffix}",
            platform.os(),
            platform.architecture()
        )
    } else {
        format!("{base}.{suffix}")
    };
    layout.with_file_name(file)
}

/// Every file beside its layout that the run of `img` may write. Which binaries have DWARF is only
/// known after the build, so with `debuginfo = "split"` every binary's debug file is listed.
pub fn planned(img: &ImageSpec) -> Vec<File> {
    let several = img.platforms.len() > 1;
    let mut out = Vec::new();
    for &p in &img.platforms {
        if let Some(format) = img.sbom {
            out.push(File {
                path: path(&img.layout, p, several, format.suffix()),
                kind: Kind::Sbom,
                noun: "SBOM".into(),
            });
        }
        if img.provenance != crate::provenance::choice::Choice::None {
            out.push(File {
                path: path(&img.layout, p, several, crate::provenance::choice::SUFFIX),
                kind: Kind::Provenance,
                noun: "provenance".into(),
            });
        }
        if img.debuginfo == crate::debuginfo::mode::Mode::Split {
            for b in &img.binaries {
                out.push(File {
                    path: path(&img.layout, p, several, &format!("{}.debug", b.name)),
                    kind: Kind::Debug,
                    noun: format!("debug file of {}", b.name),
                });
            }
        }
    }
    out
}

/// Refuse, before anything is built, a run that would write a file beside its layout where
/// something of the user's is.
pub fn check_planned(img: &ImageSpec) -> Result<()> {
    Record::look(&img.layout)?.check(&planned(img), "nothing was built or written")
}

/// A file staged for its place beside the layout: a finished temp (mode 0644) next to it.
#[derive(Debug)]
pub struct Staged {
    temp: Temp,
    file: File,
}

/// Stage blob `blob` of `store` as `file` (copied and checked against its digest by the store).
pub fn stage(store: &BlobStore, blob: &Descriptor, file: File) -> Result<Staged> {
    let dir = commit::parent_of(&file.path);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating {} for the {}", dir.display(), file.noun))?;
    let temp = Temp::file(&dir, file.kind)?;
    // A kernel copy (a reflink where the file system has them), checked as a layout's blobs are.
    store
        .export_into(blob, temp.as_file(), temp.path())
        .with_context(|| format!("writing the {} {}", file.noun, file.path.display()))?;
    crate::blob::set_mode(temp.path(), 0o644)?;
    Ok(Staged { temp, file })
}

/// The entries of a commit unit (finished temps and their destinations), and the files to remove
/// with it.
pub type Settled = (Vec<(Temp, PathBuf)>, Vec<PathBuf>);

/// Under the lock of the layout `given`, just before its commit: refuse `staged` when one of its
/// paths holds something of the user's (the layout there now is what counts), and give the unit's
/// entries and the files of an earlier run to remove with it (see the module docs).
pub fn settle(given: &Path, staged: Vec<Staged>) -> Result<Settled> {
    let record = Record::look(given)?;
    let files: Vec<File> = staged.iter().map(|s| s.file.clone()).collect();
    record.check(&files, "nothing was written")?;
    let dests: Vec<PathBuf> = files.into_iter().map(|f| f.path).collect();
    let stale = record.stale(&dests);
    let unit = staged.into_iter().map(|s| (s.temp, s.file.path)).collect();
    Ok((unit, stale))
}

/// The files beside a layout that it records, as (layer title, digest).
#[derive(Debug, Default)]
struct Record {
    layout: PathBuf,
    recorded: BTreeSet<(String, Digest)>,
}

impl Record {
    /// Read what the layout at `layout` (symlinks followed) records; nothing when there is none.
    fn look(layout: &Path) -> Result<Record> {
        let real = commit::follow_links(layout)?;
        let mut recorded = BTreeSet::new();
        let blobs = real.join("blobs").join("sha256");
        if real.join("oci-layout").is_file() {
            for e in std::fs::read_dir(&blobs).into_iter().flatten().flatten() {
                // Artifact manifests are small; a layer is never read.
                let small = e.file_type().is_ok_and(|t| t.is_file())
                    && e.metadata().is_ok_and(|m| m.len() < 64 * 1024);
                if !small {
                    continue;
                }
                let Ok(bytes) = crate::base::bounded::read_file(&e.path(), "a layout blob") else {
                    continue;
                };
                let Ok(m) = serde_json::from_slice::<crate::image::Manifest>(&bytes) else {
                    continue;
                };
                if !m
                    .artifact_type
                    .as_deref()
                    .is_some_and(|t| TYPES.contains(&t))
                {
                    continue;
                }
                for l in &m.layers {
                    if let Some(t) = l.annotations.get("org.opencontainers.image.title") {
                        recorded.insert((t.clone(), l.digest.clone()));
                    }
                }
            }
        }
        Ok(Record {
            layout: layout.to_path_buf(),
            recorded,
        })
    }

    /// Whether `path` is a file the layout records (see the module docs).
    fn ours(&self, path: &Path) -> bool {
        let Ok(m) = std::fs::symlink_metadata(path) else {
            return false;
        };
        if !m.file_type().is_file() {
            return false;
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let base = self
            .layout
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let (Some(name), Some(base)) = (name, base) else {
            return false;
        };
        let Some(rest) = name.strip_prefix(&format!("{base}.")) else {
            return false;
        };
        let titled: Vec<&Digest> = self
            .recorded
            .iter()
            .filter(|(t, _)| *t == name || rest == t || rest.ends_with(&format!(".{t}")))
            .map(|(_, d)| d)
            .collect();
        !titled.is_empty() && hash_file(path).is_ok_and(|d| titled.contains(&&d))
    }

    /// Refuse when one of `files` is to go where something of the user's is (anything but a file
    /// the layout records, or nothing). `nothing` ends the message: what was not done.
    fn check(&self, files: &[File], nothing: &str) -> Result<()> {
        for f in files {
            if std::fs::symlink_metadata(&f.path).is_ok() && !self.ours(&f.path) {
                bail!(
                    "{} exists and is not {} written with the layout {} (cargo slim-image replaces \
                     only the files beside a layout that it wrote with it), so the {} of this build \
                     cannot go there: move it away, or choose another -o (or use {}); {nothing}",
                    f.path.display(),
                    f.kind_noun(),
                    self.layout.display(),
                    f.noun,
                    f.off_flag()
                );
            }
        }
        Ok(())
    }

    /// The files beside the layout that it records and that are not among `dests`: an earlier
    /// run's, stale once the layout is replaced.
    fn stale(&self, dests: &[PathBuf]) -> Vec<PathBuf> {
        if self.recorded.is_empty() {
            return Vec::new();
        }
        let parent = commit::parent_of(&self.layout);
        let mut out: Vec<PathBuf> = std::fs::read_dir(&parent)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| parent.join(e.file_name()))
            .filter(|p| !dests.iter().any(|d| d.file_name() == p.file_name()))
            .filter(|p| self.ours(p))
            .collect();
        out.sort();
        out
    }
}

fn hash_file(path: &Path) -> Result<Digest> {
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let (digest, _) =
        crate::digest::of_reader(&mut f).with_context(|| format!("reading {}", path.display()))?;
    Ok(digest)
}
