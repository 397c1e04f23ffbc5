//! Images and indexes as values: config + layers -> canonical JSON config, manifest and index blobs.
//!
//! An [`Image`] is immutable in spirit: [`Image::append`] takes the image and returns a new one with the
//! layer added (diff_id and history included). `FROM scratch` is just [`Image::scratch`], the empty
//! image, not a special path. [`Image::write`] serialises config and manifest as canonical JSON (sorted
//! keys), so the same inputs give the same digests on any machine.
//!
//! These are not oci-spec's types: its `ImageConfiguration` would drop config fields a base image
//! carries (`Healthcheck`, `Shell`, `OnBuild`, `container_config`, ...), which [`ConfigFile`] keeps in
//! `other`; why not for manifests and indexes either, with the measurements, is at the top of
//! [`crate::blob`].

use crate::blob::{media, Artifact, BlobStore, Descriptor, PlatformSpec};
use crate::digest::Digest;
use crate::layer::Layer;
use crate::platform::Platform;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The `config` object of an image config (the runtime defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// `uid[:gid]` or a user name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user: Option<String>,
    /// `port/proto` -> {}.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub exposed_ports: BTreeMap<String, BTreeMap<String, Value>>,
    /// `KEY=value` entries.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub env: Vec<String>,
    /// The program and its first arguments.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub entrypoint: Option<Vec<String>>,
    /// Default arguments.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cmd: Option<Vec<String>>,
    /// Working directory.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub working_dir: Option<String>,
    /// Labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub labels: BTreeMap<String, String>,
    /// Signal that stops the container.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stop_signal: Option<String>,
    /// Fields we do not model (from base images), kept as they were.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// One history entry of an image config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// RFC 3339 time.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub created: Option<String>,
    /// What made the layer.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub created_by: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub comment: Option<String>,
    /// True when the step made no layer.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub empty_layer: Option<bool>,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Digests of the uncompressed layers, bottom first.
    pub diff_ids: Vec<Digest>,
}

/// An OCI image config (`application/vnd.oci.image.config.v1+json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigFile {
    /// e.g. `amd64`.
    pub architecture: String,
    /// e.g. `linux`.
    pub os: String,
    /// e.g. `v8`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub variant: Option<String>,
    /// RFC 3339 creation time (from SOURCE_DATE_EPOCH, else the epoch).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub created: Option<String>,
    /// Runtime defaults.
    #[serde(default)]
    pub config: RunConfig,
    /// Layer diff_ids.
    pub rootfs: RootFs,
    /// One entry per build step.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub history: Vec<History>,
    /// Fields we do not model, kept.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// An OCI image manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type (OCI 1.1 recommends it; some registries need it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, bottom first.
    pub layers: Vec<Descriptor>,
    /// Manifest annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
    /// The type of an artifact manifest (OCI 1.1), e.g. `application/spdx+json`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub artifact_type: Option<String>,
    /// The manifest this one refers to (OCI 1.1 referrers, e.g. an SBOM's image).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subject: Option<Descriptor>,
}

/// An OCI image index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub media_type: Option<String>,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
    /// Index annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
    /// The type of an artifact index (OCI 1.1).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub artifact_type: Option<String>,
    /// The manifest this index refers to (OCI 1.1 referrers).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subject: Option<Descriptor>,
}

/// An image: config plus layers, bottom first, plus manifest annotations.
#[derive(Debug, Clone)]
pub struct Image {
    /// Platform the image runs on.
    pub platform: Platform,
    /// The config (its rootfs/history are kept in step with `layers`).
    pub config: ConfigFile,
    /// Layer descriptors, bottom first.
    pub layers: Vec<Descriptor>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
}

/// A written image: its manifest and config descriptors (bytes are in the store).
#[derive(Debug, Clone)]
pub struct WrittenImage {
    /// The manifest descriptor (with platform set).
    pub manifest: Descriptor,
    /// The config descriptor.
    pub config: Descriptor,
    /// The layer descriptors.
    pub layers: Vec<Descriptor>,
}

impl Image {
    /// The empty image for `platform`, created at `created` (RFC 3339).
    pub fn scratch(platform: Platform, created: &str) -> Image {
        Image {
            platform,
            config: ConfigFile {
                architecture: platform.architecture().to_string(),
                os: platform.os().to_string(),
                variant: platform.variant().map(str::to_string),
                created: Some(created.to_string()),
                config: RunConfig::default(),
                rootfs: RootFs {
                    kind: "layers".to_string(),
                    diff_ids: Vec::new(),
                },
                history: Vec::new(),
                other: BTreeMap::new(),
            },
            layers: Vec::new(),
            annotations: BTreeMap::new(),
        }
    }

    /// `platform`'s image of a base, as the bottom of ours: its config (runtime defaults, rootfs,
    /// history) and layers are kept; os/architecture come from `platform`, `created` is ours, and the
    /// fields that describe the base's own build (`container`, `container_config`, `docker_version`)
    /// are dropped.
    pub fn from_base(
        platform: Platform,
        config: &ConfigFile,
        layers: &[Descriptor],
        created: &str,
    ) -> Image {
        let mut config = config.clone();
        config.architecture = platform.architecture().to_string();
        config.os = platform.os().to_string();
        config.variant = platform.variant().map(str::to_string);
        config.created = Some(created.to_string());
        for k in ["container", "container_config", "docker_version"] {
            config.other.remove(k);
        }
        Image {
            platform,
            config,
            layers: layers.to_vec(),
            annotations: BTreeMap::new(),
        }
    }

    /// A new image with `layer` on top, recorded in rootfs and history.
    pub fn append(mut self, layer: &Layer) -> Image {
        self.config.rootfs.diff_ids.push(layer.diff_id.clone());
        self.config.history.push(History {
            created: self.config.created.clone(),
            created_by: Some(layer.created_by.clone()),
            comment: None,
            empty_layer: None,
        });
        self.layers.push(layer.descriptor.clone());
        self
    }

    /// A new image with a different runtime config.
    pub fn with_run_config(mut self, run: RunConfig) -> Image {
        self.config.config = run;
        self
    }

    /// A new image with these manifest annotations.
    pub fn with_annotations(mut self, annotations: BTreeMap<String, String>) -> Image {
        self.annotations = annotations;
        self
    }

    /// Serialise config and manifest into the store.
    pub fn write(&self, store: &BlobStore) -> Result<WrittenImage> {
        let (config, _) = store.put_json(media::CONFIG, &self.config)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::MANIFEST.to_string()),
            config: config.clone(),
            layers: self.layers.clone(),
            annotations: self.annotations.clone(),
            artifact_type: None,
            subject: None,
        };
        let (mut desc, _) = store.put_json(media::MANIFEST, &manifest)?;
        desc.platform = Some(PlatformSpec::from(self.platform));
        Ok(WrittenImage {
            manifest: desc,
            config,
            layers: self.layers.clone(),
        })
    }
}

impl WrittenImage {
    /// The artifact of this single image (root = its manifest).
    pub fn artifact(&self) -> Artifact {
        let mut blobs = vec![self.config.clone()];
        blobs.extend(self.layers.iter().cloned());
        let mut root = self.manifest.clone();
        root.platform = None;
        Artifact {
            root,
            manifests: Vec::new(),
            blobs,
        }
    }
}

/// Write an index over several written images (one per platform) and return its artifact.
pub fn write_index(
    store: &BlobStore,
    images: &[WrittenImage],
    annotations: BTreeMap<String, String>,
) -> Result<Artifact> {
    let index = Index {
        schema_version: 2,
        media_type: Some(media::INDEX.to_string()),
        manifests: images.iter().map(|i| i.manifest.clone()).collect(),
        annotations,
        artifact_type: None,
        subject: None,
    };
    let (root, _) = store.put_json(media::INDEX, &index)?;
    let mut blobs: Vec<Descriptor> = Vec::new();
    for img in images {
        for d in std::iter::once(&img.config).chain(&img.layers) {
            if !blobs.iter().any(|b| b.digest == d.digest) {
                blobs.push(d.clone());
            }
        }
    }
    Ok(Artifact {
        root,
        manifests: index.manifests,
        blobs,
    })
}

/// RFC 3339 UTC time for seconds since the epoch (no time zone database needed).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::canonical_json;

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn config_json_is_canonical_and_keeps_unknown_fields() {
        let raw = r#"{"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]},
            "config":{"Env":["PATH=/bin"],"Healthcheck":{"Test":["NONE"]}},"zz":1}"#;
        let c: ConfigFile = serde_json::from_str(raw).unwrap();
        let out = String::from_utf8(canonical_json(&c)).unwrap();
        assert!(out.contains(r#""Healthcheck":{"Test":["NONE"]}"#), "{out}");
        assert!(
            out.starts_with(r#"{"architecture":"amd64","config":"#),
            "{out}"
        );
        assert!(out.ends_with(r#""zz":1}"#), "{out}");
    }

    #[test]
    fn index_entries_keep_every_field_the_spec_defines() {
        // What `cargo slim-image index` copies from an input index: written back as it was read.
        let d = |n: u8| format!("sha256:{}", hex::encode([n; 32]));
        let raw = serde_json::json!({"schemaVersion": 2, "mediaType": media::INDEX,
            "artifactType": "application/x.set", "annotations": {"a": "b"},
            "subject": {"mediaType": media::MANIFEST, "digest": d(1), "size": 1},
            "manifests": [{"mediaType": media::MANIFEST, "digest": d(2), "size": 2,
                "artifactType": "application/spdx+json", "urls": ["https://example.invalid/m"],
                "data": "e30=", "annotations": {"k": "v"},
                "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1",
                    "os.features": ["win32k"], "features": ["sse4"], "variant": "v1"}}]});
        let bytes = canonical_json(&raw);
        let index: Index = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(canonical_json(&index), bytes);
        let p = index.manifests[0].platform.as_ref().unwrap();
        assert_eq!(p.os_version.as_deref(), Some("10.0.17763.1"));
        assert_eq!(p.os_features.as_deref(), Some(&["win32k".to_string()][..]));
    }

    #[test]
    fn scratch_image_writes_a_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let img = Image::scratch(Platform::LinuxArm64, &rfc3339(0));
        let w = img.write(&store).unwrap();
        let m: Manifest = serde_json::from_slice(&store.read(&w.manifest.digest).unwrap()).unwrap();
        assert_eq!(m.config, w.config);
        let c: ConfigFile = serde_json::from_slice(&store.read(&w.config.digest).unwrap()).unwrap();
        assert_eq!(c.architecture, "arm64");
        assert_eq!(c.variant.as_deref(), Some("v8"));
    }
}
