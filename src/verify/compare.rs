//! The image and its rebuild compared: digests first, then, where they differ, what differs.
//!
//! Takes the opened image ([`Opened`]) and the rebuilt one ([`Rebuilt`], in the same blob store) and
//! gives an [`Outcome`]. The image is reproduced only when its root digest (the manifest or index
//! IMAGE names) is the rebuild's: an index with a platform, an attestation or a second manifest the
//! rebuild did not make is not, even when every manifest that was rebuilt matches. Everything else
//! explains a mismatch: per entry of the image (matched by os/architecture) whether its manifest
//! digest matches, the entries the rebuild has no counterpart for, and for each manifest that does
//! not match, the manifest fields, the config fields (paths such as `config.Env` or
//! `config.Labels."x"`, with both values) and the first layer whose digest differs, with the first
//! file in it that differs ([`files`]). Only what is needed is fetched: a platform whose digest
//! matches costs no blob.

use super::files::{self, LayerFinding};
use super::source::Opened;
use crate::blob::{media, BlobStore, Descriptor};
use crate::digest::Digest;
use crate::execute::Rebuilt;
use crate::image::{Index, Manifest};
use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

/// One field that differs between two JSON documents.
#[derive(Debug, Clone, Serialize)]
pub struct FieldDiff {
    /// Its path: `created`, `config.Env`, `config.Labels."org.opencontainers.image.version"`.
    pub path: String,
    /// Its value in the image (absent: the field is not there).
    pub image: Option<Value>,
    /// Its value in the rebuild.
    pub rebuild: Option<Value>,
}

/// The first layer whose digest differs.
#[derive(Debug, Clone, Serialize)]
pub struct LayerDiff {
    /// 1-based position, bottom first.
    pub number: usize,
    /// How many layers the image has.
    pub count: usize,
    /// The image's layer there (absent: the rebuild has more layers).
    pub image: Option<Descriptor>,
    /// The rebuild's layer there (absent: the image has more layers).
    pub rebuild: Option<Descriptor>,
    /// How they differ inside, when both are there.
    pub finding: Option<LayerFinding>,
}

/// One platform's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformOutcome {
    /// `linux/amd64`.
    pub platform: String,
    /// The image's manifest digest (absent: the image has no such platform).
    pub image: Option<Digest>,
    /// The rebuild's manifest digest (absent: this run did not build it).
    pub rebuild: Option<Digest>,
    /// Another manifest of the image for a platform already matched with the rebuild's (an index
    /// may list a platform twice; the rebuild made one).
    pub duplicate: bool,
    /// Manifest fields that differ (besides its config and layer descriptors).
    pub manifest: Vec<FieldDiff>,
    /// Config fields that differ.
    pub config: Vec<FieldDiff>,
    /// The first layer that differs.
    pub layer: Option<LayerDiff>,
}

impl PlatformOutcome {
    /// Both are there and their digests match.
    pub fn reproduced(&self) -> bool {
        self.image.is_some() && self.image == self.rebuild
    }
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The image, as named.
    pub image: String,
    /// Its root digest (manifest or index).
    pub digest: Digest,
    /// The rebuild's root digest.
    pub rebuild: Digest,
    /// Per platform, in the rebuild's order, then the entries of the image it did not build.
    pub platforms: Vec<PlatformOutcome>,
    /// Index fields that differ (both roots indexes, every platform reproduced, digests not).
    pub index: Vec<FieldDiff>,
    /// The image's root is an index.
    pub image_is_index: bool,
    /// The rebuild's root is an index.
    pub rebuild_is_index: bool,
}

impl Outcome {
    /// The root digest IMAGE names is the rebuild's: nothing else counts, since an index that
    /// holds one manifest more than the rebuild (another platform, an attestation) is another
    /// image, whatever its other entries are.
    pub fn reproduced(&self) -> bool {
        self.digest == self.rebuild
    }
}

/// The most differing fields listed per document (the rest are counted).
pub const MAX_FIELDS: usize = 20;

/// `key` as a path component: bare when it is a plain identifier, else quoted.
fn component(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        key.to_string()
    } else {
        serde_json::to_string(key).unwrap_or_default()
    }
}

/// Append every field that differs between `a` (the image) and `b` (the rebuild) below `path`.
/// Objects are compared key by key, arrays of one length element by element (`rootfs.diff_ids[1]`),
/// anything else (an `Env` list that grew) as a whole.
pub fn json_diff(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<FieldDiff>) {
    let join = |k: String| {
        if path.is_empty() {
            k
        } else if k.starts_with('[') {
            format!("{path}{k}")
        } else {
            format!("{path}.{k}")
        }
    };
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                json_diff(&join(component(k)), x.get(k), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                json_diff(&join(format!("[{i}]")), Some(p), Some(q), out);
            }
        }
        (a, b) if a != b => out.push(FieldDiff {
            path: path.to_string(),
            image: a.cloned(),
            rebuild: b.cloned(),
        }),
        _ => {}
    }
}

fn parse_json(bytes: &[u8], what: &str) -> Result<Value> {
    serde_json::from_slice(bytes).with_context(|| format!("parsing {what} as JSON"))
}

/// How an index entry without a platform is named.
pub const NO_PLATFORM: &str = "(no platform)";

/// `os/architecture` of an index entry or a config.
fn platform_key(os: &str, arch: &str) -> String {
    format!("{os}/{arch}")
}

/// Compare `image` with `rebuilt`; blobs of the image are fetched into `store` as needed.
pub fn compare(image: &Opened, rebuilt: &Rebuilt, store: &BlobStore) -> Result<Outcome> {
    let a = &rebuilt.artifact;
    let mut outcome = Outcome {
        image: image.name.clone(),
        digest: image.root.digest.clone(),
        rebuild: a.root.digest.clone(),
        platforms: Vec::new(),
        index: Vec::new(),
        image_is_index: media::is_index(&image.root.media_type),
        rebuild_is_index: media::is_index(&a.root.media_type),
    };
    if outcome.digest == outcome.rebuild {
        return Ok(outcome);
    }
    let ours = rebuild_platforms(rebuilt);
    let theirs = image_platforms(image, store, ours.len() == 1)?;
    let lone = |k: &str| theirs.len() == 1 && k.is_empty();
    // Each rebuilt manifest takes the image's entry of its platform with the same digest, else
    // the first one of its platform; every other entry is listed after them.
    let mut taken = vec![false; theirs.len()];
    for (key, desc) in &ours {
        let same_platform = |i: &usize| !taken[*i] && (theirs[*i].0 == *key || lone(&theirs[*i].0));
        let entry = (0..theirs.len())
            .filter(same_platform)
            .find(|&i| theirs[i].1.digest == desc.digest)
            .or_else(|| (0..theirs.len()).find(same_platform));
        if let Some(i) = entry {
            taken[i] = true;
        }
        let entry = entry.map(|i| &theirs[i]);
        let mut p = PlatformOutcome {
            platform: key.clone(),
            image: entry.map(|(_, d)| d.digest.clone()),
            rebuild: Some(desc.digest.clone()),
            duplicate: false,
            manifest: Vec::new(),
            config: Vec::new(),
            layer: None,
        };
        if let Some((_, d)) = entry.filter(|(_, d)| d.digest != desc.digest) {
            explain(image, store, d, desc, &mut p)?;
        }
        outcome.platforms.push(p);
    }
    for (i, (key, d)) in theirs.iter().enumerate() {
        if !taken[i] {
            outcome.platforms.push(PlatformOutcome {
                platform: key.clone(),
                image: Some(d.digest.clone()),
                rebuild: None,
                duplicate: ours.iter().any(|(k, _)| k == key),
                manifest: Vec::new(),
                config: Vec::new(),
                layer: None,
            });
        }
    }
    compare_index(image, a, store, &mut outcome)?;
    Ok(outcome)
}

/// The rebuild's platform manifests as (`os/arch`, descriptor): the index entries, or the one
/// root.
fn rebuild_platforms(rebuilt: &Rebuilt) -> Vec<(String, Descriptor)> {
    let a = &rebuilt.artifact;
    rebuilt
        .manifests
        .iter()
        .map(|m| {
            let desc = a
                .manifests
                .iter()
                .find(|d| d.digest == m.digest)
                .cloned()
                .unwrap_or_else(|| a.root.clone());
            let key = m
                .platform
                .splitn(3, '/')
                .take(2)
                .collect::<Vec<_>>()
                .join("/");
            (key, desc)
        })
        .collect()
}

/// When every platform reproduced and both are indexes: what differs in the index itself.
fn compare_index(
    image: &Opened,
    a: &crate::blob::Artifact,
    store: &BlobStore,
    outcome: &mut Outcome,
) -> Result<()> {
    let same_set = outcome.platforms.iter().all(|p| p.reproduced());
    if same_set && media::is_index(&image.root.media_type) && media::is_index(&a.root.media_type) {
        let mine = parse_json(&store.read(&a.root.digest)?, "the rebuilt index")?;
        let theirs = parse_json(&image.root_bytes, "the image's index")?;
        json_diff("", Some(&theirs), Some(&mine), &mut outcome.index);
        if outcome.index.is_empty() {
            // Same JSON value, other bytes (key order, spacing): say so rather than nothing.
            outcome.index.push(FieldDiff {
                path: "(encoding)".into(),
                image: Some(Value::String(format!("{} bytes", image.root.size))),
                rebuild: Some(Value::String(format!("{} bytes", a.root.size))),
            });
        }
    }
    Ok(())
}

/// The image's platform manifests as (`os/arch`, descriptor); a lone manifest's key is empty when
/// `lone` is set and its config is not read yet (it is then matched with the rebuild's only one).
fn image_platforms(
    image: &Opened,
    store: &BlobStore,
    lone: bool,
) -> Result<Vec<(String, Descriptor)>> {
    if media::is_index(&image.root.media_type) {
        let index: Index = serde_json::from_slice(&image.root_bytes).with_context(|| {
            format!(
                "parsing the image index {} of {}",
                image.root.digest, image.name
            )
        })?;
        // Every entry counts, whatever it is (an attestation says unknown/unknown, an artifact
        // may have no platform): the rebuild must have made it too.
        return Ok(index
            .manifests
            .iter()
            .map(|d| {
                let key = d.platform.as_ref().map_or(NO_PLATFORM.to_string(), |p| {
                    platform_key(&p.os, &p.architecture)
                });
                (key, d.clone())
            })
            .collect());
    }
    if lone {
        return Ok(vec![(String::new(), image.root.clone())]);
    }
    let m: Manifest = serde_json::from_slice(&image.root_bytes)
        .with_context(|| format!("parsing the image manifest of {}", image.name))?;
    let config = parse_json(&image.json(&m.config, store)?, "the image's config")?;
    let s = |k: &str| {
        config
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Ok(vec![(
        platform_key(&s("os"), &s("architecture")),
        image.root.clone(),
    )])
}

/// Fill in what differs between the image's manifest `theirs` and the rebuild's `ours`.
fn explain(
    image: &Opened,
    store: &BlobStore,
    theirs: &Descriptor,
    ours: &Descriptor,
    out: &mut PlatformOutcome,
) -> Result<()> {
    let their_bytes = if theirs.digest == image.root.digest {
        image.root_bytes.clone()
    } else {
        image.json(theirs, store)?
    };
    let our_bytes = store.read(&ours.digest)?;
    let om: Manifest =
        serde_json::from_slice(&our_bytes).context("parsing the rebuilt manifest")?;
    // An entry that is no image manifest (a nested index, an artifact, not JSON) is how it differs.
    let tm: Manifest = match serde_json::from_slice(&their_bytes) {
        Ok(m) => m,
        Err(e) => {
            out.manifest.push(FieldDiff {
                path: "(the whole manifest)".into(),
                image: Some(Value::String(format!(
                    "not an image manifest ({}; {e})",
                    theirs.media_type
                ))),
                rebuild: Some(Value::String(format!(
                    "an image manifest ({})",
                    ours.media_type
                ))),
            });
            return Ok(());
        }
    };
    // Manifest fields besides config and layers (those are compared below, by what they point to).
    let strip = |b: &[u8]| -> Result<Value> {
        let mut v = parse_json(b, "a manifest")?;
        if let Some(o) = v.as_object_mut() {
            o.remove("config");
            o.remove("layers");
        }
        Ok(v)
    };
    json_diff(
        "",
        Some(&strip(&their_bytes)?),
        Some(&strip(&our_bytes)?),
        &mut out.manifest,
    );
    if tm.config.digest != om.config.digest {
        let oc = parse_json(&store.read(&om.config.digest)?, "the rebuilt config")?;
        // A config that is not JSON (or nested past serde_json's depth limit) is how it differs.
        match parse_json(&image.json(&tm.config, store)?, "the image's config") {
            Ok(tc) => json_diff("", Some(&tc), Some(&oc), &mut out.config),
            Err(e) => out.config.push(FieldDiff {
                path: "(the whole config)".into(),
                image: Some(Value::String(format!("not a JSON document: {:#}", e))),
                rebuild: Some(Value::String("a JSON document".into())),
            }),
        }
    }
    out.layer = first_layer_diff(image, store, &tm, &om)?;
    Ok(())
}

/// The first layer whose digest differs between the image's manifest `tm` and the rebuild's `om`
/// (one may have more), and what differs in its files.
fn first_layer_diff(
    image: &Opened,
    store: &BlobStore,
    tm: &Manifest,
    om: &Manifest,
) -> Result<Option<LayerDiff>> {
    let n = tm.layers.len().max(om.layers.len());
    for i in 0..n {
        let (t, o) = (tm.layers.get(i), om.layers.get(i));
        if t.map(|d| &d.digest) == o.map(|d| &d.digest) {
            continue;
        }
        let finding = match (t, o) {
            (Some(t), Some(o)) => Some(files::compare(store, t, o, &image.name, || {
                image.fetch(t, store)
            })?),
            _ => None,
        };
        return Ok(Some(LayerDiff {
            number: i + 1,
            count: tm.layers.len(),
            image: t.cloned(),
            rebuild: o.cloned(),
            finding,
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_paths_name_what_differs() {
        let a = json!({"created": "1970", "config": {"Env": ["A=1"], "Labels": {"x.y": "1", "k": "v"}},
                       "history": [{"created_by": "a"}, {"created_by": "b"}], "os": "linux"});
        let b = json!({"created": "2024", "config": {"Env": ["A=2"], "Labels": {"x.y": "2", "k": "v"}},
                       "history": [{"created_by": "a"}, {"created_by": "c"}], "os": "linux", "new": 1});
        let mut out = Vec::new();
        json_diff("", Some(&a), Some(&b), &mut out);
        let paths: Vec<&str> = out.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "config.Env[0]",
                "config.Labels.\"x.y\"",
                "created",
                "history[1].created_by",
                "new"
            ]
        );
        assert_eq!(out[0].image, Some(json!("A=1")));
        assert_eq!(out[4].image, None);
        let mut none = Vec::new();
        json_diff("", Some(&a), Some(&a.clone()), &mut none);
        assert!(none.is_empty());
        let mut grown = Vec::new();
        json_diff(
            "config.Env",
            Some(&json!(["A"])),
            Some(&json!(["A", "B"])),
            &mut grown,
        );
        assert_eq!(grown[0].path, "config.Env");
    }
}
