//! The module graph of `src/` has no import cycle (issue 15: one-way layers). A module is a file
//! (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `lib.rs` and `main.rs` are the root and left out);
//! module A depends on B when A's code, outside `#[cfg(test)]` items, names a path that resolves to
//! B (the longest module prefix of the path): a `crate::`, `super::` or `self::` path, or a path that
//! starts with the name of one of A's own child modules (`export::write` in `blob`). Intra-doc links
//! count as imports (rustdoc resolves them; a link up the graph is a dependency up the graph); plain
//! comments and string literals are blanked first, so a path in a `//` comment or an error message
//! is not an import. The lexing is in `tests/module_graph/parse.rs`.
//!
//! Any strongly connected component of two or more modules fails the test. A parent and its child
//! are two modules: a child that takes a type from `super::` while the parent names the child is a
//! cycle; the shared type goes into a leaf both import (`blob::store`, `base::image`, `sink::api`,
//! `compile::request`, `execute::built`, `resolve::ctx`, `registry::session`, `sbom::subject`,
//! `ui::verbosity`). Until 2026-12-03 the check read only `crate::`/`super::`/`self::` code paths and
//! found no cycle while 15 were there (a parent and its children, and one of 21 modules through doc
//! links); they were taken apart then.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[path = "module_graph/parse.rs"]
mod parse;
use parse::{blank_comments_and_strings, drop_test_items, paths, resolve};

#[test]
fn src_has_no_module_cycle() {
    let graph = Graph::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path());
    assert!(
        graph.modules.len() > 50,
        "read {} modules only",
        graph.modules.len()
    );
    let bad: Vec<String> = graph.cycles().iter().map(|c| graph.describe(c)).collect();
    assert!(
        bad.is_empty(),
        "module cycles in src/ (make the piece both sides need a leaf both import; see the module docs):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_checker_sees_a_cycle_and_ignores_comments_strings_and_tests() {
    let files = [
        (
            "a",
            "use crate::b::X; // crate::c::Y\nconst S: &str = \"crate::c::Z\";",
        ),
        ("b", "pub struct X; fn f() { super::a::g(); }"),
        (
            "c",
            "#[cfg(test)]\nmod tests { use crate::a::g; }\n/* crate::a */ pub(crate) fn h() {}",
        ),
        ("d", "use crate::{a::g, c::{h}};"),
    ];
    let graph = Graph::from_sources(files.iter().map(|(m, s)| (m.to_string(), s.to_string())));
    assert_eq!(graph.cycles(), vec![vec!["a".to_string(), "b".to_string()]]);
    assert_eq!(
        graph.edges["d"],
        ["a", "c"].iter().map(|s| s.to_string()).collect()
    );
    assert!(graph.edges["c"].is_empty(), "{:?}", graph.edges["c"]);
}

#[test]
fn the_checker_sees_bare_child_paths_and_doc_links() {
    let files = [
        // A parent naming its child bare, and the child naming the parent through super::.
        ("p", "mod kid;\npub struct S;\npub use kid::f;"),
        ("p::kid", "pub fn f(_: super::S) {}"),
        // An intra-doc link points up as an import would; a plain comment does not.
        ("q", "/// Made by [`crate::r::make`].\npub struct Q;"),
        (
            "r",
            "// crate::q::Q\n//! See [`crate::q::Q`].\npub fn make() {}",
        ),
        // `////` and `/**/` are plain comments; prose with braces cannot hide a path.
        (
            "s",
            "//// crate::t\n/**/ fn g() {}\n/// {\nuse crate::u::X;",
        ),
        ("t", "/*! see crate::s */"),
        ("u", "pub struct X;"),
    ];
    let graph = Graph::from_sources(files.iter().map(|(m, s)| (m.to_string(), s.to_string())));
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(graph.edges["p"], set(&["p::kid"]));
    assert_eq!(graph.edges["s"], set(&["u"]));
    assert_eq!(
        graph.cycles(),
        vec![
            vec!["p".to_string(), "p::kid".to_string()],
            vec!["q".to_string(), "r".to_string()],
        ]
    );
}

struct Graph {
    modules: BTreeSet<String>,
    edges: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    fn read(src: &Path) -> Graph {
        let mut files = Vec::new();
        walk(src, src, &mut files);
        Graph::from_sources(files)
    }

    fn from_sources(files: impl IntoIterator<Item = (String, String)>) -> Graph {
        let files: Vec<(String, String)> = files.into_iter().collect();
        let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
        let mut edges = BTreeMap::new();
        for (m, text) in &files {
            let code = drop_test_items(&blank_comments_and_strings(text));
            let children: BTreeSet<String> = modules
                .iter()
                .filter_map(|c| c.strip_prefix(m.as_str())?.strip_prefix("::"))
                .filter(|rest| !rest.contains("::"))
                .map(String::from)
                .collect();
            let mut to = BTreeSet::new();
            for path in paths(&code, &children) {
                if let Some(target) = resolve(m, &path, &modules) {
                    if &target != m && !target.is_empty() {
                        to.insert(target);
                    }
                }
            }
            edges.insert(m.clone(), to);
        }
        Graph { modules, edges }
    }

    /// Strongly connected components with more than one module, each sorted (Tarjan).
    fn cycles(&self) -> Vec<Vec<String>> {
        struct T<'a> {
            g: &'a Graph,
            index: BTreeMap<&'a str, usize>,
            low: BTreeMap<&'a str, usize>,
            stack: Vec<&'a str>,
            on: BTreeSet<&'a str>,
            out: Vec<Vec<String>>,
        }
        fn visit<'a>(t: &mut T<'a>, v: &'a str) {
            let n = t.index.len();
            t.index.insert(v, n);
            t.low.insert(v, n);
            t.stack.push(v);
            t.on.insert(v);
            for w in &t.g.edges[v] {
                let w = w.as_str();
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if t.low[v] == t.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = t.stack.pop() {
                    t.on.remove(w);
                    comp.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    t.out.push(comp);
                }
            }
        }
        let mut t = T {
            g: self,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on: BTreeSet::new(),
            out: Vec::new(),
        };
        for m in &self.modules {
            if !t.index.contains_key(m.as_str()) {
                visit(&mut t, m);
            }
        }
        t.out.sort();
        t.out
    }

    fn describe(&self, scc: &[String]) -> String {
        let set: BTreeSet<&str> = scc.iter().map(String::as_str).collect();
        let mut s = format!("cycle of {} modules:", scc.len());
        for m in scc {
            let inside: Vec<&str> = self.edges[m]
                .iter()
                .map(String::as_str)
                .filter(|t| set.contains(t))
                .collect();
            s += &format!("\n  {m} -> {}", inside.join(", "));
        }
        s
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(root, &p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p.strip_prefix(root).expect("under src").with_extension("");
            let mut parts: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|l| l == "mod") {
                parts.pop();
            }
            if parts == ["lib"] || parts == ["main"] {
                continue;
            }
            let text = std::fs::read_to_string(&p).expect("read source");
            out.push((parts.join("::"), text));
        }
    }
}
