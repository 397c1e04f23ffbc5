//! `cargo slim-image debuginfo IMAGE -o DIR`: the debug files of an image, fetched from where the
//! image is and written as `<binary>.debug` into a new or empty DIR.
//!
//! Takes IMAGE as `verify` does ([`crate::verify::source`]: a registry reference, `oci:DIR[:TAG]`,
//! `oci-archive:FILE[:TAG]`) and opens it the same way (bounded, digest-checked). For each platform
//! manifest it looks for referrers of type [`ARTIFACT_TYPE`]: on a registry through the referrers
//! API, else the `sha256-<hex>` fallback tag; in a layout or an archive among its blobs (a
//! `--tarball` carries them). Each debug file is fetched digest-checked; its name must be a plain
//! `<binary>.debug`. DIR gets the files (in `<os>-<arch>/` subdirectories when the image has
//! several platforms), written into a temp directory beside it and committed with
//! [`crate::sink::commit`], under DIR's lock; DIR must not exist or be empty, so nothing of the
//! user's is replaced.

use super::output::{ARTIFACT_TYPE, FILE_MEDIA_TYPE};
use crate::blob::{media, BlobStore, Descriptor};
use crate::image::{Index, Manifest};
use crate::verify::source::{self, Opened};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// `cargo slim-image debuginfo`, resolved: IMAGE parsed, DIR checked to be new or empty.
#[derive(Debug, Clone)]
pub struct FetchPlan {
    /// The image.
    pub image: source::ImageRef,
    /// Where the `<binary>.debug` files go: a new or empty directory.
    pub output: PathBuf,
    /// How registries are reached.
    pub client: crate::registry::ClientOptions,
    /// `--dry-run`: read nothing, write nothing.
    pub dry_run: bool,
    /// `--message-format json`.
    pub json: bool,
}

/// Run `debuginfo`.
pub fn run(plan: &FetchPlan) -> Result<()> {
    let image = &plan.image;
    if plan.dry_run {
        return print_dry_run(plan);
    }
    // From here on temps are made: an interrupt removes them, the blob store in $TMPDIR (a
    // debug file may be large) as well as the staged DIR (see crate::sink::commit).
    crate::sink::commit::install_signal_cleanup()?;
    let tmp =
        crate::sink::commit::Temp::dir(&std::env::temp_dir(), crate::sink::commit::Kind::Debug)?;
    let store = BlobStore::open(tmp.path().join("blobs"))?;
    let opened = source::open(image, &store, &plan.client)?;
    let manifests = platform_manifests(&opened)?;
    // Every debug file is fetched and checked into the store first: nothing is created beside DIR
    // (not even its missing parents) unless there is something to write.
    let files = fetch_all(&opened, &manifests, &store)?;
    let written = files.len();
    if written == 0 {
        bail!(
            "{} has no debug info attached (artifact type {ARTIFACT_TYPE}): it was built with \
             debuginfo = \"keep\" or \"drop\", its binaries had none, or it was not pushed by \
             cargo slim-image; nothing was written",
            opened.name
        );
    }
    let parent = crate::sink::commit::parent_of(&plan.output);
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let staged = stage(&parent, &files, &store)?;
    let lock = crate::sink::commit::DestLock::take(&plan.output)?;
    check_new_or_empty(&plan.output)?;
    crate::sink::commit::commit(&lock, vec![(staged, plan.output.clone())])?;
    crate::ui::status(
        "Wrote",
        format!(
            "{written} debug file(s) of {} to {}",
            opened.name,
            plan.output.display()
        ),
    );
    Ok(())
}

/// `--dry-run`: print what would be fetched and where it would go.
fn print_dry_run(plan: &FetchPlan) -> Result<()> {
    let image = &plan.image;
    let text = format!(
        "debuginfo (dry run: IMAGE is not read, nothing is written)\n  image:  {image}\n  output: {}\n",
        plan.output.display()
    );
    let json = serde_json::json!({
        "tool": format!("cargo-slim-image {}", env!("CARGO_PKG_VERSION")),
        "dry_run": true,
        "command": "debuginfo",
        "image": image.to_string(),
        "output": plan.output.to_string_lossy(),
    });
    crate::ui::stdout::results(
        &crate::dry_run_text(plan.json, text, &json),
        "nothing was read or written",
    )
}

/// The debug files of each of `manifests` (by platform) in `opened`, fetched into `store` and
/// checked: their paths in DIR (under `<os>-<arch>/` when there are several platforms).
fn fetch_all(
    opened: &Opened,
    manifests: &[(Option<String>, Descriptor)],
    store: &BlobStore,
) -> Result<Vec<(PathBuf, Descriptor)>> {
    let several = manifests.len() > 1;
    let mut files: Vec<(PathBuf, Descriptor)> = Vec::new();
    for (platform, manifest) in manifests {
        let dir = match (several, platform) {
            (true, Some(p)) => PathBuf::from(p),
            _ => PathBuf::new(),
        };
        for artifact in referrers(opened, manifest, store)? {
            let bytes = opened.json(&artifact, store)?;
            let m: Manifest = serde_json::from_slice(&bytes)
                .with_context(|| format!("parsing the debug-info artifact {}", artifact.digest))?;
            if m.artifact_type.as_deref() != Some(ARTIFACT_TYPE)
                || m.subject.as_ref().map(|s| &s.digest) != Some(&manifest.digest)
            {
                continue;
            }
            for layer in m.layers.iter().filter(|l| l.media_type == FILE_MEDIA_TYPE) {
                let name = file_name(layer)?;
                crate::base::bounded::check_size(
                    &format!("the debug file {name} of {}", opened.name),
                    layer.size,
                    MAX_DEBUG_FILE,
                )?;
                opened.fetch(layer, store)?;
                check_elf(store, layer, name, &opened.name)?;
                let rel = dir.join(name);
                if files.iter().any(|(r, _)| *r == rel) {
                    bail!(
                        "{}: two debug files named {name} for one platform",
                        opened.name
                    );
                }
                files.push((rel, layer.clone()));
            }
        }
    }
    Ok(files)
}

/// The debug files `files` copied from `store` into a temp directory in `parent`, to be committed.
fn stage(
    parent: &Path,
    files: &[(PathBuf, Descriptor)],
    store: &BlobStore,
) -> Result<crate::sink::commit::Temp> {
    let staged = crate::sink::commit::Temp::dir(parent, crate::sink::commit::Kind::Debug)?;
    for (rel, layer) in files {
        let dest = staged.path().join(rel);
        if let Some(d) = dest.parent() {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let mut out =
            std::fs::File::create(&dest).with_context(|| format!("writing {}", dest.display()))?;
        std::io::copy(&mut store.open_blob(&layer.digest)?, &mut out)
            .with_context(|| format!("writing {}", dest.display()))?;
    }
    Ok(staged)
}

/// The largest debug file fetched (the DWARF of a large Rust binary is tens to hundreds of MiB): a
/// descriptor claiming more is refused before anything is downloaded.
pub const MAX_DEBUG_FILE: u64 = 8 << 30;

/// A debug file is an ELF file; anything else in the artifact is refused, not written as `.debug`.
fn check_elf(store: &BlobStore, layer: &Descriptor, name: &str, image: &str) -> Result<()> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut f = store.open_blob(&layer.digest)?;
    let n = f.read(&mut magic).unwrap_or(0);
    if n < 4 || magic != object::elf::ELFMAG {
        bail!(
            "the debug file {name} of {image} ({}) is not an ELF file: the artifact is broken or \
             hostile; nothing was written",
            layer.digest
        );
    }
    Ok(())
}

/// DIR must not exist, or be an empty directory: it is replaced whole. It must name a directory of
/// its own: `.`, `..`, `x/.`, `x/y/..` and `/` would be staged inside themselves (or create `x/y`).
pub fn check_new_or_empty(dir: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let raw = dir.as_os_str().as_bytes();
    let trimmed = raw.strip_suffix(b"/").unwrap_or(raw);
    let last = trimmed.rsplit(|b| *b == b'/').next().unwrap_or(b"");
    if matches!(last, b"" | b"." | b"..") {
        bail!(
            "-o {} names no directory of its own (it ends in `.`, `..` or `/`), and the debug files \
             are written into a new directory put in its place: give a new directory name, e.g. {}; \
             nothing was written",
            dir.display(),
            dir.join("debug").display()
        );
    }
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("looking at -o {}", dir.display())),
        Ok(m) if !m.is_dir() => bail!(
            "-o {} exists and is not a directory: give a new or empty directory; nothing was written",
            dir.display()
        ),
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir)
                .with_context(|| format!("reading -o {}", dir.display()))?;
            if entries.next().is_some() {
                bail!(
                    "-o {} is not empty: give a new or empty directory (the debug files are written \
                     there and nothing of yours is replaced); nothing was written",
                    dir.display()
                );
            }
            Ok(())
        }
    }
}

/// The debug file's name in the artifact: a plain `<binary>.debug`, never a path.
fn file_name(layer: &Descriptor) -> Result<&str> {
    let name = layer
        .annotations
        .get("org.opencontainers.image.title")
        .map(String::as_str)
        .unwrap_or("");
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name.ends_with(".debug")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
    if !plain {
        bail!(
            "a debug file of the image is named `{}`, not a plain <binary>.debug: refusing it",
            crate::config::check::shown(name)
        );
    }
    Ok(name)
}

/// The image's platform manifests with their `<os>-<arch>` (from the index entry), or the root.
fn platform_manifests(opened: &Opened) -> Result<Vec<(Option<String>, Descriptor)>> {
    if !media::is_index(&opened.root.media_type) {
        return Ok(vec![(None, opened.root.clone())]);
    }
    let index: Index = serde_json::from_slice(&opened.root_bytes)
        .with_context(|| format!("parsing the index of {}", opened.name))?;
    index
        .manifests
        .into_iter()
        .filter(|m| m.media_type == media::MANIFEST)
        .map(|m| {
            let p = match m.platform.as_ref() {
                Some(p) => Some(platform_dir(&p.os, &p.architecture, &opened.name)?),
                None => None,
            };
            Ok((p, m))
        })
        .collect()
}

/// The `<os>-<arch>` directory of a platform of the index: both plain names (letters, digits,
/// `.`, `_`, `-`, not starting with `.`), never a path.
fn platform_dir(os: &str, arch: &str, image: &str) -> Result<String> {
    let plain = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    if !plain(os) || !plain(arch) {
        bail!(
            "the index of {image} names a platform `{}/{}`, not a plain os/architecture: refusing it \
             (its debug files would go to a directory of that name); nothing was written",
            crate::config::check::shown(os),
            crate::config::check::shown(arch)
        );
    }
    Ok(format!("{os}-{arch}"))
}

/// The referrer manifests of `subject`.
fn referrers(opened: &Opened, subject: &Descriptor, store: &BlobStore) -> Result<Vec<Descriptor>> {
    match opened.origin() {
        Ok((client, r)) => {
            let list = crate::sbom::referrer::list(client, &r.repository, subject)?;
            Ok(list
                .into_iter()
                .filter(|d| d.artifact_type.as_deref() == Some(ARTIFACT_TYPE))
                .map(|d| d.descriptor)
                .collect())
        }
        Err(dir) => layout_referrers(dir, subject, store),
    }
}

/// The artifact manifests among a layout's blobs whose subject is `subject` (small files only; each
/// checked against its digest when read).
fn layout_referrers(
    dir: &Path,
    subject: &Descriptor,
    store: &BlobStore,
) -> Result<Vec<Descriptor>> {
    let blobs = dir.join("blobs").join("sha256");
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&blobs) else {
        return Ok(out);
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| e.metadata().is_ok_and(|m| m.len() < 64 * 1024))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    for hex in names {
        let Ok(bytes) = crate::base::bounded::read_file(&blobs.join(&hex), "a layout blob") else {
            continue;
        };
        let Ok(m) = serde_json::from_slice::<Manifest>(&bytes) else {
            continue;
        };
        if m.artifact_type.as_deref() != Some(ARTIFACT_TYPE)
            || m.subject.as_ref().map(|s| &s.digest) != Some(&subject.digest)
        {
            continue;
        }
        let digest = crate::digest::Digest::of(&bytes);
        if digest.hex() != hex {
            bail!(
                "{} does not hash to its name: the image is corrupt or altered",
                blobs.join(&hex).display()
            );
        }
        store.put_bytes(media::MANIFEST, &bytes)?;
        out.push(Descriptor::new(media::MANIFEST, digest, bytes.len() as u64));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titled(t: &str) -> Descriptor {
        let mut d = Descriptor::new(FILE_MEDIA_TYPE, crate::digest::Digest::of(b""), 0);
        d.annotations
            .insert("org.opencontainers.image.title".into(), t.into());
        d
    }

    #[test]
    fn only_a_plain_binary_debug_name_is_written() {
        assert_eq!(file_name(&titled("app.debug")).unwrap(), "app.debug");
        assert_eq!(
            file_name(&titled("my-app_2.debug")).unwrap(),
            "my-app_2.debug"
        );
        for bad in [
            "../x.debug",
            "/etc/x.debug",
            "a/b.debug",
            ".debug",
            "app",
            "a\0.debug",
            "",
        ] {
            assert!(file_name(&titled(bad)).is_err(), "{bad:?} accepted");
        }
    }
}
