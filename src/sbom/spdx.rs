//! SPDX 2.3 JSON for one image manifest: the image as a CONTAINER package that CONTAINS the
//! application crates, which DEPEND_ON their dependencies; each crate with version, `pkg:cargo/` purl,
//! declared license and the Cargo.lock checksum; the tool, rustc and the C toolchain as creators.

use super::subject::{image_purl, tool_name, Subject, Tzdata};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// An SPDX id from free text: only letters, digits, `.` and `-`.
fn spdx_id(prefix: &str, text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-{prefix}-{clean}")
}

/// A package with `purpose`, and NOASSERTION for what we do not know (callers add the checksum,
/// version, purl, download location and license where they have them). Keys are serialised
/// sorted, so the order they are set in does not matter.
fn package(id: &str, name: &str, purpose: &str) -> Value {
    json!({
        "SPDXID": id,
        "name": name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": purpose,
    })
}

/// `checksums` with one SHA-256 (hex).
fn sha256(hex: &str) -> Value {
    json!([{"algorithm": "SHA256", "checksumValue": hex}])
}

/// `externalRefs` with one package-manager purl.
fn purl_ref(purl: &str) -> Value {
    json!([{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}])
}

/// `creationInfo`: the time, and cargo slim-image, rustc and the C toolchain as `Tool:` creators
/// (`name-version`), with a comment that says what each did.
fn creation_info(s: &Subject<'_>) -> Value {
    let mut creators = vec![format!("Tool: {}", tool_name())];
    let mut comment = Vec::new();
    for (name, version, what) in s.build_tools() {
        creators.push(match &version {
            Some(v) => format!("Tool: {name}-{v}"),
            None => format!("Tool: {name}"),
        });
        comment.push(format!(
            "{what}: {name}{}",
            version.map(|v| format!(" ({v})")).unwrap_or_default()
        ));
    }
    let mut info = json!({"created": s.created, "creators": creators});
    if !comment.is_empty() {
        info["comment"] = json!(format!("Built with {}.", comment.join("; ")));
    }
    info
}

/// The SPDX id of the image's own package.
const IMAGE_ID: &str = "SPDXRef-Image";

/// The SPDX 2.3 document.
pub fn document(s: &Subject<'_>) -> Value {
    let mut image = package(IMAGE_ID, s.name, "CONTAINER");
    image["checksums"] = sha256(s.manifest.digest.hex());
    image["versionInfo"] = json!(s.tag);
    image["externalRefs"] = purl_ref(&image_purl(s));
    let mut out = Parts {
        packages: vec![image],
        relationships: vec![json!({
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": IMAGE_ID,
        })],
    };
    let ids = crate_ids(s);
    add_crates(s, &ids, &mut out);
    add_c_libraries(s, &ids, &mut out);
    add_tzdata_and_base(s, &mut out);
    let Parts {
        packages,
        relationships,
    } = out;
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}:{} ({})", s.name, s.tag, s.platform),
        // Derived from the manifest digest: the same image always gets the same namespace, and two
        // images never share one.
        "documentNamespace": format!(
            "https://spdx.org/spdxdocs/cargo-slim-image/{}-{}",
            s.name.replace(['/', ':'], "-"),
            s.manifest.digest.hex()
        ),
        "creationInfo": creation_info(s),
        "packages": packages,
        "relationships": relationships,
    })
}

/// The packages and relationships of a document, as they are added.
struct Parts {
    packages: Vec<Value>,
    relationships: Vec<Value>,
}

impl Parts {
    /// `from` `kind` `to`.
    fn relate(&mut self, from: &str, kind: &str, to: &str) {
        self.relationships.push(json!({
            "spdxElementId": from,
            "relationshipType": kind,
            "relatedSpdxElement": to,
        }));
    }
}

/// The SPDX id of each crate: from its name and version, with its index where two would share one.
fn crate_ids(s: &Subject<'_>) -> Vec<String> {
    let mut used = BTreeSet::new();
    s.deps
        .crates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let id = spdx_id("Package", &format!("{}-{}", c.name, c.version));
            if used.insert(id.clone()) {
                id
            } else {
                format!("{id}-{i}")
            }
        })
        .collect()
}

/// A package per crate (the image CONTAINS the root crates), and the DEPENDS_ON edges.
fn add_crates(s: &Subject<'_>, ids: &[String], out: &mut Parts) {
    for (c, id) in s.deps.crates.iter().zip(ids) {
        let purpose = if c.root { "APPLICATION" } else { "LIBRARY" };
        let mut p = package(id, &c.name, purpose);
        if let Some(sum) = &c.checksum {
            p["checksums"] = sha256(sum);
        }
        p["versionInfo"] = json!(c.version);
        p["externalRefs"] = purl_ref(&c.purl());
        if let Some(location) = c.download_location() {
            p["downloadLocation"] = json!(location);
        }
        if let Some(license) = &c.license {
            p["licenseDeclared"] = json!(license);
        }
        out.packages.push(p);
        if c.root {
            out.relate(IMAGE_ID, "CONTAINS", id);
        }
    }
    for (a, b) in &s.deps.edges {
        out.relate(&ids[*a], "DEPENDS_ON", &ids[*b]);
    }
}

/// C libraries cargo slim-image built and linked into the binaries (OpenSSL for openssl-sys): the
/// image CONTAINS each, the crate it was built for DEPENDS_ON it.
fn add_c_libraries(s: &Subject<'_>, ids: &[String], out: &mut Parts) {
    for lib in s.tools.iter().flat_map(|t| &t.c_libraries) {
        let id = spdx_id("CLibrary", &format!("{}-{}", lib.name, lib.version));
        let mut p = package(&id, &lib.name, "LIBRARY");
        p["versionInfo"] = json!(lib.version);
        p["externalRefs"] = purl_ref(&lib.purl());
        p["licenseDeclared"] = json!(lib.license);
        p["comment"] = json!(format!(
            "Built from source by cargo slim-image for {} and linked statically into the binaries",
            lib.for_crate
        ));
        out.packages.push(p);
        out.relate(IMAGE_ID, "CONTAINS", &id);
        let (name, version) = lib
            .for_crate
            .split_once('@')
            .unwrap_or((&lib.for_crate, ""));
        if let Some(i) = s
            .deps
            .crates
            .iter()
            .position(|c| c.name == name && c.version == version)
        {
            out.relate(&ids[i], "DEPENDS_ON", &id);
        }
    }
}

/// The zoneinfo layer's tzdata (the image CONTAINS it) and the base image (the image is a
/// DESCENDANT_OF it).
fn add_tzdata_and_base(s: &Subject<'_>, out: &mut Parts) {
    if let Some(t) = s.tzdata.map(Tzdata::of) {
        let id = spdx_id("Data", &format!("{}-{}", t.name, t.version));
        let mut p = package(&id, t.name, "OTHER");
        p["versionInfo"] = json!(t.version);
        p["externalRefs"] = purl_ref(&t.purl);
        p["downloadLocation"] = json!(t.download);
        p["comment"] = json!(t.description);
        out.packages.push(p);
        out.relate(IMAGE_ID, "CONTAINS", &id);
    }
    if let Some((reference, digest)) = s.base {
        let id = "SPDXRef-BaseImage";
        let mut base = package(id, reference, "CONTAINER");
        base["checksums"] = sha256(digest.hex());
        out.packages.push(base);
        out.relate(IMAGE_ID, "DESCENDANT_OF", id);
    }
}
