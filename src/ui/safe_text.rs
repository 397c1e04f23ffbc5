//! Text as it may go to the terminal: redacted, and with what could drive or fool the terminal
//! written out. A leaf beside `redact`; the printing in `ui` and `progress` both use it.

use super::redact::redact;

/// `text` as it may go to the terminal: redacted, then defanged ([`defang`]). Messages quote what
/// inputs say (a base's tags, archive member names, layer paths and media types, registry error
/// bodies), and a hostile input must not drive the terminal (retitle it, write the clipboard, rewrite
/// earlier lines).
pub(crate) fn shown(text: &str) -> String {
    defang(&redact(text))
}

/// Characters that change how text shows without being control characters (`char::is_control` is
/// only category Cc): the bidirectional controls, which can make `/etc/app/txt.exe` show as
/// `/etc/app/exe.txt`, and the zero-width ones, which make `/etc/passwd\u{200b}` show as `/etc/passwd`.
pub(crate) const INVISIBLE: &[char] = &[
    '\u{200b}', '\u{200c}', '\u{200d}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}',
    '\u{202d}', '\u{202e}', '\u{2060}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{feff}',
];

/// `text` with every control character but line feed and tab (escape sequences a hostile registry,
/// helper or config could use to rewrite the terminal: clear it, move the cursor over a warning, set
/// the title), and every `INVISIBLE` character (a tag or a path from a hostile base that would show
/// as another one), written out as `\u{1b}`.
pub fn defang(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c.to_string(),
            c if c.is_control() || INVISIBLE.contains(&c) => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}
