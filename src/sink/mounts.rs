//! The mount memory: which repositories of a registry this machine pushed each blob to, so that a push
//! into another repository of that registry mounts the blob from there (the distribution spec's
//! cross-repository mount, `POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`) instead of
//! uploading it again. The base-files layer, the same in every image, is the blob this is for.
//!
//! Takes, after each repository's push, the registry, the repository, the digests it now holds and
//! the remembered sources whose mount the registry answered with an upload session instead (202: the
//! source no longer holds the blob, so the entry is dropped); gives, before a push, a [`Snapshot`]
//! naming for a registry and digest the repositories that held it last, newest first. Only a hint:
//! the push still asks the target first (HEAD), and a refused mount falls back to an upload.
//!
//! One JSON file, `<cache root>/mounts/blobs.json` under the per-user cache (`SLIM_IMAGE_CACHE_DIR`,
//! else `$XDG_CACHE_HOME/cargo-slim-image`, else `~/.cache/cargo-slim-image`): the directory is made
//! 0700, the file 0600, written to a temp file beside it and renamed ([`commit::Temp`], so a
//! signal's cleanup and the next save's sweep remove what an interrupted save left). It holds registry names (as
//! references normalise them), repository names and digests: never credentials, tokens or tags.
//! Bounded: at most [`MAX_REPOS`] repositories per blob, [`MAX_PER_REGISTRY`] blobs per registry and
//! [`MAX_FILE`] bytes in all, the least recently pushed evicted first. What cannot be trusted is
//! ignored with a `-v` note, never an error: a directory that is not this user's or that others may
//! write, or a file that is a symlink, FIFO or another user's (then nothing is written either); a file
//! over [`MAX_FILE`] bytes (never read past that) or not in this format (replaced by the next save);
//! entries that do not name a registry, repository and digest (dropped, the rest kept).

use super::commit;
use crate::blob::plain;
use crate::digest::Digest;
use crate::reference::Reference;
use crate::ui;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The most repositories remembered per blob and registry.
pub const MAX_REPOS: usize = 4;
/// The most blobs remembered per registry.
pub const MAX_PER_REGISTRY: usize = 1024;
/// The largest memory file read or written.
pub const MAX_FILE: u64 = 1 << 20;
const VERSION: u32 = 1;
const FILE_NAME: &str = "blobs.json";

/// Where the mount memory lives (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountMemory {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    entries: Vec<DiskEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiskEntry {
    registry: String,
    digest: String,
    repositories: Vec<String>,
    /// When it was last recorded, as a counter over the file's life (larger is newer).
    used: u64,
}

/// What the memory held when it was read.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    entries: BTreeMap<(String, Digest), Held>,
}

#[derive(Debug, Clone)]
struct Held {
    used: u64,
    repositories: Vec<String>,
}

impl MountMemory {
    /// The memory in the per-user cache directory `cache_root`.
    pub fn in_cache(cache_root: &Path) -> MountMemory {
        MountMemory {
            dir: cache_root.join("mounts"),
        }
    }

    /// The memory in the per-user cache ([`crate::user_cache::root`]), or none (a `-v` note) when
    /// there is no such directory.
    pub fn in_user_cache() -> Option<MountMemory> {
        match crate::user_cache::root(&|k| std::env::var(k).ok()) {
            Ok(r) => Some(MountMemory::in_cache(&r)),
            Err(e) => {
                ui::verbose(format!("no mount memory: {e:#}"));
                None
            }
        }
    }

    /// The memory file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// What the memory holds now (empty when it is missing or cannot be trusted).
    pub fn load(&self) -> Snapshot {
        self.read().unwrap_or_default()
    }

    /// Remember that `repo` of `registry` holds every blob of `held`, and forget the sources of
    /// `gone` (digest, repository) that did not hold theirs. Read again first (another run may have
    /// written since); a failure to save is a `-v` note: the push it follows has succeeded.
    pub fn remember(&self, registry: &str, repo: &str, held: &[Digest], gone: &[(Digest, String)]) {
        let Some(mut s) = self.read() else { return };
        s.record(registry, repo, held, gone);
        if let Err(e) = self.write(&s.to_bytes()) {
            ui::verbose(format!(
                "could not save the mount memory {}: {e:#}",
                self.path().display()
            ));
        }
    }

    /// The snapshot on disk; `None` (after a `-v` note) when the memory must not be touched at all.
    fn read(&self) -> Option<Snapshot> {
        let path = self.path();
        let skip = |why: String| {
            ui::verbose(format!("mount memory {}: {why}; not used", path.display()));
            None
        };
        match fs::symlink_metadata(&self.dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(Snapshot::default()),
            Err(e) => return skip(format!("cannot read its directory: {e}")),
            Ok(m) => {
                if let Some(why) = untrusted_dir(&m) {
                    return skip(why);
                }
            }
        }
        let f = match plain::open(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(Snapshot::default()),
            Err(e) => {
                return skip(
                    plain::not_plain(&e).map_or(e.to_string(), |n| format!("it is {}", n.what)),
                )
            }
            Ok(f) => f,
        };
        match f.metadata() {
            Ok(m) if m.uid() == rustix::process::geteuid().as_raw() => {}
            Ok(m) => return skip(format!("owned by uid {}, not by this user", m.uid())),
            Err(e) => return skip(e.to_string()),
        }
        let bytes = match crate::bounded::read_at_most(f, MAX_FILE) {
            Ok(b) => b,
            Err(e) => return skip(e.to_string()),
        };
        let replaced = |why: String| {
            ui::verbose(format!(
                "mount memory {}: {why}; ignored (the next push replaces it)",
                path.display()
            ));
            Some(Snapshot::default())
        };
        if bytes.len() as u64 > MAX_FILE {
            return replaced(format!("larger than {MAX_FILE} bytes"));
        }
        let disk: OnDisk = match serde_json::from_slice(&bytes) {
            Ok(d) => d,
            Err(e) => return replaced(format!("not a mount memory file ({e})")),
        };
        if disk.version != VERSION {
            return replaced(format!("format version {}, not {VERSION}", disk.version));
        }
        let (s, dropped) = Snapshot::from_disk(disk.entries);
        if dropped > 0 {
            ui::verbose(format!(
                "mount memory {}: {dropped} entries that do not name a registry, repositories and \
                 a digest were dropped",
                path.display()
            ));
        }
        Some(s)
    }

    /// Write `bytes` as the memory file: the directory made 0700, a 0600 temp file renamed over it.
    fn write(&self, bytes: &[u8]) -> Result<()> {
        if let Some(parent) = self.dir.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        match fs::DirBuilder::new().mode(0o700).create(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(e).with_context(|| format!("creating {}", self.dir.display()))
            }
            _ => {}
        }
        // Checked again: the directory may have been replaced since it was read.
        let m = fs::symlink_metadata(&self.dir)?;
        if let Some(why) = untrusted_dir(&m) {
            bail!("{}: {why}", self.dir.display());
        }
        // Temps of runs killed while saving (`kill -9`: a signal's cleanup removes its own).
        commit::sweep(&self.dir);
        let tmp = commit::Temp::file(&self.dir, commit::Kind::Mounts)?;
        crate::blob::set_mode(tmp.path(), 0o600)?;
        let mut f = tmp.as_file();
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.path().display()))?;
        // Renamed, not fsynced: a hint; one a crash cut is not JSON and is ignored.
        commit::rename_unsynced(tmp, &self.path())
    }
}

/// Why a memory directory with metadata `m` (not followed if a symlink) is not to be used, if it is not.
fn untrusted_dir(m: &fs::Metadata) -> Option<String> {
    let me = rustix::process::geteuid().as_raw();
    if !m.is_dir() {
        Some("its directory is not a directory (a symlink or a file)".into())
    } else if m.uid() != me {
        Some(format!(
            "its directory is owned by uid {}, not by this user",
            m.uid()
        ))
    } else if m.mode() & 0o022 != 0 {
        Some(format!(
            "its directory may be written by others (mode {:o})",
            m.mode() & 0o7777
        ))
    } else {
        None
    }
}

impl Snapshot {
    /// The repositories of `registry` last known to hold `digest`, newest first.
    pub fn holders(&self, registry: &str, digest: &Digest) -> &[String] {
        self.entries
            .get(&(registry.to_string(), digest.clone()))
            .map_or(&[], |h| &h.repositories)
    }

    /// The valid entries of a file (the newest of duplicates), and how many were not valid.
    fn from_disk(entries: Vec<DiskEntry>) -> (Snapshot, usize) {
        let mut s = Snapshot::default();
        let mut dropped = 0;
        for e in entries {
            let Some((key, held)) = valid(e) else {
                dropped += 1;
                continue;
            };
            match s.entries.get(&key) {
                Some(old) if old.used >= held.used => {}
                _ => {
                    s.entries.insert(key, held);
                }
            }
        }
        (s, dropped)
    }

    /// `repo` holds every blob of `held` (now the newest holder of each); the sources of `gone` do
    /// not hold theirs.
    fn record(&mut self, registry: &str, repo: &str, held: &[Digest], gone: &[(Digest, String)]) {
        for (d, from) in gone {
            if let Some(h) = self.entries.get_mut(&(registry.to_string(), d.clone())) {
                h.repositories.retain(|r| r != from);
            }
        }
        self.entries.retain(|_, h| !h.repositories.is_empty());
        let used = self
            .entries
            .values()
            .map(|h| h.used)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        for d in held {
            let h = self
                .entries
                .entry((registry.to_string(), d.clone()))
                .or_insert(Held {
                    used,
                    repositories: Vec::new(),
                });
            h.used = used;
            h.repositories.retain(|r| r != repo);
            h.repositories.insert(0, repo.to_string());
            h.repositories.truncate(MAX_REPOS);
        }
    }

    /// The file's bytes: the newest entries first, at most [`MAX_PER_REGISTRY`] per registry and
    /// [`MAX_FILE`] bytes in all; what does not fit (the oldest) is left out.
    fn to_bytes(&self) -> Vec<u8> {
        let mut order: Vec<_> = self.entries.iter().collect();
        order.sort_by(|a, b| b.1.used.cmp(&a.1.used).then(a.0.cmp(b.0)));
        let empty = OnDisk {
            version: VERSION,
            entries: Vec::new(),
        };
        let mut size = serde_json::to_vec(&empty).map_or(0, |v| v.len() as u64);
        let mut per_registry: HashMap<&str, usize> = HashMap::new();
        let mut kept = Vec::new();
        for ((registry, digest), h) in order {
            let n = per_registry.entry(registry).or_default();
            if *n >= MAX_PER_REGISTRY {
                continue;
            }
            let e = DiskEntry {
                registry: registry.clone(),
                digest: digest.to_string(),
                repositories: h.repositories.clone(),
                used: h.used,
            };
            // Its JSON and the comma before it.
            let len = serde_json::to_vec(&e).map_or(u64::MAX, |v| v.len() as u64 + 1);
            if size.saturating_add(len) > MAX_FILE {
                break;
            }
            size += len;
            *n += 1;
            kept.push(e);
        }
        serde_json::to_vec(&OnDisk {
            version: VERSION,
            entries: kept,
        })
        .unwrap_or_default()
    }
}

/// An entry of the file as a key and value, if it names a registry, one to [`MAX_REPOS`]
/// repositories of it and a digest, all as references normalise them.
fn valid(e: DiskEntry) -> Option<((String, Digest), Held)> {
    let digest: Digest = e.digest.parse().ok()?;
    if e.repositories.is_empty() || e.repositories.len() > MAX_REPOS {
        return None;
    }
    let mut repositories: Vec<String> = Vec::new();
    for repo in e.repositories {
        let r: Reference = format!("{}/{repo}@{digest}", e.registry).parse().ok()?;
        if r.registry != e.registry || r.repository != repo || repositories.contains(&repo) {
            return None;
        }
        repositories.push(repo);
    }
    Some((
        (e.registry, digest),
        Held {
            used: e.used,
            repositories,
        },
    ))
}

#[cfg(test)]
#[path = "mounts_tests.rs"]
mod tests;
