//! The records the steps of a run add to its report: the size shares of a platform's image
//! ([`SizeReport`]), what `debuginfo` did to each binary ([`BinaryReport`]) and the debug files,
//! SBOMs and provenance statements written beside the layout ([`DebugFileReport`], [`SbomReport`],
//! [`ProvReport`]), and what each pushed reference cost ([`PushReport`]); and how a path is written
//! in JSON ([`path_json`], [`lossy_path`]). Plain values: this module imports only leaf modules, so
//! the steps that fill these records import the report, never the other way round.

use crate::digest::Digest;
use crate::sbom::format::Format;
use crate::units::human_size;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A path as a JSON string. JSON text is UTF-8, so bytes of a path that are not (a Linux file name
/// may hold any byte but `/` and NUL) are shown as U+FFFD, as [`Path::display`] shows them, instead
/// of failing the serialisation (`serde_json` refuses such a `Path`, and `json!` would panic).
pub fn path_json(p: &Path) -> Value {
    Value::String(p.to_string_lossy().into_owned())
}

/// For `#[serde(serialize_with = "lossy_path")]`: a path field serialised as [`path_json`]
/// does, so a report naming a non-UTF-8 path is still JSON.
pub fn lossy_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// [`lossy_path`] for an optional path.
pub fn lossy_opt_path<S: serde::Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => lossy_path(p, s),
        None => s.serialize_none(),
    }
}

/// Compressed size of `alpine:3` (linux/amd64), about 3.4 MiB. A documented constant, not a pull:
/// this tool does not download images to compare with, so the output says "about".
pub const ALPINE_COMPRESSED: u64 = 3_565_158;

/// Where the compressed bytes of one platform's image go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SizeReport {
    /// The application layer (binaries and extra files), compressed.
    pub binary: u64,
    /// The CA certificates, compressed (0 with `ca-certificates = "none"`).
    pub certificates: u64,
    /// The zoneinfo layer (`timezones = true`), compressed; absent when there is none.
    #[serde(skip_serializing_if = "is_zero")]
    pub zoneinfo: u64,
    /// The rest of the base files (passwd, group, nsswitch.conf, directories) or a base image.
    pub base: u64,
    /// Sum of the compressed layers.
    pub total: u64,
    /// The same application layer on alpine:3 (an estimate from [`ALPINE_COMPRESSED`]).
    pub on_alpine: u64,
    /// The size budget, if one was set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SizeReport {
    /// Split `total` into the application layer, the certificates and the remaining base bytes.
    pub fn new(total: u64, app: u64, certificates: u64, budget: Option<u64>) -> SizeReport {
        SizeReport {
            binary: app,
            certificates,
            zoneinfo: 0,
            base: total.saturating_sub(app + certificates),
            total,
            on_alpine: ALPINE_COMPRESSED + app,
            budget,
        }
    }

    /// One human line: shares and the alpine comparison.
    pub fn line(&self) -> String {
        let pct = |n: u64| {
            if self.total == 0 {
                0.0
            } else {
                n as f64 * 100.0 / self.total as f64
            }
        };
        let h = human_size;
        let zoneinfo = if self.zoneinfo > 0 {
            format!(
                ", zoneinfo {} ({:.0}%)",
                h(self.zoneinfo),
                pct(self.zoneinfo)
            )
        } else {
            String::new()
        };
        format!(
            "binary {} ({:.0}%), certificates {} ({:.0}%){zoneinfo}, base {} ({:.0}%); on alpine:3 it would weigh about {} (alpine:3 is about {} compressed, a fixed estimate)",
            h(self.binary),
            pct(self.binary),
            h(self.certificates),
            pct(self.certificates),
            h(self.base),
            pct(self.base),
            h(self.on_alpine),
            h(ALPINE_COMPRESSED),
        )
    }
}

/// What happened to one binary's debug info, as reported (JSON `manifests[].debuginfo`).
#[derive(Debug, Clone, Serialize)]
pub struct BinaryReport {
    /// The binary's name.
    pub binary: String,
    /// `split`, `keep` or `drop`.
    pub mode: &'static str,
    /// Bytes the binary in the image lost (uncompressed; 0: it had no DWARF, or `keep`).
    pub removed: u64,
    /// Size of its debug file (`split` of a binary with DWARF), else absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debug_file_size: Option<u64>,
}

/// The human summary line of one platform's binaries, e.g. `app: 27.21 MiB out of the image
/// (split, app.debug kept)`; `None` when nothing was removed.
pub fn summary_line(reports: &[BinaryReport]) -> Option<String> {
    let parts: Vec<String> = reports
        .iter()
        .filter(|r| r.removed > 0)
        .map(|r| {
            let h = human_size;
            match r.debug_file_size {
                Some(d) => format!(
                    "{}: {} out of the image ({}.debug kept, {})",
                    r.binary,
                    h(r.removed),
                    r.binary,
                    h(d)
                ),
                None => format!("{}: {} out of the image (dropped)", r.binary, h(r.removed)),
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// One debug file, as reported in `--message-format json` (`images[].debuginfo`).
#[derive(Debug, Clone, Serialize)]
pub struct DebugFileReport {
    /// `linux/amd64` etc.
    pub platform: String,
    /// `<binary>.debug`: its name in the artifact, and the stripped binary's `.gnu_debuglink`.
    pub name: String,
    /// The file beside the layout.
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    /// Digest of the file.
    pub digest: Digest,
    /// Size of the file.
    pub size: u64,
    /// Digest of the referrer artifact manifest that carries it.
    pub artifact_digest: Digest,
    /// Digest of the image manifest it belongs to (the artifact's `subject`).
    pub subject: Digest,
}

/// One SBOM, as reported in `--message-format json`.
#[derive(Debug, Clone, Serialize)]
pub struct SbomReport {
    /// `linux/amd64` etc.
    pub platform: String,
    /// `spdx` or `cyclonedx`.
    pub format: Format,
    /// The file next to the layout.
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    /// Digest of the document.
    pub digest: Digest,
    /// Digest of the referrer artifact manifest.
    pub artifact_digest: Digest,
    /// Digest of the image manifest it describes (its `subject`).
    pub subject: Digest,
    /// Number of crates listed.
    pub crates: usize,
}

/// One statement, as reported in `--message-format json` (`images[].provenance`).
#[derive(Debug, Clone, Serialize)]
pub struct ProvReport {
    /// `linux/amd64` etc.
    pub platform: String,
    /// The file beside the layout.
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    /// Digest of the statement.
    pub digest: Digest,
    /// Digest of the referrer artifact manifest.
    pub artifact_digest: Digest,
    /// Digest of the image manifest it is about.
    pub subject: Digest,
}

/// What one pushed reference cost.
///
/// Blob counts and bytes are those of the push into the reference's repository; when several tags of
/// one repository are pushed, only the first report carries them (the others are 0), so sums over all
/// reports are totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushReport {
    /// `registry/repository:tag` (or `@digest` for a digest-only reference).
    pub reference: String,
    /// The digest of the root manifest or index.
    pub digest: Digest,
    /// Bytes uploaded.
    pub uploaded_bytes: u64,
    /// Bytes of blobs the registry already had (or mounted).
    pub skipped_bytes: u64,
    /// Blobs uploaded.
    pub uploaded_blobs: usize,
    /// Blobs the registry already had.
    pub skipped_blobs: usize,
    /// Blobs mounted from another repository.
    pub mounted_blobs: usize,
    /// Bytes of the mounted blobs (part of `skipped_bytes`): what the mounts saved uploading.
    pub mounted_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_shares() {
        let r = SizeReport::new(1000, 600, 300, None);
        assert_eq!(r.base, 100);
        assert!(r.line().contains("alpine:3"));
    }
}
