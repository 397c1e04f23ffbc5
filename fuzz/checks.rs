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

/// The tar reader used on base layers and archives: never panics, never buffers more than its record
/// limit, and every entry it gives has a clean path (no leading `/`, no trailing `/`) and at most the
/// data its header claims.
pub fn tar_layer(data: &[u8]) {
    use cargo_slim_image::base::tarread;
    let _ = tarread::for_each(data, |e, body| {
        assert!(
            !e.path.starts_with('/') && !e.path.ends_with('/'),
            "unclean path {:?}",
            e.path
        );
        let n = std::io::copy(body, &mut std::io::sink())?;
        assert!(n <= e.size, "{n} bytes of data for a {}-byte entry", e.size);
        Ok(())
    });
    let _ = tarread::pax_records(data);
}

/// A docker-archive's `manifest.json`: parsing never panics, and every path it names resolves only
/// to a regular file of the archive (never outside it, never through an absolute link).
pub fn docker_manifest(data: &[u8]) {
    use cargo_slim_image::base::archive::{Member, Members};
    use cargo_slim_image::base::local::parse_docker_manifest;
    use std::path::{Path, PathBuf};
    let Ok(entries) = parse_docker_manifest(data) else {
        return;
    };
    let mut m = Members::default();
    let file = |p: &str| Member::File(PathBuf::from("/unpacked").join(p), 1);
    m.insert("config.json".into(), file("config.json"));
    m.insert("abc/layer.tar".into(), file("abc/layer.tar"));
    m.insert(
        "def/layer.tar".into(),
        Member::Symlink("../abc/layer.tar".into()),
    );
    m.insert("up".into(), Member::Symlink("../../etc/passwd".into()));
    m.insert("abs".into(), Member::Symlink("/etc/passwd".into()));
    m.insert("loop".into(), Member::Symlink("loop".into()));
    m.insert("hard".into(), Member::Hardlink("abc/layer.tar".into()));
    m.insert("abc".into(), Member::Dir);
    m.insert("dev".into(), Member::Other);
    for e in &entries {
        for name in std::iter::once(&e.config).chain(&e.layers) {
            if let Ok((p, _)) = m.regular_file(name) {
                assert!(
                    p == Path::new("/unpacked/config.json")
                        || p == Path::new("/unpacked/abc/layer.tar"),
                    "{name:?} resolved to {}",
                    p.display()
                );
            }
        }
    }
}
