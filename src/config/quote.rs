//! How a value from a Cargo.toml table or a flag is quoted in a message: [`shown`]. Takes the value
//! as written; gives it escaped and cut, so a NUL, a newline or a 4 KiB path stays readable. A leaf:
//! the config checks and the build's own messages both quote with it.

/// The most characters of a value [`shown`] prints; a longer value is cut and its length named.
const SHOWN_MAX: usize = 160;

/// `s` as it may be printed in a message: control characters, quotes and backslashes escaped, and
/// cut after `SHOWN_MAX` characters (a 4 KiB path need not fill the terminal to be named).
pub fn shown(s: &str) -> String {
    if s.chars().count() <= SHOWN_MAX {
        return s.escape_debug().to_string();
    }
    let head: String = s.chars().take(SHOWN_MAX).collect();
    format!("{}... ({} bytes)", head.escape_debug(), s.len())
}
