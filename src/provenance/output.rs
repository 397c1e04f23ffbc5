//! The provenance of a run's images: one statement per platform manifest, stored as its OCI 1.1
//! referrer and staged for the file beside the layout.
//!
//! Takes an assembled image and the run's facts ([`Run`]); gives one [`ProvOut`] per platform
//! manifest. The artifact is made by the SBOM's referrer code ([`crate::sbom::referrer::write`]):
//! `artifactType` [`MEDIA_TYPE`], the statement as its one layer, `subject` = the manifest; it is
//! pushed ([`crate::sbom::referrer::push`], with the `sha256-<hex>` fallback tag), carried in the
//! tarball, and written beside the layout as `<layout>.provenance.json`
//! (`<layout>.<os>-<arch>.provenance.json` for several platforms), all as the SBOM is.

use super::{statement, Choice, Run, Subject, MEDIA_TYPE};
use crate::blob::{Artifact, BlobStore, Descriptor};
use crate::digest::Digest;
use crate::plan::ImageSpec;
use crate::platform::Platform;
use crate::report::ProvReport;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub use super::choice::SUFFIX;

/// The provenance of one platform manifest.
#[derive(Debug, Clone)]
pub struct ProvOut {
    /// The platform.
    pub platform: Platform,
    /// The file beside the layout.
    pub path: PathBuf,
    /// Its file name (beside the layout and in the tarball).
    pub file_name: String,
    /// The statement blob.
    pub document: Descriptor,
    /// The image manifest it is about (the referrer's `subject`).
    pub subject: Descriptor,
    /// The referrer artifact.
    pub artifact: Artifact,
}

impl ProvOut {
    /// The report entry.
    pub fn report(&self) -> ProvReport {
        ProvReport {
            platform: self.platform.to_string(),
            path: self.path.clone(),
            digest: self.document.digest.clone(),
            artifact_digest: self.artifact.root.digest.clone(),
            subject: self.subject.digest.clone(),
        }
    }
}

/// The statement file beside `layout` for `platform`.
pub fn path_beside(layout: &Path, platform: Platform, several: bool) -> PathBuf {
    crate::sink::beside::path(layout, platform, several, SUFFIX)
}

/// The digest of a file the build read (a prebuilt binary, an extra file), through the store's
/// hashing of its content.
fn file_digest(path: &Path) -> Result<Digest> {
    let mut f = std::fs::File::open(path)
        .with_context(|| format!("reading {} for the provenance", path.display()))?;
    let (digest, _) = crate::digest::of_reader(&mut f)
        .with_context(|| format!("reading {} for the provenance", path.display()))?;
    Ok(digest)
}

/// The digests of the files an image's build read, as its statements name them: `(binary name,
/// digest)` of each prebuilt binary, `(destination or ca:N, digest)` of each extra file.
pub type Inputs = (Vec<(String, Digest)>, Vec<(String, Digest)>);

/// Hash the extra files `img`'s build read, `(destination or ca:N, digest)` (none with
/// `provenance = "none"`). Independent of the image's layers, so it runs while they are made
/// (`execute`). The prebuilt binaries are not hashed here: the layers read them whole, in every
/// `debuginfo` mode, and [`with_read`] adds their digests (a 34 MB binary read once, and named by
/// the bytes that were packaged, also when another process rewrites the file meanwhile).
pub fn extra_files(img: &ImageSpec) -> Result<Vec<(String, Digest)>> {
    let mut files = Vec::new();
    if img.provenance == Choice::None {
        return Ok(files);
    }
    for f in &img.files {
        files.push((f.dest.clone(), file_digest(&f.src)?));
    }
    for (i, ca) in img.ca.extra.iter().enumerate() {
        files.push((format!("ca:{i}"), file_digest(ca)?));
    }
    Ok(files)
}

/// The [`Inputs`] of an image's statements: the digests of the prebuilt binaries the layers read
/// (`read`, by binary name), in the image's order of binaries, and those of its extra `files`.
pub fn with_read(
    files: Vec<(String, Digest)>,
    img: &ImageSpec,
    read: &std::collections::BTreeMap<String, Digest>,
) -> Result<Inputs> {
    if img.provenance == Choice::None {
        return Ok((Vec::new(), files));
    }
    let mut prebuilt = Vec::new();
    for b in &img.binaries {
        if let Some(p) = &b.prebuilt {
            let d = read.get(&b.name).with_context(|| {
                format!(
                    "internal error: the layers did not give the digest of {} for the provenance",
                    p.display()
                )
            })?;
            prebuilt.push((b.name.clone(), d.clone()));
        }
    }
    Ok((prebuilt, files))
}

/// Make and store the statements of one assembled image (none with `provenance = "none"`).
/// `inputs` are the digests of the files its build read ([`with_read`]), `from` the resolved base.
pub fn make(
    store: &BlobStore,
    img: &ImageSpec,
    artifact: &Artifact,
    run: &Run,
    (from, inputs): (Option<&crate::base::BaseImage>, Inputs),
    created: &str,
) -> Result<Vec<ProvOut>> {
    if img.provenance == Choice::None {
        return Ok(Vec::new());
    }
    let pairs = artifact.platform_manifests(&img.platforms);
    let several = pairs.len() > 1;
    let (prebuilt, files) = inputs;
    // A registry base by its resolved name; a local one without its path (see `base_param`).
    let base_name = match &img.base {
        crate::base::BaseSource::Registry(_) => from.map(|b| format!("docker://{}", b.name)),
        _ => Some(super::base_param(img)),
    };
    let mut out = Vec::new();
    for (platform, manifest) in pairs {
        let base = match (from, &base_name) {
            (Some(b), Some(n)) => Some((
                n.as_str(),
                &b.digest,
                &b.platform(platform)?.manifest.digest,
            )),
            _ => None,
        };
        let subject = Subject {
            img,
            platform,
            manifest: &manifest.digest,
            base,
            prebuilt: prebuilt.clone(),
            files: files.clone(),
        };
        let bytes = statement(&subject, run);
        let path = path_beside(&img.layout, platform, several);
        let file_name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let (document, art) = crate::sbom::referrer::write(
            store, &manifest, MEDIA_TYPE, &file_name, &bytes, created,
        )?;
        out.push(ProvOut {
            platform,
            path,
            file_name,
            document,
            subject: manifest,
            artifact: art,
        });
    }
    Ok(out)
}

/// Stage each statement for its file beside the layout, for [`crate::sink::layout::write`] to
/// commit with the layout (as the SBOM files are).
pub fn stage_beside(
    store: &BlobStore,
    outs: &[ProvOut],
) -> Result<Vec<crate::sink::beside::Staged>> {
    outs.iter()
        .map(|p| {
            let file = crate::sink::beside::File {
                path: p.path.clone(),
                kind: crate::sink::commit::Kind::Provenance,
                noun: "provenance".into(),
            };
            crate::sink::beside::stage(store, &p.document, file)
        })
        .collect()
}
