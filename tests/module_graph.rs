//! The module graph of `src/` has no import cycle (issue 15: one-way layers). A module is a file
//! (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `lib.rs` and `main.rs` are the root and left out);
//! module A depends on B when A's code, outside `#[cfg(test)]` items, names a `crate::`, `super::` or
//! `self::` path that resolves to B (the longest module prefix of the path). Comments and string
//! literals are blanked first, so a path in a doc comment or an error message is not an import.
//!
//! Any strongly connected component of two or more modules fails the test, unless it lies inside an
//! entry of [`KNOWN_CYCLES`], the cycles that were being taken apart; that list is empty now and may
//! only shrink. A module that names its child without `crate::`/`super::` (`child::Item`) is not
//! seen: `compile` and its children `prepare`, `multi` and `toolchain` form such a loop through
//! `compile::BuildRequest` (issue 15, left).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Import cycles that are being taken apart (issue 15). Nothing may be added here.
const KNOWN_CYCLES: &[&[&str]] = &[];

#[test]
fn src_has_no_new_module_cycle() {
    let graph = Graph::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path());
    assert!(
        graph.modules.len() > 50,
        "read {} modules only",
        graph.modules.len()
    );
    let known: Vec<BTreeSet<&str>> = KNOWN_CYCLES
        .iter()
        .map(|c| c.iter().copied().collect())
        .collect();
    let mut bad = Vec::new();
    let sccs = graph.cycles();
    for scc in &sccs {
        if !known
            .iter()
            .any(|k| scc.iter().all(|m| k.contains(m.as_str())))
        {
            bad.push(graph.describe(scc));
        }
    }
    for (k, list) in known.iter().zip(KNOWN_CYCLES) {
        let still = sccs
            .iter()
            .any(|s| s.len() == k.len() && s.iter().all(|m| k.contains(m.as_str())));
        if !still {
            eprintln!(
                "note: KNOWN_CYCLES entry {list:?} is no longer one cycle: shrink or remove it"
            );
        }
    }
    assert!(
        bad.is_empty(),
        "new or grown module cycles in src/:\n{}",
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
            let mut to = BTreeSet::new();
            for path in paths(&code) {
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

/// The source with comments and the contents of string and char literals replaced by spaces.
fn blank_comments_and_strings(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < c.len() {
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c[i] == 'r' && matches!(c.get(i + 1), Some('#') | Some('"')) && raw_start(&c, i) {
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            while j < c.len() && !(c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')))
            {
                j += 1;
            }
            i = j + 1 + hashes;
            out.push_str("\"\"");
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c[i] == '\'' && (c.get(i + 2) == Some(&'\'') || c.get(i + 1) == Some(&'\\')) {
            // A char literal ('x', '\n', '\u{..}'); a lifetime ('a) has no closing quote right after.
            i += 1;
            while i < c.len() && c[i] != '\'' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Whether the `r` at `i` starts a raw string (`r"`, `r#"`, `br"`), not the end of an identifier.
fn raw_start(c: &[char], i: usize) -> bool {
    let ident = |k: usize| c[k].is_alphanumeric() || c[k] == '_';
    match i {
        0 => true,
        _ if c[i - 1] == 'b' => i < 2 || !ident(i - 2),
        _ => !ident(i - 1),
    }
}

/// The code without the items marked `#[cfg(test)]` (a `mod`/`fn`/`impl` block, or a `use` statement).
fn drop_test_items(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let brace = item.find('{');
        let semi = item.find(';');
        let end = match (brace, semi) {
            (Some(b), Some(sc)) if sc < b => sc + 1,
            (Some(b), _) => {
                let mut depth = 0;
                let mut end = item.len();
                for (k, ch) in item[b..].char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = b + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, Some(sc)) => sc + 1,
            (None, None) => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// Every `crate::…`, `super::…` and `self::…` path in the code, with `{a, b::c}` groups expanded.
fn paths(code: &str) -> Vec<Vec<String>> {
    let toks = tokens(code);
    let mut out = Vec::new();
    for i in 0..toks.len() {
        let t = toks[i].as_str();
        if matches!(t, "crate" | "super" | "self")
            && toks.get(i + 1).is_some_and(|n| n == "::")
            && !(i > 0 && toks[i - 1] == "::")
        {
            tree(&toks, i, Vec::new(), &mut out);
        }
    }
    out
}

/// Reads the use tree starting at token `i` under `prefix`; returns the index after it.
fn tree(
    toks: &[String],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        match toks.get(i).map(String::as_str) {
            Some("{") => {
                i += 1;
                loop {
                    match toks.get(i).map(String::as_str) {
                        Some("}") => return i + 1,
                        Some(",") => i += 1,
                        None => return i,
                        _ => i = tree(toks, i, prefix.clone(), out),
                    }
                }
            }
            Some(t) if t.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                prefix.push(t.to_string());
                i += 1;
                if toks.get(i).is_some_and(|n| n == "::") {
                    i += 1;
                    continue;
                }
                out.push(prefix);
                return i;
            }
            _ => {
                out.push(prefix);
                return i;
            }
        }
    }
}

fn tokens(code: &str) -> Vec<String> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i].is_alphanumeric() || c[i] == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(c[start..i].iter().collect());
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            out.push("::".into());
            i += 2;
        } else {
            if !c[i].is_whitespace() {
                out.push(c[i].to_string());
            }
            i += 1;
        }
    }
    out
}

/// The module (longest existing prefix) that `path`, written in module `from`, names.
fn resolve(from: &str, path: &[String], modules: &BTreeSet<String>) -> Option<String> {
    let mut full: Vec<String> = from
        .split("::")
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let mut segs = path;
    match segs.first().map(String::as_str) {
        Some("crate") => {
            full.clear();
            segs = &segs[1..];
        }
        Some("self") => segs = &segs[1..],
        _ => {}
    }
    while segs.first().is_some_and(|s| s == "super") {
        full.pop();
        segs = &segs[1..];
    }
    full.extend(segs.iter().filter(|s| s.as_str() != "self").cloned());
    (1..=full.len())
        .rev()
        .map(|k| full[..k].join("::"))
        .find(|m| modules.contains(m))
}
