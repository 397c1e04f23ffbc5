//! Messages for people, on stderr: progress, notes, warnings and the final error. stdout is reserved
//! for results.
//!
//! The level is set once from `-q`/`-v` by `main`; library code calls [`status`], [`note`], [`warn`] and
//! [`verbose`] without passing a handle around. Nothing here may print a secret: every message, and the
//! error chain [`print_error`] shows, passes through [`redact()`] (see the `redact` module).
//! Colour ([`colour`]) is added after that, and every line is printed through
//! `progress::print_line`, which keeps the progress bars ([`progress`]) from tearing it.

pub mod child;
pub mod colour;
pub mod progress;
mod redact;
mod safe_text;
pub mod stdout;
mod verbosity;

pub use redact::{redact, redact_and_cut, remember, remember_login, REDACTED};
pub use safe_text::defang;
pub(crate) use safe_text::{shown, INVISIBLE};
pub use verbosity::{level, set_level};

/// A step done, in cargo's style: a right-aligned green bold verb, then the message.
pub fn status(verb: &str, msg: impl std::fmt::Display) {
    if level() >= 0 {
        line(colour::GOOD, verb, &msg.to_string());
    }
}

/// Lines already laid out as [`status`] lays them out (`{verb:>12} {message}`, the report's
/// summary): each printed as a status, so its verb is coloured and its text redacted.
pub fn status_lines(text: &str) {
    if level() < 0 {
        return;
    }
    for l in text.lines() {
        match (l.get(..12), l.get(12..).and_then(|r| r.strip_prefix(' '))) {
            (Some(verb), Some(msg)) if !verb.trim().is_empty() => status(verb.trim(), msg),
            _ => progress::print_line(&shown(l)),
        }
    }
}

/// A note: something the user should know (e.g. "installed the musl target").
pub fn note(msg: impl std::fmt::Display) {
    if level() >= 0 {
        labelled(colour::NOTE, "note", &msg.to_string());
    }
}

/// A warning: printed even with -q.
pub fn warn(msg: impl std::fmt::Display) {
    labelled(colour::WARN, "warning", &msg.to_string());
}

/// Detail shown only with -v.
pub fn verbose(msg: impl std::fmt::Display) {
    if level() >= 1 {
        line(colour::NOTE, "verbose", &msg.to_string());
    }
}

/// A line another program printed (a rustc wrapper's chatter between cargo's messages), as it is
/// but redacted and with control characters written out, like every line of ours.
pub fn relay(line: &str) {
    progress::print_line(&shown(line));
}

/// `{verb:>12} {msg}`, the verb in `style`, the message redacted.
fn line(style: colour::Style, verb: &str, msg: &str) {
    let verb = colour::paint(style, &format!("{verb:>12}"));
    progress::print_line(&format!("{verb} {}", shown(msg)));
}

/// `label: msg` (`warning: ...`), the label in `style`, the message redacted.
fn labelled(style: colour::Style, label: &str, msg: &str) {
    progress::print_line(&format!("{} {}", colour::label(style, label), shown(msg)));
}

/// Print panics through [`redact()`] as well: a panic is a bug, and its message (which may quote any
/// value) must not print a secret either. The text still says `panicked`, as the default does.
pub fn redact_panics() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str));
        let at = info.location().map(|l| l.to_string());
        // Through print_line, not eprintln!: a panic while panicking (stderr's reader gone) aborts.
        progress::print_line(&panic_report(msg, at.as_deref()));
        let bt = std::backtrace::Backtrace::capture();
        if bt.status() == std::backtrace::BacktraceStatus::Captured {
            progress::print_line(&bt.to_string());
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
    labelled(colour::ERROR, "error", &err.to_string());
    for cause in err.chain().skip(1) {
        progress::print_line(&format!("  caused by: {}", shown(&cause.to_string())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidirectional_and_zero_width_characters_are_written_out() {
        assert_eq!(
            defang("tag `v1\u{202e}txt.exe` /etc/passwd\u{200b} \u{2067}x"),
            "tag `v1\\u{202e}txt.exe` /etc/passwd\\u{200b} \\u{2067}x"
        );
        assert_eq!(defang("résumé ✓ 日本"), "résumé ✓ 日本");
    }

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
