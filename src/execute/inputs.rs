//! What the build of one platform takes from `cargo metadata`: the rustc wrapper's inputs.
//!
//! `cargo metadata` (with dependencies, filtered for the platform's musl target, with the run's
//! feature flags) runs once per platform and is kept for the SBOM step, which reads the same
//! graph. From it come the remap list and the dependency data of every package whose image has
//! `embed-dependencies` on (see [`crate::compile::prepare`]).

use crate::compile::Reproducible;
use crate::plan::Plan;
use crate::platform::Platform;
use crate::sbom::deps::{self, MetadataQuery};
use anyhow::Result;
use std::collections::BTreeMap;

/// `cargo metadata` per platform.
pub type Metadata = BTreeMap<Platform, cargo_metadata::Metadata>;

/// The query the build and the SBOM share.
pub fn query(plan: &Plan) -> MetadataQuery {
    MetadataQuery {
        manifest_path: plan.cargo.as_ref().and_then(|c| c.manifest_path.clone()),
        features: plan.build.features.clone(),
        all_features: plan.build.all_features,
        no_default_features: plan.build.no_default_features,
        flags: plan.build.lock_flags(),
    }
}

/// The wrapper's inputs for `platform` (running `cargo metadata` into `cache` unless it is there).
pub fn reproducible(plan: &Plan, platform: Platform, cache: &mut Metadata) -> Result<Reproducible> {
    if let std::collections::btree_map::Entry::Vacant(e) = cache.entry(platform) {
        e.insert(deps::metadata(&query(plan), platform)?);
    }
    let mut embed: Vec<String> = plan
        .images
        .iter()
        .filter(|i| i.embed_dependencies && i.platforms.contains(&platform))
        .flat_map(|i| i.binaries.iter())
        .filter(|b| b.prebuilt.is_none())
        .filter_map(|b| b.package.clone())
        .collect();
    embed.sort();
    embed.dedup();
    crate::compile::reproducible(&cache[&platform], &plan.target_dir, &embed)
}
