//! The images in a real Docker engine (Debian's dockerd 20.10 with containerd 1.6 and runc), next to
//! the podman tests: `--load` into docker, `docker load` of a docker-archive (gzip and zstd layers),
//! and `docker run` of the result, as the nonroot user and with the CA bundle found.
//! Each test uses image names of its own: in CI they share the run's daemon (scripts/test.sh).

mod common;

use common::docker::Docker;
use common::peers::require;
use common::slim::{self, assert_says_hello, ok};

/// `--load` with `SLIM_IMAGE_LOADER=docker` streams the image into the daemon `DOCKER_HOST` names;
/// it runs as uid 65532 with the config docker reads.
#[test]
fn load_into_docker_runs_as_nonroot() {
    require!("dockerd", "docker");
    let docker = Docker::new().unwrap();
    let name = "slim-test/docker-load:1";
    docker.remove(name);
    let work = tempfile::tempdir().unwrap();
    let mut c = slim::on_hello_http(&[
        "--output",
        work.path().join("l").to_str().unwrap(),
        "--load",
        "-t",
        name,
    ]);
    c.env("SLIM_IMAGE_LOADER", "docker")
        .env("DOCKER_HOST", docker.host());
    let out = ok(c);
    assert!(out.starts_with("slim-test/docker-load@sha256:"), "{out}");
    assert!(
        !out.contains("Loaded image"),
        "docker's own output must go to stderr: {out}"
    );
    let inspect = docker.inspect(name).unwrap();
    assert_eq!(inspect["Config"]["User"], "65532:65532", "{inspect}");
    assert_eq!(inspect["Architecture"], "amd64", "{inspect}");
    assert_eq!(inspect["Os"], "linux", "{inspect}");
    assert_says_hello(&docker.run(name, &["--once-stdout"]));
    docker.remove(name);
}

/// `--tarball-format docker` is what `docker load -i` reads (dockerd 20.10 cannot read an
/// oci-archive); the https client in it finds the image's CA bundle.
#[test]
fn docker_archive_loads_and_the_client_finds_the_bundle() {
    require!("dockerd", "docker");
    let docker = Docker::new().unwrap();
    let name = "slim-test/docker-archive:1";
    docker.remove(name);
    let work = tempfile::tempdir().unwrap();
    let tar = work.path().join("c.tar");
    let manifest = slim::repo().join("examples/https-client/Cargo.toml");
    let t = slim::shared_target();
    ok(slim::on(
        manifest.to_str().unwrap(),
        t.to_str().unwrap(),
        &[
            "--output",
            work.path().join("l").to_str().unwrap(),
            "--tarball",
            tar.to_str().unwrap(),
            "--tarball-format",
            "docker",
            "-t",
            name,
            "-q",
        ],
    ));
    let loaded = docker.load(&tar).unwrap();
    assert!(
        loaded.contains(&format!("Loaded image: {name}")),
        "{loaded}"
    );
    let out = docker.run(name, &["--check-bundle"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("from /etc/ssl/certs/ca-certificates.crt"),
        "{text}"
    );
    docker.remove(name);
}

/// zstd layers (`--compression zstd`): dockerd 20.10 (Debian 12's) refuses them on load
/// (`archive/tar: invalid tar header`), docker 23 and later read them. `--load` into such an engine
/// fails with a hint that says what to do; on a newer engine the image loads and runs. README's
/// table of what each engine takes is what this test sees.
#[test]
fn zstd_layers_in_docker_load_or_fail_with_a_hint() {
    require!("dockerd", "docker");
    let docker = Docker::new().unwrap();
    let version = docker.server_version().unwrap();
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("docker server version {version:?}"));
    let name = "slim-test/docker-zstd:1";
    docker.remove(name);
    let work = tempfile::tempdir().unwrap();
    let mut c = slim::on_hello_http(&[
        "--output",
        work.path().join("l").to_str().unwrap(),
        "--load",
        "--compression",
        "zstd",
        "-t",
        name,
        "-q",
    ]);
    c.env("SLIM_IMAGE_LOADER", "docker")
        .env("DOCKER_HOST", docker.host());
    if major >= 23 {
        ok(c);
        assert_says_hello(&docker.run(name, &["--once-stdout"]));
    } else {
        let err = slim::fails(c);
        assert!(
            err.contains("Docker engines before 23 cannot read zstd layers")
                && err.contains("--compression gzip"),
            "dockerd {version}: {err}"
        );
    }
    docker.remove(name);
}
