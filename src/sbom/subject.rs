//! What an SBOM describes ([`Subject`]: one platform's image manifest and what went into it) and
//! the names both document formats give it. A leaf the format writers (`spdx`, `cyclonedx`) take
//! their input from.

use super::deps::DepGraph;
use crate::blob::Descriptor;
use crate::platform::Platform;

/// What an SBOM describes: one platform's image manifest and what went into it.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// Repository name, e.g. `ghcr.io/acme/app`.
    pub name: &'a str,
    /// The first tag.
    pub tag: &'a str,
    /// The platform of this manifest.
    pub platform: Platform,
    /// The image manifest.
    pub manifest: &'a Descriptor,
    /// The crates compiled into the binaries (empty for prebuilt binaries).
    pub deps: &'a DepGraph,
    /// The base image (`registry/repo@sha256:...` and its digest), `None` for scratch.
    pub base: Option<(&'a str, &'a crate::digest::Digest)>,
    /// `created` time, RFC 3339 (from SOURCE_DATE_EPOCH, else 0).
    pub created: &'a str,
    /// What compiled and linked the binaries (rustc, the C toolchain); `None` for prebuilt ones.
    pub tools: Option<&'a crate::compile::c_toolchain::Tools>,
    /// The tzdata release of the zoneinfo layer (`timezones = true`), else `None`.
    pub tzdata: Option<&'a str>,
}

/// The tzdata of the zoneinfo layer as an SBOM package: name, version, purl, and where it is from.
pub struct Tzdata {
    /// `tzdata`.
    pub name: &'static str,
    /// The release, e.g. `2026f`.
    pub version: String,
    /// `pkg:generic/tzdata@<release>`.
    pub purl: String,
    /// The IANA release tarball it was compiled from.
    pub download: String,
    /// What it is, for the document's comment / description.
    pub description: String,
}

impl Tzdata {
    /// The package for release `version`.
    pub fn of(version: &str) -> Tzdata {
        use crate::layer::zoneinfo;
        let download = format!("https://data.iana.org/time-zones/releases/tzdata{version}.tar.gz");
        Tzdata {
            name: "tzdata",
            version: version.to_string(),
            purl: format!("pkg:generic/tzdata@{version}"),
            download,
            description: format!(
                "IANA time zone database {version}, compiled TZif files under {} (from the {} {} crate, pinned by cargo slim-image); the data is in the public domain",
                zoneinfo::DIR,
                zoneinfo::SOURCE_CRATE,
                zoneinfo::SOURCE_CRATE_VERSION
            ),
        }
    }
}

impl Subject<'_> {
    /// The tools that built the binaries besides cargo slim-image, as (name, version, what it did):
    /// rustc, then the C toolchain (`musl-gcc`, `zig`, `rust-lld`, `user: ...`).
    pub fn build_tools(&self) -> Vec<(String, Option<String>, String)> {
        let Some(t) = self.tools else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(r) = &t.rustc {
            let v = r.strip_prefix("rustc ").unwrap_or(r);
            out.push(("rustc".into(), Some(v.to_string()), "Rust compiler".into()));
        }
        out.push((
            t.c_toolchain.clone(),
            t.c_version.clone(),
            format!("C toolchain (compiler and linker) for {}", self.platform),
        ));
        out
    }
}

/// The tool, as the SBOM's creator.
pub fn tool_name() -> String {
    format!("cargo-slim-image-{}", env!("CARGO_PKG_VERSION"))
}

/// The image's package URL (`pkg:oci/<last path component>@sha256%3A...?repository_url=...&arch=...`).
pub fn image_purl(s: &Subject<'_>) -> String {
    let last = s.name.rsplit('/').next().unwrap_or(s.name);
    format!(
        "pkg:oci/{last}@sha256%3A{}?arch={}&repository_url={}&tag={}",
        s.manifest.digest.hex(),
        s.platform.architecture(),
        s.name,
        s.tag
    )
}
