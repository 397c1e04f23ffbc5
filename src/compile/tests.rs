//! Unit tests of `compile` (kept beside it so compile.rs stays about the code).
use super::c_toolchain::Toolchain;
use super::toolchain::Invocation;
use super::*;
use std::path::Path;

const STREAM: &str = r#"{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#libc@0.2.150","manifest_path":"/r/libc/Cargo.toml","target":{"kind":["custom-build"],"crate_types":["bin"],"name":"build-script-build","src_path":"/r/libc/build.rs"},"filenames":["/t/release/build/libc-1/build-script-build"],"executable":null,"fresh":true}
{"reason":"build-script-executed","package_id":"registry+https://github.com/rust-lang/crates.io-index#libc@0.2.150","linked_libs":[],"linked_paths":[],"cfgs":[],"env":[],"out_dir":"/t/out"}
{"reason":"compiler-artifact","package_id":"path+file:///w/crates/server#api@0.3.0","target":{"kind":["lib"],"crate_types":["lib"],"name":"api"},"filenames":["/t/x/release/libapi.rlib"],"executable":null,"fresh":false}
{"reason":"compiler-artifact","package_id":"path+file:///w/crates/server#api@0.3.0","target":{"kind":["bin"],"crate_types":["bin"],"name":"serve"},"filenames":["/t/x/release/serve"],"executable":"/t/x/release/serve","fresh":false}
this line is not JSON
{"reason":"compiler-artifact","package_id":"path+file:///w/hello#0.1.0","target":{"kind":["example"],"crate_types":["bin"],"name":"demo"},"filenames":["/t/x/release/examples/demo"],"executable":"/t/x/release/examples/demo","fresh":false}
{"reason":"compiler-artifact","package_id":"path+file:///w/hello#0.1.0","target":{"kind":["bin"],"crate_types":["bin"],"name":"hello"},"filenames":["/t/x/release/hello"],"executable":"/t/x/release/hello","fresh":true}
{"reason":"compiler-artifact","package_id":"admin 1.0.0 (path+file:///w/admin)","target":{"kind":["bin"],"crate_types":["bin"],"name":"admin-cli"},"filenames":["/t/x/release/admin-cli"],"executable":"/t/x/release/admin-cli","fresh":false,"future_field":[1,2]}
{"reason":"build-finished","success":true}
"#;

#[test]
fn parses_bins_from_the_message_stream() {
    let (bins, finished) = parse_messages(STREAM, Platform::LinuxArm64);
    assert_eq!(finished, Some(true));
    let found: Vec<_> = bins
        .iter()
        .map(|b| (b.package.as_str(), b.name.as_str()))
        .collect();
    assert_eq!(
        found,
        [("admin", "admin-cli"), ("api", "serve"), ("hello", "hello")]
    );
    assert_eq!(bins[1].path, Path::new("/t/x/release/serve"));
    assert_eq!(bins[1].package_id, "path+file:///w/crates/server#api@0.3.0");
    assert!(bins.iter().all(|b| b.platform == Platform::LinuxArm64));

    let (bins, finished) = parse_messages(
        "{\"reason\":\"build-finished\",\"success\":false}\n",
        Platform::LinuxAmd64,
    );
    assert!(bins.is_empty());
    assert_eq!(finished, Some(false));
    let mut p = MessageParser::new(&[Platform::LinuxAmd64]);
    assert_eq!(p.feed("Compiling with zig"), Some("Compiling with zig"));
    assert_eq!(p.feed("{\"not\":\"cargo\"}"), Some("{\"not\":\"cargo\"}"));
    assert_eq!(p.feed(""), None);
}

#[test]
fn package_names_from_ids() {
    assert_eq!(package_name("path+file:///w/hello#0.1.0"), "hello");
    assert_eq!(
        package_name("path+file:///w/crates/server#api@0.3.0"),
        "api"
    );
    assert_eq!(
        package_name("registry+https://github.com/rust-lang/crates.io-index#serde@1.0.0"),
        "serde"
    );
    assert_eq!(
        package_name("git+https://github.com/o/tool?branch=main#2.0.0"),
        "tool"
    );
    assert_eq!(package_name("admin 1.0.0 (path+file:///w/admin)"), "admin");
    assert_eq!(
        package_name("dep 0.1.0 (git+https://h/o/r?rev=1#0123abc)"),
        "dep"
    );
}

fn host() -> Host {
    Host {
        cargo: "/opt/cargo".into(),
    }
}

fn args(inv: &Invocation) -> Vec<String> {
    inv.args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn native_c_build_forwards_flags_and_uses_musl_gcc_and_rust_lld() {
    let mut req = BuildRequest::new(Platform::LinuxAmd64);
    req.packages = vec!["api".into()];
    req.bins = vec!["serve".into(), "admin".into()];
    req.features = vec!["tls".into(), "json".into()];
    req.no_default_features = true;
    req.locked = true;
    req.verbose = 3;
    req.target_dir = Some("/tmp/t".into());
    req.extra_env = vec![("CARGO_PROFILE_RELEASE_STRIP".into(), "true".into())];
    let inv = invocation(&req, &host(), &Toolchain::MuslGcc);
    assert_eq!(inv.program, "/opt/cargo");
    assert_eq!(
        args(&inv).join(" "),
        "build --target x86_64-unknown-linux-musl --message-format=json-render-diagnostics \
         --profile release -p api --bin serve --bin admin --features tls,json \
         --no-default-features --locked -v -v --target-dir /tmp/t"
    );
    assert_eq!(
        inv.env,
        env(&[
            ("CC_x86_64_unknown_linux_musl", "musl-gcc"),
            ("CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER", "rust-lld"),
            ("CARGO_PROFILE_RELEASE_STRIP", "true"),
        ])
    );
}

#[test]
fn pure_rust_links_with_rust_lld_natively_and_cross() {
    for p in Platform::ALL {
        let inv = invocation(&BuildRequest::new(p), &host(), &Toolchain::RustLld);
        assert_eq!(args(&inv)[0], "build");
        assert!(args(&inv).contains(&"--bins".to_string()));
        let key = p.rust_target().replace('-', "_").to_ascii_uppercase();
        // No CC at all: what a C compiler on PATH is does not matter.
        assert_eq!(
            inv.env,
            env(&[(&format!("CARGO_TARGET_{key}_LINKER"), "rust-lld")])
        );
        assert!(inv.hints.iter().any(|h| h.contains("--c-toolchain")));
    }
}

#[test]
fn zig_runs_cargo_zigbuild_and_user_settings_are_left_alone() {
    let req = BuildRequest::new(Platform::LinuxArm64);
    let inv = invocation(&req, &host(), &Toolchain::Zig);
    assert_eq!(args(&inv)[0], "zigbuild");
    assert!(inv.env.is_empty());

    let user = Toolchain::User("CC_aarch64_unknown_linux_musl=clang".into());
    let inv = invocation(&req, &host(), &user);
    assert_eq!(args(&inv)[0], "build");
    assert!(inv.env.is_empty());
    assert!(inv.notes[0].contains("CC_aarch64_unknown_linux_musl=clang"));
}

#[test]
fn a_user_c_compiler_alone_is_linked_with_rust_lld() {
    let req = BuildRequest::new(Platform::LinuxArm64);
    let user = Toolchain::UserCc("CC_aarch64_unknown_linux_musl=clang".into());
    let inv = invocation(&req, &host(), &user);
    assert_eq!(args(&inv)[0], "build");
    assert_eq!(
        inv.env,
        env(&[("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER", "rust-lld")])
    );
    assert!(inv.notes[0].contains("CC_aarch64_unknown_linux_musl=clang"));
}

#[test]
fn one_build_of_two_targets_attributes_each_bin_by_its_triple_directory() {
    let line = |triple: &str, name: &str| {
        format!(
            "{{\"reason\":\"compiler-artifact\",\"package_id\":\"path+file:///w/hello#0.1.0\",\"target\":{{\"kind\":[\"bin\"],\"name\":\"{name}\"}},\"executable\":\"/t/b/{triple}/release/{name}\"}}"
        )
    };
    let both = [Platform::LinuxAmd64, Platform::LinuxArm64];
    let mut p = MessageParser::new(&both);
    for l in [
        line("aarch64-unknown-linux-musl", "hello"),
        line("x86_64-unknown-linux-musl", "hello"),
        line("x86_64-unknown-linux-musl", "bye"),
    ] {
        assert_eq!(p.feed(&l), None);
    }
    let bins = p.finish().unwrap();
    let got: Vec<(Platform, &str, &Path)> = bins
        .iter()
        .map(|b| (b.platform, b.name.as_str(), b.path.as_path()))
        .collect();
    assert_eq!(
        got,
        [
            (
                Platform::LinuxAmd64,
                "bye",
                Path::new("/t/b/x86_64-unknown-linux-musl/release/bye")
            ),
            (
                Platform::LinuxAmd64,
                "hello",
                Path::new("/t/b/x86_64-unknown-linux-musl/release/hello")
            ),
            (
                Platform::LinuxArm64,
                "hello",
                Path::new("/t/b/aarch64-unknown-linux-musl/release/hello")
            ),
        ]
    );
    // A bin under neither target's directory cannot be placed: an error, not a guess.
    let mut p = MessageParser::new(&both);
    p.feed(&line("riscv64gc-unknown-linux-musl", "hello"));
    let err = p.finish().unwrap_err().to_string();
    assert!(
        err.contains("riscv64gc-unknown-linux-musl/release/hello"),
        "{err}"
    );
    assert!(
        err.contains("x86_64-unknown-linux-musl, aarch64-unknown-linux-musl"),
        "{err}"
    );
    // One target: no look at the path.
    let mut p = MessageParser::new(&[Platform::LinuxArm64]);
    p.feed(&line("x", "hello"));
    assert_eq!(p.finish().unwrap()[0].platform, Platform::LinuxArm64);
}

#[test]
fn one_command_for_two_targets_carries_each_targets_environment() {
    let mut amd = BuildRequest::new(Platform::LinuxAmd64);
    amd.packages = vec!["api".into()];
    amd.extra_env = vec![
        (
            "X86_64_UNKNOWN_LINUX_MUSL_OPENSSL_DIR".into(),
            "/o/x86".into(),
        ),
        ("CARGO_PROFILE_RELEASE_STRIP".into(), "true".into()),
    ];
    let mut arm = amd.clone();
    arm.platform = Platform::LinuxArm64;
    arm.extra_env = vec![("CARGO_PROFILE_RELEASE_STRIP".into(), "true".into())];
    let inv = toolchain::invocation_many(
        &[(&amd, &Toolchain::MuslGcc), (&arm, &Toolchain::RustLld)],
        &host(),
    );
    assert_eq!(
        args(&inv).join(" "),
        "build --target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl \
         --message-format=json-render-diagnostics --profile release -p api --bins"
    );
    assert_eq!(
        inv.env,
        env(&[
            ("CC_x86_64_unknown_linux_musl", "musl-gcc"),
            ("CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER", "rust-lld"),
            ("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER", "rust-lld"),
            ("X86_64_UNKNOWN_LINUX_MUSL_OPENSSL_DIR", "/o/x86"),
            ("CARGO_PROFILE_RELEASE_STRIP", "true"),
        ])
    );
    // One target: the command it always had.
    let one = invocation(&amd, &host(), &Toolchain::MuslGcc);
    let many = toolchain::invocation_many(&[(&amd, &Toolchain::MuslGcc)], &host());
    assert_eq!(args(&one), args(&many));
    assert_eq!(one.env, many.env);
}
