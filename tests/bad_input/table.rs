//! The rows of `bad_input_table`: each a metadata table or a command line that must fail with an
//! error naming what is wrong.

use super::*;

/// One row: what to run and what the error must name.
pub(super) struct Case {
    pub name: &'static str,
    /// `Some(meta)`: run on a throwaway package with this metadata table (`--manifest-path` is added).
    pub meta: Option<&'static str>,
    pub args: Vec<String>,
    /// Words the error message must contain (`{manifest}` stands for the package's Cargo.toml).
    pub expect: Vec<String>,
}

fn case(name: &'static str, meta: &'static str, expect: &[&str]) -> Case {
    Case {
        name,
        meta: Some(meta),
        args: vec![],
        expect: expect.iter().map(|s| s.to_string()).collect(),
    }
}

fn flags(name: &'static str, args: &[&str], expect: &[&str]) -> Case {
    Case {
        name,
        meta: None,
        args: args.iter().map(|s| s.to_string()).collect(),
        expect: expect.iter().map(|s| s.to_string()).collect(),
    }
}

/// A `&'static str` made at run time (for rows whose metadata is built with `format!`).
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Paths and values the rows name (made by `bad_input_table` in its temp dir).
pub(super) struct Places {
    /// A file of the user's ("keep me").
    pub occ: String,
    /// An empty directory of the user's.
    pub a_dir: String,
    /// A path below the file `occ`.
    pub below_file: String,
    /// A push target that pins a digest.
    pub digest_ref: String,
    /// A k8s YAML file with a bad slim-image:// reference.
    pub yaml: String,
}

/// A row run on a throwaway package with an empty metadata table.
fn on_package(name: &'static str, args: &[&str], expect: &[&str]) -> Case {
    Case {
        meta: Some(""),
        ..flags(name, args, expect)
    }
}

/// Every row.
pub(super) fn cases(p: &Places) -> Vec<Case> {
    let mut all = Vec::new();
    all.extend(basics(p));
    all.extend(dests_and_users());
    all.extend(signals_env_push(p));
    all.extend(dests_and_nuls(p));
    all
}

/// Unknown keys, wrong types and bad values in the metadata table; conflicting flags, bad binaries,
/// and outputs that are a file of the user's or below one.
fn basics(p: &Places) -> Vec<Case> {
    vec![
        case("unknown key", "nmae = \"x\"", &["nmae", "{manifest}"]),
        case(
            "tags of the wrong type",
            "tags = \"latest\"",
            &["tags", "{manifest}"],
        ),
        case(
            "embed-dependencies that is not a boolean",
            "embed-dependencies = \"no\"",
            &["embed-dependencies", "a boolean", "{manifest}"],
        ),
        case("malformed port", "ports = [\"http\"]", &["http"]),
        case("port zero", "ports = [0]", &["0"]),
        case("malformed user", "user = \"not a user!\"", &["not a user!"]),
        case(
            "relative workdir",
            "workdir = \"app\"",
            &["app", "absolute"],
        ),
        case(
            "file mode that is not octal",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc/x\", mode = \"999\" }]",
            &["999"],
        ),
        case(
            "file that does not exist",
            "files = [{ src = \"nope.txt\", dest = \"/etc/x\" }]",
            &["nope.txt"],
        ),
        case(
            "unknown CA source",
            "ca-certificates = \"bogus\"",
            &["bogus"],
        ),
        case("empty tag list", "tags = []", &["tags"]),
        case(
            "upper-case image name in metadata",
            "name = \"MyApp\"",
            &["MyApp"],
        ),
        flags(
            "upper-case image name in --tag",
            &["--binary", BUSYBOX, "--tag", "Hello/App:1"],
            &["Hello/App"],
        ),
        flags(
            "conflicting flags: --binary with -p",
            &["--binary", BUSYBOX, "-p", "hello"],
            &["--binary", "-p"],
        ),
        flags(
            "conflicting flags: two image names",
            &["--binary", BUSYBOX, "--tag", "a:1", "--tag", "b:1"],
            &["a", "b"],
        ),
        flags(
            "conflicting flags: a push target pinning a digest",
            &["--binary", BUSYBOX, "--push", &p.digest_ref],
            &["digest"],
        ),
        flags(
            "a gzip level out of range",
            &["--binary", BUSYBOX, "--compression-level", "13"],
            &["--compression-level 13", "gzip", "1-12"],
        ),
        flags(
            "a binary that does not exist",
            &["--binary", "/no/such/binary"],
            &["/no/such/binary"],
        ),
        flags(
            "a dynamic binary",
            &["--binary", "/bin/ls"],
            &["/bin/ls", "dynamically linked"],
        ),
        flags(
            "an output directory that is a file",
            &["--binary", BUSYBOX, "--output", &p.occ],
            &[&p.occ],
        ),
        flags(
            "a tarball path that is a directory",
            &["--binary", BUSYBOX, "--tarball", &p.a_dir],
            &[&p.a_dir],
        ),
        flags(
            "a tarball path below a file",
            &["--binary", BUSYBOX, "--tarball", &p.below_file],
            &[&p.below_file],
        ),
        // Issue 11, input checks: `files[].dest`.
    ]
}

/// `files[].dest` paths over the image's own files and directories or spelt wrong, and `user`
/// values that are no account the engines take.
fn dests_and_users() -> Vec<Case> {
    vec![
        case(
            "a file over the /etc directory",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc\" }]",
            &["files[0].dest", "`/etc`", "directory of the image", "{manifest}"],
        ),
        case(
            "a file over the /tmp directory",
            "files = [{ src = \"Cargo.toml\", dest = \"/tmp\" }]",
            &["files[0].dest", "`/tmp`", "{manifest}"],
        ),
        case(
            "a file over /etc/ssl",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc/ssl\" }]",
            &["files[0].dest", "`/etc/ssl`", "{manifest}"],
        ),
        case(
            "a file over /usr/local/bin",
            "files = [{ src = \"Cargo.toml\", dest = \"/usr/local/bin\" }]",
            &["files[0].dest", "`/usr/local/bin`", "{manifest}"],
        ),
        case(
            "a file over /home/nonroot",
            "files = [{ src = \"Cargo.toml\", dest = \"/home/nonroot\" }]",
            &["files[0].dest", "`/home/nonroot`", "{manifest}"],
        ),
        case(
            "a file at the root",
            "files = [{ src = \"Cargo.toml\", dest = \"/\" }]",
            &["files[0].dest", "root directory", "{manifest}"],
        ),
        case(
            "a NUL in dest",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc/a\\u0000b\" }]",
            &["files[0].dest", "`/etc/a\\0b`", "control character", "{manifest}"],
        ),
        case(
            "a newline in dest",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc/x\\n\" }]",
            &["files[0].dest", "`/etc/x\\n`", "{manifest}"],
        ),
        case(
            "a dest with a `.` component",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc/./x\" }]",
            &["files[0].dest", "`/etc/./x`", "write /etc/x", "{manifest}"],
        ),
        case(
            "a dest with a trailing slash",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc/x/\" }]",
            &["files[0].dest", "`/etc/x/`", "write /etc/x", "{manifest}"],
        ),
        case(
            "a dest with an empty component",
            "files = [{ src = \"Cargo.toml\", dest = \"//etc/x\" }]",
            &["files[0].dest", "`//etc/x`", "{manifest}"],
        ),
        case(
            "a dest with `..`",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc/../x\" }]",
            &["files[0].dest", "`/etc/../x`", "{manifest}"],
        ),
        case(
            "a relative dest",
            "files = [{ src = \"Cargo.toml\", dest = \"etc/x\" }]",
            &["files[0].dest", "`etc/x`", "absolute", "{manifest}"],
        ),
        case(
            "a file over /etc/passwd",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc/passwd\" }]",
            &["files[0].dest", "`/etc/passwd`", "{manifest}"],
        ),
        case(
            "a file over the CA bundle",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc/ssl/certs/ca-certificates.crt\" }]",
            &["files[0].dest", "extra-ca-certificates", "{manifest}"],
        ),
        case(
            "a file over the binary",
            "files = [{ src = \"Cargo.toml\", dest = \"/usr/local/bin/bad\" }]",
            &["files[0].dest", "`/usr/local/bin/bad`", "binary", "{manifest}"],
        ),
        case(
            "a file below /proc",
            "files = [{ src = \"Cargo.toml\", dest = \"/proc/x\" }]",
            &["files[0].dest", "`/proc/x`", "{manifest}"],
        ),
        case(
            "two files with one dest",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc/x\" }, { src = \"src/main.rs\", dest = \"/etc/x\" }]",
            &["files[1].dest", "files[0].dest", "`/etc/x`", "{manifest}"],
        ),
        case(
            "a file below another file",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc/x\" }, { src = \"src/main.rs\", dest = \"/etc/x/y\" }]",
            &["files[1].dest", "`/etc/x/y`", "`/etc/x`", "{manifest}"],
        ),
        // `user` and --user.
        case("a negative uid", "user = \"-1\"", &["`user`", "`-1`", "{manifest}"]),
        case(
            "a uid past the engines' range",
            "user = \"4294967295\"",
            &["`user`", "4294967295", "2147483647", "{manifest}"],
        ),
        case(
            "a user name",
            "user = \"nonroot\"",
            &["`user`", "use 65532 (nonroot)", "runAsNonRoot", "{manifest}"],
        ),
        case(
            "a group name",
            "user = \"0:root\"",
            &["`user`", "use 0 (root)", "{manifest}"],
        ),
        case("an empty gid", "user = \"1000:\"", &["`user`", "{manifest}"]),
        flags(
            "--user past 32 bits",
            &["--binary", BUSYBOX, "--user", "4294967296"],
            &["--user", "4294967296"],
        ),
        flags(
            "--user by name",
            &["--binary", BUSYBOX, "--user", "nobody"],
            &["--user", "use 65534 (nobody)"],
        ),
        // `stop-signal`.
    ]
}

/// Stop signals, empty or bad env/label/annotation names, and push targets (of a build, `resolve`,
/// `index`) without a registry.
fn signals_env_push(p: &Places) -> Vec<Case> {
    vec![
        case(
            "an unknown stop signal",
            "stop-signal = \"SIGFOO\"",
            &["stop-signal", "SIGFOO", "{manifest}"],
        ),
        case(
            "stop signal zero",
            "stop-signal = \"0\"",
            &["stop-signal", "1 to 64", "{manifest}"],
        ),
        case(
            "a stop signal past 64",
            "stop-signal = \"65\"",
            &["stop-signal", "65", "{manifest}"],
        ),
        // Keys of `env`, `labels`, `annotations`, and their flags.
        case(
            "an env name with `=`",
            "env = { \"A=B\" = \"1\" }",
            &["`env`", "`A=B`", "{manifest}"],
        ),
        case(
            "an empty env name",
            "env = { \"\" = \"1\" }",
            &["`env`", "empty", "{manifest}"],
        ),
        case(
            "an empty label key",
            "labels = { \"\" = \"1\" }",
            &["`labels`", "empty", "{manifest}"],
        ),
        case(
            "an empty annotation key",
            "annotations = { \"\" = \"1\" }",
            &["`annotations`", "empty", "{manifest}"],
        ),
        flags(
            "an empty --env name",
            &["--binary", BUSYBOX, "--env", "=1"],
            &["--env", "`=1`"],
        ),
        flags(
            "a control character in an --env name",
            &["--binary", BUSYBOX, "--env", "A\u{1}B=1"],
            &["--env", "`A\\u{1}B=1`"],
        ),
        flags(
            "an empty --label key",
            &["--binary", BUSYBOX, "--label", "=1"],
            &["--label"],
        ),
        flags(
            "a blank --annotation key",
            &["--binary", BUSYBOX, "--annotation", " =1"],
            &["--annotation", "empty"],
        ),
        // Push targets name their registry.
        flags(
            "--push REF without a registry",
            &["--binary", BUSYBOX, "--push", "app:1"],
            &[
                "--push app:1",
                "no registry",
                "docker.io/library/app",
                "localhost:5000/app",
            ],
        ),
        flags(
            "--push OWNER/NAME without a registry",
            &["--binary", BUSYBOX, "--push", "acme/app"],
            &["--push acme/app", "no registry", "docker.io/acme/app"],
        ),
        flags(
            "a bare --push on a name without a registry",
            &["--binary", BUSYBOX, "--tag", "acme/app:1", "--push"],
            &["--push", "acme/app", "no registry"],
        ),
        on_package(
            "resolve --repo without a registry",
            &["resolve", "--repo", "acme", "-f", &p.yaml],
            &["--repo acme", "no registry", "docker.io/acme/bad"],
        ),
        on_package(
            "resolve to an image name without a registry",
            &["resolve", "-f", &p.yaml],
            &["slim-image://bad", "`bad`", "no registry"],
        ),
        flags(
            "index --push without a registry",
            &["index", "--push", "app:1", "127.0.0.1:9/x:1"],
            &["index --push app:1", "no registry"],
        ),
        // Found by the adversarial review of the input checks: each row was accepted before (and
        // made an image that does not unpack or start, or printed a hint that cannot help).
    ]
}

/// More `files[].dest` (runtime mounts, lengths, invisible characters), NULs in
/// env/entrypoint/cmd/workdir, and bad `resolve --repo` values.
fn dests_and_nuls(p: &Places) -> Vec<Case> {
    vec![
        case(
            "a dest below /etc/hosts",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc/hosts/x\" }]",
            &["files[0].dest", "`/etc/hosts/x`", "not a directory", "{manifest}"],
        ),
        case(
            "a dest below /etc/resolv.conf",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc/resolv.conf/x\" }]",
            &["files[0].dest", "`/etc/resolv.conf/x`", "{manifest}"],
        ),
        case(
            "a dest in the service account mount",
            "files = [{ src = \"Cargo.toml\", dest = \"/var/run/secrets/kubernetes.io/serviceaccount/token\" }]",
            &["files[0].dest", "mounts over", "{manifest}"],
        ),
        case(
            "a dest component past 255 bytes",
            leak(format!(
                "files = [{{ src = \"Cargo.toml\", dest = \"/etc/{}\" }}]",
                "a".repeat(256)
            )),
            &["files[0].dest", "256 bytes", "255", "{manifest}"],
        ),
        case(
            "a dest past 3840 bytes",
            leak(format!(
                "files = [{{ src = \"Cargo.toml\", dest = \"/etc{}\" }}]",
                format!("/{}", "a".repeat(200)).repeat(20)
            )),
            &["files[0].dest", "4024 bytes", "3840", "{manifest}"],
        ),
        case(
            "a zero-width space in dest",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc/passwd\\u200b\" }]",
            &["files[0].dest", "U+200B", "{manifest}"],
        ),
        case(
            "a bidi override in dest",
            "files = [{ src = \"Cargo.toml\", dest = \"/etc/app/\\u202etxt.exe\" }]",
            &["files[0].dest", "U+202E", "{manifest}"],
        ),
        case(
            "a trailing slash on a directory of the image",
            "files = [{ src = \"Cargo.toml\", dest = \"/tmp/\" }]",
            &["files[0].dest", "`/tmp/`", "written as /tmp it is a directory of the image", "{manifest}"],
        ),
        case(
            "a NUL in an env value",
            "env = { A = \"1\\u0000x\" }",
            &["`env.A`", "`1\\0x`", "NUL", "{manifest}"],
        ),
        case(
            "a NUL in an entrypoint argument",
            "entrypoint = [\"/usr/local/bin/bad\", \"a\\u0000b\"]",
            &["`entrypoint`", "NUL", "{manifest}"],
        ),
        case(
            "a NUL in cmd",
            "cmd = \"a\\u0000b\"",
            &["`cmd`", "NUL", "{manifest}"],
        ),
        case(
            "a NUL in workdir",
            "workdir = \"/srv\\u0000\"",
            &["`workdir`", "NUL", "{manifest}"],
        ),
        flags(
            "an empty --env name is named as an environment variable",
            &["--binary", BUSYBOX, "--env", "=1"],
            &["--env `=1`", "environment variable"],
        ),
        flags(
            "an upper-case repository keeps its registry in the hint",
            &["--binary", BUSYBOX, "--push", "127.0.0.1:9/Acme/app"],
            &["lowercase: try `127.0.0.1:9/acme/app`"],
        ),
        on_package(
            "--binary with --manifest-path (whose metadata it would ignore)",
            &["--binary", BUSYBOX],
            &["--binary", "--manifest-path", "{manifest}", "would not be used"],
        ),
        on_package(
            "an empty resolve --repo",
            &["resolve", "--repo", "", "-f", &p.yaml],
            &["--repo is empty"],
        ),
        on_package(
            "resolve --repo with a tag",
            &["resolve", "--repo", "127.0.0.1:9/acme:1", "-f", &p.yaml],
            &["--repo 127.0.0.1:9/acme:1", "without a tag or digest"],
        ),
    ]
}
