//! Messages for people, on stderr: progress, notes, warnings and the final error. stdout is reserved
//! for results.
//!
//! The level is set once from `-q`/`-v` by `main`; library code calls [`status`], [`note`], [`warn`] and
//! [`verbose`] without passing a handle around. Nothing here may print a secret: every message, and the
//! error chain [`print_error`] shows, passes through [`redact`] (see [`redact`](mod@redact)).

mod redact;

pub use redact::{redact, redact_and_cut, remember, remember_login, REDACTED};

use std::sync::atomic::{AtomicI8, Ordering};

static LEVEL: AtomicI8 = AtomicI8::new(0);

/// Set verbosity: -1 quiet (errors only), 0 normal, 1+ verbose.
pub fn set_level(level: i8) {
    LEVEL.store(level, Ordering::Relaxed);
}

/// The current verbosity.
pub fn level() -> i8 {
    LEVEL.load(Ordering::Relaxed)
}

/// A progress line in cargo's style: a right-aligned green-ish verb, then the message.
pub fn status(verb: &str, msg: impl std::fmt::Display) {
    if level() >= 0 {
        eprintln!("{verb:>12} {}", shown(&msg.to_string()));
    }
}

/// A note: something the user should know (e.g. "installed the musl target").
pub fn note(msg: impl std::fmt::Display) {
    if level() >= 0 {
        eprintln!("note: {}", shown(&msg.to_string()));
    }
}

/// A warning: printed even with -q.
pub fn warn(msg: impl std::fmt::Display) {
    eprintln!("warning: {}", shown(&msg.to_string()));
}

/// Detail shown only with -v.
pub fn verbose(msg: impl std::fmt::Display) {
    if level() >= 1 {
        eprintln!("     verbose {}", shown(&msg.to_string()));
    }
}

/// Print panics through [`redact`] as well: a panic is a bug, and its message (which may quote any
/// value) must not print a secret either. The text still says `panicked`, as the default does.
pub fn redact_panics() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str));
        let at = info.location().map(|l| l.to_string());
        eprintln!("{}", panic_report(msg, at.as_deref()));
        let bt = std::backtrace::Backtrace::capture();
        if bt.status() == std::backtrace::BacktraceStatus::Captured {
            eprintln!("{bt}");
        }
    }));
}

/// The text of a panic report, redacted.
fn panic_report(msg: Option<&str>, location: Option<&str>) -> String {
    let at = location.map_or(String::new(), |l| format!(" at {l}"));
    shown(&format!(
        "cargo-slim-image panicked{at}: {}
error: this is a bug in cargo-slim-image; please \
         report it (without credentials in the command line)",
        msg.unwrap_or("(no message)")
    ))
}

/// The error that ends the run, with its chain of causes, redacted.
pub fn print_error(err: &anyhow::Error) {
    eprintln!("error: {}", shown(&err.to_string()));
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {}", shown(&cause.to_string()));
    }
}

/// `text` as it may go to the terminal: redacted, then defanged ([`defang`]). Messages quote what
/// inputs say (a base's tags, archive member names, layer paths and media types, registry error
/// bodies), and a hostile input must not drive the terminal (retitle it, write the clipboard, rewrite
/// earlier lines).
fn shown(text: &str) -> String {
    defang(&redact(text))
}

/// `text` with every control character but line feed and tab (escape sequences a hostile registry,
/// helper or config could use to rewrite the terminal: clear it, move the cursor over a warning, set
/// the title) written out as `\u{1b}`.
pub fn defang(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c.to_string(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_written_out() {
        assert_eq!(
            defang("user `\u{1b}]0;x\u{7}\u{9b}2J` \u{7f}\r\nnext\tcol"),
            "user `\\u{1b}]0;x\\u{7}\\u{9b}2J` \\u{7f}\\u{d}\nnext\tcol"
        );
    }

    #[test]
    fn panic_reports_are_redacted() {
        remember("Panic-Secret-5d21");
        let r = panic_report(Some("bad header Panic-Secret-5d21"), Some("src/x.rs:1:2"));
        assert!(
            r.contains("panicked at src/x.rs:1:2: bad header <redacted>"),
            "{r}"
        );
        assert!(!r.contains("Panic-Secret"), "{r}");
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(
            shown("a\u{1b}]0;x\u{7}b\r\n\tc\u{9b}"),
            "a\\u{1b}]0;x\\u{7}b\\u{d}\n\tc\\u{9b}"
        );
    }
}
