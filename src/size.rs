//! Size: how much each part of an image weighs, the budget check, and the `--min-size` profile.
//!
//! Takes the layer sizes of a built image (and the sizes of the parts of the shared base layer) and
//! gives a [`SizeReport`]: the share of the binaries, the CA certificates and the base files, and what
//! the same application would weigh on alpine. [`check_budget`] fails a run whose image is over its
//! `size-budget` (read by [`crate::units::parse_size`]). [`min_size_env`] is the set of
//! `CARGO_PROFILE_<NAME>_*` overrides behind `--min-size` (the user's Cargo.toml is never edited).

use anyhow::{bail, Result};
use serde::Serialize;

/// Compressed size of `alpine:3` (linux/amd64), about 3.4 MiB. A documented constant, not a pull:
/// this tool does not download images to compare with, so the output says "about".
pub const ALPINE_COMPRESSED: u64 = 3_565_158;

/// Where the compressed bytes of one platform's image go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SizeReport {
    /// The application layer (binaries and extra files), compressed.
    pub binary: u64,
    /// The CA certificates, compressed (0 with `ca-certificates = "none"`).
    pub certificates: u64,
    /// The zoneinfo layer (`timezones = true`), compressed; absent when there is none.
    #[serde(skip_serializing_if = "is_zero")]
    pub zoneinfo: u64,
    /// The rest of the base files (passwd, group, nsswitch.conf, directories) or a base image.
    pub base: u64,
    /// Sum of the compressed layers.
    pub total: u64,
    /// The same application layer on alpine:3 (an estimate from [`ALPINE_COMPRESSED`]).
    pub on_alpine: u64,
    /// The size budget, if one was set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SizeReport {
    /// Split `total` into the application layer, the certificates and the remaining base bytes.
    pub fn new(total: u64, app: u64, certificates: u64, budget: Option<u64>) -> SizeReport {
        SizeReport {
            binary: app,
            certificates,
            zoneinfo: 0,
            base: total.saturating_sub(app + certificates),
            total,
            on_alpine: ALPINE_COMPRESSED + app,
            budget,
        }
    }

    /// One human line: shares and the alpine comparison.
    pub fn line(&self) -> String {
        let pct = |n: u64| {
            if self.total == 0 {
                0.0
            } else {
                n as f64 * 100.0 / self.total as f64
            }
        };
        let h = crate::units::human_size;
        let zoneinfo = if self.zoneinfo > 0 {
            format!(
                ", zoneinfo {} ({:.0}%)",
                h(self.zoneinfo),
                pct(self.zoneinfo)
            )
        } else {
            String::new()
        };
        format!(
            "binary {} ({:.0}%), certificates {} ({:.0}%){zoneinfo}, base {} ({:.0}%); on alpine:3 it would weigh about {} (alpine:3 is about {} compressed, a fixed estimate)",
            h(self.binary),
            pct(self.binary),
            h(self.certificates),
            pct(self.certificates),
            h(self.base),
            pct(self.base),
            h(self.on_alpine),
            h(ALPINE_COMPRESSED),
        )
    }
}

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
pub fn annotate(
    manifests: &mut [crate::report::ManifestReport],
    certificates: u64,
    budget: Option<u64>,
) {
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
pub fn enforce(
    image: &str,
    manifests: &[crate::report::ManifestReport],
    budget: Option<u64>,
) -> Result<()> {
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
    fn budget_and_shares() {
        assert!(check_budget("a", "linux/amd64", 10, 10).is_ok());
        let e = check_budget("a", "linux/amd64", 11, 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("over its size budget"), "{e}");
        let r = SizeReport::new(1000, 600, 300, None);
        assert_eq!(r.base, 100);
        assert!(r.line().contains("alpine:3"));
        assert_eq!(
            min_size_env("release")[0],
            ("CARGO_PROFILE_RELEASE_OPT_LEVEL".into(), "z".into())
        );
    }
}
