//! Each platform's C toolchain, decided from the workspace's dependency tree (`cargo tree`, the one
//! step of resolution that runs cargo) and the run's `c-toolchain` choice.

use crate::cli::Cli;
use crate::compile::c_toolchain;
use crate::plan::Plan;
use anyhow::Result;
use cargo_metadata::Metadata;

/// Fill `plan.cargo.toolchains`: one decision per platform of the plan. Left empty in a dry run
/// that cannot know them without writing Cargo.lock (the build decides then, by the same rule).
pub(super) fn decide(cli: &Cli, md: &Metadata, plan: &mut Plan) -> Result<()> {
    let platforms = plan.platforms();
    let Some(cargo) = plan.cargo.as_mut() else {
        return Ok(());
    };
    let b = &plan.build;
    let mut q = crate::sbom::deps::MetadataQuery {
        manifest_path: cargo.manifest_path.clone(),
        features: b.features.clone(),
        all_features: b.all_features,
        no_default_features: b.no_default_features,
        flags: b.lock_flags(),
    };
    let root = md.workspace_root.as_std_path();
    let user = |p| crate::compile::user_settings(p, &[], Some(root));
    // `cargo tree` writes a missing or out-of-date Cargo.lock, and --dry-run writes nothing: then
    // the plan cannot know the C toolchain yet (the build decides it by the same rule).
    let forced_lock = cli.dry_run && !b.locked && !b.frozen;
    if forced_lock {
        q.flags.push("--locked".into());
    }
    if cli.dry_run && !md.workspace_root.join("Cargo.lock").exists() {
        return Ok(());
    }
    let decided = c_toolchain::decide_all(&q, &cargo.packages, &platforms, cargo.c_toolchain, user);
    cargo.toolchains = match decided {
        Err(e) if forced_lock && format!("{e:#}").contains("--locked was passed") => {
            crate::ui::note("Cargo.lock is out of date (cargo build will update it) and a dry run writes nothing: the build decides the C toolchain");
            Vec::new()
        }
        other => other?,
    };
    Ok(())
}
