//! `cargo slim-image verify IMAGE`: rebuild the image from the current workspace with the flags it
//! was released with, and compare digests.
//!
//! Takes IMAGE (a registry reference, `oci:DIR[:TAG]` or `oci-archive:FILE[:TAG]`, read by
//! [`source`]) and the build flags (before `verify`, as for the other subcommands, or after IMAGE),
//! resolves the plan exactly as a build would, and runs it through [`crate::execute::rebuild`]: the
//! images land in the blob cache only, and no sink runs (nothing is written to the layout, no
//! tarball, no load, no push). Then [`compare`] says whether the digests match and, if not, what
//! differs; [`report`] prints it. Exit status: 0 reproduced, 1 not, 2 when the check could not be
//! made (a bad IMAGE, a failed build): see [`exit_code`].

pub mod compare;
pub mod files;
pub mod report;
pub mod source;

use anyhow::{bail, Context, Result};

/// `cargo slim-image verify`, resolved: the image to check and the plan of its rebuild (every sink
/// off; `--dry-run` and `--message-format` in it).
#[derive(Debug, Clone)]
pub struct VerifyPlan {
    /// IMAGE, parsed.
    pub image: source::ImageRef,
    /// The rebuild.
    pub plan: crate::plan::Plan,
}

/// The image was rebuilt and its digest is not the image's (exit status 1); the message says what
/// differs.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// The exit status of a failed `verify` run: 1 for a [`Mismatch`], 2 when the check could not be
/// made (as `cmp` and `diff` do).
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<Mismatch>().is_some() {
        1
    } else {
        2
    }
}

/// Which image of the plan IMAGE is: the only one, else the one whose name IMAGE carries.
fn pick(plan: &crate::plan::Plan, names: &[String], image: &str) -> Result<usize> {
    if plan.images.len() == 1 {
        return Ok(0);
    }
    let short = |n: &str| n.rsplit('/').next().unwrap_or(n).to_string();
    let hits: Vec<usize> = (0..plan.images.len())
        .filter(|&i| {
            let n = &plan.images[i].name;
            names.iter().any(|m| m == n) || names.iter().any(|m| short(m) == short(n))
        })
        .collect();
    if let [one] = hits[..] {
        return Ok(one);
    }
    let all: Vec<&str> = plan.images.iter().map(|i| i.name.as_str()).collect();
    bail!(
        "verify: these flags build {} images ({}), and {image} does not say which one it is{}: \
         select it with -p PACKAGE or --bin NAME",
        all.len(),
        all.join(", "),
        if names.is_empty() {
            String::new()
        } else {
            format!(" (it is named {})", names.join(", "))
        }
    )
}

/// `verify --dry-run`: the plan (without outputs) and what would be compared; IMAGE is not read.
fn dry_run(plan: &crate::plan::Plan, image: &source::ImageRef) -> String {
    let mut text = format!(
        "verify {image}: would rebuild the image below (writing nothing) and compare digests\n"
    );
    for line in plan.describe().lines() {
        if !line.trim_start().starts_with("layout:") {
            text.push_str(line);
            text.push('\n');
        }
    }
    let mut p = plan.to_json();
    if let Some(images) = p.get_mut("images").and_then(|i| i.as_array_mut()) {
        for i in images {
            i["layout"] = serde_json::Value::Null;
        }
    }
    let json = serde_json::json!({
        "tool": format!("cargo-slim-image {}", env!("CARGO_PKG_VERSION")),
        "dry_run": true,
        "command": "verify",
        "image": image.to_string(),
        "plan": p,
    });
    crate::dry_run_text(plan.json, text, &json)
}

/// `cargo slim-image verify IMAGE [BUILD FLAGS]`.
pub fn run(verify: &VerifyPlan) -> Result<()> {
    let (plan, image) = (&verify.plan, &verify.image);
    if plan.dry_run {
        return crate::ui::stdout::results(&dry_run(plan, image), "nothing was read or built");
    }
    let store = crate::blob::BlobStore::open(crate::execute::store_dir(plan))?;
    let opened = source::open(image, &store, &plan.client)?;
    opened
        .check_blobs(&store)
        .with_context(|| format!("checking the blobs of {}", opened.name))?;
    let which = pick(plan, &opened.names, &opened.name)?;
    crate::ui::status(
        "Verifying",
        format!(
            "{}@{} against a rebuild of {}",
            opened.name, opened.root.digest, plan.images[which].name
        ),
    );
    let (store, rebuilt) = crate::execute::rebuild(plan)?;
    let outcome = compare::compare(&opened, &rebuilt[which], &store)?;
    let reproduced = outcome.reproduced();
    if plan.json {
        let doc = report::json(&outcome);
        let mut s = String::from_utf8(crate::blob::canonical_json(&doc)).unwrap_or_default();
        s.push('\n');
        crate::ui::stdout::results(
            &crate::ui::defang(&crate::ui::redact(&s)),
            "the image was checked",
        )?;
    } else if reproduced {
        crate::ui::stdout::results(
            &crate::ui::defang(&crate::ui::redact(&report::reproduced_lines(&outcome))),
            "the image was checked",
        )?;
    }
    if !reproduced {
        return Err(Mismatch(report::mismatch_text(&outcome)).into());
    }
    Ok(())
}
