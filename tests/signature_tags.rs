//! Tags the tool writes beside an image, already taken by something else (issue 16, "Registries as
//! people use them"): a `sha256-<hex>.sig` or `.att` tag that names no cosign signature or attestation
//! image, and a `sha256-<hex>` referrers tag that names no index. Signing or attaching used to replace
//! it silently; now it is an error naming the tag and the digest it holds, and the tag is left as it
//! was. Against the in-process fake registry, which serves whatever a test put under a tag.

mod common;

use cargo_slim_image::blob::{media, Artifact, BlobStore, Descriptor};
use cargo_slim_image::digest::Digest;
use cargo_slim_image::registry::Clients;
use cargo_slim_image::sbom::referrer;
use cargo_slim_image::sign::{cosign, key};
use cargo_slim_image::sink::push::PushOptions;
use common::registry::fake::{self, FakeRegistry};
use p256::pkcs8::EncodePrivateKey as _;
use serde_json::json;

const REPO: &str = "slim/signed";

fn opts() -> PushOptions {
    common::registry::quick_push_options()
}

fn signer() -> key::KeySigner {
    let k = p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
    let pem = k.to_pkcs8_pem(p256::pkcs8::LineEnding::LF).unwrap();
    key::load(&pem, "the test key", None).unwrap()
}

/// JSON bytes with a manifest media type.
fn manifest_bytes(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

/// An image manifest whose one layer has media type `layer_type`.
fn image_with_layer(layer_type: &str) -> Vec<u8> {
    let d = Digest::of(b"layer").to_string();
    let c = Digest::of(b"{}").to_string();
    manifest_bytes(json!({"schemaVersion": 2, "mediaType": media::MANIFEST,
        "config": {"mediaType": media::CONFIG, "digest": c, "size": 2},
        "layers": [{"mediaType": layer_type, "digest": d, "size": 5}]}))
}

/// Sign `subject` in the fake, whose `.sig` tag already holds `(content type, bytes)`: the error,
/// after checking the tag still holds those bytes.
fn sign_over(content_type: &str, bytes: Vec<u8>) -> String {
    let reg = FakeRegistry::start(fake::Config::default());
    let subject = Digest::of(b"the image manifest");
    let tag = cosign::tag(&subject, "sig");
    reg.put_manifest(REPO, &tag, content_type, bytes.clone());
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let opts = opts();
    let mut clients = Clients::new(opts.client_options());
    let full = format!("{}/{REPO}", reg.host);
    let layer = cosign::signature_layer(&signer(), &full, &subject).unwrap();
    let err = cosign::attach(
        &mut clients,
        &store,
        (&reg.host, REPO),
        &subject,
        "sig",
        vec![layer],
        &opts,
    )
    .expect_err("signing over a tag that is not a signature image must fail");
    let err = format!("{err:#}");
    let at = format!("{full}:{tag}");
    assert!(
        err.contains(&at) && err.contains(&Digest::of(&bytes).to_string()),
        "{err}"
    );
    assert_eq!(
        reg.manifest(REPO, &tag),
        Some(bytes),
        "the tag was replaced"
    );
    let put = reg
        .seen()
        .into_iter()
        .any(|s| s.method == "PUT" && s.path.contains("/manifests/"));
    assert!(!put, "a manifest was pushed");
    err
}

#[test]
fn a_sig_tag_that_names_an_index_is_an_error_naming_tag_and_digest() {
    let index = manifest_bytes(json!({"schemaVersion": 2, "mediaType": media::INDEX,
        "manifests": []}));
    let err = sign_over(media::INDEX, index);
    assert!(
        err.contains("not an image manifest") && err.contains("delete it"),
        "{err}"
    );
}

#[test]
fn a_sig_tag_that_names_an_app_image_or_an_artifact_or_junk_is_an_error() {
    let err = sign_over(media::MANIFEST, image_with_layer(media::LAYER_GZIP));
    assert!(
        err.contains(media::LAYER_GZIP) && err.contains("not a cosign signature"),
        "{err}"
    );
    let mut artifact: serde_json::Value =
        serde_json::from_slice(&image_with_layer(cosign::SIMPLE_SIGNING)).unwrap();
    artifact["artifactType"] = json!("application/spdx+json");
    let err = sign_over(media::MANIFEST, manifest_bytes(artifact));
    assert!(err.contains("application/spdx+json"), "{err}");
    let err = sign_over(media::MANIFEST, b"{\"not\": \"a manifest\"}".to_vec());
    assert!(err.contains("does not parse"), "{err}");
}

#[test]
fn a_sig_tag_with_signature_layers_is_kept_and_added_to() {
    let reg = FakeRegistry::start(fake::Config::default());
    let subject = Digest::of(b"the image manifest");
    let tag = cosign::tag(&subject, "sig");
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    // Another signer's signature image, with its blobs in the registry.
    let theirs = store
        .put_bytes(cosign::SIMPLE_SIGNING, b"{\"their\":\"payload\"}")
        .unwrap();
    let config = store.put_bytes(media::CONFIG, b"{}").unwrap();
    for d in [&theirs, &config] {
        reg.put_blob_unchecked(&d.digest.to_string(), store.read(&d.digest).unwrap());
    }
    let old = manifest_bytes(json!({"schemaVersion": 2, "mediaType": media::MANIFEST,
        "config": config, "layers": [theirs]}));
    reg.put_manifest(REPO, &tag, media::MANIFEST, old);
    let opts = opts();
    let mut clients = Clients::new(opts.client_options());
    let full = format!("{}/{REPO}", reg.host);
    let layer = cosign::signature_layer(&signer(), &full, &subject).unwrap();
    cosign::attach(
        &mut clients,
        &store,
        (&reg.host, REPO),
        &subject,
        "sig",
        vec![layer],
        &opts,
    )
    .unwrap();
    let now: serde_json::Value =
        serde_json::from_slice(&reg.manifest(REPO, &tag).unwrap()).unwrap();
    let layers = now["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "{now}");
    assert_eq!(layers[0]["digest"], theirs.digest.to_string());
}

/// Push an SBOM referrer of a made-up subject to the fake, whose `sha256-<hex>` referrers tag already
/// holds `(content type, bytes)`: the error (with `expect`, why it must fail), after checking the
/// tag still holds those bytes; and `<host>/<repo>:<tag>`.
fn push_sbom_over(content_type: &str, theirs: Vec<u8>, expect: &str) -> (String, String) {
    let reg = FakeRegistry::start(fake::Config::default());
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let subject: Descriptor = store
        .put_bytes(media::MANIFEST, b"{\"schemaVersion\":2}")
        .unwrap();
    let (_, artifact): (Descriptor, Artifact) = referrer::write(
        &store,
        &subject,
        "application/spdx+json",
        "sbom.spdx.json",
        b"{}\n",
        "1970-01-01T00:00:00Z",
    )
    .unwrap();
    let tag = referrer::fallback_tag(&subject);
    reg.put_manifest(REPO, &tag, content_type, theirs.clone());
    let opts = opts();
    let mut clients = Clients::new(opts.client_options());
    let target = format!("{}/{REPO}:1", reg.host).parse().unwrap();
    let err = referrer::push(
        "SBOM",
        &mut clients,
        &artifact,
        &store,
        &subject,
        "application/spdx+json",
        &[target],
        &opts,
    )
    .expect_err(expect);
    assert_eq!(reg.manifest(REPO, &tag), Some(theirs));
    (format!("{err:#}"), format!("{}/{REPO}:{tag}", reg.host))
}

#[test]
fn a_referrers_tag_that_names_an_image_is_an_error_naming_tag_and_digest() {
    let theirs = image_with_layer(media::LAYER_GZIP);
    let (err, tag) = push_sbom_over(
        media::MANIFEST,
        theirs.clone(),
        "adding to a referrers tag that is not an index must fail",
    );
    assert!(
        err.contains(&tag)
            && err.contains(&Digest::of(&theirs).to_string())
            && err.contains("referrers"),
        "{err}"
    );
}

/// The signature image's layers under a tag whose bytes call themselves `media_type`.
fn signature_image_calling_itself(media_type: &str) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&image_with_layer(cosign::SIMPLE_SIGNING)).unwrap();
    v["mediaType"] = json!(media_type);
    v["manifests"] = json!([]);
    manifest_bytes(v)
}

/// A tag served as an image manifest whose bytes say they are an index (a media type lie, or a
/// registry that keeps the Content-Type it was pushed with): not taken for a signature image.
#[test]
fn a_sig_tag_whose_bytes_say_another_media_type_than_its_content_type_is_an_error() {
    let err = sign_over(
        media::MANIFEST,
        signature_image_calling_itself(media::INDEX),
    );
    assert!(
        err.contains(media::INDEX) && err.contains("not a cosign signature"),
        "{err}"
    );
}

/// A manifest over the registry client's bound behind the tag: refused without reading past it,
/// naming the tag, and the tag is left alone.
#[test]
fn a_huge_manifest_behind_a_sig_tag_is_refused_unread() {
    let mut v: serde_json::Value =
        serde_json::from_slice(&image_with_layer(cosign::SIMPLE_SIGNING)).unwrap();
    v["annotations"] = json!({"padding": "x".repeat(5 << 20)});
    let bytes = manifest_bytes(v);
    let reg = FakeRegistry::start(fake::Config::default());
    let subject = Digest::of(b"the image manifest");
    let tag = cosign::tag(&subject, "sig");
    reg.put_manifest(REPO, &tag, media::MANIFEST, bytes.clone());
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let opts = opts();
    let mut clients = Clients::new(opts.client_options());
    let full = format!("{}/{REPO}", reg.host);
    let layer = cosign::signature_layer(&signer(), &full, &subject).unwrap();
    let err = cosign::attach(
        &mut clients,
        &store,
        (&reg.host, REPO),
        &subject,
        "sig",
        vec![layer],
        &opts,
    )
    .expect_err("a 5 MiB manifest must be refused");
    let err = format!("{err:#}");
    assert!(
        err.contains(&format!("{full}:{tag}")) && err.contains("larger than"),
        "{err}"
    );
    assert_eq!(reg.manifest(REPO, &tag), Some(bytes));
}

/// A referrers tag served as an index whose bytes say they are an image manifest: not added to.
#[test]
fn a_referrers_tag_whose_bytes_say_another_media_type_is_an_error() {
    let theirs = signature_image_calling_itself(media::MANIFEST);
    let (err, tag) = push_sbom_over(
        media::INDEX,
        theirs.clone(),
        "a referrers tag that calls itself an image manifest must not be added to",
    );
    assert!(
        err.contains(&tag)
            && err.contains(&Digest::of(&theirs).to_string())
            && err.contains(media::MANIFEST),
        "{err}"
    );
}
