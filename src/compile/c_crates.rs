//! Which crates compile C code for the target: the build's own dependency graph, from `cargo tree`.
//!
//! Takes the workspace query (manifest path, the packages being built, feature flags) and one
//! platform; runs `cargo tree --target <musl triple> -e normal,build -p <package>...`, which resolves
//! features exactly as `cargo build` of those packages does (resolver 2: a feature that only another
//! workspace member, a dev-dependency or another target turns on is not on), and gives the crates
//! compiled for the target whose build-dependencies reach the `cc` crate (or its old name `gcc`),
//! directly or through their normal dependencies (`cmake`, `openssl-src` use `cc`). A build script
//! runs with `TARGET` set to its crate's target, so that is where `cc` compiles; `cc` under a
//! build-dependency's own build script or a proc-macro compiles for the host, and does not count.
//! (`cargo metadata`, which the SBOM reads, resolves the whole workspace's features at once, so it
//! cannot say what `cargo build -p one` compiles.)

use crate::platform::Platform;
use crate::sbom::deps::MetadataQuery;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};

/// The crates with C code for `platform` (`name@version`, sorted), built from `packages` (empty:
/// what a plain `cargo build` builds) of the workspace of `q`.
pub fn for_platform(
    q: &MetadataQuery,
    packages: &[String],
    platform: Platform,
) -> Result<Vec<String>> {
    Ok(from_tree(&tree(q, packages, &[platform])?))
}

/// The normal edges the build of `packages` for `platform` really has, from the packages down
/// (`name@version` to `name@version`; proc-macros and build-dependencies left out): what the SBOM
/// keeps of `cargo metadata`'s whole-workspace graph.
pub fn built_edges(
    q: &MetadataQuery,
    packages: &[String],
    platform: Platform,
) -> Result<BTreeSet<(String, String)>> {
    Ok(edges_of_tree(&tree(q, packages, &[platform])?))
}

/// A `-sys` crate compiled for the target, with the features the build turns on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysCrate {
    /// The crate's name, e.g. `openssl-sys`.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its enabled features.
    pub features: BTreeSet<String>,
}

/// The crates named `*-sys` that a `cargo tree -e normal,build --format '{p}|{f}'` text compiles for
/// the target (reached from the roots along normal edges, not into build-dependencies or
/// proc-macros), with their features, sorted by name and version.
pub fn sys_crates(text: &str) -> Vec<SysCrate> {
    let (edges, roots, features) = parse(text);
    let mut out: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for n in reach(&edges, roots, true) {
        let mut words = n.split(' ');
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            continue;
        };
        if name.ends_with("-sys") {
            let version = version.strip_prefix('v').unwrap_or(version).to_string();
            let enabled = features.get(n).into_iter().flatten();
            out.entry((name.to_string(), version))
                .or_default()
                .extend(enabled.map(|f| f.to_string()));
        }
    }
    out.into_iter()
        .map(|((name, version), features)| SysCrate {
            name,
            version,
            features,
        })
        .collect()
}

/// `cargo tree --target <triple>... -e normal,build` of `packages`, as text: one tree per target
/// (and root), as one `cargo build` of those targets resolves them.
pub fn tree(q: &MetadataQuery, packages: &[String], platforms: &[Platform]) -> Result<String> {
    let triples: Vec<&str> = platforms.iter().map(|p| p.rust_target()).collect();
    let triple = triples.join(" --target ");
    let mut cmd =
        crate::sbom::deps::cargo_command(q, &["tree", "-e", "normal,build", "--charset", "ascii"]);
    for t in &triples {
        cmd.args(["--target", t]);
    }
    // `{p}|{f}`: the package, then its enabled features (what `sys_crates` reads).
    cmd.args(["--color", "never", "--format", "{p}|{f}"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    let out = crate::secret_env::without_secrets(&mut cmd)
        .stdin(std::process::Stdio::null())
        .output()
        .context("running `cargo tree` to find the crates that compile C code for the image")?;
    if !out.status.success() {
        bail!(
            "`cargo tree --target {triple}` failed (the crates that compile C code decide the C toolchain): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One package of the tree, as `cargo tree` prints it (`ring v0.17.8`, `app v0.1.0 (/w/app)`,
/// `serde_derive v1.0.1 (proc-macro)`).
type Node<'a> = &'a str;

/// `name@version` of a node.
fn id(n: Node<'_>) -> String {
    let mut words = n.split(' ');
    let (name, version) = (words.next().unwrap_or(n), words.next().unwrap_or(""));
    format!("{name}@{}", version.strip_prefix('v').unwrap_or(version))
}

/// The normal edges of a `cargo tree -e normal,build --charset ascii` text reached from its roots
/// (see [`built_edges`]).
pub fn edges_of_tree(text: &str) -> BTreeSet<(String, String)> {
    let (edges, roots, _) = parse(text);
    let target = reach(&edges, roots, true);
    let mut out = BTreeSet::new();
    for &n in &target {
        for &(to, build) in edges.get(n).into_iter().flatten() {
            if !build && !to.ends_with(" (proc-macro)") {
                out.insert((id(n), id(to)));
            }
        }
    }
    out
}

/// The C crates of a `cargo tree -e normal,build --charset ascii` text (see [`for_platform`]).
pub fn from_tree(text: &str) -> Vec<String> {
    let (edges, roots, _) = parse(text);
    let children = |n: Node<'_>| edges.get(n).into_iter().flatten();
    let target = reach(&edges, roots, true);
    let mut out: Vec<String> = target
        .iter()
        .filter(|&&n| {
            let build_deps = children(n).filter(|(_, b)| *b).map(|(to, _)| *to).collect();
            reach(&edges, build_deps, false)
                .iter()
                .any(|r| matches!(r.split(' ').next(), Some("cc" | "gcc")))
        })
        .map(|n| id(n))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The edges, the roots and each node's enabled features (`{f}`) of a tree text.
fn parse(text: &str) -> (Edges<'_>, Vec<Node<'_>>, Features<'_>) {
    // Edges (from, to, is a build-dependency), and the roots (depth 0).
    let mut edges: Edges<'_> = BTreeMap::new();
    let mut roots = Vec::new();
    let mut features: Features<'_> = BTreeMap::new();
    // The path from the root to the current line: (node, its children are build-dependencies).
    let mut stack: Vec<(Node<'_>, bool)> = Vec::new();
    for line in text.lines() {
        let Some(col) = line.find(|c: char| !matches!(c, ' ' | '|' | '`' | '-')) else {
            continue;
        };
        let depth = col / 4;
        let rest = line[col..].trim_end();
        if rest.starts_with('[') {
            // `[build-dependencies]` under the node at this column's depth.
            if let Some(parent) = stack.get_mut(depth) {
                parent.1 = rest == "[build-dependencies]";
            }
            continue;
        }
        let rest = rest.strip_suffix(" (*)").unwrap_or(rest);
        // `{p}|{f}`: the features are not part of the node (an older text has none).
        let (node, enabled) = rest.split_once('|').unwrap_or((rest, ""));
        let node = node.strip_suffix(" (*)").unwrap_or(node);
        features
            .entry(node)
            .or_default()
            .extend(enabled.split(',').filter(|f| !f.is_empty()));
        stack.truncate(depth);
        match stack.last() {
            Some(&(parent, build)) => edges.entry(parent).or_default().push((node, build)),
            None => roots.push(node),
        }
        stack.push((node, false));
    }
    (edges, roots, features)
}

/// A node's enabled features, over every line that names it.
type Features<'a> = BTreeMap<Node<'a>, BTreeSet<&'a str>>;

/// The tree's edges: a node's children, each with whether it is a build-dependency.
type Edges<'a> = BTreeMap<Node<'a>, Vec<(Node<'a>, bool)>>;

/// The nodes reached from `from` along normal edges (not into proc-macros when `skip_proc_macros`).
fn reach<'a>(edges: &Edges<'a>, from: Vec<Node<'a>>, skip_proc_macros: bool) -> BTreeSet<Node<'a>> {
    let mut seen: BTreeSet<Node<'a>> = from.iter().copied().collect();
    let mut queue = from;
    while let Some(n) = queue.pop() {
        for &(to, build) in edges.get(n).into_iter().flatten() {
            let skipped = build || (skip_proc_macros && to.ends_with(" (proc-macro)"));
            if !skipped && seen.insert(to) {
                queue.push(to);
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_crates_are_the_target_crates_whose_build_scripts_reach_cc() {
        // app: a C crate directly, one through cmake, a host-only one (gen, a build-dependency whose
        // own build script uses cc), a proc-macro using cc, and a crate seen again deduplicated.
        let tree = "\
app v0.1.0 (/w/app)
|-- zstd-sys v2.0.16
|   [build-dependencies]
|   `-- cc v1.2.0
|       `-- shlex v1.3.0
|-- uses-cmake v1.0.0
|   [build-dependencies]
|   `-- cmake v0.1.54
|       `-- cc v1.2.0 (*)
|-- pm v1.0.0 (proc-macro)
|   `-- pm-helper v1.0.0
|       [build-dependencies]
|       `-- cc v1.2.0 (*)
|-- again v1.0.0
|   `-- uses-cmake v1.0.0 (*)
`-- old v0.1.0
    [build-dependencies]
    `-- gcc v0.3.55
[build-dependencies]
`-- gen v1.0.0
    [build-dependencies]
    `-- cc v1.2.0 (*)

other v0.1.0 (/w/other)
[build-dependencies]
`-- cc v1.2.0 (*)
";
        assert_eq!(
            from_tree(tree),
            [
                "old@0.1.0",
                "other@0.1.0",
                "uses-cmake@1.0.0",
                "zstd-sys@2.0.16"
            ]
        );
        assert!(from_tree("app v0.1.0 (/w/app)\n`-- itoa v1.0.1\n").is_empty());
        // The normal edges compiled for the target: not into proc-macros, not under build-deps.
        let e = |a: &str, b: &str| (a.to_string(), b.to_string());
        let edges = edges_of_tree(tree);
        for want in [
            e("app@0.1.0", "zstd-sys@2.0.16"),
            e("again@1.0.0", "uses-cmake@1.0.0"),
            e("app@0.1.0", "old@0.1.0"),
        ] {
            assert!(edges.contains(&want), "{want:?} not in {edges:?}");
        }
        for not in [
            e("app@0.1.0", "pm@1.0.0"),
            e("pm@1.0.0", "pm-helper@1.0.0"),
            e("cmake@0.1.54", "cc@1.2.0"),
            e("cc@1.2.0", "shlex@1.3.0"),
            e("app@0.1.0", "gen@1.0.0"),
        ] {
            assert!(!edges.contains(&not), "{not:?} in {edges:?}");
        }
        assert!(from_tree("").is_empty());
    }

    #[test]
    fn sys_crates_are_those_compiled_for_the_target_with_their_features() {
        // `{p}|{f}`: openssl-sys for the target (no features), libz-sys only under a build script
        // (host) and a proc-macro (host), zstd-sys seen twice with its features.
        let tree = "\
app v0.1.0 (/w/app)|
|-- openssl v0.10.82|default
|   `-- openssl-sys v0.9.118|
|       [build-dependencies]
|       `-- cc v1.2.0|
|-- zstd-sys v2.0.16|legacy,pkg-config
|-- pm v1.0.0 (proc-macro)|
|   `-- libz-sys v1.1.0|libc
`-- again v1.0.0|
    `-- zstd-sys v2.0.16|legacy,pkg-config (*)
[build-dependencies]
`-- gen v1.0.0|
    `-- libz-sys v1.1.0|libc
";
        let got: Vec<(String, Vec<String>)> = sys_crates(tree)
            .into_iter()
            .map(|c| {
                (
                    format!("{}@{}", c.name, c.version),
                    c.features.into_iter().collect(),
                )
            })
            .collect();
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            got,
            [
                ("openssl-sys@0.9.118".to_string(), f(&[])),
                ("zstd-sys@2.0.16".to_string(), f(&["legacy", "pkg-config"])),
            ]
        );
        // The features are not part of the nodes the other readers see.
        assert_eq!(from_tree(tree), ["openssl-sys@0.9.118"]);
        assert!(edges_of_tree(tree).contains(&(
            "openssl@0.10.82".to_string(),
            "openssl-sys@0.9.118".to_string()
        )));
    }
}
