//! Layers that are no tar and configs that are no JSON are how an image differs; a registry layer
//! claiming terabytes is not fetched.

use super::*;

/// Point the layout at a copy of its manifest whose layer `at` (or config, `None`) is `bytes`.
fn replace_blob(layout: &Path, m: &Value, at: Option<usize>, media_type: &str, bytes: &[u8]) {
    let mut manifest = slim::blob_json(layout, m["digest"].as_str().unwrap());
    let blob = put_blob(layout, media_type, bytes);
    match at {
        Some(i) => manifest["layers"][i] = blob,
        None => manifest["config"] = blob,
    }
    let desc = put_blob(layout, MANIFEST, manifest.to_string().as_bytes());
    set_index(layout, vec![desc]);
}

#[test]
fn a_layer_that_is_no_tar_or_a_config_that_is_no_json_is_how_it_differs() {
    let (_work, c, m) = built();
    let layout = c.layout();
    let image = format!("oci:{}", layout.display());
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: [(Option<usize>, &str, Vec<u8>, &str); 3] = [
        (
            Some(1),
            "application/vnd.oci.image.layer.v1.tar+gzip",
            gzip(&b"this is not a tar ".repeat(100)),
            "the image's layer cannot be read as a tar",
        ),
        (
            None,
            "application/vnd.oci.image.config.v1+json",
            b"{not json".to_vec(),
            "(the whole config): \"not a JSON document",
        ),
        (
            None,
            "application/vnd.oci.image.config.v1+json",
            deep.into_bytes(),
            "recursion limit",
        ),
    ];
    for (at, media_type, bytes, says) in cases {
        replace_blob(&layout, &m, at, media_type, &bytes);
        let out = run(&mut c.cmd(&["verify", &image, "--bin", "hello"]));
        let err = status(&out, 1);
        assert!(err.contains("does not match the rebuild"), "{err}");
        assert!(err.contains(says), "wanted `{says}` in:\n{err}");
    }
}

#[test]
fn a_registry_layer_claiming_terabytes_is_not_fetched() {
    let (_work, c, _) = built();
    let reg = FakeRegistry::start(Config::default());
    let (_, bytes) = publish(&c.layout(), &reg, "demo/hello", "1");
    let mut m: Value = serde_json::from_slice(&bytes).unwrap();
    let huge = common::checkout::sha256(b"a layer nobody has");
    m["layers"][1]["digest"] = json!(huge);
    m["layers"][1]["size"] = json!(1u64 << 40);
    reg.put_manifest("demo/hello", "huge", MANIFEST, m.to_string().into_bytes());
    let image = format!("{}/demo/hello:huge", reg.host);
    let out = run(&mut c.cmd(&["verify", &image, "--bin", "hello"]));
    let err = status(&out, 1);
    assert!(err.contains("layer 2 of 2"), "{err}");
    assert!(err.contains("not fetched"), "{err}");
    let asked = reg.seen().iter().filter(|s| s.path.contains(&huge)).count();
    assert_eq!(asked, 0, "verify asked the registry for the huge layer");
}
