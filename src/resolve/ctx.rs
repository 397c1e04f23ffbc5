//! What the pieces of a build's resolution share: the [`Ctx`] every image is resolved with, the
//! [`Resolved`] triple, and the parsing of `--platform` and `--tag` values. A leaf that the build's
//! resolution, its `spec` and `prebuilt` import.

use crate::cli::BuildArgs;
use crate::plan::{CargoPlan, ImageSpec};
use crate::platform::Platform;
use anyhow::{Context, Result};
use std::path::PathBuf;

/// What every image of a build is resolved with: the build flags, the epoch and `--platform`.
pub(super) struct Ctx<'a> {
    pub(super) cli: &'a BuildArgs,
    pub(super) epoch: u64,
    pub(super) cli_platforms: Vec<Platform>,
}

/// The images of a build, its cargo build (none with `--binary`) and the target dir.
pub(super) type Resolved = (Vec<ImageSpec>, Option<CargoPlan>, PathBuf);

/// Parse `NAME[:TAG]` given to --tag (the split of [`crate::reference::split_tag`], owned).
pub(super) fn split_name_tag(s: &str) -> (String, Option<String>) {
    let (name, tag) = crate::reference::split_tag(s);
    (name.to_string(), tag.map(str::to_string))
}

/// The platforms of `list` (from `origin`, named in the error), each once, in order.
pub(super) fn parse_platforms(list: &[String], origin: &str) -> Result<Vec<Platform>> {
    let mut out: Vec<Platform> = Vec::new();
    for s in list.iter().filter(|s| !s.trim().is_empty()) {
        let p: Platform = s.parse().with_context(|| format!("in {origin}"))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}
