//! The verbosity level `main` sets once from `-q`/`-v`, read by every message and the progress
//! bars. A leaf: it knows nothing of how messages are printed.

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
