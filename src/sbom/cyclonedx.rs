//! CycloneDX 1.5 JSON for one image manifest: the image as the `container` metadata component, one
//! `library` (or `application`) component per crate with purl, license expression and the Cargo.lock
//! hash, and the dependency edges; rustc and the C toolchain that built the binaries are tools
//! beside cargo-slim-image (`metadata.tools.components`, and the `cargo-slim-image:c-toolchain`
//! property).

use super::subject::{image_purl, tool_name, Subject, Tzdata};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A UUID-shaped serial number from the manifest digest (reproducible, unique per image).
fn serial(hex: &str) -> String {
    let h: String = hex.chars().chain(std::iter::repeat('0')).take(32).collect();
    format!(
        "urn:uuid:{}-{}-5{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// The CycloneDX 1.5 document.
pub fn document(s: &Subject<'_>) -> Value {
    let image_ref = image_purl(s);
    let mut components = crate_components(s);
    let mut deps = crate_dependencies(s, &image_ref);
    add_c_libraries(s, &image_ref, &mut components, &mut deps);
    add_tzdata(s, &image_ref, &mut components, &mut deps);
    let dependencies: Vec<Value> = deps
        .into_iter()
        .map(|(r, on)| json!({"ref": r, "dependsOn": on}))
        .collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial(s.manifest.digest.hex()),
        "version": 1,
        "metadata": metadata(s, &image_ref),
        "components": components,
        "dependencies": dependencies,
    })
}

/// One `application` (a root crate) or `library` component per crate, with purl, license
/// expression and the Cargo.lock hash.
fn crate_components(s: &Subject<'_>) -> Vec<Value> {
    s.deps
        .crates
        .iter()
        .map(|c| {
            let mut v = json!({
                "type": if c.root { "application" } else { "library" },
                "bom-ref": c.purl(),
                "name": c.name,
                "version": c.version,
                "purl": c.purl(),
            });
            if let Some(l) = &c.license {
                v["licenses"] = json!([{"expression": l}]);
            }
            if let Some(sum) = &c.checksum {
                v["hashes"] = json!([{"alg": "SHA-256", "content": sum}]);
            }
            v
        })
        .collect()
}

/// The dependency edges by bom-ref: the image (`image_ref`) on the root crates, each crate on its
/// dependencies (every crate listed, with none too).
fn crate_dependencies(s: &Subject<'_>, image_ref: &str) -> BTreeMap<String, Vec<String>> {
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let roots: Vec<String> = s
        .deps
        .crates
        .iter()
        .filter(|c| c.root)
        .map(|c| c.purl())
        .collect();
    deps.insert(image_ref.to_string(), roots);
    for c in &s.deps.crates {
        deps.entry(c.purl()).or_default();
    }
    for (a, b) in &s.deps.edges {
        deps.entry(s.deps.crates[*a].purl())
            .or_default()
            .push(s.deps.crates[*b].purl());
    }
    deps
}

/// C libraries cargo slim-image built and linked into the binaries (OpenSSL for openssl-sys): a
/// component each, a dependency of the crate they were built for, else of the image.
fn add_c_libraries(
    s: &Subject<'_>,
    image_ref: &str,
    components: &mut Vec<Value>,
    deps: &mut BTreeMap<String, Vec<String>>,
) {
    for lib in s.tools.iter().flat_map(|t| &t.c_libraries) {
        components.push(json!({
            "type": "library",
            "bom-ref": lib.purl(),
            "name": lib.name,
            "version": lib.version,
            "purl": lib.purl(),
            "licenses": [{"expression": lib.license}],
            "description": format!(
                "Built from source by cargo slim-image for {} and linked statically into the binaries",
                lib.for_crate
            ),
        }));
        let (name, version) = lib
            .for_crate
            .split_once('@')
            .unwrap_or((&lib.for_crate, ""));
        let owner = s
            .deps
            .crates
            .iter()
            .find(|c| c.name == name && c.version == version)
            .map_or(image_ref.to_string(), |c| c.purl());
        deps.entry(owner).or_default().push(lib.purl());
        deps.entry(lib.purl()).or_default();
    }
}

/// The zoneinfo layer's tzdata (`timezones = true`): data the image contains, a dependency of the
/// image.
fn add_tzdata(
    s: &Subject<'_>,
    image_ref: &str,
    components: &mut Vec<Value>,
    deps: &mut BTreeMap<String, Vec<String>>,
) {
    if let Some(t) = s.tzdata.map(Tzdata::of) {
        components.push(json!({
            "type": "data",
            "bom-ref": t.purl,
            "name": t.name,
            "version": t.version,
            "purl": t.purl,
            "description": t.description,
            "externalReferences": [{"type": "distribution", "url": t.download}],
        }));
        deps.entry(image_ref.to_string())
            .or_default()
            .push(t.purl.clone());
        deps.entry(t.purl).or_default();
    }
}

/// The `metadata`: the time, the tools (cargo-slim-image, rustc, the C toolchain), the image as
/// the `container` component (its base as pedigree).
fn metadata(s: &Subject<'_>, image_ref: &str) -> Value {
    let mut component = json!({
        "type": "container",
        "bom-ref": image_ref,
        "name": s.name,
        "version": s.tag,
        "purl": image_ref,
        "hashes": [{"alg": "SHA-256", "content": s.manifest.digest.hex()}],
    });
    if let Some((reference, digest)) = s.base {
        component["pedigree"] = json!({"ancestors": [{
            "type": "container",
            "name": reference,
            "hashes": [{"alg": "SHA-256", "content": digest.hex()}],
        }]});
    }
    let mut tools = vec![json!({
        "type": "application",
        "name": "cargo-slim-image",
        "version": env!("CARGO_PKG_VERSION"),
        "description": tool_name(),
    })];
    let mut properties = Vec::new();
    for (name, version, what) in s.build_tools() {
        let mut t = json!({"type": "application", "name": name, "description": what});
        if let Some(v) = version {
            t["version"] = json!(v);
        }
        tools.push(t);
    }
    if let Some(t) = s.tools {
        properties.push(json!({"name": "cargo-slim-image:c-toolchain", "value": t.c_toolchain}));
    }
    let mut metadata = json!({
        "timestamp": s.created,
        "tools": {"components": tools},
        "component": component,
    });
    if !properties.is_empty() {
        metadata["properties"] = json!(properties);
    }
    metadata
}
