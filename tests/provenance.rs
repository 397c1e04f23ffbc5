//! Build provenance (issue 13): every image manifest gets an in-toto Statement v1 with a SLSA
//! provenance v1 predicate that validates against the schemas written from the published specs
//! (tests/fixtures/provenance-schemas), records the git commit (and a remote URL without its
//! credentials), Cargo.lock, rustc, the CI run and SOURCE_DATE_EPOCH and nothing else of the
//! environment, is the same bytes on every run, travels in the tarball, and is reachable from the
//! pushed image through the `sha256-<hex>` referrers tag of a real registry, while the image itself
//! is the same with `--provenance none` and `slsa`.

mod common;
#[path = "provenance/replaced.rs"]
mod replaced;

use common::checkout::{sha256, Checkout};
use common::peers;
use common::registry::{Mode, RealRegistry};
use common::slim::ok;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const SECRET_ENV: &str = "hunter2-process-env-value";
const SECRET_IMAGE_ENV: &str = "hunter2-image-env-value";
const SECRET_URL: &str = "ghp_s3cretInTheRemoteUrl";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The hello fixture in `dir` as a git repository with one commit and an origin whose URL carries
/// a token; returns the checkout and the commit.
fn repo_at(dir: &Path) -> (Checkout, String) {
    let c = Checkout::new(dir.to_path_buf());
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join(".gitignore"), "target/\n").unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "one"]);
    let url = format!("https://x-access-token:{SECRET_URL}@github.com/acme/hello.git");
    git(dir, &["remote", "add", "origin", &url]);
    let commit = git(dir, &["rev-parse", "HEAD"]);
    (c, commit)
}

/// Build `hello` of `c` into `out` with a CI environment, SOURCE_DATE_EPOCH and a secret in the
/// process and in the image's env; the JSON report.
fn build(c: &Checkout, out: &Path, extra: &[&str]) -> Value {
    let mut rest = vec![
        "--bin",
        "hello",
        "--output",
        out.to_str().unwrap(),
        "--message-format",
        "json",
        "--env",
        "TOKEN=hunter2-image-env-value",
    ];
    rest.extend_from_slice(extra);
    let mut cmd = c.cmd(&rest);
    cmd.env("SOURCE_DATE_EPOCH", "1700000000")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/hello")
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_RUN_ATTEMPT", "3")
        .env("GITHUB_TOKEN", SECRET_ENV)
        .env("SLIM_TEST_SECRET", SECRET_ENV)
        .env_remove("CI_JOB_URL");
    serde_json::from_str(&ok(cmd)).expect("JSON report")
}

/// Run validate.py on `path`: whether it passed, and its stderr.
fn validate(path: &Path) -> Option<(bool, String)> {
    if !peers::check_tools("provenance::validate", &["python3"]) {
        return None;
    }
    let script = common::slim::repo().join("tests/fixtures/provenance-schemas/validate.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(path)
        .output()
        .unwrap();
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn dependency<'a>(stmt: &'a Value, name: &str) -> &'a Value {
    stmt["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no resolved dependency {name} in {stmt}"))
}

#[test]
fn statement_validates_records_the_source_and_travels_in_the_tarball() {
    if !peers::check_tools(
        "provenance::statement_validates_records_the_source_and_travels_in_the_tarball",
        &["git", "tar"],
    ) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (c, commit) = repo_at(&work.path().join("src"));
    let layout = work.path().join("app");
    let tar = work.path().join("app.tar");
    let report = build(&c, &layout, &["--tarball", tar.to_str().unwrap()]);
    let img = &report["images"][0];
    let digest = img["digest"].as_str().unwrap();
    let file = work.path().join("app.provenance.json");
    assert_eq!(img["provenance"][0]["path"], file.to_str().unwrap());
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(img["provenance"][0]["digest"], sha256(&bytes));
    let text = String::from_utf8(bytes.clone()).unwrap();
    for secret in [SECRET_ENV, SECRET_IMAGE_ENV, SECRET_URL, "x-access-token"] {
        assert!(
            !text.contains(secret),
            "{secret} is in the statement: {text}"
        );
    }
    assert!(
        !text.contains(work.path().to_str().unwrap()),
        "an absolute path of the build machine is in the statement: {text}"
    );
    let stmt: Value = serde_json::from_str(&text).unwrap();

    // Against the schemas; and the validator does reject broken statements.
    if let Some((valid, why)) = validate(&file) {
        assert!(valid, "{} does not validate:\n{why}", file.display());
        for (ptr, broken) in [
            ("/_type", Value::from("https://in-toto.io/Statement/v0.1")),
            ("/subject/0/digest", serde_json::json!({"sha256": "ABC"})),
            ("/predicate/runDetails/builder", serde_json::json!({})),
            (
                "/predicate/runDetails/metadata/startedOn",
                Value::from("2023-11-14 22:13:20"),
            ),
        ] {
            let mut bad = stmt.clone();
            *bad.pointer_mut(ptr).unwrap() = broken;
            let p = work.path().join("broken.json");
            std::fs::write(&p, serde_json::to_vec(&bad).unwrap()).unwrap();
            let (valid, _) = validate(&p).unwrap();
            assert!(!valid, "the schemas accept a statement with {ptr} broken");
        }
    }

    assert_eq!(stmt["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(stmt["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(stmt["subject"][0]["name"], "hello");
    assert_eq!(
        format!(
            "sha256:{}",
            stmt["subject"][0]["digest"]["sha256"].as_str().unwrap()
        ),
        digest
    );
    let def = &stmt["predicate"]["buildDefinition"];
    assert_eq!(
        def["buildType"],
        "https://github.com/slim-image/cargo-slim-image/blob/main/README.md#build-type-v1"
    );
    let ext = &def["externalParameters"];
    assert_eq!(ext["package"], "hello");
    assert_eq!(ext["binaries"], serde_json::json!(["hello"]));
    assert_eq!(ext["profile"], "release");
    assert_eq!(ext["base"], "scratch");
    // Names only: a value given with --env may be a secret (it is in the image config anyway).
    assert!(
        ext["envNames"]
            .as_array()
            .unwrap()
            .contains(&Value::from("TOKEN")),
        "{ext}"
    );
    assert_eq!(ext["platform"], img["platforms"][0]);
    assert_eq!(ext["compression"], "gzip");
    assert_eq!(ext["sourceDateEpoch"], 1700000000);
    assert_eq!(
        def["internalParameters"]["cargo-slim-image"],
        env!("CARGO_PKG_VERSION")
    );
    let src = dependency(&stmt, "source");
    assert_eq!(src["digest"]["gitCommit"], commit.as_str());
    assert_eq!(
        src["uri"],
        "git+https://github.com/acme/hello.git@refs/heads/main"
    );
    let lock = std::fs::read(c.dir.join("Cargo.lock")).unwrap();
    assert_eq!(
        format!(
            "sha256:{}",
            dependency(&stmt, "Cargo.lock")["digest"]["sha256"]
                .as_str()
                .unwrap()
        ),
        sha256(&lock)
    );
    let rustc = dependency(&stmt, "rustc");
    assert!(
        rustc["uri"]
            .as_str()
            .unwrap()
            .starts_with("pkg:generic/rustc@1."),
        "{rustc}"
    );
    let run = &stmt["predicate"]["runDetails"];
    assert_eq!(
        run["builder"]["id"],
        format!(
            "https://github.com/slim-image/cargo-slim-image@v{}",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(
        run["metadata"]["invocationId"],
        "https://github.com/acme/hello/actions/runs/4242/attempts/3"
    );
    assert_eq!(run["metadata"]["startedOn"], "2023-11-14T22:13:20Z");
    assert_eq!(run["metadata"]["finishedOn"], "2023-11-14T22:13:20Z");

    // The tarball carries the statement and its referrer.
    let names = peers::stdout_of(Command::new("tar").arg("tf").arg(&tar)).unwrap();
    assert!(names.lines().any(|l| l == "app.provenance.json"), "{names}");
    let artifact = img["provenance"][0]["artifact_digest"].as_str().unwrap();
    let hex = artifact.trim_start_matches("sha256:");
    assert!(
        names.lines().any(|l| l == format!("blobs/sha256/{hex}")),
        "the referrer is not in the tarball:\n{names}"
    );

    // Same commit, same environment: the same bytes. --provenance none: the same image, no file.
    let again = work.path().join("again");
    build(&c, &again, &[]);
    assert_eq!(
        std::fs::read(work.path().join("again.provenance.json")).unwrap(),
        bytes
    );
    let none = work.path().join("none");
    let r = build(&c, &none, &["--provenance", "none"]);
    assert_eq!(r["images"][0]["digest"], digest);
    assert!(r["images"][0].get("provenance").is_none(), "{r}");
    assert!(!work.path().join("none.provenance.json").exists());
}

#[test]
fn provenance_is_reachable_in_a_real_registry_and_the_image_is_unchanged() {
    if !peers::check_tools(
        "provenance::provenance_is_reachable_in_a_real_registry_and_the_image_is_unchanged",
        &["git"],
    ) {
        return;
    }
    let Some(reg) = RealRegistry::start(Mode::Plain, "provenance_is_reachable_in_a_real_registry")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (c, _) = repo_at(&work.path().join("src"));
    let with = format!("{}/prov/with:1", reg.host);
    let without = format!("{}/prov/without:1", reg.host);
    let r1 = build(&c, &work.path().join("a"), &["--push", &with]);
    let r2 = build(
        &c,
        &work.path().join("b"),
        &["--push", &without, "--provenance", "none"],
    );
    let digest = r1["images"][0]["digest"].as_str().unwrap().to_string();
    assert_eq!(r2["images"][0]["digest"], digest.as_str());

    use cargo_slim_image::registry::{Client, ClientOptions};
    let client = Client::new(&reg.host, &ClientOptions::default()).unwrap();
    // A pull of the image by its tag: the same manifest bytes in both repositories.
    let a = client.get_manifest("prov/with", "1").unwrap();
    let b = client.get_manifest("prov/without", "1").unwrap();
    assert_eq!(sha256(&a.bytes), digest);
    assert_eq!(a.bytes, b.bytes);
    // And as skopeo (containers/image) pulls it.
    let test = "provenance_is_reachable_in_a_real_registry_and_the_image_is_unchanged";
    let tls = ["--tls-verify=false"];
    if let Some(d) = common::registry::skopeo_digest(test, &with, &tls) {
        assert_eq!(d.to_string(), digest);
        let other = common::registry::skopeo_digest(test, &without, &tls).unwrap();
        assert_eq!(other.to_string(), digest);
    }

    // distribution 2.8 has no referrers API: the fallback tag lists the statement.
    let tag = format!("sha256-{}", digest.trim_start_matches("sha256:"));
    let index: Value =
        serde_json::from_slice(&client.get_manifest("prov/with", &tag).unwrap().bytes).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["artifactType"] == "application/vnd.in-toto+json")
        .unwrap_or_else(|| panic!("no in-toto referrer in {index}"))
        .clone();
    let artifact = r1["images"][0]["provenance"][0]["artifact_digest"]
        .as_str()
        .unwrap();
    assert_eq!(entry["digest"], artifact);
    let m: Value =
        serde_json::from_slice(&client.get_manifest("prov/with", artifact).unwrap().bytes).unwrap();
    assert_eq!(m["subject"]["digest"], digest.as_str());
    assert_eq!(m["artifactType"], "application/vnd.in-toto+json");
    assert_eq!(m["layers"][0]["mediaType"], "application/vnd.in-toto+json");
    let store_dir = tempfile::tempdir().unwrap();
    let store = cargo_slim_image::blob::BlobStore::open(store_dir.path()).unwrap();
    let desc: cargo_slim_image::blob::Descriptor =
        serde_json::from_value(m["layers"][0].clone()).unwrap();
    client.fetch_blob("prov/with", &desc, &store).unwrap();
    assert!(
        store.read(&desc.digest).unwrap()
            == std::fs::read(work.path().join("a.provenance.json")).unwrap(),
        "the pushed statement is not the one beside the layout"
    );

    // Without provenance, no in-toto referrer.
    let none = match client.get_manifest("prov/without", &tag) {
        Ok(m) => serde_json::from_slice::<Value>(&m.bytes).unwrap(),
        Err(e) if e.status() == Some(404) => serde_json::json!({"manifests": []}),
        Err(e) => panic!("{e}"),
    };
    assert!(
        !none["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["artifactType"] == "application/vnd.in-toto+json"),
        "{none}"
    );
}

#[test]
fn a_bad_provenance_value_is_refused_naming_the_key() {
    let work = tempfile::tempdir().unwrap();
    let c = Checkout::new(work.path().join("src"));
    let toml = std::fs::read_to_string(c.dir.join("Cargo.toml")).unwrap();
    std::fs::write(
        c.dir.join("Cargo.toml"),
        format!("{toml}\n[package.metadata.slim-image]\nprovenance = \"in-toto\"\n"),
    )
    .unwrap();
    let err = common::slim::fails(c.cmd(&["--bin", "hello", "--dry-run"]));
    assert!(
        err.contains("provenance = `in-toto` is not one of: slsa (default), none"),
        "{err}"
    );
}

#[test]
fn a_prebuilt_binary_is_recorded_by_digest_without_a_workspace() {
    if !peers::check_tools(
        "provenance::a_prebuilt_binary_is_recorded_by_digest_without_a_workspace",
        &["busybox"],
    ) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let bin = common::blob_cache::app_binary(work.path());
    // Every mode takes the digest of the bytes the layer read (a prebuilt binary is read once):
    // the file's digest in `keep` and `drop` alike.
    for mode in ["keep", "drop"] {
        let out = work.path().join(format!("img-{mode}"));
        let mut c = common::blob_cache::build_with(
            &bin,
            &work.path().join("target"),
            &out,
            &["--debuginfo", mode],
        );
        c.current_dir(work.path());
        ok(c);
        let file = work.path().join(format!("img-{mode}.provenance.json"));
        let stmt: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let d = dependency(&stmt, "binary:app");
        assert_eq!(
            format!("sha256:{}", d["digest"]["sha256"].as_str().unwrap()),
            sha256(&std::fs::read(&bin).unwrap()),
            "{mode}"
        );
    }
    let out = work.path().join("img");
    let mut c = common::blob_cache::build_with(
        &bin,
        &work.path().join("target"),
        &out,
        &["--message-format", "json"],
    );
    c.current_dir(work.path());
    ok(c);
    let file = work.path().join("img.provenance.json");
    let stmt: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    if let Some((valid, why)) = validate(&file) {
        assert!(valid, "{why}");
    }
    let ext = &stmt["predicate"]["buildDefinition"]["externalParameters"];
    assert!(ext.get("package").is_none(), "{ext}");
    assert_eq!(ext["binaries"], serde_json::json!(["app"]));
    let d = dependency(&stmt, "binary:app");
    assert_eq!(
        format!("sha256:{}", d["digest"]["sha256"].as_str().unwrap()),
        sha256(&std::fs::read(&bin).unwrap())
    );
    let deps = stmt["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    assert!(
        !deps
            .iter()
            .any(|d| d["name"] == "source" || d["name"] == "Cargo.lock"),
        "no workspace, yet: {deps:?}"
    );
}

#[test]
fn a_tarball_where_the_provenance_goes_is_refused_before_building() {
    let work = tempfile::tempdir().unwrap();
    let c = Checkout::new(work.path().join("src"));
    let layout = work.path().join("app");
    let tar = work.path().join("app.provenance.json");
    let err = common::slim::fails(c.cmd(&[
        "--bin",
        "hello",
        "--output",
        layout.to_str().unwrap(),
        "--sbom",
        "none",
        "--tarball",
        tar.to_str().unwrap(),
    ]));
    assert!(
        err.contains("is where the provenance goes") && err.contains("--provenance none"),
        "{err}"
    );
    assert!(!tar.exists() && !layout.exists());
    // The plan says it.
    let plan = ok(c.cmd(&["--bin", "hello", "--dry-run"]));
    assert!(plan.contains("provenance: slsa"), "{plan}");
}
