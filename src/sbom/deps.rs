//! The crates really compiled into an image's binaries, from `cargo metadata` and `Cargo.lock`.
//!
//! Takes the workspace (manifest path, feature flags) and one platform; runs `cargo metadata
//! --filter-platform <musl triple>` (so target-specific dependencies of other targets are gone) and
//! walks the resolve graph from the packages that build the image's binaries along *normal* edges
//! only: dev-dependencies, build-dependencies (and everything only they pull in) and proc-macro crates
//! (which run in the compiler, not in the binary) are left out. Checksums come from `Cargo.lock`.
//!
//! The metadata is read into `cargo_metadata`'s types ([`Metadata`]), which the build's remap list
//! and its embedded dependency list (`compile::prepare`) read too, from the same value.

use crate::platform::Platform;
use anyhow::{bail, Context, Result};
use cargo_metadata::{DependencyKind, Metadata, Node, NodeDep, Package, TargetKind};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// One crate compiled into the binaries.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Crate {
    /// Crate name.
    pub name: String,
    /// Version.
    pub version: String,
    /// cargo's source string (`registry+https://...`, `git+...`), `None` for path crates.
    pub source: Option<String>,
    /// SPDX license expression (Cargo's `license`, with the old `/` separator turned into `OR`).
    pub license: Option<String>,
    /// sha256 of the `.crate` file, from `Cargo.lock` (registry crates only).
    pub checksum: Option<String>,
    /// True for the packages that build the image's binaries.
    pub root: bool,
}

impl Crate {
    /// The package URL, `pkg:cargo/<name>@<version>`.
    pub fn purl(&self) -> String {
        format!("pkg:cargo/{}@{}", self.name, self.version)
    }

    /// Where the crate can be downloaded, when that is known.
    pub fn download_location(&self) -> Option<String> {
        let src = self.source.as_deref()?;
        if src.starts_with("registry+https://github.com/rust-lang/crates.io-index")
            || src.starts_with("sparse+https://index.crates.io/")
        {
            Some(format!(
                "https://crates.io/api/v1/crates/{}/{}/download",
                self.name, self.version
            ))
        } else {
            src.strip_prefix("git+").map(|git| format!("git+{git}"))
        }
    }
}

/// The dependency graph of one image for one platform: crates sorted, edges by index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepGraph {
    /// The crates, roots included, sorted by name and version.
    pub crates: Vec<Crate>,
    /// `(from, to)` indexes into `crates`: `from` depends on `to`.
    pub edges: BTreeSet<(usize, usize)>,
}

/// How to ask cargo for the workspace.
#[derive(Debug, Clone, Default)]
pub struct MetadataQuery {
    /// `--manifest-path`.
    pub manifest_path: Option<PathBuf>,
    /// `--features`.
    pub features: Vec<String>,
    /// `--all-features`.
    pub all_features: bool,
    /// `--no-default-features`.
    pub no_default_features: bool,
    /// `--locked` / `--frozen` / `--offline`, as given.
    pub flags: Vec<String>,
}

/// `$CARGO ARGS...` (else `cargo`) with the query's manifest path, feature and lock flags: the one
/// way `cargo metadata` and `cargo tree` are asked about the build.
pub fn cargo_command(q: &MetadataQuery, args: &[&str]) -> std::process::Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(args);
    if let Some(p) = &q.manifest_path {
        cmd.arg("--manifest-path").arg(p);
    }
    if !q.features.is_empty() {
        cmd.arg("--features").arg(q.features.join(","));
    }
    if q.all_features {
        cmd.arg("--all-features");
    }
    if q.no_default_features {
        cmd.arg("--no-default-features");
    }
    cmd.args(&q.flags);
    cmd
}

/// `cargo metadata` (with dependencies) filtered for `platform`'s musl target.
pub fn metadata(q: &MetadataQuery, platform: Platform) -> Result<Metadata> {
    let out = cargo_command(
        q,
        &[
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            platform.rust_target(),
        ],
    )
    .stdin(std::process::Stdio::null())
    .output()
    .context("running `cargo metadata` to list the crates built for the image")?;
    if !out.status.success() {
        bail!(
            "`cargo metadata --filter-platform {}` failed (the C toolchain, the build's path remapping, the binaries' dependency list and the SBOM are made from it): {}",
            platform.rust_target(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).context("parsing the output of `cargo metadata`")
}

/// `name version source -> checksum` from a Cargo.lock text.
pub fn lock_checksums(text: &str) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let (mut name, mut version, mut sum) = (None, None, None);
    let mut flush = |n: &mut Option<String>, v: &mut Option<String>, s: &mut Option<String>| {
        if let (Some(n), Some(v), Some(s)) = (n.take(), v.take(), s.take()) {
            out.insert((n, v), s);
        }
    };
    for line in text.lines().map(str::trim) {
        if line == "[[package]]" {
            flush(&mut name, &mut version, &mut sum);
        } else if let Some((k, v)) = line.split_once(" = ") {
            let v = v.trim_matches('"').to_string();
            match k {
                "name" => name = Some(v),
                "version" => version = Some(v),
                "checksum" => sum = Some(v),
                _ => {}
            }
        }
    }
    flush(&mut name, &mut version, &mut sum);
    out
}

/// Cargo's old `MIT/Apache-2.0` separator, as an SPDX expression.
fn spdx_license(l: &str) -> String {
    if l.contains('/') {
        l.split('/').map(str::trim).collect::<Vec<_>>().join(" OR ")
    } else {
        l.trim().to_string()
    }
}

/// A package all of whose targets are proc macros (which run in the compiler).
fn is_proc_macro(pkg: &Package) -> bool {
    !pkg.targets.is_empty()
        && pkg
            .targets
            .iter()
            .all(|t| t.kind.contains(&TargetKind::ProcMacro))
}

/// `cargo metadata`'s packages and resolve nodes, by package id.
type ById<'a, T> = BTreeMap<&'a str, &'a T>;

/// Packages and resolve nodes, by id.
type Index<'a> = (ById<'a, Package>, ById<'a, Node>);

/// The packages and the resolve nodes of `md`, by id.
fn index(md: &Metadata) -> Result<Index<'_>> {
    let resolve = md
        .resolve
        .as_ref()
        .context("cargo metadata gave no resolve graph")?;
    Ok((
        md.packages
            .iter()
            .map(|p| (p.id.repr.as_str(), p))
            .collect(),
        resolve
            .nodes
            .iter()
            .map(|n| (n.id.repr.as_str(), n))
            .collect(),
    ))
}

/// The ids of the workspace packages named `roots`; with no names, the packages a plain `cargo
/// build` builds (the root package, else the default members, else every member).
fn root_ids<'a>(
    md: &'a Metadata,
    packages: &ById<'a, Package>,
    roots: &[String],
) -> Result<Vec<&'a str>> {
    let members: BTreeSet<&str> = md
        .workspace_members
        .iter()
        .map(|id| id.repr.as_str())
        .collect();
    if roots.is_empty() {
        if let Some(root) = md.resolve.as_ref().and_then(|r| r.root.as_ref()) {
            return Ok(vec![root.repr.as_str()]);
        }
        // Missing before cargo 1.71 (and its `Deref` would panic then).
        let defaults: Vec<&str> = if md.workspace_default_members.is_available() {
            md.workspace_default_members
                .iter()
                .map(|id| id.repr.as_str())
                .collect()
        } else {
            Vec::new()
        };
        return Ok(if defaults.is_empty() {
            members.into_iter().collect()
        } else {
            defaults
        });
    }
    roots
        .iter()
        .map(|r| {
            packages
                .iter()
                .find(|(id, p)| members.contains(*id) && p.name == r.as_str())
                .map(|(id, _)| *id)
                .with_context(|| format!("package `{r}` is not in the workspace's cargo metadata"))
        })
        .collect()
}

/// Whether a resolve edge is a normal dependency (for some platform).
fn is_normal(dep: &NodeDep) -> bool {
    dep.dep_kinds
        .iter()
        .any(|k| k.kind == DependencyKind::Normal)
}

/// The crates a [`walk`] saw, and the edges it took.
type Walked<'a> = (BTreeSet<&'a str>, BTreeSet<(&'a str, &'a str)>);

/// `name@version` of a package, the form `cargo tree --format {p}` prints (the built edges use it).
fn key(packages: &ById<'_, Package>, id: &str) -> Option<String> {
    let p = packages.get(id)?;
    Some(format!("{}@{}", p.name, p.version))
}

/// Breadth-first from `from` along normal, non-proc-macro edges (the metadata is already filtered
/// for the platform), and when `built` is given only along the edges the build really has (`cargo
/// metadata` resolves the features of the whole workspace at once, dev-dependencies included).
fn walk<'a>(
    nodes: &ById<'a, Node>,
    packages: &ById<'a, Package>,
    from: &[&'a str],
    built: Option<&BTreeSet<(String, String)>>,
) -> Walked<'a> {
    let mut seen: BTreeSet<&str> = from.iter().copied().collect();
    let mut queue: Vec<&str> = from.to_vec();
    let mut edges = BTreeSet::new();
    while let Some(id) = queue.pop() {
        let Some(node) = nodes.get(id) else { continue };
        for dep in &node.deps {
            let to = dep.pkg.repr.as_str();
            if !is_normal(dep) || packages.get(to).is_some_and(|p| is_proc_macro(p)) {
                continue;
            }
            if let Some(built) = built {
                let edge = key(packages, id).zip(key(packages, to));
                if !edge.is_some_and(|e| built.contains(&e)) {
                    continue;
                }
            }
            edges.insert((id, to));
            if seen.insert(to) {
                queue.push(to);
            }
        }
    }
    (seen, edges)
}

/// The graph from the workspace packages named `roots` along normal, non-proc-macro edges (only
/// those in `built`, when given: the edges `cargo tree` shows the build has).
pub fn graph(
    md: &Metadata,
    roots: &[String],
    built: Option<&BTreeSet<(String, String)>>,
) -> Result<DepGraph> {
    let (packages, nodes) = index(md)?;
    let root_ids = root_ids(md, &packages, roots)?;
    let lock_path = md.workspace_root.join("Cargo.lock");
    let sums = std::fs::read_to_string(&lock_path)
        .map(|t| lock_checksums(&t))
        .unwrap_or_default();

    let (seen, raw_edges) = walk(&nodes, &packages, &root_ids, built);
    let mut crates: Vec<(Crate, &str)> = seen
        .iter()
        .filter_map(|id| {
            let p = packages.get(id)?;
            let name = p.name.to_string();
            let version = p.version.to_string();
            Some((
                Crate {
                    checksum: sums.get(&(name.clone(), version.clone())).cloned(),
                    name,
                    version,
                    source: p.source.as_ref().map(|s| s.repr.clone()),
                    license: p.license.as_deref().map(spdx_license),
                    root: root_ids.contains(id),
                },
                *id,
            ))
        })
        .collect();
    crates.sort();
    let index: BTreeMap<&str, usize> = crates
        .iter()
        .enumerate()
        .map(|(i, (_, id))| (*id, i))
        .collect();
    let edges = raw_edges
        .iter()
        .filter_map(|(a, b)| Some((*index.get(a)?, *index.get(b)?)))
        .collect();
    Ok(DepGraph {
        crates: crates.into_iter().map(|(c, _)| c).collect(),
        edges,
    })
}

/// Metadata from a JSON value with only the fields a test is about: the others `cargo metadata`
/// always writes are filled in (empty lists, a package's id from its name, placeholder paths).
#[cfg(test)]
pub(crate) fn test_metadata(mut v: serde_json::Value) -> Metadata {
    use serde_json::{json, Value};
    fn fill(o: &mut Value, with: Value) {
        if let (Some(o), Value::Object(with)) = (o.as_object_mut(), with) {
            for (k, v) in with {
                o.entry(k).or_insert(v);
            }
        }
    }
    let top = json!({"packages": [], "workspace_members": [], "workspace_root": "/w",
                     "target_directory": "/w/target", "version": 1});
    fill(&mut v, top);
    for p in v["packages"].as_array_mut().into_iter().flatten() {
        let id = p["name"].clone();
        let more = json!({"id": id, "dependencies": [], "features": {}, "targets": [],
                          "manifest_path": "/w/Cargo.toml"});
        fill(p, more);
        for t in p["targets"].as_array_mut().into_iter().flatten() {
            fill(t, json!({"name": "t", "src_path": "/w/src/main.rs"}));
        }
    }
    let nodes = v.get_mut("resolve").and_then(|r| r.get_mut("nodes"));
    for n in nodes.and_then(Value::as_array_mut).into_iter().flatten() {
        fill(n, json!({"dependencies": []}));
        for d in n["deps"].as_array_mut().into_iter().flatten() {
            let name = d["pkg"].clone();
            fill(d, json!({ "name": name }));
        }
    }
    serde_json::from_value(v).expect("a test's metadata")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn lock_checksums_are_read() {
        let lock = "version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"itoa\"\nversion = \"1.0.1\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"abc\"\n";
        let m = lock_checksums(lock);
        assert_eq!(m.len(), 1);
        assert_eq!(m[&("itoa".into(), "1.0.1".into())], "abc");
    }

    #[test]
    fn only_normal_edges_and_no_proc_macros() {
        let pkg = |id: &str, kind: &str| {
            json!({"id": id, "name": id, "version": "1.0.0", "license": "MIT/Apache-2.0",
            "source": "registry+https://github.com/rust-lang/crates.io-index", "targets": [{"kind": [kind]}]})
        };
        let dep = |id: &str, kind: Value| json!({"pkg": id, "dep_kinds": [{"kind": kind}]});
        let md = json!({
            "workspace_root": "/nonexistent",
            "workspace_members": ["app"],
            "packages": [pkg("app", "bin"), pkg("norm", "lib"), pkg("dev", "lib"), pkg("build", "lib"),
                          pkg("pm", "proc-macro"), pkg("under-build", "lib")],
            "resolve": {"nodes": [
                {"id": "app", "deps": [dep("norm", Value::Null), dep("dev", json!("dev")),
                                        dep("build", json!("build")), dep("pm", Value::Null)]},
                {"id": "build", "deps": [dep("under-build", Value::Null)]},
                {"id": "norm", "deps": []}
            ]}
        });
        let md = test_metadata(md);
        // Only the edges the build has, when cargo tree says which (norm only by another member).
        let none = BTreeSet::new();
        let g = graph(&md, &["app".into()], Some(&none)).unwrap();
        assert_eq!(g.crates.len(), 1);
        let built = BTreeSet::from([("app@1.0.0".to_string(), "norm@1.0.0".to_string())]);
        assert_eq!(
            graph(&md, &["app".into()], Some(&built))
                .unwrap()
                .crates
                .len(),
            2
        );
        let g = graph(&md, &["app".into()], None).unwrap();
        let names: Vec<&str> = g.crates.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["app", "norm"]);
        assert_eq!(g.edges, BTreeSet::from([(0, 1)]));
        assert_eq!(g.crates[1].license.as_deref(), Some("MIT OR Apache-2.0"));
        assert!(g.crates[0].root);
        assert_eq!(
            g.crates[1].download_location().unwrap(),
            "https://crates.io/api/v1/crates/norm/1.0.0/download"
        );
    }
}
