//! The crates really compiled into an image's binaries, from `cargo metadata` and `Cargo.lock`.
//!
//! Takes the workspace (manifest path, feature flags) and one platform; runs `cargo metadata
//! --filter-platform <musl triple>` (so target-specific dependencies of other targets are gone) and
//! walks the resolve graph from the packages that build the image's binaries along *normal* edges
//! only: dev-dependencies, build-dependencies (and everything only they pull in) and proc-macro crates
//! (which run in the compiler, not in the binary) are left out. Checksums come from `Cargo.lock`.

use crate::platform::Platform;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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

/// `cargo metadata` (with dependencies) filtered for `platform`'s musl target, as JSON.
pub fn metadata(q: &MetadataQuery, platform: Platform) -> Result<Value> {
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

fn is_proc_macro(pkg: &Value) -> bool {
    let targets = pkg["targets"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    !targets.is_empty()
        && targets.iter().all(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "proc-macro"))
        })
}

/// `cargo metadata`'s packages and resolve nodes, by package id.
type ById<'a> = BTreeMap<&'a str, &'a Value>;

/// The packages and the resolve nodes of a metadata value, by id.
fn index(md: &Value) -> Result<(ById<'_>, ById<'_>)> {
    fn by_id<'a>(list: &'a Value, what: &str) -> Result<ById<'a>> {
        Ok(list
            .as_array()
            .with_context(|| format!("cargo metadata gave no {what}"))?
            .iter()
            .filter_map(|p| Some((p["id"].as_str()?, p)))
            .collect())
    }
    Ok((
        by_id(&md["packages"], "`packages`")?,
        by_id(&md["resolve"]["nodes"], "resolve graph")?,
    ))
}

/// The ids of the workspace packages named `roots`; with no names, the packages a plain `cargo
/// build` builds (the root package, else the default members, else every member).
fn root_ids<'a>(md: &'a Value, packages: &ById<'a>, roots: &[String]) -> Result<Vec<&'a str>> {
    let list = |key: &str| -> Vec<&'a str> {
        md[key]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let members: BTreeSet<&str> = list("workspace_members").into_iter().collect();
    if roots.is_empty() {
        if let Some(root) = md["resolve"]["root"].as_str() {
            return Ok(vec![root]);
        }
        let defaults = list("workspace_default_members");
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
                .find(|(id, p)| members.contains(*id) && p["name"] == r.as_str())
                .map(|(id, _)| *id)
                .with_context(|| format!("package `{r}` is not in the workspace's cargo metadata"))
        })
        .collect()
}

/// Whether a resolve edge has the dependency kind `kind` (`None`: a normal dependency).
fn edge_is(dep: &Value, kind: Option<&str>) -> bool {
    dep["dep_kinds"].as_array().is_some_and(|k| {
        k.iter().any(|k| match kind {
            None => k["kind"].is_null(),
            Some(want) => k["kind"] == want,
        })
    })
}

/// The crates a [`walk`] saw, and the edges it took.
type Walked<'a> = (BTreeSet<&'a str>, BTreeSet<(&'a str, &'a str)>);

/// `name@version` of a package, the form `cargo tree --format {p}` prints (the built edges use it).
fn key(packages: &ById<'_>, id: &str) -> Option<String> {
    let p = packages.get(id)?;
    Some(format!(
        "{}@{}",
        p["name"].as_str()?,
        p["version"].as_str()?
    ))
}

/// Breadth-first from `from` along normal, non-proc-macro edges (the metadata is already filtered
/// for the platform), and when `built` is given only along the edges the build really has (`cargo
/// metadata` resolves the features of the whole workspace at once, dev-dependencies included).
fn walk<'a>(
    nodes: &ById<'a>,
    packages: &ById<'a>,
    from: &[&'a str],
    built: Option<&BTreeSet<(String, String)>>,
) -> Walked<'a> {
    let mut seen: BTreeSet<&str> = from.iter().copied().collect();
    let mut queue: Vec<&str> = from.to_vec();
    let mut edges = BTreeSet::new();
    while let Some(id) = queue.pop() {
        let Some(node) = nodes.get(id) else { continue };
        for dep in node["deps"].as_array().into_iter().flatten() {
            let Some(to) = dep["pkg"].as_str() else {
                continue;
            };
            if !edge_is(dep, None) || packages.get(to).is_some_and(|p| is_proc_macro(p)) {
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
    md: &Value,
    roots: &[String],
    built: Option<&BTreeSet<(String, String)>>,
) -> Result<DepGraph> {
    let (packages, nodes) = index(md)?;
    let root_ids = root_ids(md, &packages, roots)?;
    let lock_path = Path::new(md["workspace_root"].as_str().unwrap_or(".")).join("Cargo.lock");
    let sums = std::fs::read_to_string(&lock_path)
        .map(|t| lock_checksums(&t))
        .unwrap_or_default();

    let (seen, raw_edges) = walk(&nodes, &packages, &root_ids, built);
    let mut crates: Vec<(Crate, &str)> = seen
        .iter()
        .filter_map(|id| {
            let p = packages.get(id)?;
            let name = p["name"].as_str()?.to_string();
            let version = p["version"].as_str()?.to_string();
            Some((
                Crate {
                    checksum: sums.get(&(name.clone(), version.clone())).cloned(),
                    name,
                    version,
                    source: p["source"].as_str().map(str::to_string),
                    license: p["license"].as_str().map(spdx_license),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
