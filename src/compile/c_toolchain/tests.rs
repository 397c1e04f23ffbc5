//! The decision table of `c_toolchain`: every (C code?, native?, choice, user setting) case.
use super::*;

fn linux(p: Platform) -> Host {
    Host::linux(p)
}

const AMD: Platform = Platform::LinuxAmd64;
const ARM: Platform = Platform::LinuxArm64;

fn c() -> Vec<String> {
    vec!["ring@0.17.8".into(), "zstd-sys@2.0.16".into()]
}

fn pick(platform: Platform, host: Platform, choice: Choice, crates: Vec<String>) -> Toolchain {
    decide(
        platform,
        &linux(host),
        choice,
        crates,
        &UserSettings::default(),
    )
    .unwrap()
    .toolchain
}

#[test]
fn auto_follows_the_rule() {
    // Pure Rust: rust-lld everywhere, native or cross, from either host.
    for (p, h) in [(AMD, AMD), (ARM, AMD), (ARM, ARM), (AMD, ARM)] {
        assert_eq!(pick(p, h, Choice::Auto, vec![]), Toolchain::RustLld);
    }
    // C code: musl-gcc on the host's own platform, zig for another one.
    assert_eq!(pick(AMD, AMD, Choice::Auto, c()), Toolchain::MuslGcc);
    assert_eq!(pick(ARM, ARM, Choice::Auto, c()), Toolchain::MuslGcc);
    assert_eq!(pick(ARM, AMD, Choice::Auto, c()), Toolchain::Zig);
    assert_eq!(pick(AMD, ARM, Choice::Auto, c()), Toolchain::Zig);
    // An unknown host architecture counts as cross.
    let d = decide(
        AMD,
        &Host::new("linux", "riscv64", None),
        Choice::Auto,
        c(),
        &UserSettings::default(),
    )
    .unwrap();
    assert_eq!(d.toolchain, Toolchain::Zig);
    assert_eq!(d.c_crates, c());
}

#[test]
fn explicit_choices_are_used_or_refused_with_a_reason() {
    assert_eq!(pick(AMD, AMD, Choice::Zig, c()), Toolchain::Zig);
    assert_eq!(pick(AMD, AMD, Choice::Zig, vec![]), Toolchain::Zig);
    assert_eq!(pick(AMD, AMD, Choice::MuslGcc, vec![]), Toolchain::MuslGcc);
    assert_eq!(pick(ARM, AMD, Choice::RustLld, vec![]), Toolchain::RustLld);

    let no = |p, h, choice| {
        decide(p, &linux(h), choice, c(), &UserSettings::default())
            .unwrap_err()
            .to_string()
    };
    let err = no(ARM, AMD, Choice::MuslGcc);
    assert!(
        err.contains("c-toolchain musl-gcc cannot build linux/arm64"),
        "{err}"
    );
    assert!(err.contains("--c-toolchain zig"), "{err}");
    let err = no(AMD, AMD, Choice::RustLld);
    assert!(err.contains("ring@0.17.8, zstd-sys@2.0.16"), "{err}");
    assert!(err.contains("linux/amd64"), "{err}");
    assert!(err.contains("CC_x86_64_unknown_linux_musl"), "{err}");
}

#[test]
fn what_the_user_set_wins_and_is_recorded() {
    let cc = UserSettings {
        cc: Some("CC_x86_64_unknown_linux_musl=clang".into()),
        ..Default::default()
    };
    let d = decide(AMD, &linux(AMD), Choice::Auto, c(), &cc).unwrap();
    // Their compiler, our linker: a C compiler says nothing about linking.
    assert_eq!(
        d.toolchain,
        Toolchain::UserCc("CC_x86_64_unknown_linux_musl=clang".into())
    );
    assert_eq!(
        d.toolchain.name(),
        "user: CC_x86_64_unknown_linux_musl=clang, linked with rust-lld"
    );
    check_installed(&d).unwrap();
    // Even over an explicit choice that could not build it, and when cross-compiling.
    let d = decide(AMD, &linux(AMD), Choice::RustLld, c(), &cc).unwrap();
    assert!(matches!(d.toolchain, Toolchain::UserCc(_)));
    let d = decide(ARM, &linux(AMD), Choice::Auto, c(), &cc).unwrap();
    assert!(matches!(d.toolchain, Toolchain::UserCc(_)));
    // A C compiler without C code to compile changes nothing.
    let d = decide(AMD, &linux(AMD), Choice::Auto, vec![], &cc).unwrap();
    assert_eq!(d.toolchain, Toolchain::RustLld);

    let both = UserSettings {
        cc: Some("TARGET_CC=clang".into()),
        linker: Some("target.aarch64-unknown-linux-musl.linker in /w/.cargo/config.toml".into()),
        ..Default::default()
    };
    let d = decide(ARM, &linux(AMD), Choice::Auto, vec![], &both).unwrap();
    assert_eq!(
        d.toolchain.name(),
        "user: target.aarch64-unknown-linux-musl.linker in /w/.cargo/config.toml"
    );
    let d = decide(ARM, &linux(AMD), Choice::Zig, c(), &both).unwrap();
    assert_eq!(
        d.toolchain.name(),
        "user: TARGET_CC=clang, target.aarch64-unknown-linux-musl.linker in /w/.cargo/config.toml"
    );
}

#[test]
fn choices_parse_by_their_names() {
    for c in [Choice::Auto, Choice::MuslGcc, Choice::Zig, Choice::RustLld] {
        assert_eq!(Choice::parse(c.name()), Ok(c));
    }
    let err = Choice::parse("gcc").unwrap_err();
    assert!(err.contains("`gcc` is not a C toolchain"), "{err}");
    assert!(
        err.contains("auto (default), musl-gcc, zig, rust-lld"),
        "{err}"
    );
}

#[test]
fn rust_lld_needs_nothing_installed() {
    let d = decide(
        ARM,
        &linux(AMD),
        Choice::Auto,
        vec![],
        &UserSettings::default(),
    )
    .unwrap();
    check_installed(&d).unwrap();
}

/// An executable shell script `name` with `body` in a new temp dir (kept alive by the returned dir).
fn script(body: &str) -> (tempfile::TempDir, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("probe");
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = p.display().to_string();
    (dir, p)
}

#[test]
fn version_probes_are_bounded_in_time_and_size_and_keep_secrets() {
    let limit = std::time::Duration::from_millis(300);
    let probe = |body: &str| {
        let (_dir, p) = script(body);
        let start = std::time::Instant::now();
        let line = first_line_within(&p, &["--version"], limit);
        assert!(
            start.elapsed() < limit * 10,
            "{body}: took {:?}",
            start.elapsed()
        );
        line
    };
    assert_eq!(
        probe("echo \"gcc 12.2 ($1)\"").as_deref(),
        Some("gcc 12.2 (--version)")
    );
    // Hangs, with and without output first: killed at the limit, nothing recorded.
    assert_eq!(probe("sleep 30"), None);
    assert_eq!(probe("echo 1.0; exec sleep 30"), None);
    // Endless or huge output: read up to a bound, never all of it.
    assert_eq!(probe("exec yes"), None);
    let long = probe("head -c 3000 /dev/zero | tr '\\0' 'v'; echo").unwrap();
    assert_eq!(long.len(), VERSION_CHARS);
    // Control characters (a terminal escape) are dropped, unicode and quotes are kept.
    assert_eq!(
        probe("printf 'zig \\033[31m0.13 \\342\\200\\234x\"\\r\\nsecond line\\n'").as_deref(),
        Some("zig [31m0.13 \u{201c}x\"")
    );
    assert_eq!(probe("echo; echo 2.0"), None, "an empty first line");
    assert_eq!(probe("echo 1.0; exit 3"), None, "a failure");
    // The registry password is not passed on, and a remembered secret is redacted.
    std::env::set_var(crate::registry::credentials::PASSWORD_VAR, "pw-in-env-0c9f");
    let line = probe("echo \"v1 $SLIM_IMAGE_REGISTRY_PASSWORD\"");
    std::env::remove_var(crate::registry::credentials::PASSWORD_VAR);
    assert_eq!(line.as_deref(), Some("v1"));
    crate::ui::remember("hunter2-version-secret");
    assert_eq!(
        probe("echo 'v2 hunter2-version-secret'").as_deref(),
        Some("v2 <redacted>")
    );
}

#[test]
fn link_arguments_for_a_driver_keep_cc_natively_zig_across_or_say_what_to_set() {
    let args = UserSettings {
        link_args: Some("-C link-arg=-Wl,-z,now in RUSTFLAGS".into()),
        ..Default::default()
    };
    let go = |p, choice, crates| decide(p, &linux(AMD), choice, crates, &args);
    // Natively: rustc's default linker (cc), recorded as the user's.
    let d = go(AMD, Choice::Auto, vec![]).unwrap();
    assert_eq!(
        d.toolchain.name(),
        "user: -C link-arg=-Wl,-z,now in RUSTFLAGS"
    );
    let d = go(AMD, Choice::Auto, c()).unwrap();
    assert!(matches!(d.toolchain, Toolchain::User(_)));
    // zig links through `zig cc`, which understands them.
    assert_eq!(
        go(ARM, Choice::Auto, c()).unwrap().toolchain,
        Toolchain::Zig
    );
    assert_eq!(
        go(ARM, Choice::Zig, vec![]).unwrap().toolchain,
        Toolchain::Zig
    );
    // Across architectures without zig: what to do, before anything is built.
    let err = go(ARM, Choice::Auto, vec![]).unwrap_err().to_string();
    for part in [
        "-C link-arg=-Wl,-z,now in RUSTFLAGS: only a C compiler driver understands",
        "cannot link linux/arm64",
        "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER",
        "--c-toolchain zig",
        "-zstack-size",
    ] {
        assert!(err.contains(part), "{part:?} not in {err}");
    }
    // A linker set as well: the linker is theirs.
    let both = UserSettings {
        linker: Some(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-musl-gcc".into(),
        ),
        ..args.clone()
    };
    let d = decide(ARM, &linux(AMD), Choice::Auto, vec![], &both).unwrap();
    assert!(matches!(d.toolchain, Toolchain::User(_)));
}

#[test]
fn the_zig_version_is_that_of_the_zig_cargo_zigbuild_runs() {
    // CARGO_ZIGBUILD_ZIG_PATH comes before any zig on PATH.
    let (_dir, zig) = script("[ \"$1\" = version ] && echo 0.99.0-from-zig-path");
    assert_eq!(
        zig_version(Some(zig)).as_deref(),
        Some("0.99.0-from-zig-path")
    );
    let (_dir, broken) = script("exit 1");
    assert_eq!(
        zig_version(Some(broken)),
        None,
        "no fall-back to another zig"
    );
}

#[test]
fn rust_lld_is_looked_for_in_the_sysroot() {
    let dir = tempfile::tempdir().unwrap();
    assert!(!rust_lld_in(dir.path()));
    let bin = dir.path().join("lib/rustlib/x86_64-unknown-linux-gnu/bin");
    std::fs::create_dir_all(&bin).unwrap();
    assert!(!rust_lld_in(dir.path()));
    std::fs::write(bin.join("rust-lld"), "").unwrap();
    assert!(rust_lld_in(dir.path()));
    // The Rust running these tests has one (rustup ships it).
    let d = decide(
        AMD,
        &linux(AMD),
        Choice::Auto,
        vec![],
        &UserSettings::default(),
    )
    .unwrap();
    check_installed(&d).unwrap();
}

#[test]
fn on_macos_every_linux_target_is_cross() {
    let none = UserSettings::default();
    for (cpu, release) in [("aarch64", None), ("x86_64", None)] {
        let mac = Host::new("macos", cpu, release);
        for p in Platform::ALL {
            // Pure Rust: rust-lld; C code: zig, even for the Mac's own CPU (linux/arm64 on Apple
            // Silicon), never the host cc.
            let d = decide(p, &mac, Choice::Auto, vec![], &none).unwrap();
            assert_eq!(d.toolchain, Toolchain::RustLld);
            let d = decide(p, &mac, Choice::Auto, c(), &none).unwrap();
            assert_eq!(d.toolchain, Toolchain::Zig, "{p} on {mac}");
            let err = decide(p, &mac, Choice::MuslGcc, c(), &none)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("macOS") && err.contains("every Linux platform is cross-compiled"),
                "{err}"
            );
            assert!(err.contains("brew install zig"), "{err}");
        }
    }
}

#[test]
fn a_missing_tool_names_the_hosts_package_manager() {
    let none = UserSettings::default();
    let debian = Host::new("linux", "x86_64", Some("ID=debian\n"));
    let d = decide(AMD, &debian, Choice::Auto, c(), &none).unwrap();
    let msg = missing_tool(&d, "musl-gcc", &debian);
    assert!(msg.contains("ring@0.17.8, zstd-sys@2.0.16"), "{msg}");
    assert!(msg.contains("`apt-get install musl-tools`"), "{msg}");
    let fedora = Host::new("linux", "x86_64", Some("ID=fedora\n"));
    let msg = missing_tool(&d, "musl-gcc", &fedora);
    assert!(msg.contains("`dnf install musl-gcc`"), "{msg}");
    let mac = Host::new("macos", "aarch64", None);
    let d = decide(ARM, &mac, Choice::Auto, c(), &none).unwrap();
    let msg = missing_tool(&d, "cargo-zigbuild", &mac);
    assert!(msg.contains("macOS aarch64"), "{msg}");
    assert!(msg.contains("`brew install zig`"), "{msg}");
    let alpine = Host::new("linux", "aarch64", Some("ID=alpine\n"));
    let d = decide(AMD, &alpine, Choice::Auto, c(), &none).unwrap();
    let msg = missing_tool(&d, "cargo-zigbuild", &alpine);
    assert!(msg.contains("`apk add zig`"), "{msg}");
    assert!(msg.contains("Linux aarch64, linux/arm64"), "{msg}");
}
