//! The temps beside a destination and the registry of what this run must remove if it stops early.
//!
//! Takes a directory and a [`Kind`]; gives a [`Temp`] named `.slim-image-<kind>-<pid>-<n>`, locked
//! (`flock`) on itself while it lives, listed in one registry of live paths and removed on drop
//! unless committed. The registry (`live`) is shared with the destination locks, the commit and
//! the signal cleanup; the names are what `sink::sweep` recognises.

use anyhow::{Context, Result};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The prefix of every temp name; `sweep` looks at nothing else.
pub const PREFIX: &str = ".slim-image-";

/// What a temp is for; part of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A layout directory being written (or, after a swap, the old one being removed).
    Layout,
    /// A tarball being written.
    Archive,
    /// An SBOM file beside a layout.
    Sbom,
    /// A debug file (`debuginfo = "split"`) beside a layout.
    Debug,
    /// A provenance statement beside a layout.
    Provenance,
    /// The `--image-refs` file.
    Refs,
    /// The previous layout moved aside (file systems without `RENAME_EXCHANGE`).
    Old,
    /// A C library (OpenSSL) being built for the per-user cache (`compile::openssl`).
    CLib,
    /// The mount memory being saved in the per-user cache (`sink::mounts`).
    Mounts,
    /// A new file written whole or not at all (`init-k8s -o FILE`, `sink::commit::write_new`).
    File,
}

impl Kind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Kind::Layout => "layout",
            Kind::Archive => "archive",
            Kind::Sbom => "sbom",
            Kind::Debug => "debug",
            Kind::Provenance => "provenance",
            Kind::Refs => "refs",
            Kind::Old => "old",
            Kind::CLib => "c-lib",
            Kind::Mounts => "mounts",
            Kind::File => "file",
        }
    }
    pub(super) const ALL: [Kind; 10] = [
        Kind::Layout,
        Kind::Archive,
        Kind::Sbom,
        Kind::Debug,
        Kind::Provenance,
        Kind::Refs,
        Kind::Old,
        Kind::CLib,
        Kind::Mounts,
        Kind::File,
    ];
}

/// Paths this run created and removes if it stops early (temps, and lock files it holds).
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

pub(super) fn live() -> MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn forget(live: &mut Vec<PathBuf>, path: &Path) {
    live.retain(|p| p != path);
}

pub(super) fn remove_path(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A temp file or directory beside a destination, removed on drop unless committed.
#[derive(Debug)]
pub struct Temp {
    path: PathBuf,
    /// The temp itself (a directory is opened read-only), locked while this value lives.
    file: File,
    armed: bool,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl Temp {
    /// A new empty directory in `parent`.
    pub fn dir(parent: &Path, kind: Kind) -> Result<Temp> {
        Temp::create(parent, kind, true)
    }

    /// A new empty file in `parent`, open for writing.
    pub fn file(parent: &Path, kind: Kind) -> Result<Temp> {
        Temp::create(parent, kind, false)
    }

    fn create(parent: &Path, kind: Kind, dir: bool) -> Result<Temp> {
        let pid = std::process::id();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let path = parent.join(format!("{PREFIX}{}-{pid}-{n}{nanos:x}", kind.as_str()));
            let mut registry = live();
            let made = if dir {
                fs::create_dir(&path).and_then(|()| File::open(&path))
            } else {
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
            };
            let file = match made {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("creating a temp {} in {}", kind.as_str(), parent.display())
                    })
                }
            };
            registry.push(path.clone());
            drop(registry);
            // Only this run holds it; a sweep skips a temp whose lock it cannot take.
            file.try_lock()
                .with_context(|| format!("locking the temp {}", path.display()))?;
            return Ok(Temp {
                path,
                file,
                armed: true,
            });
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file (for a directory: read-only).
    pub fn as_file(&self) -> &File {
        &self.file
    }

    /// Whether it is a directory.
    pub(super) fn is_dir(&self) -> bool {
        self.file.metadata().map(|m| m.is_dir()).unwrap_or(false)
    }

    /// It was moved into place: no longer removed on drop nor by the signal cleanup. `registry` is
    /// the locked list of live paths ([`live`]).
    pub(super) fn disarm(&mut self, registry: &mut Vec<PathBuf>) {
        self.armed = false;
        forget(registry, &self.path);
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let mut registry = live();
        if self.armed {
            let _ = remove_path(&self.path);
        }
        forget(&mut registry, &self.path);
    }
}

/// The directory `dest` is in (`.` for a bare name).
pub fn parent_of(dest: &Path) -> PathBuf {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Where the previous output goes during a swap without `RENAME_EXCHANGE`:
/// `.slim-image-old-<pid>-<n>.<name>`, so that `sweep` can put it back if
/// the run dies there.
pub(super) fn aside_path(dest: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    parent_of(dest).join(format!(
        "{PREFIX}{}-{}-{n:x}.{name}",
        Kind::Old.as_str(),
        std::process::id()
    ))
}
