//! Where split debug info goes: files beside the layout, the tarball, and an OCI 1.1 referrer per
//! platform manifest on `--push`.
//!
//! Takes an assembled image and the [`DebugFile`]s split off its binaries; gives one [`DebugOut`]
//! per platform manifest that has any: the artifact (the SBOM's referrer code,
//! [`crate::sbom::referrer::write_files`]) whose `artifactType` is [`ARTIFACT_TYPE`], whose layers
//! are the debug files (media type [`FILE_MEDIA_TYPE`], the ELF as is, titled `<binary>.debug`) and
//! whose `subject` is the platform's manifest; and the files beside the layout,
//! `<layout>.<binary>.debug` (`<layout>.<os>-<arch>.<binary>.debug` for several platforms), staged
//! here and committed with the layout by `sink::layout::write`, as the SBOM files are (the
//! artifact's blobs go into the layout's `blobs/` too, unlisted, for `debuginfo oci:DIR`).

use crate::blob::{Artifact, BlobStore, Descriptor};
use crate::plan::ImageSpec;
use crate::platform::Platform;
use crate::report::DebugFileReport;
use anyhow::Result;
use std::path::{Path, PathBuf};

pub use super::mode::{ARTIFACT_TYPE, FILE_MEDIA_TYPE};

/// One binary's debug file, made while its image's application layer was.
#[derive(Debug, Clone)]
pub struct DebugFile {
    /// The platform of the binary.
    pub platform: crate::platform::Platform,
    /// The binary's name.
    pub binary: String,
    /// The file's name, `<binary>.debug` (the stripped binary's `.gnu_debuglink`).
    pub name: String,
    /// Its blob in the store (media type [`FILE_MEDIA_TYPE`]).
    pub blob: crate::blob::Descriptor,
}

/// The debug info of one platform manifest.
#[derive(Debug, Clone)]
pub struct DebugOut {
    /// The platform.
    pub platform: Platform,
    /// The image manifest it belongs to (the referrer's `subject`).
    pub subject: Descriptor,
    /// Per binary: the file's name in the artifact (`<binary>.debug`), its path beside the layout,
    /// and its blob.
    pub files: Vec<(String, PathBuf, Descriptor)>,
    /// The referrer artifact.
    pub artifact: Artifact,
}

/// The file beside `layout` for debug file `name`: `<layout>.<name>`, or
/// `<layout>.<os>-<arch>.<name>` when the image has several platforms.
pub fn path_beside(layout: &Path, platform: Platform, several: bool, name: &str) -> PathBuf {
    crate::sink::beside::path(layout, platform, several, name)
}

/// Store the debug files of one assembled image as referrers, one artifact per platform manifest
/// that has any (none when nothing was split).
pub fn make(
    store: &BlobStore,
    img: &ImageSpec,
    artifact: &Artifact,
    files: &[DebugFile],
    created: &str,
) -> Result<Vec<DebugOut>> {
    let pairs = artifact.platform_manifests(&img.platforms);
    let several = pairs.len() > 1;
    let mut out = Vec::new();
    for (platform, manifest) in pairs {
        let mine: Vec<&DebugFile> = files.iter().filter(|f| f.platform == platform).collect();
        if mine.is_empty() {
            continue;
        }
        let layers: Vec<(&str, Descriptor)> = mine
            .iter()
            .map(|f| (f.name.as_str(), f.blob.clone()))
            .collect();
        let (docs, art) =
            crate::sbom::referrer::write_stored(store, &manifest, ARTIFACT_TYPE, &layers, created)?;
        let files = mine
            .iter()
            .zip(docs)
            .map(|(f, d)| {
                let path = path_beside(&img.layout, platform, several, &f.name);
                (f.name.clone(), path, d)
            })
            .collect();
        out.push(DebugOut {
            platform,
            subject: manifest,
            files,
            artifact: art,
        });
    }
    Ok(out)
}

/// Stage every debug file for its path beside the layout, for `sink::layout::write` to
/// commit with the layout.
pub fn stage_beside(
    store: &BlobStore,
    outs: &[DebugOut],
) -> Result<Vec<crate::sink::beside::Staged>> {
    let mut staged = Vec::new();
    for (name, path, blob) in outs.iter().flat_map(|o| &o.files) {
        let file = crate::sink::beside::File {
            path: path.clone(),
            kind: crate::sink::commit::Kind::Debug,
            noun: format!(
                "debug file of {}",
                name.strip_suffix(".debug").unwrap_or(name)
            ),
        };
        staged.push(crate::sink::beside::stage(store, blob, file)?);
    }
    Ok(staged)
}

impl DebugOut {
    /// The report entries of its files.
    pub fn report(&self) -> Vec<DebugFileReport> {
        self.files
            .iter()
            .map(|(name, path, d)| DebugFileReport {
                platform: self.platform.to_string(),
                name: name.clone(),
                path: path.clone(),
                digest: d.digest.clone(),
                size: d.size,
                artifact_digest: self.artifact.root.digest.clone(),
                subject: self.subject.digest.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_files_go_beside_the_layout_named_after_it_and_the_platform_when_several() {
        let amd: Platform = "linux/amd64".parse().unwrap();
        let arm: Platform = "linux/arm64".parse().unwrap();
        let layout = Path::new("/o/app");
        assert_eq!(
            path_beside(layout, amd, false, "app.debug"),
            Path::new("/o/app.app.debug")
        );
        assert_eq!(
            path_beside(layout, arm, true, "app.debug"),
            Path::new("/o/app.linux-arm64.app.debug")
        );
    }
}
