//! Conventions a cargo user brings (issue 16): `--release` is accepted (the default profile is
//! already release) and refused next to another `--profile` as cargo refuses it, with exit code 2
//! like every usage error; `cargo slim-image completions SHELL` prints a script that bash really
//! completes with (flags, subcommands, value enums), for every shell clap_complete knows. README's
//! tables (the flags, the exit codes) render whole: none is split by a blank line, none has a row
//! whose cells do not match its header.

mod common;

use common::slim;
use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    slim::cmd(args).output().expect("running cargo-slim-image")
}

#[test]
fn release_is_accepted_and_is_the_default_profile() {
    let manifest = slim::hello_http();
    let plain = run(&["--manifest-path", &manifest, "--dry-run"]);
    let release = run(&["--manifest-path", &manifest, "--dry-run", "--release"]);
    assert!(
        release.status.success(),
        "{}",
        String::from_utf8_lossy(&release.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&plain.stdout),
        String::from_utf8_lossy(&release.stdout),
        "--release changed the plan"
    );

    let both = run(&[
        "--manifest-path",
        &manifest,
        "--dry-run",
        "--release",
        "--profile",
        "dev",
    ]);
    let err = String::from_utf8_lossy(&both.stderr);
    assert_eq!(both.status.code(), Some(2), "{err}");
    assert!(
        err.contains("'--release' cannot be used with '--profile <NAME>'"),
        "{err}"
    );
}

#[test]
fn completions_are_printed_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&["completions", shell]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("cargo-slim-image") && text.contains("push"),
            "{shell}: {text}"
        );
    }
    let bad = run(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
    // A full disk is an error like any other, not a panic.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = slim::cmd(&["completions", "bash"])
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("writing the completion script to stdout") && !err.contains("panicked"),
        "{err}"
    );
}

/// Complete `words` (the last one being typed) with the bash script, as bash's programmable
/// completion calls it; returns what it offers.
fn bash_complete(script: &str, words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "{script}\nf=$(complete -p cargo-slim-image | sed -E 's/.*-F ([^ ]+).*/\\1/')\n\
         COMP_WORDS=({words}); COMP_CWORD={cword}\n\
         \"$f\" cargo-slim-image '{cur}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = quoted.join(" "),
        cword = words.len() - 1,
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(program)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_bash_script_completes_flags_subcommands_and_values() {
    let out = run(&["completions", "bash"]);
    let script = String::from_utf8(out.stdout).unwrap();
    let flags = bash_complete(&script, &["cargo-slim-image", "--pus"]);
    assert_eq!(flags.trim(), "--push", "{flags}");
    let subs = bash_complete(&script, &["cargo-slim-image", "ver"]);
    assert!(subs.lines().any(|l| l == "verify"), "{subs}");
    let values = bash_complete(&script, &["cargo-slim-image", "--compression", ""]);
    let mut v: Vec<&str> = values.split_whitespace().collect();
    v.sort();
    assert_eq!(v, ["gzip", "zstd"], "{values}");
}

/// The cells of a Markdown table row: split at every `|` not escaped as `\|` (GitHub splits inside
/// code spans too).
fn cells(row: &str) -> usize {
    let row = row.trim();
    let row = row.strip_prefix('|').unwrap_or(row);
    let row = row
        .strip_suffix('|')
        .filter(|_| !row.ends_with("\\|"))
        .unwrap_or(row);
    let mut n = 1;
    let mut escaped = false;
    for c in row.chars() {
        n += usize::from(c == '|' && !escaped);
        escaped = c == '\\';
    }
    n
}

#[test]
fn every_readme_table_renders_whole() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let is_separator = |l: &str| {
        let l = l.trim();
        l.starts_with('|') && l.contains('-') && l.chars().all(|c| "|-: ".contains(c))
    };
    let (mut fenced, mut header, mut tables) = (false, None, 0);
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('|') {
            header = None;
            continue;
        }
        let n = cells(line);
        match header {
            None => {
                // A table starts here: a header row, then the separator row. A row after a
                // blank line inside a table (the rest of a split table) has no separator after it.
                let next = lines.get(i + 1).copied().unwrap_or("");
                assert!(
                    is_separator(next) && cells(next) == n,
                    "README.md line {}: table rows without a header and separator row above them \
                     (a blank line splits a table?): {line}",
                    i + 1
                );
                header = Some(n);
                tables += 1;
            }
            Some(h) => assert_eq!(
                n,
                h,
                "README.md line {}: {n} cells, the table's header has {h} (an unescaped `|`?): {line}",
                i + 1
            ),
        }
    }
    assert!(tables >= 10, "found only {tables} tables in README.md");
}
