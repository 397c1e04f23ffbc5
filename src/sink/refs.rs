//! `--image-refs FILE`: every reference this run pushed, with its digest, one per line
//! (`registry/repo:tag@sha256:...`, as `ko build --image-refs` writes), for the later steps of a
//! pipeline (deploy, sign, attest) to read instead of parsing stdout.
//!
//! Takes the lines; writes them as one file, atomically: a temp beside FILE, fsynced and renamed
//! under FILE's lock (symlinks followed, as for `--tarball`), so a reader sees the old file or the
//! whole new one and a failed run leaves no half-written list.

use super::commit::{self, Kind, Temp};
use super::lock::DestLock;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Where FILE leads (symlinks followed); refused when it is a directory, FIFO, device or socket.
/// Called before anything is built, and again when writing.
pub fn check(dest: &Path) -> Result<PathBuf> {
    let p =
        commit::follow_links(dest).with_context(|| format!("--image-refs {}", dest.display()))?;
    if let Ok(m) = std::fs::symlink_metadata(&p) {
        if m.is_dir() || commit::is_special(m.file_type()) {
            bail!(
                "--image-refs {} is not a regular file: give a file path such as {}/image-refs.txt",
                dest.display(),
                dest.display()
            );
        }
    }
    Ok(p)
}

/// Before anything is built: a run that pushes nothing has nothing to list, and `dest` must be a
/// place a file can go.
pub fn preflight(plan: &crate::plan::Plan, dest: &Path) -> Result<()> {
    if plan.images.iter().all(|i| i.push.is_empty()) {
        bail!(
            "--image-refs {} lists the references pushed, and this run pushes nothing: add --push",
            dest.display()
        );
    }
    check(dest).map(drop)
}

/// Write the references `images` were pushed to, each with its digest, to `dest`.
pub fn write_pushed(dest: &Path, images: &[crate::report::ImageReport]) -> Result<()> {
    let lines: Vec<String> = images
        .iter()
        .flat_map(|i| &i.pushed)
        .map(|p| match p.reference.contains('@') {
            // A digest-only reference already says its digest.
            true => p.reference.clone(),
            false => format!("{}@{}", p.reference, p.digest),
        })
        .collect();
    write(dest, &lines)?;
    crate::ui::status("Wrote", format!("image references {}", dest.display()));
    Ok(())
}

/// Write `lines` (each without its newline) to `dest`.
pub fn write(dest: &Path, lines: &[String]) -> Result<()> {
    let file = check(dest)?;
    let parent = commit::parent_of(&file);
    std::fs::create_dir_all(&parent).with_context(|| {
        format!(
            "creating the directory {} for --image-refs",
            parent.display()
        )
    })?;
    commit::sweep(&parent);
    let tmp = Temp::file(&parent, Kind::Refs)?;
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    std::io::Write::write_all(&mut tmp.as_file(), text.as_bytes())
        .with_context(|| format!("writing --image-refs {}", file.display()))?;
    crate::blob::set_mode(tmp.path(), 0o644)?;
    let lock = DestLock::take(&file)?;
    commit::commit(&lock, vec![(tmp, file.clone())]).with_context(|| {
        format!(
            "moving the finished --image-refs file to {}",
            file.display()
        )
    })
}
