//! The shape the code keeps so a reader can take one file at a time (issue 15): in `src/`, the
//! code before a file's `#[cfg(test)]` items is at most 500 lines and no function there is longer
//! than 80 lines; no `.rs` file anywhere (tests included, unit tests and all) passes 600 lines. A
//! test file that grows past that is split into modules of the same test binary
//! (`tests/NAME/PART.rs`, declared with `#[path]`), as `tests/push.rs` is.
//!
//! Functions are found the way rustfmt lays them out: a line that starts (after its indent) with
//! `fn`, `pub fn`, `pub(crate) fn`, ... and whose body ends at the first later line that is the
//! same indent and `}`. A declaration ending in `;` (a trait method without a body) has no body.

use std::path::{Path, PathBuf};

const MAX_FN: usize = 80;
const MAX_SRC: usize = 500;
const MAX_FILE: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Whether `line` (without its indent) starts a function item.
fn starts_fn(line: &str) -> bool {
    let mut rest = line;
    if let Some(r) = rest.strip_prefix("pub") {
        rest = r.trim_start();
        if rest.starts_with('(') {
            let Some(end) = rest.find(')') else {
                return false;
            };
            rest = rest[end + 1..].trim_start();
        }
    }
    for q in ["async ", "const ", "unsafe ", "extern \"C\" "] {
        if let Some(r) = rest.strip_prefix(q) {
            rest = r;
        }
    }
    rest.starts_with("fn ")
}

/// `(name, first line (1-based), length)` of each function in `lines`.
fn functions(lines: &[&str]) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let body = l.trim_start();
        let indent = &l[..l.len() - body.len()];
        if !starts_fn(body) {
            i += 1;
            continue;
        }
        let name: String = body[body.find("fn ").unwrap() + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let mut j = i;
        while j < lines.len() && !lines[j].ends_with('{') && !lines[j].ends_with(';') {
            j += 1;
        }
        if j == lines.len() || lines[j].ends_with(';') {
            i = j + 1;
            continue;
        }
        let close = format!("{indent}}}");
        let Some(k) = (j + 1..lines.len()).find(|&k| lines[k] == close) else {
            panic!("no closing brace for fn {name} at line {}", i + 1);
        };
        out.push((name, i + 1, k - i + 1));
        i = j + 1;
    }
    out
}

#[test]
fn files_and_functions_stay_short() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for d in ["src", "tests", "fuzz/fuzz_targets", "examples"] {
        if root.join(d).is_dir() {
            rust_files(&root.join(d), &mut files);
        }
    }
    files.sort();
    assert!(files.len() > 100, "found only {} files", files.len());
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let rel = f.strip_prefix(root).unwrap().display().to_string();
        if lines.len() > MAX_FILE {
            problems.push(format!(
                "{rel}: {} lines (at most {MAX_FILE}): split it into modules",
                lines.len()
            ));
        }
        if !rel.starts_with("src/") {
            continue;
        }
        let code = lines
            .iter()
            .position(|l| l.starts_with("#[cfg(test)]"))
            .unwrap_or(lines.len());
        if code > MAX_SRC {
            problems.push(format!(
                "{rel}: {code} lines before its tests (at most {MAX_SRC}): move a step into a module of its own"
            ));
        }
        for (name, at, len) in functions(&lines[..code]) {
            if len > MAX_FN {
                problems.push(format!(
                    "{rel}:{at}: fn {name} is {len} lines (at most {MAX_FN}): split it"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_function_finder_sees_what_rustfmt_writes() {
    let src = "\
pub(crate) fn a(x: u8) -> u8 {
    x
}

impl T {
    pub async fn b(
        &self,
    ) -> Result<()> {
        let f = |y| {
            y
        };
        Ok(())
    }

    fn declared(&self);
}
";
    let lines: Vec<&str> = src.lines().collect();
    let found = functions(&lines);
    assert_eq!(
        found,
        vec![("a".to_string(), 1, 3), ("b".to_string(), 6, 8)],
        "{found:?}"
    );
    // One line too many is caught.
    let long: String = format!("fn long() {{\n{}}}\n", "    x();\n".repeat(MAX_FN - 1));
    let lines: Vec<&str> = long.lines().collect();
    assert_eq!(functions(&lines)[0].2, MAX_FN + 1);
}
