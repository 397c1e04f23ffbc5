//! Which files beside a layout are this tool's debug files, so a build replaces or removes only
//! those: a `<layout>.<binary>.debug` of the user's is refused, never overwritten, and the debug
//! files of an earlier `split` build that this build does not write (`--debuginfo keep` / `drop`, a
//! binary gone) are removed with the layout's replacement.
//!
//! A file is the tool's when it is a regular file (not a symlink) named `<layout>.[<os>-<arch>.]<title>`
//! whose sha256 is a layer of a debug-info artifact ([`super::output::ARTIFACT_TYPE`]) among the
//! blobs of the layout it stands beside, `title` being that layer's title: the layout written with
//! it records it. Read before the layout is replaced ([`Beside::look`]), acted on after.

use super::output::{ARTIFACT_TYPE, FILE_MEDIA_TYPE};
use crate::digest::Digest;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The debug files the layout there now records, as (title, digest).
#[derive(Debug, Default)]
pub struct Beside {
    layout: PathBuf,
    recorded: BTreeSet<(String, Digest)>,
}

impl Beside {
    /// Read what the layout at `layout` (symlinks followed) records; nothing when there is none.
    pub fn look(layout: &Path) -> Result<Beside> {
        let real = crate::sink::commit::follow_links(layout)?;
        let mut recorded = BTreeSet::new();
        let blobs = real.join("blobs").join("sha256");
        if real.join("oci-layout").is_file() {
            for e in std::fs::read_dir(&blobs).into_iter().flatten().flatten() {
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
                if m.artifact_type.as_deref() != Some(ARTIFACT_TYPE) {
                    continue;
                }
                for l in m.layers.iter().filter(|l| l.media_type == FILE_MEDIA_TYPE) {
                    if let Some(t) = l.annotations.get("org.opencontainers.image.title") {
                        recorded.insert((t.clone(), l.digest.clone()));
                    }
                }
            }
        }
        Ok(Beside {
            layout: layout.to_path_buf(),
            recorded,
        })
    }

    /// Whether `path` is a debug file the layout records (see the module docs).
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
            .filter(|(t, _)| rest == t || rest.ends_with(&format!(".{t}")))
            .map(|(_, d)| d)
            .collect();
        if titled.is_empty() {
            return false;
        }
        hash_file(path).is_ok_and(|d| titled.contains(&&d))
    }

    /// Refuse when a debug file is to be written where something of the user's is (anything but
    /// a debug file the layout records, or nothing).
    pub fn check_dests<'a>(&self, dests: impl IntoIterator<Item = &'a PathBuf>) -> Result<()> {
        for d in dests {
            if std::fs::symlink_metadata(d).is_ok() && !self.ours(d) {
                bail!(
                    "{} exists and is not a debug file written with the layout {}, so the debug file \
                     of this build cannot replace it: move it away, or use --debuginfo keep; nothing \
                     was written",
                    d.display(),
                    self.layout.display()
                );
            }
        }
        Ok(())
    }

    /// The debug files beside the layout that it records and that are not among `dests`: an
    /// earlier build's, stale once the layout is replaced.
    pub fn stale(&self, dests: &[PathBuf]) -> Vec<PathBuf> {
        if self.recorded.is_empty() {
            return Vec::new();
        }
        let parent = crate::sink::commit::parent_of(&self.layout);
        let mut out: Vec<PathBuf> = std::fs::read_dir(&parent)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| parent.join(e.file_name()))
            .filter(|p| p.extension().is_some_and(|x| x == "debug"))
            .filter(|p| !dests.iter().any(|d| d.file_name() == p.file_name()))
            .filter(|p| self.ours(p))
            .collect();
        out.sort();
        out
    }
}

fn hash_file(path: &Path) -> Result<Digest> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut h = crate::digest::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finish().0);
        }
        h.update(&buf[..n]);
    }
}
