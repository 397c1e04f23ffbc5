//! Results: what goes to stdout (one `name@digest` line per image, or one JSON document with
//! `--message-format json`), and the human size summary that goes to stderr.
//!
//! Takes the records the steps made ([`records`]: sizes, debug info, SBOMs, provenance, pushes) and
//! gives the [`Report`] of the run. A leaf: it imports only leaf modules (digest, platform, blob,
//! units, the SBOM format), so every step can fill it in and none of them is imported here.

pub mod records;

pub use records::{
    lossy_opt_path, lossy_path, path_json, summary_line, BinaryReport, DebugFileReport, ProvReport,
    PushReport, SbomReport, SizeReport,
};

use crate::blob::Descriptor;
use crate::digest::Digest;
use crate::platform::Platform;
use crate::sbom::format::Format;
use crate::units::human_size;
use serde::Serialize;
use std::path::PathBuf;

/// One layer, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    /// What the layer holds (`base`, `base-files`, `zoneinfo` or `app`).
    pub role: String,
    /// Compressed digest.
    pub digest: Digest,
    /// Media type.
    pub media_type: String,
    /// Compressed size.
    pub size: u64,
    /// Uncompressed (tar) size.
    pub uncompressed_size: u64,
    /// The compression level it was made at (gzip 1-12, zstd 1-19): for gzip by default the level
    /// its size chose. Absent for a base image's layers, which are not ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression_level: Option<i32>,
}

impl LayerReport {
    /// The report of the layer blob `d` in the role `role`.
    pub fn new(role: &str, d: &Descriptor, uncompressed_size: u64) -> LayerReport {
        LayerReport {
            role: role.into(),
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            size: d.size,
            uncompressed_size,
            compression_level: None,
        }
    }

    /// The same report, saying the level the layer was compressed at.
    pub fn at_level(mut self, level: Option<i32>) -> LayerReport {
        self.compression_level = level;
        self
    }
}

/// One platform's image manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestReport {
    /// `linux/amd64` etc.
    pub platform: String,
    /// Manifest digest.
    pub digest: Digest,
    /// Config digest.
    pub config_digest: Digest,
    /// Layers, bottom first.
    pub layers: Vec<LayerReport>,
    /// Sum of the compressed layer sizes.
    pub compressed_size: u64,
    /// Shares of binary, certificates and base, and the alpine comparison.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<SizeReport>,
    /// Per binary: what `debuginfo` did and how many bytes it took out of the image.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub debuginfo: Vec<BinaryReport>,
}

/// One image, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    /// Repository.
    pub name: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Binary names.
    pub binaries: Vec<String>,
    /// Platforms.
    pub platforms: Vec<String>,
    /// No `--platform` and no `platforms` key named them: linux/amd64, the default.
    pub default_platform: bool,
    /// The root digest (manifest, or index for several platforms).
    pub digest: Digest,
    /// The root's media type.
    pub media_type: String,
    /// Per-platform manifests.
    pub manifests: Vec<ManifestReport>,
    /// The OCI layout directory.
    #[serde(serialize_with = "lossy_path")]
    pub layout: PathBuf,
    /// The tarball, if written.
    #[serde(serialize_with = "lossy_opt_path")]
    pub tarball: Option<PathBuf>,
    /// The engine it was loaded into, if any.
    pub loaded_into: Option<String>,
    /// Push results.
    pub pushed: Vec<PushReport>,
    /// The base image, unless FROM scratch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseReport>,
    /// SBOMs made (one per platform manifest).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub sbom: Vec<SbomReport>,
    /// Debug files split off its binaries (`debuginfo = "split"`), every platform's.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub debuginfo: Vec<DebugFileReport>,
    /// Provenance statements made (one per platform manifest).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub provenance: Vec<ProvReport>,
    /// The cosign signature and attestation images pushed (`registry/repo:sha256-<hex>.sig@digest`,
    /// `.att`), with a signing key.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub signatures: Vec<String>,
}

/// The base image an image was built on.
#[derive(Debug, Clone, Serialize)]
pub struct BaseReport {
    /// The base as given, normalised (e.g. `docker.io/library/alpine:3.20`).
    pub name: String,
    /// The digest it resolved to (index or manifest; a docker-archive's image ID).
    pub digest: Digest,
    /// Per platform, the base manifest used (`linux/amd64` -> digest).
    pub manifests: std::collections::BTreeMap<String, Digest>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The tool version.
    pub tool: String,
    /// Images.
    pub images: Vec<ImageReport>,
}

impl ManifestReport {
    /// Build from a platform's descriptors.
    pub fn new(
        platform: Platform,
        manifest: &Descriptor,
        config: &Descriptor,
        layers: Vec<LayerReport>,
    ) -> Self {
        ManifestReport {
            platform: platform.to_string(),
            digest: manifest.digest.clone(),
            config_digest: config.digest.clone(),
            compressed_size: layers.iter().map(|l| l.size).sum(),
            layers,
            size: None,
            debuginfo: Vec::new(),
        }
    }
}

impl Report {
    /// The stdout text: JSON, or one line per image (`name@digest`), and one per pushed reference.
    pub fn stdout(&self, json: bool) -> String {
        if json {
            let mut s = String::from_utf8(crate::blob::canonical_json(self)).unwrap_or_default();
            s.push('\n');
            return s;
        }
        let mut s = String::new();
        for img in &self.images {
            if img.pushed.is_empty() {
                s.push_str(&format!("{}@{}\n", img.name, img.digest));
            }
            for p in &img.pushed {
                s.push_str(&format!("{}@{}\n", p.reference, p.digest));
            }
        }
        s
    }

    /// The human summary, for stderr.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for img in &self.images {
            for m in &img.manifests {
                let parts: Vec<String> = m
                    .layers
                    .iter()
                    .map(|l| format!("{} {}", l.role, human_size(l.size)))
                    .collect();
                s.push_str(&format!(
                    "{:>12} {}:{} ({}) {} compressed: {}\n",
                    "Image",
                    img.name,
                    img.tags.first().map(String::as_str).unwrap_or(""),
                    if img.default_platform {
                        format!("{}, the default platform", m.platform)
                    } else {
                        m.platform.clone()
                    },
                    human_size(m.compressed_size),
                    parts.join(", ")
                ));
                if let Some(z) = &m.size {
                    s.push_str(&format!("{:>12} {}\n", "Size", z.line()));
                }
                if let Some(line) = summary_line(&m.debuginfo) {
                    s.push_str(&format!("{:>12} {line}\n", "Debug info"));
                }
            }
            for b in &img.sbom {
                s.push_str(&format!(
                    "{:>12} {} ({}, {} crate(s), {})\n",
                    "SBOM",
                    b.path.display(),
                    match b.format {
                        Format::Spdx => "SPDX 2.3",
                        Format::Cyclonedx => "CycloneDX 1.5",
                    },
                    b.crates,
                    b.platform
                ));
            }
            for d in &img.debuginfo {
                s.push_str(&format!(
                    "{:>12} {} ({}, {})\n",
                    "Debug file",
                    d.path.display(),
                    human_size(d.size),
                    d.platform
                ));
            }
            for p in &img.provenance {
                s.push_str(&format!(
                    "{:>12} {} (SLSA v1, {})\n",
                    "Provenance",
                    p.path.display(),
                    p.platform
                ));
            }
        }
        s
    }
}
