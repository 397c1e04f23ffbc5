//! Signatures (issue 13): with a key, every pushed manifest is signed in cosign's format and its
//! provenance and SBOM are attested as DSSE envelopes; checked by an independent implementation
//! (tests/fixtures/cosign/cosign_check.py: Python `cryptography` over the payload bytes with the
//! public key) against a real registry. A tampered payload, a wrong key and a manifest re-pushed
//! under the same tag fail that check. Keys come from --sign-key (PKCS#8 PEM or cosign's encrypted
//! cosign.key with COSIGN_PASSWORD), SLIM_IMAGE_SIGNING_KEY_FILE or SLIM_IMAGE_SIGNING_KEY, and no
//! part of a key or its password reaches any output.

mod common;

use common::checkout::Checkout;
use common::peers;
use common::registry::{Mode, RealRegistry};
use common::slim::{fails, ok};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn script() -> std::path::PathBuf {
    common::slim::repo().join("tests/fixtures/cosign/cosign_check.py")
}

fn check(args: &[&str]) -> Output {
    Command::new("python3")
        .arg(script())
        .args(args)
        .output()
        .expect("python3 runs")
}

fn passes(args: &[&str]) -> String {
    let out = check(args);
    assert!(
        out.status.success(),
        "cosign_check {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn rejects(args: &[&str]) -> String {
    let out = check(args);
    assert!(
        !out.status.success(),
        "cosign_check {args:?} accepted what it must not"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn python_has(module: &str, test: &str) -> bool {
    if !peers::check_tools(test, &["python3"]) {
        return false;
    }
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0") {
            panic!("{test}: python3 {module} is not installed (scripts/setup.sh installs it)");
        }
        eprintln!("SKIP: {test}: python3 {module} is not installed (scripts/setup.sh installs it)");
    }
    ok
}

fn report(out: &str) -> Value {
    serde_json::from_str(out).expect("JSON report")
}

/// No line of the key file (nor `extra`) in any output of `out`.
fn assert_no_key(out: &Output, key: &Path, extra: &[&str]) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let key = std::fs::read_to_string(key).unwrap();
    for line in key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 8)
    {
        assert!(!text.contains(line), "key material in the output:\n{text}");
    }
    for e in extra {
        assert!(!text.contains(e), "{e} in the output:\n{text}");
    }
}

#[test]
fn pushed_images_are_signed_and_attested_as_cosign_does() {
    let test = "signing::pushed_images_are_signed_and_attested_as_cosign_does";
    if !python_has("cryptography", test) {
        return;
    }
    let Some(reg) = RealRegistry::start(Mode::Plain, "pushed_images_are_signed_and_attested")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    passes(&["keygen", w.to_str().unwrap()]);
    let other = w.join("other");
    std::fs::create_dir(&other).unwrap();
    passes(&["keygen", other.to_str().unwrap()]);
    let key = w.join("key.pem");
    let public = w.join("pub.pem");
    let (pubk, wrong) = (
        public.to_str().unwrap(),
        other.join("pub.pem").to_str().unwrap().to_string(),
    );
    let c = Checkout::new(w.join("src"));
    let target = format!("{}/sig/hello:1", reg.host);
    let mut cmd = c.cmd(&[
        "--bin",
        "hello",
        "--output",
        w.join("app").to_str().unwrap(),
        "--push",
        &target,
        "--sign-key",
        key.to_str().unwrap(),
        "--message-format",
        "json",
        "-vv",
    ]);
    let out = peers::run_cmd(&mut cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_key(&out, &key, &[]);
    let r = report(&String::from_utf8_lossy(&out.stdout));
    let digest = r["images"][0]["digest"].as_str().unwrap().to_string();
    let host = reg.host.as_str();
    // The report lists the signature and attestation images, each with its digest.
    let hex = digest.trim_start_matches("sha256:");
    let listed: Vec<&str> = r["images"][0]["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed[0].starts_with(&format!("{host}/sig/hello:sha256-{hex}.sig@sha256:")));
    assert!(listed[1].starts_with(&format!("{host}/sig/hello:sha256-{hex}.att@sha256:")));

    // The signature verifies, independently, with the public key; and names this image.
    let payload: Value =
        serde_json::from_str(&passes(&["sig", host, "sig/hello", "1", pubk])).unwrap();
    assert_eq!(
        payload["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    assert_eq!(
        payload["critical"]["identity"]["docker-reference"],
        format!("{host}/sig/hello")
    );
    // The attestations: the provenance statement beside the layout, and the SBOM.
    let prov = passes(&[
        "att",
        host,
        "sig/hello",
        "1",
        pubk,
        "https://slsa.dev/provenance/v1",
    ]);
    assert_eq!(
        prov.as_bytes(),
        std::fs::read(w.join("app.provenance.json"))
            .unwrap()
            .as_slice()
    );
    let sbom: Value = serde_json::from_str(&passes(&[
        "att",
        host,
        "sig/hello",
        "1",
        pubk,
        "https://spdx.dev/Document",
    ]))
    .unwrap();
    let beside: Value =
        serde_json::from_slice(&std::fs::read(w.join("app.spdx.json")).unwrap()).unwrap();
    assert_eq!(sbom["predicate"], beside);

    // A wrong key fails.
    let why = rejects(&["sig", host, "sig/hello", "1", &wrong]);
    assert!(why.contains("does not verify"), "{why}");
    rejects(&[
        "att",
        host,
        "sig/hello",
        "1",
        &wrong,
        "https://slsa.dev/provenance/v1",
    ]);

    // Signing again adds nothing (deterministic signatures): the .sig image is the same.
    use cargo_slim_image::registry::{Client, ClientOptions};
    let client = Client::new(host, &ClientOptions::default()).unwrap();
    let sig_tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    let before = client.get_manifest("sig/hello", &sig_tag).unwrap().bytes;
    assert_eq!(
        listed[0].rsplit_once('@').unwrap().1,
        common::checkout::sha256(&before)
    );
    ok(c.cmd(&[
        "--bin",
        "hello",
        "--output",
        w.join("app").to_str().unwrap(),
        "--push",
        &target,
        "--sign-key",
        key.to_str().unwrap(),
    ]));
    assert_eq!(
        client.get_manifest("sig/hello", &sig_tag).unwrap().bytes,
        before
    );

    // The index subcommand signs the index it pushes.
    let idx = format!("{host}/sig/hello:multi");
    let out = ok(common::slim::cmd(&[
        "index",
        "--push",
        &idx,
        &target,
        "--sign-key",
        key.to_str().unwrap(),
    ]));
    let index_digest = out.trim().rsplit_once('@').unwrap().1.to_string();
    let p: Value =
        serde_json::from_str(&passes(&["sig", host, "sig/hello", "multi", pubk])).unwrap();
    assert_eq!(
        p["critical"]["image"]["docker-manifest-digest"],
        index_digest.as_str()
    );

    // A tampered payload (signature kept) fails.
    passes(&["tamper", host, "sig/hello", "1"]);
    let why = rejects(&["sig", host, "sig/hello", "1", pubk]);
    assert!(why.contains("does not verify"), "{why}");

    // Another image pushed under the same tag: its digest has no signature, and the old
    // signature image copied to its .sig tag does not sign it.
    ok(c.cmd(&[
        "--bin",
        "hello",
        "--output",
        w.join("app2").to_str().unwrap(),
        "--env",
        "CHANGED=1",
        "--push",
        &target,
    ]));
    let why = rejects(&["sig", host, "sig/hello", "1", pubk]);
    assert!(why.contains("no sig image"), "{why}");
    passes(&["copysig", host, "sig/hello", "multi", "1"]);
    let why = rejects(&["sig", host, "sig/hello", "1", pubk]);
    assert!(why.contains("not sha256:"), "{why}");
}

#[test]
fn cosign_key_from_the_environment_and_key_errors_name_the_file_not_the_key() {
    let test = "signing::cosign_key_from_the_environment_and_key_errors_name_the_file_not_the_key";
    if !python_has("cryptography", test) || !python_has("nacl.secret", test) {
        return;
    }
    let Some(reg) = RealRegistry::start(Mode::Plain, "cosign_key_from_the_environment") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let password = "correct horse battery staple 42";
    passes(&["cosignkey", w.to_str().unwrap(), password]);
    let key = w.join("cosign.key");
    let c = Checkout::new(w.join("src"));
    let target = format!("{}/env/hello:1", reg.host);
    let layout = w.join("app");
    let layout = layout.to_str().unwrap();
    let base = |extra: &[&str]| {
        let mut rest = vec![
            "--bin",
            "hello",
            "--output",
            layout,
            "--push",
            target.as_str(),
        ];
        rest.extend_from_slice(extra);
        let mut cmd = c.cmd(&rest);
        cmd.env_remove("SLIM_IMAGE_SIGNING_KEY")
            .env_remove("SLIM_IMAGE_SIGNING_KEY_FILE")
            .env_remove("COSIGN_PASSWORD");
        cmd
    };

    // cosign.key through SLIM_IMAGE_SIGNING_KEY_FILE, opened with COSIGN_PASSWORD.
    let mut cmd = base(&["-vv"]);
    cmd.env("SLIM_IMAGE_SIGNING_KEY_FILE", &key)
        .env("COSIGN_PASSWORD", password);
    let out = peers::run_cmd(&mut cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_key(&out, &key, &[password]);
    passes(&[
        "sig",
        &reg.host,
        "env/hello",
        "1",
        w.join("cosign.pub").to_str().unwrap(),
    ]);

    // A wrong password: refused before building, naming the file, not the password.
    let mut cmd = base(&[]);
    cmd.env("SLIM_IMAGE_SIGNING_KEY_FILE", &key)
        .env("COSIGN_PASSWORD", "not it at all");
    let err = fails(cmd);
    assert!(
        err.contains(key.to_str().unwrap()) && err.contains("COSIGN_PASSWORD"),
        "{err}"
    );
    assert!(
        !err.contains("not it at all") && !err.contains("Compiling"),
        "{err}"
    );
    // No password at all.
    let mut cmd = base(&["--sign-key", key.to_str().unwrap()]);
    let err = fails({
        cmd.env_remove("COSIGN_PASSWORD");
        cmd
    });
    assert!(err.contains("set COSIGN_PASSWORD"), "{err}");

    // The PEM itself in SLIM_IMAGE_SIGNING_KEY.
    passes(&["keygen", w.to_str().unwrap()]);
    let pem = std::fs::read_to_string(w.join("key.pem")).unwrap();
    let mut cmd = base(&[]);
    cmd.env("SLIM_IMAGE_SIGNING_KEY", &pem);
    let out = peers::run_cmd(&mut cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_key(&out, &w.join("key.pem"), &[]);
    passes(&[
        "sig",
        &reg.host,
        "env/hello",
        "1",
        w.join("pub.pem").to_str().unwrap(),
    ]);

    // A damaged key in the variable: the error names the variable, quotes none of the key.
    let damaged = pem.replacen("MIG", "MIH", 1);
    std::fs::write(w.join("damaged.pem"), &damaged).unwrap();
    let mut cmd = base(&[]);
    cmd.env("SLIM_IMAGE_SIGNING_KEY", &damaged);
    let out = peers::run_cmd(&mut cmd);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the signing key in SLIM_IMAGE_SIGNING_KEY"),
        "{err}"
    );
    assert_no_key(&out, &w.join("damaged.pem"), &[]);

    // --sign-key with nothing pushed is an error, before building.
    let err = fails(c.cmd(&["--bin", "hello", "--sign-key", key.to_str().unwrap()]));
    assert!(err.contains("add --push"), "{err}");
}

#[test]
fn cargo_build_scripts_never_see_the_signing_key_or_its_password() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let pkg = w.join("pkg");
    let manifest = common::slim::package_with_meta(&pkg, "");
    // A dependency's build script runs with cargo's environment and can print (or send) it.
    std::fs::write(
        pkg.join("build.rs"),
        "fn main() {\n    for v in [\"SLIM_IMAGE_SIGNING_KEY\", \"SLIM_IMAGE_SIGNING_KEY_FILE\", \
         \"COSIGN_PASSWORD\"] {\n        println!(\"cargo:warning={v}: {:?}\", std::env::var(v));\n    }\n}\n",
    )
    .unwrap();
    let (t, o) = (w.join("target"), w.join("out"));
    let mut c = common::slim::on(
        &manifest,
        t.to_str().unwrap(),
        &["--output", o.to_str().unwrap()],
    );
    c.env(
        "SLIM_IMAGE_SIGNING_KEY",
        "-----BEGIN PRIVATE KEY-----\nSecretKeyLine7f3a\n",
    )
    .env("SLIM_IMAGE_SIGNING_KEY_FILE", w.join("cosign.key"))
    .env("COSIGN_PASSWORD", "Cosign-Pw-91d2");
    let out = common::slim::run(&mut c);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for v in [
        "SLIM_IMAGE_SIGNING_KEY",
        "SLIM_IMAGE_SIGNING_KEY_FILE",
        "COSIGN_PASSWORD",
    ] {
        assert!(
            stderr.contains(&format!("{v}: Err(NotPresent)")),
            "the build script did not run, or saw {v}: {stderr}"
        );
    }
    assert!(
        !stderr.contains("SecretKeyLine7f3a") && !stderr.contains("Cosign-Pw-91d2"),
        "{stderr}"
    );
}

#[test]
fn an_index_and_each_of_its_platforms_are_signed_and_each_platform_attested() {
    let test = "signing::an_index_and_each_of_its_platforms_are_signed_and_each_platform_attested";
    if !python_has("cryptography", test) {
        return;
    }
    let Some(reg) = RealRegistry::start(Mode::Plain, "an_index_and_each_of_its_platforms") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    passes(&["keygen", w.to_str().unwrap()]);
    let (key, public) = (w.join("key.pem"), w.join("pub.pem"));
    let pubk = public.to_str().unwrap();
    let layout = w.join("multi");
    let target = format!("{}/sig/multi:1", reg.host);
    let r = report(&ok(common::slim::on_hello_http(&[
        "--platform",
        "linux/amd64,linux/arm64",
        "--output",
        layout.to_str().unwrap(),
        "--push",
        &target,
        "--sign-key",
        key.to_str().unwrap(),
        "--message-format",
        "json",
    ])));
    let img = &r["images"][0];
    let host = reg.host.as_str();
    let p: Value = serde_json::from_str(&passes(&["sig", host, "sig/multi", "1", pubk])).unwrap();
    assert_eq!(
        p["critical"]["image"]["docker-manifest-digest"],
        img["digest"]
    );
    let manifests = img["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2);
    for m in manifests {
        let d = m["digest"].as_str().unwrap();
        let platform = m["platform"].as_str().unwrap();
        passes(&["sig", host, "sig/multi", d, pubk]);
        let st: Value = serde_json::from_str(&passes(&[
            "att",
            host,
            "sig/multi",
            d,
            pubk,
            "https://slsa.dev/provenance/v1",
        ]))
        .unwrap();
        assert_eq!(
            st["predicate"]["buildDefinition"]["externalParameters"]["platform"],
            platform
        );
        // The same statement is beside the layout, per platform.
        let file = w.join(format!(
            "multi.{}.provenance.json",
            platform.replace('/', "-")
        ));
        let beside: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(beside, st, "{}", file.display());
        passes(&[
            "att",
            host,
            "sig/multi",
            d,
            pubk,
            "https://spdx.dev/Document",
        ]);
    }
}

#[test]
fn a_signature_tag_with_too_many_layers_is_refused_naming_it() {
    let test = "signing::a_signature_tag_with_too_many_layers_is_refused_naming_it";
    if !python_has("cryptography", test) {
        return;
    }
    let Some(reg) = RealRegistry::start(Mode::Plain, "a_signature_tag_with_too_many_layers") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    passes(&["keygen", w.to_str().unwrap()]);
    let c = Checkout::new(w.join("src"));
    let layout = w.join("app");
    // The digest the push will have: the same build, written locally first.
    let r = report(&ok(c.cmd(&[
        "--bin",
        "hello",
        "--output",
        layout.to_str().unwrap(),
        "--message-format",
        "json",
    ])));
    let digest = r["images"][0]["digest"].as_str().unwrap();
    passes(&["flood", &reg.host, "flood/hello", digest, "300"]);
    let err = fails(c.cmd(&[
        "--bin",
        "hello",
        "--output",
        layout.to_str().unwrap(),
        "--push",
        &format!("{}/flood/hello:1", reg.host),
        "--sign-key",
        w.join("key.pem").to_str().unwrap(),
    ]));
    let tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    assert!(
        err.contains(&tag) && err.contains("300 layers") && err.contains("cosign clean"),
        "{err}"
    );
}
