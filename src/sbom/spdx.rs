//! SPDX 2.3 JSON for one image manifest: the image as a CONTAINER package that CONTAINS the
//! application crates, which DEPEND_ON their dependencies; each crate with version, `pkg:cargo/` purl,
//! declared license and the Cargo.lock checksum; the tool as creator.

use super::{image_purl, tool_name, Subject};
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

/// The SPDX 2.3 document.
pub fn document(s: &Subject<'_>) -> Value {
    let image_id = "SPDXRef-Image".to_string();
    let mut packages = vec![json!({
        "SPDXID": image_id,
        "name": s.name,
        "versionInfo": s.tag,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": "SHA256", "checksumValue": s.manifest.digest.hex()}],
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": image_purl(s),
        }],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image_id,
    })];
    let mut used = BTreeSet::new();
    let ids: Vec<String> = s
        .deps
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
        .collect();
    for (c, id) in s.deps.crates.iter().zip(&ids) {
        let mut p = json!({
            "SPDXID": id,
            "name": c.name,
            "versionInfo": c.version,
            "downloadLocation": c.download_location().unwrap_or_else(|| "NOASSERTION".into()),
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": c.license.clone().unwrap_or_else(|| "NOASSERTION".into()),
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": if c.root { "APPLICATION" } else { "LIBRARY" },
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": c.purl(),
            }],
        });
        if let Some(sum) = &c.checksum {
            p["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": sum}]);
        }
        packages.push(p);
        if c.root {
            relationships.push(json!({
                "spdxElementId": image_id,
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": id,
            }));
        }
    }
    for (a, b) in &s.deps.edges {
        relationships.push(json!({
            "spdxElementId": ids[*a],
            "relationshipType": "DEPENDS_ON",
            "relatedSpdxElement": ids[*b],
        }));
    }
    if let Some((reference, digest)) = s.base {
        let id = "SPDXRef-BaseImage";
        packages.push(json!({
            "SPDXID": id,
            "name": reference,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "CONTAINER",
            "checksums": [{"algorithm": "SHA256", "checksumValue": digest.hex()}],
        }));
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "DESCENDANT_OF",
            "relatedSpdxElement": id,
        }));
    }
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
        "creationInfo": {
            "created": s.created,
            "creators": [format!("Tool: {}", tool_name())],
        },
        "packages": packages,
        "relationships": relationships,
    })
}
