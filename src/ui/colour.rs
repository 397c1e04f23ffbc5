//! Colour on stderr, as cargo does it: `--color auto|always|never`, else `CARGO_TERM_COLOR`, else
//! auto. Auto is anstream's rule, the one clap and cargo follow: colour when stderr is a terminal
//! whose `TERM` is not `dumb`, never with `NO_COLOR` set, always with `CLICOLOR_FORCE`.
//!
//! The styles are cargo's: green bold status verbs, yellow bold `warning:`, red bold `error:`, cyan
//! bold `note:` and progress bars; clap's help and usage errors use cargo's help styles
//! ([`CLAP_STYLES`]) under the same choice ([`for_clap`]). [`paint`] adds the escape codes only
//! when colour is on, around text that already went through redaction: nothing a message quotes can
//! carry an escape code of its own (see `ui::defang`).

pub use anstyle::Style;
use anstyle::{AnsiColor, Effects};
use std::ffi::OsString;
use std::sync::atomic::{AtomicU8, Ordering};

/// `--color`, and the values of `CARGO_TERM_COLOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Colour when stderr is a terminal (and `NO_COLOR` is not set).
    Auto,
    /// Always colour, even into a pipe or a file.
    Always,
    /// Never colour.
    Never,
}

/// Status verbs (`Pushed`, `Wrote`).
pub const GOOD: Style = AnsiColor::Green.on_default().effects(Effects::BOLD);
/// `warning`.
pub const WARN: Style = AnsiColor::Yellow.on_default().effects(Effects::BOLD);
/// `error`.
pub const ERROR: Style = AnsiColor::Red.on_default().effects(Effects::BOLD);
/// `note` and the verbs of progress bars (cargo's `Building [==>  ]` is cyan).
pub const NOTE: Style = AnsiColor::Cyan.on_default().effects(Effects::BOLD);
/// The colon after `warning`, `error`, `note`.
pub const BOLD: Style = Style::new().effects(Effects::BOLD);

/// cargo's help styles (the ones `clap-cargo` carries), for `--help` and usage errors.
pub const CLAP_STYLES: clap::builder::Styles = clap::builder::Styles::styled()
    .header(GOOD)
    .usage(GOOD)
    .literal(AnsiColor::Cyan.on_default().effects(Effects::BOLD))
    .placeholder(AnsiColor::Cyan.on_default())
    .error(ERROR)
    .valid(AnsiColor::Cyan.on_default().effects(Effects::BOLD))
    .invalid(WARN);

/// 0: not decided yet (auto); 1: on; 2: off.
static ON: AtomicU8 = AtomicU8::new(0);

/// Decide once: `--color` when given, else `CARGO_TERM_COLOR` (unset or empty: auto), else auto.
/// A `CARGO_TERM_COLOR` that is none of the three is an error naming it (colour stays auto).
pub fn set(flag: Option<When>) -> anyhow::Result<()> {
    let when = match flag {
        Some(w) => w,
        None => from_env(std::env::var_os("CARGO_TERM_COLOR"))?,
    };
    let on = match when {
        When::Always => true,
        When::Never => false,
        When::Auto => auto(),
    };
    ON.store(if on { 1 } else { 2 }, Ordering::Relaxed);
    Ok(())
}

/// The choice `CARGO_TERM_COLOR` (its value `v`) makes.
fn from_env(v: Option<OsString>) -> anyhow::Result<When> {
    let v = v.unwrap_or_default();
    Ok(match v.to_str() {
        Some("") | Some("auto") => When::Auto,
        Some("always") => When::Always,
        Some("never") => When::Never,
        _ => anyhow::bail!(
            "CARGO_TERM_COLOR is {v:?}, which is not a colour choice: set it to auto, always or \
             never, or unset it (`--color` overrides it)"
        ),
    })
}

/// anstream's auto rule for stderr: a terminal, `TERM` not `dumb`, no `NO_COLOR`.
fn auto() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

/// Whether stderr gets colour.
pub fn on() -> bool {
    match ON.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => auto(),
    }
}

/// `text` in `style`, or `text` as it is when colour is off.
pub fn paint(style: Style, text: &str) -> String {
    if on() {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_string()
    }
}

/// `label:` as cargo prints it: the label in `style`, the colon bold.
pub fn label(style: Style, text: &str) -> String {
    format!("{}{}", paint(style, text), paint(BOLD, ":"))
}

/// The colour choice for clap's own output (help, usage errors), read from the raw arguments
/// before they are parsed: `--color WHEN` / `--color=WHEN` (before a `--`), else `CARGO_TERM_COLOR`.
/// A value clap will refuse counts as auto: clap then reports it.
pub fn for_clap(args: &[OsString]) -> clap::ColorChoice {
    let mut given = None;
    let mut it = args.iter().map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--color" {
            given = it.next().map(|v| v.into_owned());
        } else if let Some(v) = a.strip_prefix("--color=") {
            given = Some(v.to_string());
        }
    }
    let value = given.or_else(|| std::env::var("CARGO_TERM_COLOR").ok());
    match value.as_deref() {
        Some("always") => clap::ColorChoice::Always,
        Some("never") => clap::ColorChoice::Never,
        _ => clap::ColorChoice::Auto,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn clap_follows_the_flag_in_either_spelling() {
        let c = |a: &[&str]| for_clap(&args(a));
        assert_eq!(c(&["x", "--color", "always"]), clap::ColorChoice::Always);
        assert_eq!(
            c(&["x", "index", "--color=never"]),
            clap::ColorChoice::Never
        );
        // The last one wins, as clap takes it; after `--` it is not a flag.
        assert_eq!(
            c(&[
                "x",
                "--color=never",
                "--color",
                "always",
                "--",
                "--color=never"
            ]),
            clap::ColorChoice::Always
        );
    }

    #[test]
    fn the_variable_takes_the_three_values_and_empty() {
        let e = |v: &str| from_env(Some(OsString::from(v)));
        assert_eq!(from_env(None).unwrap(), When::Auto);
        assert_eq!(e("").unwrap(), When::Auto);
        assert_eq!(e("always").unwrap(), When::Always);
        assert_eq!(e("never").unwrap(), When::Never);
        let err = e("rainbow").unwrap_err().to_string();
        assert!(
            err.contains("CARGO_TERM_COLOR is \"rainbow\"")
                && err.contains("auto, always or never"),
            "{err}"
        );
    }

    #[test]
    fn paint_wraps_only_when_on() {
        ON.store(1, Ordering::Relaxed);
        assert_eq!(paint(GOOD, "Pushed"), "\u{1b}[1m\u{1b}[32mPushed\u{1b}[0m");
        ON.store(2, Ordering::Relaxed);
        assert_eq!(paint(GOOD, "Pushed"), "Pushed");
        assert_eq!(label(WARN, "warning"), "warning:");
        ON.store(0, Ordering::Relaxed);
    }
}
