//! Size: how much each part of an image weighs, the budget check, and the `--min-size` profile.
//!
//! Takes the layer sizes of a built image (and the sizes of the parts of the shared base layer) and
//! fills in each platform's [`SizeReport`] (a record of the report): the share of the binaries, the
//! CA certificates and the base files, and what the same application would weigh on alpine.
//! [`check_budget`] fails a run whose image is over its `size-budget` (read by
//! [`crate::units::parse_size`]). [`min_size_env`] is the set of `CARGO_PROFILE_<NAME>_*` overrides
//! behind `--min-size` (the user's Cargo.toml is never edited).

use crate::report::{ManifestReport, SizeReport};
use anyhow::{bail, Result};

/// Fail when `compressed` is over `budget`, saying by how much and what to try.
pub fn check_budget(image: &str, platform: &str, compressed: u64, budget: u64) -> Result<()> {
    if compressed > budget {
        let h = crate::units::human_size;
        bail!(
            "image {image} ({platform}) is {} compressed, over its size budget of {} by {}: nothing was pushed.\nnote: try --min-size (or profile = \"min-size\"), drop features, or raise size-budget / --size-budget",
            h(compressed),
            h(budget),
            h(compressed - budget)
        );
    }
    Ok(())
}

/// The `CARGO_PROFILE_<NAME>_*` overrides of `--min-size` for cargo profile `profile`.
pub fn min_size_env(profile: &str) -> Vec<(String, String)> {
    let key = profile.replace('-', "_").to_ascii_uppercase();
    [
        ("OPT_LEVEL", "z"),
        ("LTO", "fat"),
        ("CODEGEN_UNITS", "1"),
        ("PANIC", "abort"),
        ("STRIP", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (format!("CARGO_PROFILE_{key}_{k}"), v.to_string()))
    .collect()
}

/// `--min-size`: build once as configured (the baseline), then with the [`min_size_env`] overrides
/// (which are part of the build dir's stamp, so the two builds have their own trees and never evict
/// each other), and say how much each binary saved. Returns the size-optimised binaries.
pub fn build_min_size(
    reqs: Vec<crate::compile::BuildRequest>,
) -> Result<Vec<crate::compile::BuiltBinary>> {
    let baseline = crate::compile::build_all(&reqs)?;
    let small: Vec<crate::compile::BuildRequest> = reqs
        .into_iter()
        .map(|mut r| {
            let env = min_size_env(&r.profile);
            r.extra_env.extend(env);
            r
        })
        .collect();
    crate::ui::status(
        "Min-size",
        "opt-level=\"z\", lto=\"fat\", codegen-units=1, panic=\"abort\", strip=true",
    );
    let built = crate::compile::build_all(&small)?;
    let h = crate::units::human_size;
    let several = built.iter().any(|b| b.platform != built[0].platform);
    for b in &built {
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let before = baseline
            .iter()
            .find(|x| x.name == b.name && x.platform == b.platform);
        if let Some(before) = before {
            let (was, now) = (size(&before.path), size(&b.path));
            let name = if several {
                format!("{} ({})", b.name, b.platform)
            } else {
                b.name.clone()
            };
            crate::ui::status(
                "Saved",
                format!(
                    "{name}: {} -> {} ({} less, {:.0}%)",
                    h(was),
                    h(now),
                    h(was.saturating_sub(now)),
                    if was == 0 {
                        0.0
                    } else {
                        was.saturating_sub(now) as f64 * 100.0 / was as f64
                    }
                ),
            );
        }
    }
    Ok(built)
}

/// Fill in the size shares of each platform's report (`certificates`: the CA bundle's compressed
/// share of the base layer, 0 when the image has none there).
pub fn annotate(manifests: &mut [ManifestReport], certificates: u64, budget: Option<u64>) {
    for m in manifests {
        let role = |r: &str| -> u64 {
            m.layers
                .iter()
                .filter(|l| l.role == r)
                .map(|l| l.size)
                .sum()
        };
        let (app, zoneinfo) = (role("app"), role("zoneinfo"));
        let mut size = SizeReport::new(m.compressed_size, app, certificates, budget);
        size.zoneinfo = zoneinfo;
        size.base = size.base.saturating_sub(zoneinfo);
        m.size = Some(size);
    }
}

/// Check every platform of an image against its budget (see [`check_budget`]).
pub fn enforce(image: &str, manifests: &[ManifestReport], budget: Option<u64>) -> Result<()> {
    let Some(budget) = budget else { return Ok(()) };
    for m in manifests {
        check_budget(image, &m.platform, m.compressed_size, budget)?;
    }
    crate::ui::verbose(format!(
        "image {image} is within its size budget of {}",
        crate::units::human_size(budget)
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_and_min_size_env() {
        assert!(check_budget("a", "linux/amd64", 10, 10).is_ok());
        let e = check_budget("a", "linux/amd64", 11, 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("over its size budget"), "{e}");
        assert_eq!(
            min_size_env("release")[0],
            ("CARGO_PROFILE_RELEASE_OPT_LEVEL".into(), "z".into())
        );
    }
}
