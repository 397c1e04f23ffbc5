//! Which platforms of a run share one `cargo build --target A --target B` (one job server, host
//! crates and build scripts compiled once), and which are built one after the other, and why.
//!
//! Takes the run's [`BuildRequest`]s (one per platform, the same cargo flags, each with its C
//! toolchain decided); gives the groups, each one cargo command. Platforms share a command when
//! nothing of one can reach the other's build:
//! - the same cargo subcommand: `cargo zigbuild` sets the C compiler and linker of every target it
//!   is given, so a zig target and one that is not are built apart;
//! - the same rustc wrapper inputs (the remap list, which packages embed dependency data): one build
//!   directory and one wrapper config serve the command;
//! - no variable that both set to different values (the per-target ones are keyed by triple:
//!   `CARGO_TARGET_<T>_LINKER`, `CC_<triple>`, `<TRIPLE>_OPENSSL_DIR`);
//! - the same features: cargo resolves the features of one command across all its targets, so a
//!   feature that only one target's dependencies turn on would be turned on for the other too (other
//!   bytes than its own build). [`features_agree`] compares each platform's own `cargo tree` with
//!   the tree of one command for all of them.
//!
//! The grouping is a pure function of the requests ([`partition`]); the reasons go to `-v`.

use super::c_toolchain::Toolchain;
use super::request::BuildRequest;
use crate::platform::Platform;
use std::collections::{BTreeMap, BTreeSet};

/// Why `b` cannot share `a`'s cargo command, if it cannot (the features aside).
pub(super) fn apart(a: &BuildRequest, b: &BuildRequest) -> Option<String> {
    let zig = |r: &BuildRequest| {
        r.c_toolchain
            .as_ref()
            .is_some_and(|d| d.toolchain == Toolchain::Zig)
    };
    let (pa, pb) = (a.platform, b.platform);
    if zig(a) != zig(b) {
        let (z, other) = if zig(a) { (pa, pb) } else { (pb, pa) };
        return Some(format!(
            "{z} is built with cargo zigbuild (C code, cross-compiled) and {other} is not: cargo \
             zigbuild would set {other}'s C compiler and linker too"
        ));
    }
    fn flags(r: &BuildRequest) -> impl PartialEq + '_ {
        (
            (&r.manifest_path, &r.packages, &r.bins, &r.features),
            (r.all_features, r.no_default_features, r.locked, r.frozen),
            (&r.profile, &r.target_dir, r.offline, r.verbose, r.quiet),
            &r.rustc_wrapper,
        )
    }
    if flags(a) != flags(b) {
        return Some(format!("{pa} and {pb} are built with other cargo flags"));
    }
    if a.repro.remap != b.repro.remap {
        return Some(format!(
            "the path remapping of {pa} and {pb} differs (a package outside the workspace is \
             built for one of them only), and one build has one remap list"
        ));
    }
    let embeds = |r: &BuildRequest| r.repro.dep_data.keys().cloned().collect::<Vec<_>>();
    if embeds(a) != embeds(b) {
        return Some(format!(
            "{pa} and {pb} embed the dependency list in the binaries of other packages"
        ));
    }
    for (k, v) in &a.extra_env {
        if let Some((_, w)) = b.extra_env.iter().find(|(l, w)| l == k && w != v) {
            return Some(format!(
                "{pa} and {pb} set {k} to different values ({v} and {w})"
            ));
        }
    }
    None
}

/// The requests in groups that may share one cargo command (indices into `reqs`, in order), and the
/// reasons some are apart. Each request joins the first group all of whose members it can share with.
pub(super) fn partition(reqs: &[BuildRequest]) -> (Vec<Vec<usize>>, Vec<String>) {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut reasons = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        let mut why = None;
        let fit = groups.iter().position(|g| {
            let no = g.iter().find_map(|&j| apart(&reqs[j], r));
            why = why.take().or(no.clone());
            no.is_none()
        });
        match fit {
            Some(g) => groups[g].push(i),
            None => {
                reasons.extend(why);
                groups.push(vec![i]);
            }
        }
    }
    (groups, reasons)
}

/// The `(package, features)` of every crate a `cargo tree -e normal,build --format '{p}|{f}'` text
/// compiles for a target (not under a build-dependency or a proc-macro, which are built for the
/// host), one pair per line: with several `--target`s, each target's own tree is printed.
pub(super) fn target_features(text: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    // Per depth: whether that line (and so everything under it) is built for the host.
    let mut host: Vec<bool> = Vec::new();
    let mut build_section: Vec<bool> = Vec::new();
    for line in text.lines() {
        let Some(col) = line.find(|c: char| !matches!(c, ' ' | '|' | '`' | '-')) else {
            host.clear();
            build_section.clear();
            continue;
        };
        let depth = col / 4;
        let rest = line[col..].trim_end();
        if rest.starts_with('[') {
            // `[build-dependencies]` under the node at this depth: its children that follow.
            build_section.truncate(depth);
            build_section.resize(depth, false);
            build_section.push(rest == "[build-dependencies]");
            continue;
        }
        let above = |v: &Vec<bool>| depth > 0 && v.get(depth - 1) == Some(&true);
        let (parent_host, under_build) = (above(&host), above(&build_section));
        let rest = rest.strip_suffix(" (*)").unwrap_or(rest);
        let (node, features) = rest.split_once('|').unwrap_or((rest, ""));
        let node = node.strip_suffix(" (*)").unwrap_or(node);
        let is_host = parent_host || under_build || node.ends_with(" (proc-macro)");
        host.truncate(depth);
        host.resize(depth, false);
        host.push(is_host);
        // A new node: its own children start as normal dependencies.
        build_section.truncate(depth);
        build_section.resize(depth, false);
        build_section.push(false);
        if !is_host {
            let mut f: Vec<&str> = features.split(',').filter(|f| !f.is_empty()).collect();
            f.sort_unstable();
            out.insert((node.to_string(), f.join(",")));
        }
    }
    out
}

/// `None` when one cargo command for all `platforms` (its tree: `combined`) compiles every target
/// crate with the features its own platform's build gives it (`own`: each platform's tree); else
/// why not, naming the crates whose features differ between platforms.
pub(super) fn features_agree(own: &[(Platform, &str)], combined: &str) -> Option<String> {
    let mut each: BTreeSet<(String, String)> = BTreeSet::new();
    let mut by_crate: BTreeMap<String, BTreeMap<String, Vec<Platform>>> = BTreeMap::new();
    for (p, text) in own {
        for (node, f) in target_features(text) {
            by_crate
                .entry(node.clone())
                .or_default()
                .entry(f.clone())
                .or_default()
                .push(*p);
            each.insert((node, f));
        }
    }
    if target_features(combined) == each {
        return None;
    }
    let differ: Vec<String> = by_crate
        .iter()
        .filter(|(_, sets)| sets.len() > 1)
        .take(3)
        .map(|(node, sets)| {
            let node = node.split(" (").next().unwrap_or(node);
            let per: Vec<String> = sets
                .iter()
                .map(|(f, ps)| {
                    let ps: Vec<String> = ps.iter().map(|p| p.to_string()).collect();
                    let f = if f.is_empty() { "none" } else { f.as_str() };
                    format!("[{f}] for {}", ps.join(", "))
                })
                .collect();
            format!("{node} has features {}", per.join(" but "))
        })
        .collect();
    let what = if differ.is_empty() {
        "the features of some crates would change".to_string()
    } else {
        differ.join("; ")
    };
    Some(format!(
        "cargo resolves the features of one command across all its targets, and {what}: each \
         platform gets its own cargo build, so each binary is what its platform's build alone makes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::c_toolchain::{Choice, Decision};

    const AMD: Platform = Platform::LinuxAmd64;
    const ARM: Platform = Platform::LinuxArm64;

    fn req(p: Platform, tc: Toolchain) -> BuildRequest {
        let mut r = BuildRequest::new(p);
        r.c_toolchain = Some(Decision {
            platform: p,
            toolchain: tc,
            c_crates: Vec::new(),
            choice: Choice::Auto,
            sys_crates: Vec::new(),
            tree: String::new(),
        });
        r
    }

    #[test]
    fn rust_lld_and_musl_gcc_targets_share_zig_ones_do_not() {
        let (g, why) = partition(&[req(AMD, Toolchain::RustLld), req(ARM, Toolchain::RustLld)]);
        assert_eq!(g, [vec![0, 1]]);
        assert!(why.is_empty());
        let (g, _) = partition(&[req(AMD, Toolchain::MuslGcc), req(ARM, Toolchain::RustLld)]);
        assert_eq!(g, [vec![0, 1]]);
        let (g, _) = partition(&[req(AMD, Toolchain::Zig), req(ARM, Toolchain::Zig)]);
        assert_eq!(g, [vec![0, 1]]);
        let (g, why) = partition(&[req(AMD, Toolchain::MuslGcc), req(ARM, Toolchain::Zig)]);
        assert_eq!(g, [vec![0], vec![1]]);
        assert!(
            why[0].contains("linux/arm64 is built with cargo zigbuild")
                && why[0].contains("linux/amd64"),
            "{why:?}"
        );
    }

    #[test]
    fn different_wrapper_inputs_or_clashing_variables_keep_targets_apart() {
        let a = req(AMD, Toolchain::RustLld);
        let mut b = req(ARM, Toolchain::RustLld);
        b.repro.remap = vec![("/elsewhere".into(), "/dep".into())];
        let (g, why) = partition(&[a.clone(), b]);
        assert_eq!(g.len(), 2);
        assert!(why[0].contains("path remapping"), "{why:?}");

        let mut b = req(ARM, Toolchain::RustLld);
        b.repro.dep_data.insert("app".into(), vec![1]);
        let (g, why) = partition(&[a.clone(), b]);
        assert_eq!(g.len(), 2);
        assert!(why[0].contains("dependency list"), "{why:?}");

        // Per-target variables (other names) are fine; one name with two values is not.
        let mut a2 = a.clone();
        let mut b = req(ARM, Toolchain::RustLld);
        a2.extra_env = vec![("X86_64_UNKNOWN_LINUX_MUSL_OPENSSL_DIR".into(), "/a".into())];
        b.extra_env = vec![("AARCH64_UNKNOWN_LINUX_MUSL_OPENSSL_DIR".into(), "/b".into())];
        assert_eq!(partition(&[a2.clone(), b.clone()]).0.len(), 1);
        b.extra_env
            .push(("CARGO_PROFILE_RELEASE_LTO".into(), "fat".into()));
        a2.extra_env
            .push(("CARGO_PROFILE_RELEASE_LTO".into(), "thin".into()));
        let (g, why) = partition(&[a2, b]);
        assert_eq!(g.len(), 2);
        assert!(why[0].contains("CARGO_PROFILE_RELEASE_LTO"), "{why:?}");

        let mut b = req(ARM, Toolchain::RustLld);
        b.features = vec!["x".into()];
        assert_eq!(partition(&[a, b]).0.len(), 2);
    }

    const APP_AMD: &str = "\
app v0.1.0 (/w/app)|
|-- dep v0.1.0 (/w/dep)|
`-- pm v1.0.0 (proc-macro)|
    `-- dep v0.1.0 (/w/dep)|b
[build-dependencies]
`-- cc v1.2.0|
    `-- shlex v1.3.0|default,std
";
    const APP_ARM: &str = "\
app v0.1.0 (/w/app)|
|-- dep v0.1.0 (/w/dep)|b
`-- pm v1.0.0 (proc-macro)|
    `-- dep v0.1.0 (/w/dep)|b
[build-dependencies]
`-- cc v1.2.0|
    `-- shlex v1.3.0|default,std
";

    #[test]
    fn host_crates_do_not_count_as_target_crates() {
        let got = target_features(APP_AMD);
        let want: BTreeSet<(String, String)> =
            [("app v0.1.0 (/w/app)", ""), ("dep v0.1.0 (/w/dep)", "")]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn features_one_target_turns_on_for_the_other_keep_them_apart() {
        // As `cargo tree --target A --target B` prints tests/fixtures/target-features:
        // `dep` gets `b` for both, since only arm64's dependency table turns it on.
        let elided = APP_ARM.replace(
            "cc v1.2.0|\n    `-- shlex v1.3.0|default,std",
            "cc v1.2.0| (*)",
        );
        let combined = format!("{APP_ARM}\n{elided}");
        let why = features_agree(&[(AMD, APP_AMD), (ARM, APP_ARM)], &combined).unwrap();
        assert!(
            why.contains("dep v0.1.0 has features [none] for linux/amd64 but [b] for linux/arm64"),
            "{why}"
        );
        // The same features for both: one command is fine, whatever cargo elides with (*).
        assert_eq!(
            features_agree(&[(AMD, APP_ARM), (ARM, APP_ARM)], &combined),
            None
        );
    }
}
