//! The `--load` sink: stream the archive straight into `podman load` or `docker load`, whichever is
//! on PATH (podman first: it needs no daemon). No temp file; the engine's own output goes to stderr so
//! stdout keeps only our results.

use super::api::{BuiltImage, Named, Sink};
use super::archive::{write_to, Format};
use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};

/// The `--load` sink: each image into the first engine found (see [`load`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Load;

impl Sink for Load {
    fn write(&self, image: &BuiltImage<'_>, report: &mut crate::report::ImageReport) -> Result<()> {
        let img = &image.named;
        let engine = load(img)?;
        crate::ui::status(
            "Loaded",
            format!("{}:{} into {engine}", img.name, img.tags[0]),
        );
        report.loaded_into = Some(engine);
        Ok(())
    }
}

/// The engine `--load` streams into, and its path: `$SLIM_IMAGE_LOADER` (`podman` or `docker`)
/// when set, else the first of podman and docker on PATH. Checked before anything is built
/// (`execute`), so a run that cannot load writes nothing, and again when loading.
pub fn engine() -> Result<(String, std::path::PathBuf)> {
    // Empty is unset (a CI variable that was not filled in).
    let wanted = std::env::var("SLIM_IMAGE_LOADER")
        .ok()
        .filter(|w| !w.is_empty());
    let candidates: Vec<&str> = match wanted.as_deref() {
        Some(w @ ("podman" | "docker")) => vec![w],
        Some(w) => bail!(
            "SLIM_IMAGE_LOADER={} names no engine --load knows: set it to podman or docker, or \
             unset it (podman, else docker)",
            crate::ui::shown(w)
        ),
        None => vec!["podman", "docker"],
    };
    if let Some(found) = candidates
        .iter()
        .find_map(|c| crate::host::program::on_path(c).map(|p| (c.to_string(), p)))
    {
        return Ok(found);
    }
    match wanted {
        Some(w) => bail!(
            "--load: SLIM_IMAGE_LOADER={w} and {w} is not on PATH: install it, unset \
             SLIM_IMAGE_LOADER to use the other engine, or use --tarball FILE and load it where an \
             engine runs"
        ),
        None => bail!(
            "--load needs podman or docker on PATH, and neither was found: install podman \
             (apt-get install podman), or use --tarball FILE and load it where an engine runs"
        ),
    }
}

/// Load `img` into the engine of [`engine`]. Returns the engine's name.
pub fn load(img: &Named<'_>) -> Result<String> {
    let (engine, path) = engine()?;
    // docker load only reads docker-archive; podman reads both, and the OCI form keeps the full name.
    let format = if engine == "docker" {
        Format::Docker
    } else {
        Format::Oci
    };
    // What it prints goes to our stderr, and a reader of ours that is gone does not fail it.
    let mut child = Command::new(&path)
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(crate::ui::child::stdout_to_stderr()?)
        .stderr(crate::ui::child::stderr())
        .spawn()
        .with_context(|| format!("starting `{} load`", path.display()))?;
    let copying = [
        crate::ui::child::copy(child.stdout.take()),
        crate::ui::child::copy(child.stderr.take()),
    ];
    let stdin = child.stdin.take().context("no stdin for the loader")?;
    let written = write_to(img, format, std::io::BufWriter::new(stdin), &[])
        .and_then(|w| w.into_inner().map_err(|e| anyhow::anyhow!(e.into_error())))
        // Close the pipe (drop stdin) before waiting, or the engine waits for more input forever.
        .map(drop);
    let status = child
        .wait()
        .with_context(|| format!("waiting for `{engine} load`"))?;
    copying
        .into_iter()
        .for_each(crate::ui::child::Copying::finish);
    if !status.success() {
        bail!(
            "`{engine} load` failed ({status}): see its message above{}",
            hint_for(&engine, img)
        );
    }
    written.with_context(|| format!("streaming the image into `{engine} load`"))?;
    Ok(engine)
}

/// What to try when `engine load` refused the image, where we know one reason: dockerd 20.10
/// (Debian 12's docker.io) fails on zstd layers with `archive/tar: invalid tar header`
/// (tests/docker_engine.rs); docker 23 and later read them.
fn hint_for(engine: &str, img: &Named<'_>) -> &'static str {
    let zstd = img
        .artifact
        .blobs
        .iter()
        .any(|d| d.media_type == crate::blob::media::LAYER_ZSTD);
    if engine == "docker" && zstd {
        ". Docker engines before 23 cannot read zstd layers: build with --compression gzip \
         (the default), or load into podman (SLIM_IMAGE_LOADER=podman)"
    } else {
        ""
    }
}
