//! oci-archive and docker-archive files taken apart: their regular files unpacked into a temp dir,
//! and every path their own metadata names resolved against the archive's members.
//!
//! Takes an archive file and gives an [`Unpacked`] archive: the temp dir holding its regular files,
//! and the list of its members (files, directories, symbolic and hard links) by path. A path that
//! `manifest.json` names ([`Unpacked::file`]) must be relative, without `..`, and lead to a regular
//! file of the archive itself, through the archive's own links if need be (`docker save` links a
//! repeated layer to its first copy); an absolute path, a `..`, a link that leaves the archive or a
//! device is an error naming the archive and the path. So no host file (`/etc/...`, `/proc/self/...`,
//! `/dev/zero`) can be read in place of an archive member.

use super::tarread::{self, EntryType};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What an archive member is.
#[derive(Debug, Clone)]
pub enum Member {
    /// A regular file, unpacked at this path of the temp dir, of this size.
    File(PathBuf, u64),
    /// A directory.
    Dir,
    /// A symbolic link to this target (relative to the link's directory, or absolute).
    Symlink(String),
    /// A hard link to this member.
    Hardlink(String),
    /// A device, a fifo, anything else: never read.
    Other,
}

/// An archive unpacked into a temp dir (deleted with the value).
pub struct Unpacked {
    /// The archive, for messages.
    archive: PathBuf,
    tmp: tempfile::TempDir,
    members: Members,
}

/// An archive's members by path (no leading `./` or `/`).
#[derive(Debug, Clone, Default)]
pub struct Members(BTreeMap<String, Member>);

impl Members {
    /// Add (or replace) a member.
    pub fn insert(&mut self, path: String, member: Member) {
        self.0.insert(path, member);
    }

    /// The regular file (its unpacked path and size) the member `name` is, following the archive's
    /// own links; else why not (`is an absolute path`, `leaves the archive`, ...).
    pub fn regular_file(&self, name: &str) -> Result<(&Path, u64), &'static str> {
        if name.starts_with('/') {
            return Err("is an absolute path");
        }
        if name.split('/').any(|c| c == "..") {
            return Err("has a `..` component");
        }
        let mut at = normal(Vec::new(), name);
        for _ in 0..=16 {
            match self.0.get(&at.join("/")) {
                None => return Err("is not in the archive"),
                Some(Member::File(p, n)) => return Ok((p, *n)),
                Some(Member::Dir) => return Err("is a directory"),
                Some(Member::Other) => return Err("is not a regular file (a device or fifo)"),
                Some(Member::Hardlink(t)) => match resolve(Vec::new(), t) {
                    Some(next) => at = next,
                    None => return Err("is a hard link that leaves the archive"),
                },
                Some(Member::Symlink(t)) => {
                    if t.starts_with('/') {
                        return Err("is a symbolic link to an absolute path");
                    }
                    at.pop();
                    match resolve(at, t) {
                        Some(next) => at = next,
                        None => return Err("is a symbolic link that leaves the archive"),
                    }
                }
            }
        }
        Err("is a chain of more than 16 links")
    }
}

impl Unpacked {
    /// The temp dir: an OCI layout, for an oci-archive.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// The unpacked regular file the archive member `name` is (following the archive's own links),
    /// and its size; `what` says what names it (e.g. "manifest.json names it as a layer").
    pub fn file(&self, name: &str, what: &str) -> Result<(PathBuf, u64)> {
        let fail = |why: &str| -> Result<(&Path, u64)> {
            bail!(
                "{}: {what} `{name}`, which {why}: a docker-archive may only name its own regular \
                 files, by relative paths; the archive is broken or hostile",
                self.archive.display()
            )
        };
        let (p, n) = self.members.regular_file(name).or_else(&fail)?;
        // Written by us; make sure nothing replaced it with something else since.
        let m =
            std::fs::symlink_metadata(p).with_context(|| format!("checking {}", p.display()))?;
        if !m.file_type().is_file() || m.len() != n {
            fail("changed while it was read")?;
        }
        Ok((p.to_path_buf(), n))
    }
}

/// `base` + relative `path` (components `.` dropped); `None` when `..` goes above the root.
fn resolve(mut base: Vec<String>, path: &str) -> Option<Vec<String>> {
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                base.pop()?;
            }
            c => base.push(c.to_string()),
        }
    }
    Some(base)
}

/// [`resolve`] for a path already known to have no `..` (or whose `..` are refused by the caller).
fn normal(base: Vec<String>, path: &str) -> Vec<String> {
    resolve(base, path).unwrap_or_default()
}

/// Unpack the regular files of the archive `file` into a temp dir under `tmp_root`, and list every
/// member. Member paths that would leave the temp dir are refused.
pub fn unpack(file: &Path, tmp_root: &Path) -> Result<Unpacked> {
    let tmp =
        tempfile::tempdir_in(tmp_root).context("creating a temp dir to unpack the base archive")?;
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut members = Members::default();
    tarread::for_each(std::io::BufReader::new(f), |e, data| {
        if e.path.is_empty() && e.kind == EntryType::Dir {
            return Ok(()); // `./`, as `tar -C DIR .` writes it
        }
        if e.path.split('/').any(|c| c == ".." || c.is_empty()) {
            bail!(
                "the archive member `{}` is not a plain relative path",
                e.path
            );
        }
        let m = match e.kind {
            EntryType::Dir => Member::Dir,
            EntryType::Symlink => Member::Symlink(e.link.clone()),
            EntryType::Hardlink => Member::Hardlink(e.link.clone()),
            EntryType::Other => Member::Other,
            EntryType::File => {
                let out = tmp.path().join(&e.path);
                if let Some(p) = out.parent() {
                    std::fs::create_dir_all(p)
                        .with_context(|| format!("unpacking into {}", p.display()))?;
                }
                // create_new: a member listed twice, or below a file, is not written over.
                let mut w = std::fs::File::create_new(&out)
                    .with_context(|| format!("unpacking `{}` (listed twice?)", e.path))?;
                let n = std::io::copy(data, &mut w)
                    .with_context(|| format!("unpacking `{}`", e.path))?;
                Member::File(out, n)
            }
        };
        members.insert(e.path.clone(), m);
        Ok(())
    })
    .with_context(|| {
        format!(
            "reading the archive {}: is it a tar file (as `skopeo copy ... oci-archive:FILE` or \
             `docker save` write)?",
            file.display()
        )
    })?;
    Ok(Unpacked {
        archive: file.to_path_buf(),
        tmp,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_resolution_stays_inside() {
        let v = |s: &[&str]| s.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(resolve(v(&["a"]), "../b/./c"), Some(v(&["b", "c"])));
        assert_eq!(resolve(v(&["a"]), "../../b"), None);
        assert_eq!(resolve(vec![], "x//y"), Some(v(&["x", "y"])));
    }
}
