//! SBOMs (issue 5): the SBOM of a fixture with one dependency of each kind lists exactly the crates
//! compiled into the binary, validates against the SPDX 2.3 (and CycloneDX 1.5) JSON schema shipped
//! in tests/fixtures/sbom-schemas, travels in the tarball, and is reachable from the pushed image
//! through the `sha256-<hex>` referrers tag in a real registry (distribution 2.8 has no referrers API).

mod common;

use cargo_slim_image::platform::Platform;
use cargo_slim_image::sbom::deps::{self, MetadataQuery};
use common::peers;
use common::registry::{Mode, RealRegistry};
use common::slim::{self, ok};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    slim::repo().join("tests/fixtures/sbom-deps/Cargo.toml")
}

fn build(out: &Path, extra: &[&str]) -> Value {
    let t = slim::shared_target();
    let f = fixture();
    let mut rest = vec![
        "--output",
        out.to_str().unwrap(),
        "--message-format",
        "json",
        "--locked",
    ];
    rest.extend_from_slice(extra);
    let c = slim::on(f.to_str().unwrap(), t.to_str().unwrap(), &rest);
    serde_json::from_str(&ok(c)).expect("JSON report")
}

/// Names of the crates (packages other than the image) an SPDX document lists.
fn spdx_crates(doc: &Value) -> BTreeSet<String> {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["primaryPackagePurpose"] != "CONTAINER")
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

fn validate(kind: &str, path: &Path) {
    if !peers::check_tools("sbom::validate", &["python3"]) {
        return;
    }
    let script = slim::repo().join("tests/fixtures/sbom-schemas/validate.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(kind)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} does not validate against the {kind} schema:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sbom_lists_exactly_the_compiled_crates_and_validates() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("app");
    let tar = work.path().join("app.tar");
    let report = build(&layout, &["--tarball", tar.to_str().unwrap()]);
    let img = &report["images"][0];
    let sbom_path = work.path().join("app.spdx.json");
    assert_eq!(img["sbom"][0]["path"], sbom_path.to_str().unwrap());
    assert_eq!(img["sbom"][0]["subject"], img["digest"]);
    let bytes = std::fs::read(&sbom_path).unwrap();
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        img["sbom"][0]["digest"],
        format!("sha256:{}", hex_sha256(&bytes))
    );

    // Exactly the binary's package and its normal dependency: no dev (cfg-if), no build (memchr),
    // no aarch64-only (libc) dependency.
    assert_eq!(
        spdx_crates(&doc),
        BTreeSet::from(["itoa".to_string(), "sbom-deps".to_string()])
    );
    let itoa = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "itoa")
        .unwrap();
    let lock =
        std::fs::read_to_string(slim::repo().join("tests/fixtures/sbom-deps/Cargo.lock")).unwrap();
    let sum = itoa["checksums"][0]["checksumValue"].as_str().unwrap();
    assert!(lock.contains(&format!("checksum = \"{sum}\"")), "{sum}");
    let version = itoa["versionInfo"].as_str().unwrap();
    assert_eq!(
        itoa["externalRefs"][0]["referenceLocator"],
        format!("pkg:cargo/itoa@{version}")
    );
    assert_eq!(itoa["licenseDeclared"], "MIT OR Apache-2.0");
    // The image is the described package, by its manifest digest; the tool is the creator; no clock.
    let digest = img["digest"].as_str().unwrap();
    let image = &doc["packages"][0];
    assert_eq!(image["primaryPackagePurpose"], "CONTAINER");
    assert_eq!(
        image["checksums"][0]["checksumValue"],
        digest.trim_start_matches("sha256:")
    );
    assert!(doc["documentNamespace"]
        .as_str()
        .unwrap()
        .ends_with(digest.trim_start_matches("sha256:")));
    assert_eq!(doc["creationInfo"]["created"], "1970-01-01T00:00:00Z");
    assert!(doc["creationInfo"]["creators"][0]
        .as_str()
        .unwrap()
        .starts_with("Tool: cargo-slim-image-"));
    validate("spdx", &sbom_path);

    // The tarball carries the document (and its referrer blobs).
    let names = peers::stdout_of(std::process::Command::new("tar").arg("tf").arg(&tar)).unwrap();
    assert!(names.lines().any(|l| l == "app.spdx.json"), "{names}");
    assert!(
        names
            .lines()
            .any(|l| l == format!("blobs/sha256/{}", hex_sha256(&bytes))),
        "{names}"
    );

    // Reproducible: the same build gives the same bytes.
    build(&layout, &[]);
    assert_eq!(std::fs::read(&sbom_path).unwrap(), bytes);

    // CycloneDX 1.5 lists the same crates and validates too.
    let report = build(&layout, &["--sbom-format", "cyclonedx"]);
    let cdx_path = work.path().join("app.cdx.json");
    assert_eq!(report["images"][0]["sbom"][0]["format"], "cyclonedx");
    let cdx: Value = serde_json::from_slice(&std::fs::read(&cdx_path).unwrap()).unwrap();
    let names: BTreeSet<String> = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, BTreeSet::from(["itoa".into(), "sbom-deps".into()]));
    validate("cyclonedx", &cdx_path);
    // The SPDX file of the earlier run went with its layout (tests/beside_files.rs).
    assert!(!sbom_path.exists());

    // --sbom none: no document, nothing in the report, the earlier one removed.
    let report = build(&layout, &["--sbom", "none"]);
    assert!(report["images"][0].get("sbom").is_none());
    assert!(!sbom_path.exists() && !cdx_path.exists());
}

#[test]
fn target_specific_dependency_only_for_its_target() {
    let q = MetadataQuery {
        manifest_path: Some(fixture()),
        flags: vec!["--locked".into()],
        ..Default::default()
    };
    let names = |p: Platform| -> BTreeSet<String> {
        let md = deps::metadata(&q, p).unwrap();
        let roots = ["sbom-deps".to_string()];
        let all = deps::graph(&md, &roots, None).unwrap();
        // Along the edges cargo tree shows for the build: the same crates here.
        let built = cargo_slim_image::compile::c_crates::built_edges(&q, &roots, p).unwrap();
        let g = deps::graph(&md, &roots, Some(&built)).unwrap();
        assert_eq!(g, all);
        g.crates.into_iter().map(|c| c.name).collect()
    };
    assert_eq!(
        names(Platform::LinuxAmd64),
        BTreeSet::from(["itoa".into(), "sbom-deps".into()])
    );
    assert_eq!(
        names(Platform::LinuxArm64),
        BTreeSet::from(["itoa".into(), "libc".into(), "sbom-deps".into()])
    );
}

#[test]
fn binary_embeds_the_dependency_list_without_cargo_auditable() {
    if !peers::check_tools(
        "binary_embeds_the_dependency_list_without_cargo_auditable",
        &["readelf"],
    ) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let report = build(&work.path().join("app"), &[]);
    let digest = report["images"][0]["manifests"][0]["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    // The app layer holds the binary: unpack it and look for cargo-auditable's section, which the
    // tool embeds itself (tests/repro_paths.rs reads it with rust-audit-info).
    let layer = slim::blob_path(&work.path().join("app"), &digest);
    let out = work.path().join("x");
    std::fs::create_dir_all(&out).unwrap();
    peers::run_ok(
        std::process::Command::new("tar")
            .arg("xzf")
            .arg(&layer)
            .arg("-C")
            .arg(&out),
    )
    .unwrap();
    let sections = peers::stdout_of(
        std::process::Command::new("readelf")
            .arg("-S")
            .arg(out.join("usr/local/bin/sbom-deps")),
    )
    .unwrap();
    assert!(sections.contains(".dep-v0"), "{sections}");
}

#[test]
fn sbom_is_reachable_through_the_fallback_tag_in_a_real_registry() {
    let Some(reg) = RealRegistry::start(Mode::Plain, "sbom_is_reachable_through_the_fallback_tag")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let repo = format!("{}/sbom/deps", reg.host);
    let report = build(&work.path().join("app"), &["--push", &repo]);
    let digest = report["images"][0]["digest"].as_str().unwrap().to_string();
    let sbom_digest = report["images"][0]["sbom"][0]["digest"].as_str().unwrap();
    let artifact = report["images"][0]["sbom"][0]["artifact_digest"]
        .as_str()
        .unwrap();

    use cargo_slim_image::registry::{Client, ClientOptions};
    let client = Client::new(&reg.host, &ClientOptions::default()).unwrap();
    let tag = format!("sha256-{}", digest.trim_start_matches("sha256:"));
    let index = client.get_manifest("sbom/deps", &tag).unwrap();
    let index: Value = serde_json::from_slice(&index.bytes).unwrap();
    // The SBOM's entry (the provenance has its own, tests/provenance.rs).
    let entries: Vec<&Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["artifactType"] == "application/spdx+json")
        .collect();
    assert_eq!(entries.len(), 1, "{index}");
    assert_eq!(entries[0]["artifactType"], "application/spdx+json");
    assert_eq!(entries[0]["digest"], artifact);
    let m = client.get_manifest("sbom/deps", artifact).unwrap();
    let m: Value = serde_json::from_slice(&m.bytes).unwrap();
    assert_eq!(m["subject"]["digest"], digest.as_str());
    assert_eq!(m["artifactType"], "application/spdx+json");
    assert_eq!(m["layers"][0]["digest"], sbom_digest);
    let store_dir = tempfile::tempdir().unwrap();
    let store = cargo_slim_image::blob::BlobStore::open(store_dir.path()).unwrap();
    let desc: cargo_slim_image::blob::Descriptor =
        serde_json::from_value(m["layers"][0].clone()).unwrap();
    client.fetch_blob("sbom/deps", &desc, &store).unwrap();
    let doc: Value = serde_json::from_slice(&store.read(&desc.digest).unwrap()).unwrap();
    assert_eq!(
        spdx_crates(&doc),
        BTreeSet::from(["itoa".into(), "sbom-deps".into()])
    );

    // Pushing again keeps one entry under the tag (the same artifact is not listed twice).
    build(&work.path().join("app"), &["--push", &repo]);
    let again = client.get_manifest("sbom/deps", &tag).unwrap();
    let again: Value = serde_json::from_slice(&again.bytes).unwrap();
    let listed = |kind: &str| {
        again["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["artifactType"] == kind)
            .count()
    };
    assert_eq!(listed("application/spdx+json"), 1, "{again}");
    assert_eq!(listed("application/vnd.in-toto+json"), 1, "{again}");
}

fn hex_sha256(bytes: &[u8]) -> String {
    cargo_slim_image::digest::Digest::of(bytes)
        .hex()
        .to_string()
}
