//! Kubernetes: `cargo slim-image resolve` and `cargo slim-image init-k8s`.
//!
//! `resolve` takes YAML (files, directories of `*.yaml`/`*.yml`, or `-` for stdin), finds every
//! `slim-image://NAME` (NAME: a binary or a package of the workspace), builds and pushes each image
//! once, and prints the YAML with each such string replaced by `registry/repository@sha256:...`. The
//! replacement is textual, not a YAML round trip, so everything else (comments, key order, quoting,
//! document separators) stays byte for byte; occurrences inside `#` comments are left alone.
//! `init-k8s` writes a starter Deployment + Service from `templates/k8s.yaml`.

use crate::plan::Plan;
use crate::reference::Reference;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The scheme that marks an image to build in YAML.
pub const SCHEME: &str = "slim-image://";

/// The starter manifest.
const TEMPLATE: &str = include_str!("../templates/k8s.yaml");

/// `cargo slim-image resolve`, resolved: the inputs, and the plan of every image they name.
#[derive(Debug, Clone)]
pub struct ResolvePlan {
    /// The inputs: (what to call it in errors, its text), directories expanded in name order.
    pub inputs: Vec<(String, String)>,
    /// Each NAME of a `slim-image://NAME`, in the order first named, and its image's plan (pushed to
    /// `--repo`/NAME or its own name).
    pub images: Vec<(String, Plan)>,
    /// `--dry-run`: print the plans, build nothing.
    pub dry_run: bool,
    /// `--message-format json`.
    pub json: bool,
}

/// `cargo slim-image init-k8s`, resolved: the manifest and where it goes.
#[derive(Debug, Clone)]
pub struct InitPlan {
    /// The starter manifest, rendered.
    pub manifest: String,
    /// `-o FILE` (checked not to exist), else stdout.
    pub output: Option<PathBuf>,
    /// `--dry-run`: print it, write no file.
    pub dry_run: bool,
    /// `--message-format json`.
    pub json: bool,
}

/// One `slim-image://NAME` found in the text: byte range and NAME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// Byte offset of `slim-image://`.
    pub start: usize,
    /// Byte offset just after NAME.
    pub end: usize,
    /// The binary or package name.
    pub name: String,
}

/// Where the `#` comment of `line` starts (a `#` at the start or after a blank, outside quotes).
fn comment_start(line: &str) -> Option<usize> {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && prev != '\\' => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return Some(i),
            _ => {}
        }
        prev = c;
    }
    None
}

/// Every `slim-image://NAME` outside comments, in order.
pub fn mentions(text: &str) -> Vec<Mention> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let limit = comment_start(line).unwrap_or(line.len());
        let mut from = 0;
        while let Some(i) = line[from..limit].find(SCHEME) {
            let start = from + i;
            let rest = &line[start + SCHEME.len()..limit];
            let n = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || "_-.".contains(c)))
                .unwrap_or(rest.len());
            let end = start + SCHEME.len() + n;
            if n > 0 {
                out.push(Mention {
                    start: offset + start,
                    end: offset + end,
                    name: rest[..n].to_string(),
                });
            }
            from = end.max(start + SCHEME.len());
        }
        offset += line.len();
    }
    out
}

/// `text` with each mention replaced by its resolved reference.
pub fn substitute(text: &str, resolved: &BTreeMap<String, String>) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for m in mentions(text) {
        let r = resolved
            .get(&m.name)
            .with_context(|| format!("no image was built for {SCHEME}{}", m.name))?;
        out.push_str(&text[at..m.start]);
        out.push_str(r);
        at = m.end;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

/// The inputs: (what to call it in errors, its text), directories expanded in name order.
pub fn read_inputs(paths: &[PathBuf]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading YAML from stdin (-f -)")?;
            out.push(("<stdin>".to_string(), s));
        } else if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("-f {}: reading the directory", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.is_file()
                        && f.extension()
                            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
                })
                .collect();
            files.sort();
            for f in files {
                out.push((f.display().to_string(), read_file(&f)?));
            }
        } else {
            out.push((p.display().to_string(), read_file(p)?));
        }
    }
    Ok(out)
}

fn read_file(p: &Path) -> Result<String> {
    std::fs::read_to_string(p)
        .with_context(|| format!("-f {}: cannot read it as UTF-8 text", p.display()))
}

/// Build and push the image of `plan`; its `registry/repo@digest`.
fn build_one(name: &str, plan: &Plan) -> Result<String> {
    let report = crate::execute::execute(plan)?;
    crate::ui::status_lines(&report.summary());
    let pushed = report
        .images
        .first()
        .and_then(|i| i.pushed.first())
        .with_context(|| format!("{SCHEME}{name}: the image was not pushed"))?;
    let r: Reference = pushed.reference.parse()?;
    Ok(format!("{}@{}", r.name(), pushed.digest))
}

/// `resolve --dry-run`: the plan of every image the inputs name, as text or JSON; nothing is built,
/// written or pushed, and the YAML is not printed (its digests are not known without a build).
fn resolve_dry_run(plan: &ResolvePlan) -> String {
    let mut text = String::new();
    let mut images = Vec::new();
    for (name, p) in &plan.images {
        let origin = first_named_in(plan, name);
        text.push_str(&format!(
            "{SCHEME}{name} (in {origin}): would build and push\n{}",
            p.describe()
        ));
        images.push(serde_json::json!({
            "mention": format!("{SCHEME}{name}"),
            "in": origin,
            "plan": p.to_json(),
        }));
    }
    let json = serde_json::json!({
        "tool": format!("cargo-slim-image {}", env!("CARGO_PKG_VERSION")),
        "dry_run": true,
        "command": "resolve",
        "images": images,
    });
    crate::dry_run_text(plan.json, text, &json)
}

/// The input that names `slim-image://NAME` first.
fn first_named_in<'a>(plan: &'a ResolvePlan, name: &str) -> &'a str {
    plan.inputs
        .iter()
        .find(|(_, t)| mentions(t).iter().any(|m| m.name == name))
        .map_or("", |(origin, _)| origin.as_str())
}

/// `cargo slim-image resolve`: print the inputs with every image resolved to a pushed digest.
pub fn resolve(plan: &ResolvePlan) -> Result<()> {
    if plan.dry_run {
        return crate::ui::stdout::results(&resolve_dry_run(plan), "nothing was built or pushed");
    }
    let mut resolved: BTreeMap<String, String> = BTreeMap::new();
    for (name, p) in &plan.images {
        let origin = first_named_in(plan, name);
        let r =
            build_one(name, p).with_context(|| format!("resolving {SCHEME}{name} in {origin}"))?;
        crate::ui::status("Resolved", format!("{SCHEME}{name} -> {r}"));
        resolved.insert(name.clone(), r);
    }
    if resolved.is_empty() {
        crate::ui::warn(format!(
            "no {SCHEME}NAME image found in the input: it is printed unchanged"
        ));
    }
    let mut out = String::new();
    for (i, (_, text)) in plan.inputs.iter().enumerate() {
        if i > 0 {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("---\n");
        }
        out.push_str(&substitute(text, &resolved)?);
    }
    crate::ui::stdout::results(&out, "the images were pushed")
}

/// The starter manifest for binary `binary`, object name `name`, container port `port`.
pub fn render(name: &str, binary: &str, port: u16) -> String {
    TEMPLATE
        .replace("{{name}}", name)
        .replace("{{binary}}", binary)
        .replace("{{port}}", &port.to_string())
}

/// `cargo slim-image init-k8s`: write the starter manifest.
pub fn init(plan: &InitPlan) -> Result<()> {
    if plan.dry_run {
        return init_dry_run(plan);
    }
    match &plan.output {
        None => crate::ui::stdout::results(&plan.manifest, "nothing was written")?,
        Some(path) => {
            // Whole or not at all, and never over a file (also one made since the plan checked).
            let made = crate::sink::commit::write_new(path, plan.manifest.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            if !made {
                bail!(
                    "init-k8s: {} exists; remove it or pick another -o FILE",
                    path.display()
                );
            }
            crate::ui::status("Wrote", path.display());
        }
    }
    Ok(())
}

/// `init-k8s --dry-run`: the manifest on stdout (or as JSON), and no file written (a FILE that
/// exists was refused when the plan was made, as the real run refuses it).
fn init_dry_run(plan: &InitPlan) -> Result<()> {
    if let Some(path) = &plan.output {
        crate::ui::status(
            "Would write",
            format!("{} (dry run: not written)", path.display()),
        );
    }
    let json = serde_json::json!({
        "tool": format!("cargo-slim-image {}", env!("CARGO_PKG_VERSION")),
        "dry_run": true,
        "command": "init-k8s",
        "output": plan.output.as_deref().map(crate::report::path_json),
        "manifest": plan.manifest,
    });
    crate::ui::stdout::results(
        &crate::dry_run_text(plan.json, plan.manifest.clone(), &json),
        "nothing was written",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_skip_comments_and_keep_quotes() {
        let y = "# image: slim-image://nope\nimage: \"slim-image://app\" # slim-image://nope2\n  - image: slim-image://w_2.x\nurl: 'a#b slim-image://app'\n";
        let names: Vec<String> = mentions(y).into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["app", "w_2.x", "app"]);
        let map = BTreeMap::from([
            ("app".to_string(), "r/a@sha256:1".to_string()),
            ("w_2.x".to_string(), "r/w@sha256:2".to_string()),
        ]);
        let out = substitute(y, &map).unwrap();
        assert_eq!(out, "# image: slim-image://nope\nimage: \"r/a@sha256:1\" # slim-image://nope2\n  - image: r/w@sha256:2\nurl: 'a#b r/a@sha256:1'\n");
    }

    #[test]
    fn template_renders() {
        let t = render("my-app", "my_app", 3000);
        assert!(t.contains("image: slim-image://my_app"));
        assert!(t.contains("containerPort: 3000"));
        assert!(t.contains("runAsNonRoot: true") && t.contains("readOnlyRootFilesystem: true"));
        assert!(!t.contains("{{"));
    }
}
