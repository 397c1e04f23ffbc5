//! The one redaction step: every secret the run learns is remembered here, and every text that may
//! carry registry- or helper-supplied bytes passes through [`redact`] before it is cut short or printed.
//!
//! A secret is found in any encoding a server or helper may echo it in: raw, percent-encoded (either
//! hex case, every character or only some), form-encoded (`+` for a space) and JSON-escaped (`\"`,
//! `\/`, `\u0041`...), mixed freely within one occurrence, in any ASCII case, and broken over lines.
//! Each secret's hex and base64 forms are secrets of their own, at every alignment inside a longer
//! base64 text, and [`remember_login`] adds the base64 of `user:password` (what a Basic
//! `Authorization` header carries), so a registry that echoes the header or the password encoded,
//! alone or inside a dump of its request, gives nothing away.
//! Redaction must come before any truncation: a cut through a secret leaves a prefix no pattern matches.

use base64::Engine as _;
use std::sync::Mutex;

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";
/// Shorter secrets (1 or 2 characters) are removed only where they stand alone, between
/// non-alphanumeric characters: replacing the `ab` inside every word or digest would garble messages.
const MIN_SECRET_LEN: usize = 3;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remember `secret`: from now on [`redact`] removes it, in every encoding, from any text, and also
/// its base64 forms (`base64_forms`) and hex forms (either case): a server that echoes what it got
/// base64- or hex-encoded (a request
/// dump, a JWT-like error) gives it away as surely as one that quotes it.
pub fn remember(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let mut all = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    let forms = [secret.to_string(), hex.to_ascii_uppercase(), hex];
    for s in forms.into_iter().chain(base64_forms(secret.as_bytes())) {
        if !all.contains(&s) {
            all.push(s);
        }
    }
    // Longest first, so a secret that contains another is removed whole.
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Remember a login: the password, `user:password`, and the base64 of `user:password` (what a Basic
/// `Authorization` header carries; standard and URL-safe alphabets, unpadded so a padded or unpadded
/// copy is caught alike), each with its own base64 forms, so the header echoed base64-encoded again
/// is caught too.
pub fn remember_login(user: &str, password: &str) {
    remember(password);
    let pair = format!("{user}:{password}");
    remember(&pair);
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        remember(&engine.encode(pair.as_bytes()));
    }
}

/// Fragments shorter than this are not remembered: they would match by chance.
const MIN_BASE64_FRAGMENT: usize = 6;

/// The base64 forms of `secret`: whole and unpadded, and the characters that encode only its bytes
/// when it starts 0, 1 or 2 bytes into a longer encoded text (the characters at either edge mix in
/// bits of the neighbours, so they are left out), in the standard and URL-safe alphabets.
fn base64_forms(secret: &[u8]) -> Vec<String> {
    let mut forms = Vec::new();
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        let whole = engine.encode(secret);
        if whole.len() >= MIN_BASE64_FRAGMENT {
            forms.push(whole);
        }
        for offset in 0..3usize {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(secret);
            let enc = engine.encode(&bytes);
            let first = (8 * offset).div_ceil(6);
            let end = 8 * bytes.len() / 6;
            if end >= first + MIN_BASE64_FRAGMENT {
                forms.push(enc[first..end].to_string());
            }
        }
    }
    forms
}

/// `text` with every remembered secret, in any encoding, replaced by [`REDACTED`].
pub fn redact(text: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    redact_with(text, &secrets)
}

/// At most `max` characters of `text`, after redaction (so a cut never exposes part of a secret).
pub fn redact_and_cut(text: &str, max: usize) -> String {
    redact(text).chars().take(max).collect()
}

fn redact_with(text: &str, secrets: &[String]) -> String {
    if secrets.is_empty() {
        return text.to_string();
    }
    let t = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < t.len() {
        let found = secrets
            .iter()
            .filter_map(|s| {
                match_at(t, i, s).filter(|&end| s.len() >= MIN_SECRET_LEN || alone(t, i, end))
            })
            .max();
        if let Some(end) = found {
            out.push_str(REDACTED);
            i = end;
            continue;
        }
        // Matches start and end on character boundaries; copy one character.
        let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Whether `t[start..end]` has no letter or digit right before or after it.
fn alone(t: &[u8], start: usize, end: usize) -> bool {
    let word = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || *b >= 0x80);
    !word(start.checked_sub(1).and_then(|i| t.get(i))) && !word(t.get(end))
}

/// The end of the longest occurrence of `secret` in `t` starting at `start`, in any mix of encodings.
fn match_at(t: &[u8], start: usize, secret: &str) -> Option<usize> {
    let s = secret.as_bytes();
    // Most positions cannot start any encoding of the secret: skip them without allocating.
    let first = t[start];
    if !(first.eq_ignore_ascii_case(&s[0])
        || first == b'%'
        || first == b'\\'
        || (first == b'+' && s[0] == b' '))
    {
        return None;
    }
    // Text positions reachable after matching the first `k` bytes of the secret, for k = 0..=len.
    // Only the slots still reachable are kept (most starts die within a byte or two, and a long
    // secret must not cost its length at every position that merely starts like it).
    let mut reach: std::collections::BTreeMap<usize, Vec<usize>> = [(0, vec![start])].into();
    while let Some((k, mut here)) = reach.pop_first() {
        if k == s.len() {
            return here.into_iter().max();
        }
        let mut next = 0;
        while let Some(&p) = here.get(next) {
            next += 1;
            // A line break inside an occurrence (a body wrapped or split over lines, raw or as a
            // JSON `\n`) is skipped: only the first line of a body is shown, and a secret cut there
            // would leave its first part on it.
            if let Some(after) = line_break(t, p).filter(|_| k > 0) {
                if !here.contains(&after) {
                    here.push(after);
                }
            }
            for (adv, end) in encodings(t, p, s, k) {
                let slot = reach.entry(k + adv).or_default();
                if !slot.contains(&end) {
                    slot.push(end);
                }
            }
        }
    }
    None
}

/// The text position after a line break at `p` (`\n`, `\r`, or their JSON escapes), if one is there.
fn line_break(t: &[u8], p: usize) -> Option<usize> {
    match (t.get(p)?, t.get(p + 1)) {
        (b'\n' | b'\r', _) => Some(p + 1),
        (b'\\', Some(b'n' | b'r')) => Some(p + 2),
        _ => None,
    }
}

/// Ways the secret bytes from `k` on can appear at text position `p`: (secret bytes consumed, text end).
fn encodings(t: &[u8], p: usize, s: &[u8], k: usize) -> Vec<(usize, usize)> {
    let b = s[k];
    let mut v = Vec::new();
    let at = |i: usize| t.get(p + i).copied();
    // ASCII case is ignored: a server that upper-cases what it echoes still gives the secret away.
    if at(0).is_some_and(|c| c.eq_ignore_ascii_case(&b)) {
        v.push((1, p + 1));
    }
    if at(0) == Some(b'%') && hex_byte(t, p + 1).is_some_and(|c| c.eq_ignore_ascii_case(&b)) {
        v.push((1, p + 3));
    }
    if b == b' ' && at(0) == Some(b'+') {
        v.push((1, p + 1));
    }
    if at(0) == Some(b'\\') {
        let short = match b {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'\n' => Some(b'n'),
            b'\r' => Some(b'r'),
            b'\t' => Some(b't'),
            0x08 => Some(b'b'),
            0x0c => Some(b'f'),
            _ => None,
        };
        if short.is_some() && at(1) == short {
            v.push((1, p + 2));
        }
        // `\uXXXX` for the character that starts here (a surrogate pair for one beyond the BMP).
        if let Some((code, end)) = json_unicode(t, p) {
            // Not a character boundary (after a percent-encoded byte): no `\u` form here.
            let ch = std::str::from_utf8(&s[k..])
                .ok()
                .and_then(|rest| rest.chars().next());
            if let Some(ch) = ch.filter(|c| u32::from(*c) == code) {
                v.push((ch.len_utf8(), end));
            }
        }
    }
    v
}

/// The code point of the JSON `\uXXXX` escape (or `\uD8xx\uDCxx` surrogate pair) at `p`, and where
/// it ends.
fn json_unicode(t: &[u8], p: usize) -> Option<(u32, usize)> {
    let unit = |i: usize| -> Option<u32> {
        (t.get(i) == Some(&b'\\') && t.get(i + 1) == Some(&b'u'))
            .then(|| Some(u32::from(hex_byte(t, i + 2)?) << 8 | u32::from(hex_byte(t, i + 4)?)))?
    };
    let first = unit(p)?;
    if (0xD800..0xDC00).contains(&first) {
        let low = unit(p + 6).filter(|l| (0xDC00..0xE000).contains(l))?;
        return Some((0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00), p + 12));
    }
    Some((first, p + 6))
}

/// The byte two hex digits (either case) at `i` stand for.
fn hex_byte(t: &[u8], i: usize) -> Option<u8> {
    let d = |c: u8| (c as char).to_digit(16);
    let hi = d(*t.get(i)?)?;
    let lo = d(*t.get(i + 1)?)?;
    u8::try_from(hi * 16 + lo).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str, secrets: &[&str]) -> String {
        let v: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
        redact_with(text, &v)
    }

    #[test]
    fn every_encoding_of_a_secret_goes() {
        let s = "id+tok/a b\"c";
        for text in [
            "id+tok/a b\"c",
            "id%2Btok%2Fa%20b%22c",
            "id%2btok%2fa+b%22c",
            "id%2Btok/a+b\"c",
            r#"id+tok\/a b\"c"#,
            r#"\u0069d+tok/a b\u0022c"#,
        ] {
            assert_eq!(r(&format!("x={text}&y"), &[s]), "x=<redacted>&y", "{text}");
        }
        assert_eq!(
            r("refresh_token=id%2Btok", &["id+tok"]),
            "refresh_token=<redacted>"
        );
        assert_eq!(r("no secret here", &["hunter2"]), "no secret here");
        assert_eq!(r("pässwört ü", &["sswö"]), "pä<redacted>rt ü");
        // A 1- or 2-character secret goes where it stands alone, not inside words and digests.
        assert_eq!(
            r("password Q# for Q#x and xQ#, sha256:aQ#; \"Q%23\"", &["Q#"]),
            "password <redacted> for Q#x and xQ#, sha256:aQ#; \"<redacted>\""
        );
        assert_eq!(
            r("pw 7 in 17 (7/8)", &["7"]),
            "pw <redacted> in 17 (<redacted>/8)"
        );
        for split in [
            "Split-Se\ncret-77",
            "Split-Se\r\ncret-77",
            "Split-Se\\ncret-77",
        ] {
            assert_eq!(
                r(&format!("a {split} b"), &["Split-Secret-77"]),
                "a <redacted> b"
            );
        }
        assert_eq!(r("a \nSplit b", &["Split"]), "a \n<redacted> b");
        assert_eq!(
            r(
                "PW=HUNTER-Two lower hunter-two %48unter-TWO",
                &["Hunter-Two"]
            ),
            "PW=<redacted> lower <redacted> <redacted>"
        );
        assert_eq!(
            r(r"pw=Key\ud83d\udd11-42;", &["Key\u{1f511}-42"]),
            "pw=<redacted>;"
        );
        remember("Hex-Secret-c0de");
        assert_eq!(
            redact("dump 4865782d5365637265742d63306465 / 4865782D5365637265742D63306465"),
            "dump <redacted> / <redacted>"
        );
        assert_eq!(r(r"p\u00e4ss", &["päss"]), "<redacted>");
    }

    #[test]
    fn a_cut_after_redaction_keeps_no_part_of_the_secret() {
        remember_login("bob", "Straddle-Secret-9f3");
        let b64 = base64::engine::general_purpose::STANDARD.encode("bob:Straddle-Secret-9f3");
        let body = format!("{}Basic {b64}", "x".repeat(290));
        let cut = redact_and_cut(&body, 300);
        assert!(!cut.contains(&b64[..8]), "{cut}");
        assert!(cut.ends_with("Basic <red"), "{cut}");
        // (Not `pw=`: other tests in this process remember the 2-character secret `pw`.)
        assert_eq!(redact("given=Straddle-Secret-9f3"), "given=<redacted>");
    }

    #[test]
    fn a_login_inside_a_longer_base64_text_goes_at_every_offset() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        remember_login("eve", "Offset-Secret-71c2");
        for prefix in ["", "a", "ab", "abc", "abcd", "{\"authorization\":\"Basic "] {
            for inner in ["eve:Offset-Secret-71c2", "Offset-Secret-71c2"] {
                let plain = format!("{prefix}{inner}\",\"more\":1}}");
                for enc in [STANDARD.encode(&plain), URL_SAFE.encode(&plain)] {
                    let out = redact(&format!("echo={enc}"));
                    assert!(out.contains(REDACTED), "{prefix:?} {inner}: {out}");
                    // At most the two edge characters of the secret's span may be left on each side.
                    let start = (8 * prefix.len()).div_ceil(6) + 2;
                    let end = 8 * (prefix.len() + inner.len()) / 6 - 2;
                    assert!(!out.contains(&enc[start..end]), "{prefix:?} {inner}: {out}");
                    for w in enc.as_bytes()[start..end].windows(6) {
                        let w = std::str::from_utf8(w).unwrap();
                        assert!(!out.contains(w), "{w} of {enc} in {out}");
                    }
                }
            }
        }
    }
}
