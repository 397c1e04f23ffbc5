//! What counts as the user's C compiler and linker: every place cargo reads one from.
use super::*;

const T: &str = "x86_64-unknown-linux-musl";

/// The settings for `T` with the environment `vars` and config files `files` (nearest first), the
/// target's cfg being rustc's for x86_64 musl.
fn with(vars: &[(&str, &str)], files: &[&str]) -> UserSettings {
    let env = |n: &str| {
        vars.iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.to_string())
    };
    let files: Vec<(String, Table)> = files
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("f{i}"), t.parse::<Table>().unwrap()))
        .collect();
    let cfg = || {
        [
            "unix",
            "target_os=\"linux\"",
            "target_env=\"musl\"",
            "target_arch=\"x86_64\"",
        ]
        .iter()
        .map(|c| cargo_platform::Cfg::from_str(c).unwrap())
        .collect()
    };
    settings(T, &env, &files, cfg)
}

fn linker(vars: &[(&str, &str)], files: &[&str]) -> Option<String> {
    with(vars, files).linker
}

/// A linker, else driver-only link arguments: what takes the linker out of our hands.
fn taken(vars: &[(&str, &str)], files: &[&str]) -> Option<String> {
    let s = with(vars, files);
    assert!(s.linker.is_none() || s.link_args.is_none(), "{s:?}");
    s.linker.or(s.link_args)
}

#[test]
fn linkers_in_config_files_in_every_form_cargo_reads() {
    for text in [
        "[target.x86_64-unknown-linux-musl]\nlinker = \"cc\"\n",
        "[target.\"x86_64-unknown-linux-musl\"]\n  linker=\"cc\" # c\n",
        "target.x86_64-unknown-linux-musl.linker = \"cc\"\n",
        "[target]\nx86_64-unknown-linux-musl.linker = \"cc\"\n",
        "target = { x86_64-unknown-linux-musl = { linker = \"cc\" } }\n",
    ] {
        assert_eq!(
            linker(&[], &[text]).as_deref(),
            Some("target.x86_64-unknown-linux-musl.linker = cc in f0"),
            "{text}"
        );
    }
    // cfg(..) tables (cargo reads `linker` there since 1.74), when they match the target.
    let cfg = "[target.'cfg(all(target_env = \"musl\", target_arch = \"x86_64\"))']\nlinker = \"/opt/ld\"\n";
    assert_eq!(
        linker(&[], &[cfg]).as_deref(),
        Some("target.cfg(all(target_env = \"musl\", target_arch = \"x86_64\")).linker = /opt/ld in f0")
    );
    for other in [
        "[target.'cfg(windows)']\nlinker = \"x\"\n",
        "[target.'cfg(target_arch = \"aarch64\")']\nlinker = \"x\"\n",
        "[target.aarch64-unknown-linux-musl]\nlinker = \"x\"\n",
        "[target.x86_64-unknown-linux-musl]\nrunner = \"qemu\"\n# linker = \"x\"\n",
        "[build]\nlinker = \"x\"\n",
        "[target.x86_64-unknown-linux-musl]\nlinker = \"\"\n",
        "not toml at all = = =\n",
    ] {
        let files: Vec<&str> = [other]
            .into_iter()
            .filter(|t| t.parse::<Table>().is_ok())
            .collect();
        assert_eq!(linker(&[], &files), None, "{other}");
    }
    // A triple's table wins over a cfg(..) one, even in a farther file.
    let near_cfg = "[target.'cfg(unix)']\nlinker = \"near\"\n";
    let far_triple = "[target.x86_64-unknown-linux-musl]\nlinker = \"far\"\n";
    assert_eq!(
        linker(&[], &[near_cfg, far_triple]).as_deref(),
        Some("target.x86_64-unknown-linux-musl.linker = far in f1")
    );
    // The environment wins over the files, and an empty variable is unset.
    let var = "CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER";
    let file = "[target.x86_64-unknown-linux-musl]\nlinker = \"cc\"\n";
    assert_eq!(
        linker(&[(var, "clang")], &[file]).as_deref(),
        Some("CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=clang")
    );
    assert_eq!(linker(&[(var, " ")], &[]), None);
}

#[test]
fn rustflags_that_take_the_linker_are_found_wherever_cargo_reads_them() {
    let wl = "-C link-arg=-Wl,-z,stack-size=1000000";
    for flags in [
        wl,
        "-Clink-arg=-Wl,--icf=all",
        "-C linker=clang",
        "--codegen=linker-flavor=gcc",
        "-C link-args=-static-pie\t-nostartfiles",
        "-C link-arg=-Wl,-z,now -C linker=clang",
        "-C link-arg=-fuse-ld=mold",
        "-C link-arg=-m64",
    ] {
        let got = taken(&[("RUSTFLAGS", flags)], &[]).unwrap();
        assert!(got.ends_with(" in RUSTFLAGS"), "{flags}: {got}");
    }
    assert_eq!(
        taken(&[("RUSTFLAGS", wl)], &[]).unwrap(),
        "-C link-arg=-Wl,-z,stack-size=1000000 in RUSTFLAGS"
    );
    // Link arguments a plain ld understands keep rust-lld; other codegen flags too.
    for flags in [
        "-C link-arg=-zstack-size=1000000",
        "-C link-arg=--gc-sections -C link-arg=-melf_x86_64",
        "-C target-cpu=native -C opt-level=3",
        "-C link-args=--icf=all",
    ] {
        assert_eq!(taken(&[("RUSTFLAGS", flags)], &[]), None, "{flags}");
    }
    let encoded = "-C\x1flink-arg=-Wl,-z,now";
    assert_eq!(
        taken(&[("CARGO_ENCODED_RUSTFLAGS", encoded)], &[]).unwrap(),
        "-C link-arg=-Wl,-z,now in CARGO_ENCODED_RUSTFLAGS"
    );
    // cargo's order: CARGO_ENCODED_RUSTFLAGS, else RUSTFLAGS, else the target's, else build's.
    assert_eq!(
        taken(&[("CARGO_ENCODED_RUSTFLAGS", ""), ("RUSTFLAGS", wl)], &[]),
        None
    );
    let build = "[build]\nrustflags = [\"-C\", \"link-arg=-Wl,-z,now\"]\n";
    assert_eq!(
        taken(&[], &[build]).unwrap(),
        "-C link-arg=-Wl,-z,now in build.rustflags in f0"
    );
    assert_eq!(taken(&[("RUSTFLAGS", "-Copt-level=2")], &[build]), None);
    assert_eq!(
        taken(&[("CARGO_BUILD_RUSTFLAGS", wl)], &[]).unwrap(),
        format!("{wl} in CARGO_BUILD_RUSTFLAGS")
    );
    let target = "[target.x86_64-unknown-linux-musl]\nrustflags = [\n  \"-C\",\n  \"link-args=-Wl,-O1\",\n]\n";
    assert_eq!(
        taken(&[], &[target, build]).unwrap(),
        "-C link-args=..-Wl,-O1.. in target.x86_64-unknown-linux-musl.rustflags in f0"
    );
    // A target's rustflags hide build.rustflags, even when they say nothing of linking.
    let harmless =
        "[target.'cfg(target_env = \"musl\")']\nrustflags = \"-C target-cpu=x86-64-v2\"\n";
    assert_eq!(taken(&[], &[harmless, build]), None);
    assert_eq!(
        taken(
            &[("CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS", wl)],
            &[build]
        )
        .unwrap(),
        format!("{wl} in CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS")
    );
}

#[test]
fn c_compilers_in_the_environment_and_in_env_tables() {
    let cc = |vars: &[(&str, &str)], files: &[&str]| with(vars, files).cc;
    assert_eq!(
        cc(&[("CC_x86_64_unknown_linux_musl", "clang -target x")], &[]).as_deref(),
        Some("CC_x86_64_unknown_linux_musl=clang -target x")
    );
    assert_eq!(cc(&[("TARGET_CC", "")], &[]), None);
    assert_eq!(cc(&[("CC", "gcc")], &[]), None, "plain CC is the host's");
    let env = "[env]\nCC_x86_64_unknown_linux_musl = \"clang\"\n";
    assert_eq!(
        cc(&[], &[env]).as_deref(),
        Some("CC_x86_64_unknown_linux_musl=clang in [env] of f0")
    );
    let forced = "[env]\nTARGET_CC = { value = \"zcc\", force = true }\n";
    assert_eq!(
        cc(&[], &[forced]).as_deref(),
        Some("TARGET_CC=zcc in [env] of f0")
    );
}

#[test]
fn driver_arguments() {
    for a in [
        "-Wl,-z,now",
        "-Xlinker",
        "-fuse-ld=lld",
        "-static-pie",
        "-B/x",
        "-m32",
        "-march=x",
        "-Os",
        "-pthread",
    ] {
        assert!(driver_only(a), "{a}");
    }
    for a in [
        "-zstack-size=1",
        "--gc-sections",
        "-s",
        "-O1",
        "-lfoo",
        "-L/x",
        "-melf_x86_64",
        "--icf=all",
    ] {
        assert!(!driver_only(a), "{a}");
    }
}

#[test]
fn what_is_recorded_is_one_bounded_line_without_secrets() {
    let cc = |v: &str| with(&[("TARGET_CC", v)], &[]).cc.unwrap();
    assert_eq!(
        cc("clang\n--x\u{1b}[0m \"q\" \u{e9}"),
        "TARGET_CC=clang\\n--x\\u{1b}[0m \"q\" \u{e9}"
    );
    assert_eq!(cc(&"x".repeat(5000)).chars().count(), RECORDED_MAX);
    crate::ui::remember("linker-secret-77d1");
    let var = "CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER";
    assert_eq!(
        linker(&[(var, "/opt/ld --token=linker-secret-77d1")], &[]).unwrap(),
        format!("{var}=/opt/ld --token=<redacted>")
    );
}

#[test]
fn a_linker_in_rustflags_is_a_linker_and_link_arguments_are_not() {
    let s = with(&[("RUSTFLAGS", "-C link-arg=-Wl,-z,now")], &[]);
    assert_eq!(
        (s.linker, s.link_args.as_deref()),
        (None, Some("-C link-arg=-Wl,-z,now in RUSTFLAGS"))
    );
    let s = with(
        &[("RUSTFLAGS", "-C link-arg=-Wl,-z,now -C linker=clang")],
        &[],
    );
    assert_eq!(
        (s.linker.as_deref(), s.link_args),
        (Some("-C linker=clang in RUSTFLAGS"), None)
    );
    let file = "[target.x86_64-unknown-linux-musl]\nlinker = \"cc\"\n";
    let s = with(&[("RUSTFLAGS", "-C link-arg=-Wl,-z,now")], &[file]);
    assert!(s.linker.is_some() && s.link_args.is_none(), "{s:?}");
}

#[test]
fn config_files_are_named_the_same_from_any_checkout_and_directory() {
    let shown = |f: &str, cwd: &str| {
        let (root, home) = (Path::new("/w/ws"), Path::new("/home/alice/.cargo"));
        shown_path(Path::new(f), Some(root), Some(home), Path::new(cwd))
    };
    for cwd in ["/w/ws", "/w/ws/app/src", "/tmp"] {
        assert_eq!(shown("/w/ws/.cargo/config.toml", cwd), ".cargo/config.toml");
        assert_eq!(
            shown("/home/alice/.cargo/config.toml", cwd),
            "$CARGO_HOME/config.toml"
        );
    }
    assert_eq!(
        shown("/w/.cargo/config", "/w/ws/app"),
        "../../.cargo/config"
    );
    assert_eq!(
        shown_path(
            Path::new("/w/.cargo/config"),
            None,
            None,
            Path::new("/elsewhere")
        ),
        "/w/.cargo/config"
    );
}
