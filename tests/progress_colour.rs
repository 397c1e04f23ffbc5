//! Progress and colour (issue 16): the real binary under a pseudo-terminal (util-linux `script`)
//! draws progress bars (compressing, pulling, uploading) and colours its lines as cargo does; in a
//! pipe it prints the same plain lines as ever, with no escape byte. `--color`, `CARGO_TERM_COLOR`
//! and `NO_COLOR` decide the colour, the flag first; `-q`, `CI` and a pipe turn the bars off.
//!
//! The transcript `script` gives is every byte the program wrote to the terminal, bars included
//! (drawn, then cleared): that is what these tests read.

mod common;

use common::peers::require;
use common::registry::{Mode, RealRegistry};
use common::slim;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Variables that change colour or bars, removed from every run so that each test sets its own.
const COLOUR_VARS: [&str; 6] = [
    "CI",
    "TF_BUILD",
    "NO_COLOR",
    "CARGO_TERM_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
];

/// `--binary BUSYBOX --target-dir DIR/t --output DIR/out --sbom none`, then `rest`: a 1.9 MiB app
/// layer (over the size that gets a compressing bar) with no compiling.
fn build_args(dir: &Path, rest: &[&str]) -> Vec<String> {
    let app = common::blob_cache::app_binary(dir);
    let mut a: Vec<String> = [
        "--binary",
        app.to_str().unwrap(),
        "--target-dir",
        dir.join("t").to_str().unwrap(),
        "--output",
        dir.join("out").to_str().unwrap(),
        "--sbom",
        "none",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(rest.iter().map(|s| s.to_string()));
    a
}

/// `word` quoted for `sh -c`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Run `cargo-slim-image slim-image ARGS` on a pseudo-terminal (TERM=xterm) with `env` set: its
/// exit status and everything it wrote to the terminal (stdout and stderr together).
fn on_a_terminal(args: &[String], env: &[(&str, &str)]) -> (Output, String) {
    let line = std::iter::once(env!("CARGO_BIN_EXE_cargo-slim-image").to_string())
        .chain(std::iter::once("slim-image".to_string()))
        .chain(args.iter().cloned())
        .map(|w| quote(&w))
        .collect::<Vec<_>>()
        .join(" ");
    let mut c = Command::new("script");
    c.args(["-qfec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .env("TERM", "xterm")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("SLIM_IMAGE_REPO");
    for v in COLOUR_VARS {
        c.env_remove(v);
    }
    c.envs(env.iter().copied());
    let out = c.output().expect("script starts");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

/// The same run in a pipe (TERM=xterm still): exit status, stdout, stderr.
fn in_a_pipe(args: &[String], env: &[(&str, &str)]) -> (Output, String, String) {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = slim::cmd(&a);
    c.env("TERM", "xterm");
    for v in COLOUR_VARS {
        c.env_remove(v);
    }
    c.envs(env.iter().copied());
    let out = slim::run(&mut c);
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    (out, o, e)
}

/// Whether `text` holds an SGR (colour) sequence: ESC [ digits/semicolons m.
fn has_colour(text: &str) -> bool {
    text.match_indices("\u{1b}[").any(|(i, _)| {
        let rest = &text[i + 2..];
        let n = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b';')
            .count();
        rest.as_bytes().get(n) == Some(&b'm')
    })
}

/// A status verb as it is printed in colour: green bold, right-aligned in 12 columns.
fn green(verb: &str) -> String {
    format!("\u{1b}[1m\u{1b}[32m{verb:>12}\u{1b}[0m ")
}

/// A bar's verb: cyan bold, right-aligned in 12 columns, then the bar's opening bracket.
fn bar(verb: &str) -> String {
    format!("\u{1b}[1m\u{1b}[36m{verb:>12}\u{1b}[0m [")
}

#[test]
fn a_push_on_a_terminal_draws_bars_in_colour_and_a_pipe_gets_plain_lines() {
    require!("script", "busybox");
    let Some(reg) = RealRegistry::start(Mode::Plain, "a_push_on_a_terminal_draws_bars") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let h = &reg.host;
    let push = |dir: &str, rest: &[&str]| {
        let d = work.path().join(dir);
        std::fs::create_dir_all(&d).unwrap();
        build_args(&d, &[&["--insecure-registry", h], rest].concat())
    };

    let (out, tty) = on_a_terminal(&push("a", &["--push", &format!("{h}/app:1")]), &[]);
    assert!(out.status.success(), "{tty}");
    let first = tty.clone();
    for want in [
        green("Packaging"),
        green("Pushed") + &format!("{h}/app:1@sha256:"),
        bar("Compressing"),
        bar("Uploading"),
        "B/s".to_string(),
        // Cleared line by line before a status line is printed over them.
        "\r\u{1b}[2K".to_string(),
    ] {
        assert!(tty.contains(&want), "no {want:?} on the terminal:\n{tty:?}");
    }
    // stdout's result line is there too, plain.
    assert!(tty.contains(&format!("\n{h}/app:1@sha256:")), "{tty:?}");

    // Built on what was just pushed: the base's layers are pulled with bars (in total and per blob).
    let base = format!("{h}/app:1");
    let (out, tty) = on_a_terminal(
        &push("b", &["--base", &base, "--push", &format!("{h}/app2:1")]),
        &[],
    );
    assert!(out.status.success(), "{tty}");
    assert!(tty.contains(&bar("Pulling")), "no pulling bar:\n{tty:?}");
    assert!(
        tty.matches(&bar("Pulling")).count() >= 2,
        "a total and a blob"
    );

    // The same push into a pipe: the lines as ever, no bar, not one escape byte.
    let (out, stdout, stderr) = in_a_pipe(&push("c", &["--push", &format!("{h}/app3:1")]), &[]);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\r'),
        "{stderr:?}"
    );
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
    for word in ["Compressing", "Uploading", "Pulling"] {
        assert!(!stderr.contains(word), "a bar in a pipe: {stderr}");
    }
    for want in [
        "   Packaging app (1 binary(ies), linux/amd64)\n".to_string(),
        format!("     Pushing {h}/app3 (3 blobs, "),
        "    Uploaded 3 blobs (".to_string(),
        format!("      Pushed {h}/app3:1@sha256:"),
    ] {
        assert!(stderr.contains(&want), "no {want:?} in:\n{stderr}");
    }
    assert!(
        stdout.starts_with(&format!("{h}/app3:1@sha256:")),
        "{stdout}"
    );
    // Bars or not, the same bytes: the image pushed from the terminal has the same digest.
    let digest = |text: &str, name: &str| {
        let at = text.find(&format!("{h}/{name}:1@")).expect("a result line");
        let at = at + h.len() + name.len() + 4;
        text[at..at + 71].to_string()
    };
    assert_eq!(digest(&first, "app"), digest(&stdout, "app3"));
}

#[test]
fn the_flag_then_the_variable_decide_the_colour_of_a_pipe() {
    require!("busybox");
    let work = tempfile::tempdir().unwrap();
    let args = build_args(work.path(), &[]);
    let coloured = green("Wrote") + "OCI layout ";
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let a = [args.clone(), extra.iter().map(|s| s.to_string()).collect()].concat();
        let (out, _, stderr) = in_a_pipe(&a, env);
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    let e = run(&["--color", "always"], &[]);
    assert!(e.contains(&coloured), "{e:?}");
    assert!(
        !e.contains("Compressing"),
        "colour, but no bars in a pipe: {e:?}"
    );
    let e = run(&[], &[("CARGO_TERM_COLOR", "always")]);
    assert!(e.contains(&coloured), "{e:?}");
    // The flag wins over the variable, and over NO_COLOR.
    let e = run(&["--color=never"], &[("CARGO_TERM_COLOR", "always")]);
    assert!(!e.contains('\u{1b}'), "{e:?}");
    let e = run(&["--color", "always"], &[("NO_COLOR", "1")]);
    assert!(e.contains(&coloured), "{e:?}");
    // Auto in a pipe, and an empty variable (auto): plain.
    let e = run(&["--color", "auto"], &[("CARGO_TERM_COLOR", "")]);
    assert!(
        !e.contains('\u{1b}') && e.contains("       Wrote OCI layout "),
        "{e:?}"
    );
}

#[test]
fn never_no_color_quiet_and_ci_on_a_terminal() {
    require!("script", "busybox");
    let work = tempfile::tempdir().unwrap();
    // A new target dir each time: a cached layer would not be compressed again (no bar).
    let runs = std::cell::Cell::new(0);
    let args = |extra: &[&str]| {
        runs.set(runs.get() + 1);
        let d = work.path().join(runs.get().to_string());
        std::fs::create_dir_all(&d).unwrap();
        build_args(&d, extra)
    };

    // --color never and NO_COLOR: no colour on the terminal, but the bars still move.
    for (extra, env) in [
        (&["--color", "never"][..], &[][..]),
        (&[][..], &[("NO_COLOR", "1")][..]),
    ] {
        let (out, tty) = on_a_terminal(&args(extra), env);
        assert!(out.status.success(), "{tty}");
        assert!(!has_colour(&tty), "colour with {extra:?} {env:?}:\n{tty:?}");
        assert!(
            tty.contains(" Compressing [") && tty.contains("       Wrote OCI layout "),
            "{tty:?}"
        );
    }
    // Auto on a terminal: colour.
    let (_, tty) = on_a_terminal(&args(&[]), &[]);
    assert!(tty.contains(&green("Wrote")), "{tty:?}");
    // -q: no bar, no line, only the result.
    let (out, tty) = on_a_terminal(&args(&["-q"]), &[]);
    assert!(out.status.success(), "{tty}");
    assert!(
        !tty.contains("Compressing") && !tty.contains("Wrote"),
        "{tty:?}"
    );
    assert!(tty.contains("@sha256:"), "{tty:?}");
    // CI set: no bars (as cargo), the lines still in colour.
    let (_, tty) = on_a_terminal(&args(&[]), &[("CI", "true")]);
    assert!(!tty.contains("Compressing"), "a bar under CI:\n{tty:?}");
    assert!(tty.contains(&green("Wrote")), "{tty:?}");
}

#[test]
fn a_bad_colour_is_refused_with_the_values_before_or_after_a_subcommand() {
    for args in [
        &["--color", "rainbow"][..],
        &["index", "--color", "rainbow"][..],
    ] {
        let out = slim::run(&mut slim::cmd(args));
        let e = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "a usage error: {e}");
        assert!(
            e.contains("'rainbow'") && e.contains("--color") && e.contains("auto, always, never"),
            "{e}"
        );
    }
    // After a subcommand, `--color always` colours clap's own usage error as well.
    let out = slim::run(&mut slim::cmd(&["index", "--color", "always"]));
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(has_colour(&e), "clap's error in colour: {e:?}");
    let out = slim::run(&mut slim::cmd(&["index", "--color=never"]));
    assert!(!has_colour(&String::from_utf8_lossy(&out.stderr)));
    // A bad CARGO_TERM_COLOR names the variable.
    let mut c = slim::cmd(&["--dry-run", "--binary", "/bin/busybox"]);
    c.env("CARGO_TERM_COLOR", "rainbow");
    let e = slim::fails(c);
    assert!(
        e.contains("CARGO_TERM_COLOR is \"rainbow\"") && e.contains("auto, always or never"),
        "{e}"
    );
}
