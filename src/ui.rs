//! Messages for people, on stderr: progress, notes and warnings. stdout is reserved for results.
//!
//! The level is set once from `-q`/`-v` by `main`; library code calls [`status`], [`note`], [`warn`] and
//! [`verbose`] without passing a handle around. Nothing here may print a secret.

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
        eprintln!("{verb:>12} {msg}");
    }
}

/// A note: something the user should know (e.g. "installed the musl target").
pub fn note(msg: impl std::fmt::Display) {
    if level() >= 0 {
        eprintln!("note: {msg}");
    }
}

/// A warning: printed even with -q.
pub fn warn(msg: impl std::fmt::Display) {
    eprintln!("warning: {msg}");
}

/// Detail shown only with -v.
pub fn verbose(msg: impl std::fmt::Display) {
    if level() >= 1 {
        eprintln!("     verbose {msg}");
    }
}
