//! The properties the fuzz targets check, shared with `tests/fuzz_regressions.rs` (which replays the
//! seeds and every past finding on stable Rust): no input makes a parser panic, and what a parser
//! accepts survives a round trip through our own printer or canonical JSON writer.
#![allow(dead_code)] // each fuzz target uses one of these checks

use cargo_slim_image::blob::canonical_json;
use cargo_slim_image::digest::Digest;
use cargo_slim_image::image::{ConfigFile, Index, Manifest};
use cargo_slim_image::reference::Reference;
use cargo_slim_image::registry::auth::{challenge_from_header, parse_www_authenticate};

/// Image references: a parsed reference prints as a string that parses to the same reference.
pub fn reference(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = s.parse::<Reference>() {
        let printed = r.to_string();
        let again: Reference = printed.parse().unwrap_or_else(|e| {
            panic!("{s:?} parsed, but its printed form {printed:?} does not: {e}")
        });
        assert_eq!(again, r, "{s:?} -> {printed:?} changed on a round trip");
        let _ = (r.name(), r.tagged_name(), r.tag_or_digest(), r.api_host());
    }
    if let Ok(d) = s.parse::<Digest>() {
        assert_eq!(d.to_string().parse::<Digest>().ok(), Some(d));
    }
}

/// `WWW-Authenticate`: never panics; schemes are non-empty lower-case tokens.
pub fn www_authenticate(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for (scheme, _params) in parse_www_authenticate(s) {
        assert!(!scheme.is_empty(), "an empty scheme from {s:?}");
        assert_eq!(scheme, scheme.to_ascii_lowercase());
    }
    let _ = challenge_from_header(s);
}

fn round_trip<T>(data: &[u8], what: &str)
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    if let Ok(v) = serde_json::from_slice::<T>(data) {
        let bytes = canonical_json(&v);
        let again: T = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("our canonical {what} JSON does not parse back: {e}"));
        assert_eq!(again, v, "a {what} changed on a round trip");
        assert_eq!(
            canonical_json(&again),
            bytes,
            "canonical {what} JSON is not stable"
        );
    }
}

/// Manifest, index and config JSON: never panics; what parses round-trips through canonical JSON.
pub fn manifest(data: &[u8]) {
    round_trip::<Manifest>(data, "manifest");
    round_trip::<Index>(data, "index");
    round_trip::<ConfigFile>(data, "config");
}
