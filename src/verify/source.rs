//! The image `verify` checks: `IMAGE` parsed ([`ImageRef`]), then opened ([`open`]) into the blob
//! store as the base images are: a registry through [`crate::registry::Client`] (auth, TLS,
//! `--insecure-registry`, bounded manifests, every blob digest- and size-checked), an OCI layout
//! directory, or an oci-archive taken apart by [`crate::base::archive`] (regular files only, no path
//! leaves its temp dir). Every JSON document is read through [`crate::base::bounded`]; a blob is only
//! committed to the store when it matches its descriptor. A registry's layers are fetched on
//! demand ([`Opened::fetch`]): an image that matches needs none of them. A layout's (or archive's)
//! blobs are all read and checked ([`Opened::check_blobs`]), never taken from the blob cache: its
//! files are what IMAGE is, and a corrupt one makes it another image.

use crate::base::{archive, bounded};
use crate::blob::{media, BlobStore, Descriptor};
use crate::digest::HashingWriter;
use crate::image::{Index, Manifest};
use crate::reference::Reference;
use crate::registry::{Client, ClientOptions};
use crate::sink::layout::{CONTAINERD_NAME, REF_NAME};
use anyhow::{bail, Context, Result};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What `verify IMAGE` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// A registry reference (`docker://` accepted in front, as skopeo writes it).
    Registry(Reference),
    /// `oci:DIR[:TAG]`.
    Layout(PathBuf, Option<String>),
    /// `oci-archive:FILE[:TAG]`.
    Archive(PathBuf, Option<String>),
}

impl fmt::Display for ImageRef {
    /// The image as messages and the `Reproduced` line name it (a reference without its digest).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local = |f: &mut fmt::Formatter<'_>, kind: &str, p: &Path, t: &Option<String>| {
            write!(f, "{kind}:{}", p.display())?;
            t.as_ref().map_or(Ok(()), |t| write!(f, ":{t}"))
        };
        match self {
            ImageRef::Registry(r) => {
                write!(f, "{}/{}", r.registry, r.repository)?;
                r.tag.as_ref().map_or(Ok(()), |t| write!(f, ":{t}"))
            }
            ImageRef::Layout(p, t) => local(f, "oci", p, t),
            ImageRef::Archive(p, t) => local(f, "oci-archive", p, t),
        }
    }
}

/// Parse `IMAGE`; local paths must exist.
pub fn parse(text: &str) -> Result<ImageRef> {
    let s = text.trim();
    let local = |kind: &str, rest: &str, dir: bool| -> Result<(PathBuf, Option<String>)> {
        let (p, t) = crate::base::source::path_and_tag(rest, dir);
        let ok = if dir { p.is_dir() } else { p.is_file() };
        if rest.is_empty() {
            bail!("verify IMAGE `{s}`: give a path after `{kind}:`");
        }
        if !ok {
            bail!(
                "verify IMAGE `{s}`: {} is not an existing {} (paths are relative to the current \
                 directory)",
                p.display(),
                if dir { "OCI layout directory" } else { "file" }
            );
        }
        Ok((p, t))
    };
    if let Some(rest) = s.strip_prefix("oci:") {
        let (p, t) = local("oci", rest, true)?;
        return Ok(ImageRef::Layout(p, t));
    }
    if let Some(rest) = s.strip_prefix("oci-archive:") {
        let (p, t) = local("oci-archive", rest, false)?;
        return Ok(ImageRef::Archive(p, t));
    }
    if s.starts_with("docker-archive:") || s.starts_with("docker-daemon:") {
        bail!(
            "verify IMAGE `{s}`: a docker-archive (or the docker daemon) keeps no image manifest, so \
             there is no digest to reproduce; verify the pushed image (REGISTRY/NAME:TAG), an OCI \
             layout (oci:DIR) or an oci-archive (oci-archive:FILE) instead"
        );
    }
    let r: Reference = s
        .strip_prefix("docker://")
        .unwrap_or(s)
        .parse()
        .with_context(|| {
            format!(
                "verify IMAGE `{s}` is not an image: write a registry reference \
             (REGISTRY/NAME[:TAG][@sha256:...]), oci:DIR[:TAG] or oci-archive:FILE[:TAG]"
            )
        })?;
    Ok(ImageRef::Registry(r))
}

/// Where the blobs of the opened image come from.
enum From {
    /// A registry repository.
    Registry(Box<Client>, Reference),
    /// A layout directory (an oci-archive's is its temp dir, kept alive as long as this).
    Layout {
        /// The layout.
        dir: PathBuf,
        /// The unpacked archive it is in, if any.
        _unpacked: Option<archive::Unpacked>,
    },
}

/// The opened image: its root (manifest or index) in the store, and where the rest comes from.
pub struct Opened {
    /// The image, as messages name it.
    pub name: String,
    /// Its root manifest or index.
    pub root: Descriptor,
    /// The root's bytes (in the store too).
    pub root_bytes: Vec<u8>,
    /// Image names it carries (`io.containerd.image.name`, a `name:tag` ref.name, the repository),
    /// without tags: what picks the plan's image when it has several.
    pub names: Vec<String>,
    from: From,
}

impl Opened {
    /// Put the blob `desc` into `store`, verified. A registry's blob is not fetched when the store
    /// has it (the registry serves it by digest, and every client checks it); a layout's is read
    /// and checked every time, store or not: its files are what IMAGE is.
    pub fn fetch(&self, desc: &Descriptor, store: &BlobStore) -> Result<()> {
        match &self.from {
            From::Registry(c, r) => c.fetch_blob(&r.repository, desc, store),
            From::Layout { dir, .. } => {
                let file = dir
                    .join("blobs")
                    .join(desc.digest.algorithm())
                    .join(desc.digest.hex());
                if std::fs::symlink_metadata(&file).is_err() {
                    Err(anyhow::anyhow!("{} does not exist", file.display()))
                } else {
                    inside(dir, &file).and_then(|()| check_file(&file, desc, store))
                }
            }
        }
        .with_context(|| format!("reading blob {} of {}", desc.digest, self.name))
    }

    /// For a layout or an oci-archive: read every blob the root references (manifests, configs,
    /// layers, below nested indexes too) from IMAGE and check its digest and size, so that a
    /// layout with a corrupt or missing blob is never reproduced, whatever the blob cache holds.
    /// A registry serves blobs by digest and is not read further.
    pub fn check_blobs(&self, store: &BlobStore) -> Result<()> {
        if matches!(self.from, From::Registry(..)) {
            return Ok(());
        }
        let mut seen = std::collections::HashSet::new();
        let mut todo = vec![(self.root.clone(), 0usize)];
        while let Some((d, depth)) = todo.pop() {
            if !seen.insert(d.digest.clone()) {
                continue;
            }
            if !is_manifest(&d.media_type) {
                self.fetch(&d, store)?;
                continue;
            }
            if depth > MAX_NESTING {
                bail!(
                    "{}: indexes nested more than {MAX_NESTING} deep (at {}): the image is broken \
                     or hostile",
                    self.name,
                    d.digest
                );
            }
            let bytes = if d.digest == self.root.digest {
                self.root_bytes.clone()
            } else {
                self.json(&d, store)?
            };
            let what = || format!("{} {} of {}", kind(&d), d.digest, self.name);
            if media::is_index(&d.media_type) {
                let index: Index = serde_json::from_slice(&bytes)
                    .with_context(|| format!("parsing the {}", what()))?;
                todo.extend(index.manifests.into_iter().map(|m| (m, depth + 1)));
            } else {
                let m: Manifest = serde_json::from_slice(&bytes)
                    .with_context(|| format!("parsing the {}", what()))?;
                todo.push((m.config, depth + 1));
                todo.extend(m.layers.into_iter().map(|l| (l, depth + 1)));
            }
        }
        Ok(())
    }

    /// Where it is read from: the registry client and reference, or the layout directory (an
    /// archive's unpacked one). `debuginfo` looks for referrers there.
    pub fn origin(&self) -> Result<(&Client, &Reference), &Path> {
        match &self.from {
            From::Registry(c, r) => Ok((c, r)),
            From::Layout { dir, .. } => Err(dir),
        }
    }

    /// A JSON blob (manifest, index, config) of the image, fetched, verified and at most
    /// [`bounded::MAX_JSON`] bytes (a descriptor claiming more is refused before any fetch).
    pub fn json(&self, desc: &Descriptor, store: &BlobStore) -> Result<Vec<u8>> {
        let what = format!("{} {} of {}", kind(desc), desc.digest, self.name);
        bounded::check_size(&what, desc.size, bounded::MAX_JSON)?;
        if let (From::Registry(c, r), false) = (&self.from, store.contains(&desc.digest)) {
            if kind(desc) != "config" {
                let m = c
                    .get_manifest_for(&r.repository, desc)
                    .with_context(|| format!("fetching {what}"))?;
                store.put_bytes(&desc.media_type, &m.bytes)?;
                return Ok(m.bytes);
            }
        }
        self.fetch(desc, store)?;
        bounded::read_blob(store, &desc.digest, &what)
    }
}

/// How deep indexes may nest below IMAGE's root (real ones: one level).
const MAX_NESTING: usize = 8;

/// Is `media_type` a manifest or an index (a JSON document that points at more blobs)?
fn is_manifest(media_type: &str) -> bool {
    media::is_index(media_type)
        || media_type == media::MANIFEST
        || media_type == media::DOCKER_MANIFEST
}

/// A file of the layout `dir` must be in it: a blob linked to a file elsewhere (`~/.docker/config.json`,
/// `/proc/self/environ`) would be read and hashed, and the mismatch message would give that file's
/// digest and size away.
fn inside(dir: &Path, file: &Path) -> Result<()> {
    let real =
        |p: &Path| std::fs::canonicalize(p).with_context(|| format!("resolving {}", p.display()));
    let (root, at) = (real(dir)?, real(file)?);
    if !at.starts_with(&root) {
        bail!(
            "{} is a link to a file outside the layout: a layout's blobs and index.json are its own \
             files; the image is broken or hostile",
            file.display()
        );
    }
    Ok(())
}

/// Check that the layout file `file` is the blob `desc` (a regular file, its digest and size), and
/// copy it into `store` unless the store has it: then it is hashed, not copied.
fn check_file(file: &Path, desc: &Descriptor, store: &BlobStore) -> Result<()> {
    if !store.contains(&desc.digest) {
        return crate::base::local::store_file(file, Some(&desc.digest), Some(desc.size), store)
            .map(|_| ());
    }
    let f = bounded::open_regular(file)?;
    let mut w = HashingWriter::new(std::io::sink());
    // Never more than the descriptor's size and one byte: enough to tell the file is too long.
    std::io::copy(&mut f.take(desc.size.saturating_add(1)), &mut w)
        .with_context(|| format!("reading {}", file.display()))?;
    let (_, digest, n) = w.finish();
    if digest != desc.digest || n != desc.size {
        bail!(
            "{} does not match its descriptor: expected {} ({} bytes), found {digest} ({n} bytes); \
             the image is corrupt or altered",
            file.display(),
            desc.digest,
            desc.size
        );
    }
    Ok(())
}

/// What a descriptor is, for messages.
fn kind(d: &Descriptor) -> &'static str {
    if media::is_index(&d.media_type) {
        "index"
    } else if d.media_type.contains("manifest") {
        "manifest"
    } else {
        "config"
    }
}

/// Open `image`: its root into `store`, verified.
pub fn open(image: &ImageRef, store: &BlobStore, opts: &ClientOptions) -> Result<Opened> {
    let name = image.to_string();
    let opened = match image {
        ImageRef::Registry(r) => open_registry(r, name.clone(), store, opts),
        ImageRef::Layout(dir, tag) => open_layout(dir, tag.as_deref(), name.clone(), None, store),
        ImageRef::Archive(file, tag) => {
            archive::unpack(file, &store.root().join("tmp")).and_then(|tmp| {
                let dir = tmp.dir().to_path_buf();
                open_layout(&dir, tag.as_deref(), name.clone(), Some(tmp), store)
            })
        }
    };
    opened.with_context(|| format!("reading the image to verify, {name}"))
}

fn open_registry(
    r: &Reference,
    name: String,
    store: &BlobStore,
    opts: &ClientOptions,
) -> Result<Opened> {
    let client = Client::new(&r.registry, opts)
        .with_context(|| format!("setting up a client for registry {}", r.registry))?;
    let m = client
        .get_manifest(&r.repository, &r.tag_or_digest())
        .map_err(|e| {
            let hint = match e.status() {
                Some(404) => format!(": {r} does not exist; check the name and tag"),
                Some(401 | 403) => format!(
                    ": {r} does not exist or needs credentials; check the name, or log in \
                     ({})",
                    client.login_hint()
                ),
                _ => String::new(),
            };
            anyhow::Error::new(e).context(format!("looking up {r}{hint}"))
        })?;
    same_type(&m.descriptor(), &m.bytes, "the registry serves it")?;
    store.put_bytes(&m.media_type, &m.bytes)?;
    let short = r.repository.rsplit('/').next().unwrap_or(&r.repository);
    Ok(Opened {
        name,
        root: m.descriptor(),
        root_bytes: m.bytes,
        names: vec![
            format!("{}/{}", r.registry, r.repository),
            short.to_string(),
        ],
        from: From::Registry(Box::new(client), r.clone()),
    })
}

/// The bytes say what they are: a root served (or listed in index.json) as something else (an
/// index's media type on a manifest) is not IMAGE as clients will read it, whatever its digest.
fn same_type(root: &Descriptor, bytes: &[u8], how: &str) -> Result<()> {
    let said = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string));
    if let Some(said) = said.filter(|s| *s != root.media_type) {
        bail!(
            "{how} ({}) as {}, but its mediaType says {said}: clients read it as the one or the \
             other; the image is broken or hostile",
            root.digest,
            root.media_type
        );
    }
    Ok(())
}

/// Does an index.json entry carry `tag` (bare, or as `name:tag`)?
fn has_tag(d: &Descriptor, tag: &str) -> bool {
    d.annotations
        .get(REF_NAME)
        .is_some_and(|r| r == tag || crate::reference::split_tag(r).1 == Some(tag))
}

/// Open the OCI layout `dir` (named `name` in messages; `tmp` holds it when it was unpacked from
/// an archive, and lives as long as the result): its image tagged `tag`, or its one image.
fn open_layout(
    dir: &Path,
    tag: Option<&str>,
    name: String,
    tmp: Option<archive::Unpacked>,
    store: &BlobStore,
) -> Result<Opened> {
    let index_path = dir.join("index.json");
    if index_path.exists() {
        inside(dir, &index_path)?;
    }
    let bytes = bounded::read_file(&index_path, &format!("{name}: index.json"))
        .context("is it an OCI image layout (oci-layout, index.json, blobs/)?")?;
    let index: Index = serde_json::from_slice(&bytes)
        .with_context(|| format!("{name}: index.json is not an OCI image index"))?;
    let entry = pick_entry(&index, tag, &name)?;
    let names = names_of(&index, entry);
    let root = Descriptor::new(&entry.media_type, entry.digest.clone(), entry.size);
    let mut opened = Opened {
        name,
        root,
        root_bytes: Vec::new(),
        names,
        from: From::Layout {
            dir: dir.to_path_buf(),
            _unpacked: tmp,
        },
    };
    opened.root_bytes = opened.json(&opened.root.clone(), store)?;
    same_type(&opened.root, &opened.root_bytes, "index.json lists it")?;
    Ok(opened)
}

/// The index.json entry of the image tagged `tag` (bare or `name:tag`, one image under it), or
/// of the layout's one image.
fn pick_entry<'a>(index: &'a Index, tag: Option<&str>, name: &str) -> Result<&'a Descriptor> {
    let tags = || {
        let v: Vec<&str> = index
            .manifests
            .iter()
            .filter_map(|d| d.annotations.get(REF_NAME).map(String::as_str))
            .collect();
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    Ok(match tag {
        Some(t) => {
            let hits: Vec<&Descriptor> = index.manifests.iter().filter(|d| has_tag(d, t)).collect();
            let first = *hits.first().with_context(|| {
                format!(
                    "the layout has no image tagged `{t}` (its tags: {})",
                    tags()
                )
            })?;
            // Two images under one tag: which one a tool reads is up to the tool, so neither is
            // what IMAGE names.
            if hits.iter().any(|d| d.digest != first.digest) {
                let all: Vec<String> = hits.iter().map(|d| d.digest.to_string()).collect();
                bail!(
                    "the layout has {} images tagged `{t}` ({}): it does not say which one it is; \
                     the layout is broken or altered",
                    hits.len(),
                    all.join(", ")
                );
            }
            first
        }
        None => {
            let first = index
                .manifests
                .first()
                .context("the layout holds no image (index.json lists no manifest)")?;
            if index.manifests.iter().any(|d| d.digest != first.digest) {
                bail!(
                    "the layout holds several images: name one with {name}:TAG (its tags: {})",
                    tags()
                );
            }
            first
        }
    })
}

/// The image names (without tags) the entries of `entry`'s digest carry, sorted.
fn names_of(index: &Index, entry: &Descriptor) -> Vec<String> {
    let mut names: Vec<String> = index
        .manifests
        .iter()
        .filter(|d| d.digest == entry.digest)
        .flat_map(|d| {
            [
                d.annotations.get(CONTAINERD_NAME),
                d.annotations.get(REF_NAME),
            ]
        })
        .flatten()
        .map(|n| crate::reference::split_tag(n))
        .filter(|(n, t)| t.is_some() && !n.is_empty())
        .map(|(n, _)| n)
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let r = parse("docker://127.0.0.1:5000/demo/app:1").unwrap();
        assert_eq!(r.to_string(), "127.0.0.1:5000/demo/app:1");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        assert_eq!(
            parse(&format!("oci:{d}:v1")).unwrap(),
            ImageRef::Layout(dir.path().to_path_buf(), Some("v1".into()))
        );
        assert_eq!(
            parse(&format!("oci:{d}")).unwrap().to_string(),
            format!("oci:{d}")
        );
        let e = parse("oci-archive:/nope/x.tar").unwrap_err().to_string();
        assert!(
            e.contains("/nope/x.tar") && e.contains("verify IMAGE"),
            "{e}"
        );
        let e = parse("docker-archive:x.tar").unwrap_err().to_string();
        assert!(e.contains("no image manifest"), "{e}");
        assert!(parse("Not An Image").is_err());
    }

    #[test]
    fn tags_bare_or_with_a_name() {
        let mut d = Descriptor::new("m", crate::digest::Digest::of(b""), 0);
        d.annotations
            .insert(REF_NAME.into(), "localhost:5000/app:1.0".into());
        assert!(has_tag(&d, "1.0") && !has_tag(&d, "5000/app:1.0") && !has_tag(&d, "2"));
        d.annotations.insert(REF_NAME.into(), "latest".into());
        assert!(has_tag(&d, "latest"));
    }
}
