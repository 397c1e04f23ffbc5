//! The registry references `--push` sends one image to: its own name and tags (`--push` without a
//! value), or the repository a `--push REF` names, with the image's tags unless REF carries one.

use crate::reference::{split_tag, Reference};
use anyhow::{bail, Result};

/// Add the references that one `--push` value (`target`; empty: the image's own name and tags)
/// pushes `img` to; `many` when this run builds `count` images.
pub(super) fn add(
    img: &mut crate::plan::ImageSpec,
    target: &str,
    many: bool,
    count: usize,
) -> Result<()> {
    if target.is_empty() {
        if let Err(why) = crate::config::check::push_target(&img.name) {
            bail!(
                "--push: the image name {why}; set name = \"REGISTRY/...\" in [package.metadata.slim-image], use --tag REGISTRY/NAME, or --push REF",
            );
        }
        for t in &img.tags {
            img.push
                .push(format!("{}:{t}", img.name).parse::<Reference>()?);
        }
    } else {
        if many {
            bail!("--push {target} names one repository, but this run builds {count} images: pick one with --bin or -p, or use --push without a value");
        }
        let r: Reference = target.parse()?;
        crate::config::check::push_target(target)
            .map_err(|why| anyhow::anyhow!("--push {target}: {why}"))?;
        if r.digest.is_some() {
            bail!("--push {target}: a push target cannot pin a digest (the digest is the result); give REGISTRY/NAME[:TAG]");
        }
        let explicit_tag = split_tag(target).1.is_some();
        if explicit_tag {
            img.push.push(r);
        } else {
            for t in &img.tags {
                img.push.push(r.with_tag(t));
            }
        }
    }
    Ok(())
}
