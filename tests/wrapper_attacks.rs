//! Attacks on the rustc wrapper mode, the remap list and the tool's build dirs (issue 12): each test
//! is a way a user's environment or files broke a promise once (a normal run taken for wrapper mode,
//! RUSTFLAGS that hid every compilation from the wrapper, ...). They build the small
//! tests/fixtures/hello workspace in the shared target dir.

mod common;

use common::slim;
use std::io::Read;
use std::path::PathBuf;

const TRIPLE: &str = "x86_64-unknown-linux-musl";

fn hello() -> String {
    slim::repo()
        .join("tests/fixtures/hello/Cargo.toml")
        .display()
        .to_string()
}

fn target() -> String {
    slim::shared_target().display().to_string()
}

/// `cargo slim-image` on the hello fixture, in the shared target dir, with a clean build
/// environment, then REST.
fn on_hello(rest: &[&str]) -> std::process::Command {
    let (manifest, target) = (hello(), target());
    let mut c = slim::on(&manifest, &target, rest);
    c.env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_BUILD_RUSTC_WRAPPER");
    c
}

/// Run `c` (a build), writing its image to a temp dir, and give the binary `name` taken out of
/// the image's app layer (the build dir holds the bins of other runs too).
fn run_image(mut c: std::process::Command, name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    c.args(["--message-format", "json", "--output"])
        .arg(&layout);
    let report: serde_json::Value = serde_json::from_str(&slim::ok(c)).unwrap();
    let layout = PathBuf::from(report["images"][0]["layout"].as_str().unwrap());
    let (_, manifest) = slim::manifest_of(&layout);
    let app = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let x = tmp.path().join("x");
    std::fs::create_dir_all(&x).unwrap();
    let ok = std::process::Command::new("tar")
        .arg("xzf")
        .arg(slim::blob_path(&layout, &app))
        .arg("-C")
        .arg(&x)
        .status()
        .unwrap();
    assert!(ok.success());
    let bin = x.join("usr/local/bin").join(name);
    (tmp, bin)
}

fn has_dep_section(bin: &PathBuf) -> bool {
    let bytes = std::fs::read(bin).unwrap();
    cargo_slim_image::compile::depdata::section_in(&bytes).is_some()
}

/// `SLIM_IMAGE_RUSTC_WRAPPER` in the user's environment (or inherited from an outer build: cargo
/// gives build scripts its environment) does not turn a `cargo slim-image` run into wrapper mode,
/// which used to exec `slim-image` as rustc.
#[test]
fn the_wrapper_variable_in_the_users_environment_is_not_wrapper_mode() {
    let mut c = slim::cmd(&["--help"]);
    c.env("SLIM_IMAGE_RUSTC_WRAPPER", "/nonexistent/wrapper.json");
    let help = slim::ok(c);
    assert!(help.contains("Usage"), "{help}");
    let mut c = on_hello(&["--bin", "hello"]);
    c.env("SLIM_IMAGE_RUSTC_WRAPPER", "/nonexistent/wrapper.json");
    let (_t, bin) = run_image(c, "hello");
    assert!(has_dep_section(&bin));
}

/// A `--print` in the user's RUSTFLAGS reaches every compilation: those are still compilations
/// (remapped, linked with the dependency data), not probes. They used to be passed through
/// untouched, and the build failed saying a linker dropped the section.
#[test]
fn a_print_in_rustflags_does_not_hide_compilations_from_the_wrapper() {
    // goodbye, not hello: the tests run at once, and another RUSTFLAGS relinks the bin.
    let mut c = on_hello(&["--bin", "goodbye"]);
    c.env("RUSTFLAGS", "--print=native-static-libs");
    let (_t, bin) = run_image(c, "goodbye");
    assert!(has_dep_section(&bin));
}

/// A build script of an outer `cargo slim-image` build that runs the tool inherits cargo's
/// `RUSTC_WRAPPER` (this executable) and the wrapper variable: the inner run is a normal run, and
/// does not chain itself as the user's wrapper (its `cargo metadata` used to fail, running us as a
/// wrapper without a config).
#[test]
fn an_inherited_rustc_wrapper_that_is_this_tool_is_not_chained() {
    let mut c = on_hello(&["--bin", "hello"]);
    c.env("RUSTC_WRAPPER", env!("CARGO_BIN_EXE_cargo-slim-image"))
        .env(
            "SLIM_IMAGE_RUSTC_WRAPPER",
            "/nonexistent/outer-wrapper.json",
        );
    let (_t, bin) = run_image(c, "hello");
    assert!(has_dep_section(&bin));
}

/// The dependency list in `bin`'s `.dep-v0` section, as JSON.
fn dep_list(bin: &std::path::Path) -> serde_json::Value {
    let bytes = std::fs::read(bin).unwrap();
    let z = cargo_slim_image::compile::depdata::section_in(&bytes).expect("a .dep-v0 section");
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(z)
        .read_to_end(&mut out)
        .unwrap();
    serde_json::from_slice(&out).unwrap()
}

fn names(list: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = list["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// Two runs at once in one target dir whose settings differ only in features share a build dir
/// (the stamp names which packages embed dependency data, not the data). Each must link its own
/// dependency list: the object file and the wrapper config used to be one file per package and
/// platform, rewritten by the second run while the first run's cargo was linking, so the first
/// run's binary carried the second run's list (then a relink, and a failure saying a linker
/// dropped the section).
#[test]
fn concurrent_runs_with_other_features_link_their_own_dependency_list() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(ws.join("src")).unwrap();
    std::fs::create_dir_all(ws.join("extra/src")).unwrap();
    std::fs::write(
        ws.join("Cargo.toml"),
        "[package]\nname = \"featapp\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n\
         [dependencies]\nextra = { path = \"extra\", optional = true }\n",
    )
    .unwrap();
    std::fs::write(ws.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(
        ws.join("extra/Cargo.toml"),
        "[package]\nname = \"extra\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(ws.join("extra/src/lib.rs"), "").unwrap();
    // A user wrapper that takes its time over linking the bin, and says when it starts.
    let mark = tmp.path().join("linking");
    let wrapper = tmp.path().join("slow-link");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \"$*\" in *'--crate-name featapp'*'--crate-type bin'*) \
             touch {m}; sleep 3;; esac\nexec \"$@\"\n",
            m = mark.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let manifest = ws.join("Cargo.toml").display().to_string();
    let target = tmp.path().join("target").display().to_string();
    let run = |features: &[&str], out: &str| {
        let mut args = vec!["--message-format", "json", "--output", out];
        args.extend_from_slice(features);
        let mut c = slim::on(&manifest, &target, &args);
        c.env("RUSTC_WRAPPER", &wrapper)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    let with = tmp.path().join("with");
    let without = tmp.path().join("without");
    let first = run(&["--features", "extra"], with.to_str().unwrap());
    let t0 = std::time::Instant::now();
    while !mark.exists() {
        assert!(t0.elapsed().as_secs() < 120, "the first run never linked");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let second = run(&[], without.to_str().unwrap());
    for (child, want) in [(first, vec!["extra", "featapp"]), (second, vec!["featapp"])] {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let layout = PathBuf::from(report["images"][0]["layout"].as_str().unwrap());
        let (_, manifest) = slim::manifest_of(&layout);
        let app = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let x = layout.join("x");
        std::fs::create_dir_all(&x).unwrap();
        let ok = std::process::Command::new("tar")
            .arg("xzf")
            .arg(slim::blob_path(&layout, &app))
            .arg("-C")
            .arg(&x)
            .status()
            .unwrap();
        assert!(ok.success());
        let bin = x.join("usr/local/bin/featapp");
        assert_eq!(names(&dep_list(&bin)), want, "{stderr}");
    }
}

/// A `build.build-dir` of the user's (cargo puts deps, build script output and fingerprints there)
/// is not where the tool builds: cargo reused the artifacts of the user's own builds there (made
/// without the wrapper's flags) and OUT_DIR paths under it reached the binary unremapped.
#[test]
fn a_users_build_dir_is_not_shared_with_the_tools_builds() {
    let tmp = tempfile::tempdir().unwrap();
    let theirs = tmp.path().join("their-build-dir");
    let mut c = on_hello(&["--bin", "hello"]);
    c.env("CARGO_BUILD_BUILD_DIR", &theirs);
    let (_t, bin) = run_image(c, "hello");
    assert!(has_dep_section(&bin));
    assert!(!theirs.exists(), "cargo built in the user's build dir");
}

/// Without `HOME` (a minimal container, `env -i`), cargo still finds its home in the password
/// database, and so does the remap list: registry sources are `/cargo/registry/src/...`, as on
/// every other machine. They used to get a `/deps/<name>-<version>` pair each (another digest).
#[test]
fn without_home_registry_sources_are_still_under_cargo() {
    let home = PathBuf::from(std::env::var_os("HOME").unwrap());
    let cargo_home = std::env::var_os("CARGO_HOME").map(PathBuf::from);
    if cargo_home.is_some_and(|c| c != home.join(".cargo")) {
        eprintln!(
            "skipped: CARGO_HOME is not $HOME/.cargo, so cargo without HOME would not find it"
        );
        return;
    }
    let manifest = slim::repo().join("tests/fixtures/sbom-deps/Cargo.toml");
    let rustup_home =
        std::env::var_os("RUSTUP_HOME").map_or_else(|| home.join(".rustup"), PathBuf::from);
    let mut c = slim::on(
        manifest.to_str().unwrap(),
        &target(),
        // keep: the line tables stay in the image's binary, where this test looks for paths.
        &["--offline", "--sbom", "none", "--debuginfo", "keep"],
    );
    c.env_remove("HOME")
        .env_remove("CARGO_HOME")
        .env("RUSTUP_HOME", rustup_home)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "line-tables-only")
        .env("CARGO_PROFILE_RELEASE_STRIP", "none");
    let (_t, bin) = run_image(c, "sbom-deps");
    let bytes = std::fs::read(&bin).unwrap();
    let has = |s: &str| bytes.windows(s.len()).any(|w| w == s.as_bytes());
    assert!(has("/cargo/registry/src/"), "{}", bin.display());
    assert!(!has("/deps/itoa-"), "{}", bin.display());
    assert!(!has(home.to_str().unwrap()), "{}", bin.display());
}

/// C code compiled by a build script (the `cc` crate) with debug info records its directories
/// too (DW_AT_comp_dir, DW_AT_name): the C compiler gets the remap list as `-ffile-prefix-map`
/// through `CFLAGS_<target>` (plain `CFLAGS` would reach host C code and `./configure` scripts too),
/// with the user's own flags after ours, so a prefix map of theirs still wins. The checkout's path
/// used to reach the binary.
#[test]
fn c_code_with_debug_info_carries_no_machine_path() {
    if !common::peers::check_tools(
        "c_code_with_debug_info_carries_no_machine_path",
        &["musl-gcc"],
    ) {
        return;
    }
    let manifest = slim::repo().join("tests/fixtures/with-c/Cargo.toml");
    let ws = manifest.parent().unwrap().display().to_string();
    let build = |cflags: Option<String>| {
        let mut c = slim::on(
            manifest.to_str().unwrap(),
            &target(),
            // keep: the debug info stays in the image's binary, where this test looks for paths.
            &["--offline", "--sbom", "none", "--debuginfo", "keep"],
        );
        c.env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("CFLAGS")
            .env("CARGO_PROFILE_RELEASE_DEBUG", "true")
            .env("CARGO_PROFILE_RELEASE_STRIP", "none");
        if let Some(f) = cflags {
            c.env("CFLAGS", f);
        }
        let (_t, bin) = run_image(c, "with-c");
        let built = slim::built_binary(&slim::shared_target(), TRIPLE, "with-c", false);
        (std::fs::read(&bin).unwrap(), built)
    };
    // What the build script's `cc` saw, from its output.
    let cc_saw = |bin: &std::path::Path| {
        std::fs::read_dir(bin.parent().unwrap().join("build"))
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("output")).ok())
            .filter(|o| o.contains("len.c") || o.contains("CFLAGS"))
            .collect::<String>()
    };
    let has = |b: &[u8], s: &str| b.windows(s.len()).any(|w| w == s.as_bytes());
    let (bytes, bin) = build(None);
    assert!(!has(&bytes, &ws), "{} contains {ws}", bin.display());
    assert!(
        cc_saw(&bin).contains("\nCFLAGS = None\n"),
        "{}",
        cc_saw(&bin)
    );
    // The user's own prefix map for the C code wins over ours.
    let (bytes, bin) = build(Some(format!("-ffile-prefix-map={ws}=/users-own")));
    // (DW_AT_comp_dir of the C unit; rustc's own units say /workspace.)
    assert!(has(&bytes, "/users-own\0"), "{}", bin.display());
    assert!(!has(&bytes, &ws), "{} contains {ws}", bin.display());
}

/// A target dir whose path is not UTF-8 cannot go into the wrapper's JSON config nor rustc's
/// remap flags: the error says which dir and what to do (it said "path contains invalid UTF-8
/// characters", naming nothing).
#[test]
fn a_non_utf8_target_dir_is_a_clear_error() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join(std::ffi::OsStr::from_bytes(b"t\xff"));
    let mut c = slim::cmd(&["--manifest-path", &hello(), "--bin", "hello"]);
    c.arg("--target-dir").arg(&bad);
    let err = slim::fails(c);
    assert!(err.contains("is not valid UTF-8"), "{err}");
    assert!(err.contains("--target-dir"), "{err}");
}

/// The build dir stays held after `build` returns: the binaries are read afterwards (packaging),
/// and another run pruning old build dirs (a target dir shared by many checkouts) must not remove
/// them first. The lock used to be released as the build returned.
#[test]
fn the_build_dir_stays_held_after_the_build() {
    use cargo_slim_image::compile::{build, BuildRequest};
    use cargo_slim_image::platform::Platform;
    let mut req = BuildRequest::new(Platform::LinuxAmd64);
    req.manifest_path = Some(PathBuf::from(hello()));
    req.target_dir = Some(slim::shared_target());
    req.bins = vec!["hello".into()];
    req.rustc_wrapper = Some(env!("CARGO_BIN_EXE_cargo-slim-image").into());
    let bins = build(&req).unwrap();
    // <build dir>/<triple>/release/hello
    let dir = bins[0].path.ancestors().nth(3).unwrap().to_path_buf();
    let lock = std::fs::File::open(dir.join("lock")).unwrap();
    assert!(
        lock.try_lock().is_err(),
        "{} can be locked exclusively: another run could prune it",
        dir.display()
    );
    assert!(bins[0].path.exists());
}

/// A rustc wrapper (or a proc macro) that writes a line of more than 64 MiB to stdout, which cargo
/// passes on among its JSON messages: no more than 64 MiB of it is held in memory, and it stops
/// the build (exit 1, the error says why). Below the cap, chatter is shown on stderr and the build goes on.
#[test]
fn a_line_past_64_mib_on_cargos_stdout_stops_the_build_in_bounded_memory() {
    use std::os::unix::fs::PermissionsExt;
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let wrapper = w.join("chatty-wrapper");
    // Only for the package's own compilation: cargo's probes read rustc's stdout.
    std::fs::write(
        &wrapper,
        "#!/bin/sh\ncase \"$*\" in *'--crate-name bad '*) \
         head -c \"$CHATTER\" /dev/zero | tr '\\0' a; echo;; esac\nexec \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let manifest = slim::package_with_meta(&w.join("pkg"), "");
    for (bytes, ok) in [(1000, true), ((64 << 20) + 1, false)] {
        let out = w.join(format!("out-{bytes}"));
        // A target dir each: a cached build would run no wrapper.
        let target = w.join(format!("target-{bytes}"));
        let mut c = slim::on(&manifest, target.to_str().unwrap(), &[]);
        c.args(["-o", out.to_str().unwrap()])
            .env("RUSTC_WRAPPER", &wrapper)
            .env("CHATTER", bytes.to_string());
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        if ok {
            assert!(o.status.success(), "{err}");
            assert!(
                err.contains(&"a".repeat(1000)),
                "the chatter is not shown: {err}"
            );
        } else {
            assert_eq!(o.status.code(), Some(1), "{}", &err[..err.len().min(2000)]);
            assert!(
                err.contains("a line of more than 64 MiB") && err.len() < 10_000,
                "{}",
                &err[..err.len().min(2000)]
            );
            assert!(!out.exists());
        }
    }
}
