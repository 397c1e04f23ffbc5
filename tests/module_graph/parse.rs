//! The lexing half of `tests/module_graph.rs`: what text of a source file can name a module.

use std::collections::BTreeSet;

/// The source with plain comments and the contents of string and char literals replaced by
/// spaces. Doc comments (`///`, `//!`, `/**`, `/*!`) are kept: an intra-doc link such as
/// [`crate::a::B`] is a dependency rustdoc resolves, so it points the same way an import does.
/// Their `{`, `}`, `;` and `#` become spaces so prose cannot open or close an item.
pub fn blank_comments_and_strings(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < c.len() {
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            let doc = is_doc(&c, i, '/');
            while i < c.len() && c[i] != '\n' {
                out.push(if doc { doc_char(c[i]) } else { ' ' });
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let doc = is_doc(&c, i, '*');
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
                    if doc {
                        out.push(doc_char(c[i]));
                    }
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

/// Whether the comment opening at `i` (`//` or `/*`, `second` being its second character) is a
/// doc comment: `///` or `//!` (not `////`), `/**` or `/*!` (not `/***` or `/**/`).
fn is_doc(c: &[char], i: usize, second: char) -> bool {
    match (c.get(i + 2), c.get(i + 3)) {
        (Some('!'), _) => true,
        (Some(&t), next) if t == second => next != Some(&second) && next != Some(&'/'),
        _ => false,
    }
}

fn doc_char(ch: char) -> char {
    match ch {
        '{' | '}' | ';' | '#' | '"' | '\'' => ' ',
        _ => ch,
    }
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
pub fn drop_test_items(s: &str) -> String {
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

/// Every `crate::…`, `super::…` and `self::…` path in the code, and every path that starts with
/// the name of one of `children` (the module's own child modules, which it can name bare:
/// `export::write`), with `{a, b::c}` groups expanded.
pub fn paths(code: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let toks = tokens(code);
    let mut out = Vec::new();
    for i in 0..toks.len() {
        let t = toks[i].as_str();
        if (matches!(t, "crate" | "super" | "self") || children.contains(t))
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
pub fn resolve(from: &str, path: &[String], modules: &BTreeSet<String>) -> Option<String> {
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
