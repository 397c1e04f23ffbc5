//! The decision table of `c_toolchain`: every (C code?, native?, choice, user setting) case.
use super::*;

const AMD: Platform = Platform::LinuxAmd64;
const ARM: Platform = Platform::LinuxArm64;

fn c() -> Vec<String> {
    vec!["ring@0.17.8".into(), "zstd-sys@2.0.16".into()]
}

fn pick(platform: Platform, host: Platform, choice: Choice, crates: Vec<String>) -> Toolchain {
    decide(
        platform,
        Some(host),
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
    let d = decide(AMD, None, Choice::Auto, c(), &UserSettings::default()).unwrap();
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
        decide(p, Some(h), choice, c(), &UserSettings::default())
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
        linker: None,
    };
    let d = decide(AMD, Some(AMD), Choice::Auto, c(), &cc).unwrap();
    assert_eq!(
        d.toolchain,
        Toolchain::User("CC_x86_64_unknown_linux_musl=clang".into())
    );
    assert_eq!(
        d.toolchain.name(),
        "user: CC_x86_64_unknown_linux_musl=clang"
    );
    // Even over an explicit choice that could not build it.
    let d = decide(AMD, Some(AMD), Choice::RustLld, c(), &cc).unwrap();
    assert!(matches!(d.toolchain, Toolchain::User(_)));
    // A C compiler without C code to compile changes nothing.
    let d = decide(AMD, Some(AMD), Choice::Auto, vec![], &cc).unwrap();
    assert_eq!(d.toolchain, Toolchain::RustLld);

    let both = UserSettings {
        cc: Some("TARGET_CC=clang".into()),
        linker: Some("target.aarch64-unknown-linux-musl.linker in /w/.cargo/config.toml".into()),
    };
    let d = decide(ARM, Some(AMD), Choice::Auto, vec![], &both).unwrap();
    assert_eq!(
        d.toolchain.name(),
        "user: target.aarch64-unknown-linux-musl.linker in /w/.cargo/config.toml"
    );
    let d = decide(ARM, Some(AMD), Choice::Zig, c(), &both).unwrap();
    assert_eq!(
        d.toolchain.name(),
        "user: TARGET_CC=clang, target.aarch64-unknown-linux-musl.linker in /w/.cargo/config.toml"
    );
}

#[test]
fn choices_parse_by_their_names() {
    for c in [Choice::Auto, Choice::MuslGcc, Choice::Zig, Choice::RustLld] {
        assert_eq!(Choice::parse(c.name()), Ok(c));
        let flag = <Choice as clap::ValueEnum>::to_possible_value(&c).unwrap();
        assert_eq!(flag.get_name(), c.name(), "flag and key spell it alike");
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
        Some(AMD),
        Choice::Auto,
        vec![],
        &UserSettings::default(),
    )
    .unwrap();
    check_installed(&d).unwrap();
}
