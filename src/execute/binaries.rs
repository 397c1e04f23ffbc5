//! The compile step of a run: every platform's binaries, built by cargo (one `cargo build` for
//! several platforms where their toolchains allow, see `compile::build_all`) or taken as given
//! (`--binary`); the `cargo metadata` each platform's build read is kept for the SBOM.

use super::built::Binaries;
use super::inputs;
use crate::compile;
use crate::plan::Plan;
use crate::platform::Platform;
use anyhow::Result;
use std::collections::BTreeMap;

/// Build every platform's binaries; `metadata` keeps each platform's `cargo metadata` for the SBOM.
pub(super) fn compile_all(
    plan: &Plan,
    metadata: &mut inputs::Metadata,
    c_libs: &BTreeMap<Platform, compile::c_libs::Prepared>,
) -> Result<Binaries> {
    let mut out = Binaries::new();
    for img in &plan.images {
        for b in &img.binaries {
            if let Some(p) = &b.prebuilt {
                for &pl in &img.platforms {
                    out.insert((pl, b.name.clone()), p.clone());
                }
            }
        }
    }
    let mut reqs = plan.build_requests();
    for req in &mut reqs {
        req.repro = inputs::reproducible(plan, req.platform, metadata)?;
        if let Some(p) = c_libs.get(&req.platform) {
            req.extra_env.extend(p.env.iter().cloned());
        }
    }
    if reqs.is_empty() {
        return Ok(out);
    }
    // Every platform in one cargo build where the toolchains allow (compile::build_all).
    let built = if plan.min_size {
        crate::size::build_min_size(reqs)?
    } else {
        compile::build_all(&reqs)?
    };
    for b in built {
        out.insert((b.platform, b.name), b.path);
    }
    Ok(out)
}
