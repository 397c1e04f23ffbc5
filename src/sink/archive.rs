//! Tarball sinks: `oci-archive` (an OCI layout in a tar) and `docker-archive` (`manifest.json` +
//! `repositories`, the format `docker load` reads).
//!
//! The docker flavour is written the way `docker save` has written since Docker 25: the OCI layout
//! *and* `manifest.json` in one tar, so `docker load` and `podman load` both take it. The tar itself is
//! deterministic (sorted names, mtime 0, root owner). A regular file is written to a temp path beside
//! it and renamed ([`super::commit`]), so a failed run leaves nothing behind; a FIFO or device is
//! written into, and `-` is stdout (see [`write()`]).
//!
//! [`Tarball`] is the sink: every image that has a `--tarball` path, in one format for the run.

use super::api::{BuiltImage, Named, Referrer, Sink};
use super::commit::{self, DestLock, Kind, Temp};
use super::layout::{all_blobs, index_for, OCI_LAYOUT};
use crate::blob::{canonical_json, media};
use crate::image::{Index, Manifest};
use crate::tar::{Header, TarWriter};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

pub use super::tarball_format::Format;

/// The image manifest docker-archive describes: the root itself, or for an index the entry for the
/// host platform (else the first).
fn single_manifest(img: &Named<'_>) -> Result<Manifest> {
    let root = &img.artifact.root;
    let bytes = img.store.read(&root.digest)?;
    if root.media_type == media::MANIFEST {
        return serde_json::from_slice(&bytes).context("parsing our own image manifest");
    }
    let index: Index = serde_json::from_slice(&bytes).context("parsing our own image index")?;
    // The CPU's, not only on Linux: Docker Desktop on a Mac runs a Linux VM of the Mac's CPU.
    let host = crate::host::Host::current()
        .cpu_platform()
        .map(|p| p.architecture());
    let entry = index
        .manifests
        .iter()
        .find(|m| m.platform.as_ref().map(|p| p.architecture.as_str()) == host)
        .or(index.manifests.first())
        .context("the image index lists no manifests")?;
    if let Some(p) = &entry.platform {
        crate::ui::note(format!(
            "a docker-archive holds one platform: {}/{} goes into manifest.json (the host's, else the \
             first); the OCI layout, an oci-archive and --push carry every platform",
            p.os, p.architecture
        ));
    }
    Ok(serde_json::from_slice(&img.store.read(&entry.digest)?)?)
}

fn add_bytes<W: Write>(tar: &mut TarWriter<W>, path: &str, bytes: &[u8]) -> io::Result<()> {
    tar.append(&Header::file(path, bytes.len() as u64), &mut &bytes[..])
}

/// Stream the archive of `img` in `format` into `out`, with `referrers` (e.g. SBOMs): their blobs go
/// under `blobs/` (not into `index.json`, which podman wants to name one image), and each of their
/// documents also as a plain file at the top of the tar, under its file name.
pub fn write_to<W: Write>(
    img: &Named<'_>,
    format: Format,
    out: W,
    referrers: &[Referrer<'_>],
) -> Result<W> {
    let mut tar = TarWriter::new(out);
    tar.append(&Header::dir("blobs"), &mut io::empty())?;
    tar.append(&Header::dir("blobs/sha256"), &mut io::empty())?;
    let mut blobs = all_blobs(img);
    for r in referrers {
        blobs.push(r.artifact.root.clone());
        blobs.extend(r.artifact.blobs.iter().cloned());
    }
    blobs.sort_by(|x, y| x.digest.cmp(&y.digest));
    blobs.dedup_by(|x, y| x.digest == y.digest);
    for d in blobs {
        let mut f = img.store.open_blob(&d.digest)?;
        let path = format!("blobs/sha256/{}", d.digest.hex());
        tar.append(&Header::file(&path, d.size), &mut f)
            .with_context(|| format!("adding blob {} to the archive", d.digest))?;
    }
    let mut index = index_for(img, true);
    if format == Format::Oci {
        // podman (4.x) refuses an oci-archive whose index lists more than one manifest ("more than one
        // image in oci, choose an image"), so the OCI flavour names the image once, by its first tag.
        // The docker flavour carries every tag in manifest.json's RepoTags.
        index.manifests.truncate(1);
    }
    add_bytes(&mut tar, "index.json", &canonical_json(&index))?;
    if format == Format::Docker {
        let m = single_manifest(img)?;
        let repo_tags = img.full_refs();
        let layers: Vec<String> = m
            .layers
            .iter()
            .map(|l| format!("blobs/sha256/{}", l.digest.hex()))
            .collect();
        let manifest_json = json!([{
            "Config": format!("blobs/sha256/{}", m.config.digest.hex()),
            "RepoTags": repo_tags,
            "Layers": layers,
        }]);
        add_bytes(&mut tar, "manifest.json", &canonical_json(&manifest_json))?;
        add_bytes(&mut tar, "oci-layout", OCI_LAYOUT)?;
        let top = m
            .layers
            .last()
            .map(|l| l.digest.hex().to_string())
            .unwrap_or_default();
        let tags: serde_json::Map<String, serde_json::Value> =
            img.tags.iter().map(|t| (t.clone(), json!(top))).collect();
        let repositories = json!({ img.name: tags });
        add_bytes(&mut tar, "repositories", &canonical_json(&repositories))?;
    } else {
        add_bytes(&mut tar, "oci-layout", OCI_LAYOUT)?;
    }
    for (file_name, document) in referrers.iter().flat_map(|r| &r.files) {
        let bytes = img.store.read(&document.digest)?;
        add_bytes(&mut tar, file_name, &bytes)?;
    }
    Ok(tar.finish()?)
}

/// `--tarball -`: the archive goes to stdout.
pub const STDOUT: &str = "-";

/// Whether `--tarball dest` writes to this process's stdout: `-`, or a FIFO or device that is the very
/// file stdout is (`/proc/self/fd/1`, `/dev/stdout`, a symlink to either). Then stdout carries the
/// tarball only, and the result lines go to stderr.
pub fn is_stdout(dest: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if dest.as_os_str() == STDOUT {
        return true;
    }
    let Ok(target) = std::fs::metadata(dest) else {
        return false;
    };
    let out = fd_metadata(io::stdout().as_fd());
    commit::is_special(target.file_type())
        && out.is_ok_and(|o| o.dev() == target.dev() && o.ino() == target.ino())
}

/// Whether `--tarball dest` writes into the very pipe or socket stderr is (`--tarball - 2>&1 |
/// podman load`, `--tarball /dev/stderr`): the run's progress and errors would be mixed into it.
pub fn is_stderr_pipe(dest: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let target = match dest.as_os_str() == STDOUT {
        true => fd_metadata(io::stdout().as_fd()),
        false => std::fs::metadata(dest),
    };
    let (Ok(t), Ok(e)) = (target, fd_metadata(io::stderr().as_fd())) else {
        return false;
    };
    let pipe = t.file_type().is_fifo() || t.file_type().is_socket();
    pipe && t.dev() == e.dev() && t.ino() == e.ino()
}

/// What the open file `fd` is (`fstat`).
fn fd_metadata(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<std::fs::Metadata> {
    fd.try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata())
}

/// Where a `--tarball` path leads, symlinks followed (the link itself is never replaced).
#[derive(Debug)]
enum Target {
    /// Standard output (`-`).
    Stdout,
    /// A FIFO, device or socket (also through `/proc/self/fd/N`): written into, never replaced.
    Special(PathBuf),
    /// A regular file or nothing yet: replaced atomically by a temp created beside it.
    File(PathBuf),
}

/// Follow `dest` through symlinks (at most 40, like the kernel) to what it names.
fn target(dest: &Path) -> Result<Target> {
    if dest.as_os_str() == STDOUT {
        return Ok(Target::Stdout);
    }
    // stat follows every link, /proc's magic ones included (a pipe behind /proc/self/fd/1).
    if let Ok(m) = std::fs::metadata(dest) {
        if commit::is_special(m.file_type()) {
            return Ok(Target::Special(dest.to_path_buf()));
        }
    }
    let p = commit::follow_links(dest).with_context(|| format!("--tarball {}", dest.display()))?;
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.is_dir() => bail!(
            "--tarball {} is a directory: give a file path such as {}/image.tar",
            dest.display(),
            dest.display()
        ),
        _ => Ok(Target::File(p)),
    }
}

/// The `--tarball` sink: each image whose plan entry has a tarball path, in `format` (see [`write()`]).
#[derive(Debug, Clone, Copy)]
pub struct Tarball {
    /// The format of every tarball of the run (`--tarball-format`).
    pub format: Format,
}

impl Sink for Tarball {
    fn write(&self, image: &BuiltImage<'_>, report: &mut crate::report::ImageReport) -> Result<()> {
        let Some(t) = &image.spec.tarball else {
            return Ok(());
        };
        write(&image.named, self.format, t, &image.referrers)?;
        crate::ui::status(
            "Wrote",
            format!("{} archive {}", self.format.name(), t.display()),
        );
        report.tarball = Some(t.clone());
        Ok(())
    }
}

/// Write the archive of `img` to `dest` with `referrers` carried along (see [`write_to`]): `-` is
/// stdout; a FIFO or device (directly or through a symlink) is opened and written into; otherwise the
/// file (a symlink's target) is replaced atomically: a temp beside it, fsynced, renamed under the
/// destination's lock.
pub fn write(
    img: &Named<'_>,
    format: Format,
    dest: &Path,
    referrers: &[Referrer<'_>],
) -> Result<()> {
    let file = match target(dest)? {
        Target::Stdout => {
            let out = std::fs::File::from(io::stdout().as_fd().try_clone_to_owned()?);
            return stream(img, format, out, referrers, "the tarball to stdout");
        }
        Target::Special(p) => {
            let out = std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .with_context(|| format!("opening --tarball {} for writing", p.display()))?;
            return stream(img, format, out, referrers, &p.display().to_string());
        }
        Target::File(p) => p,
    };
    let parent = commit::parent_of(&file);
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("creating the directory {} for --tarball", parent.display()))?;
    commit::sweep(&parent);
    let tmp = Temp::file(&parent, Kind::Archive)?;
    stream(
        img,
        format,
        tmp.as_file(),
        referrers,
        &file.display().to_string(),
    )?;
    crate::blob::set_mode(tmp.path(), 0o644)?;
    let lock = DestLock::take(&file)?;
    commit::commit(&lock, vec![(tmp, file.clone())])
        .with_context(|| format!("moving the finished tarball to {}", file.display()))
}

/// Stream the archive through a buffer into `out` and flush it; `what` names `out` in errors.
fn stream<W: Write>(
    img: &Named<'_>,
    format: Format,
    out: W,
    referrers: &[Referrer<'_>],
    what: &str,
) -> Result<()> {
    let buf = io::BufWriter::with_capacity(256 * 1024, out);
    write_to(img, format, buf, referrers)
        .and_then(|b| b.into_inner().map_err(|e| e.into_error().into()))
        .map(drop)
        .with_context(|| format!("writing {what}"))
}
