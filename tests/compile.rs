//! Building fixture crates for the musl targets through the library, then checking what came out:
//! static ELF for the right machine, runnable (natively, or under qemu-user when installed), and
//! `--bin` selection. Each test gets its own temp target dir; the fixtures are tiny so builds take
//! seconds.

use cargo_slim_image::compile::{build, BuildRequest, BuiltBinary};
use cargo_slim_image::elf;
use cargo_slim_image::platform::Platform;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .join("Cargo.toml")
}

fn request(fixture_name: &str, platform: Platform, target_dir: &Path) -> BuildRequest {
    let mut req = BuildRequest::new(platform);
    req.manifest_path = Some(fixture(fixture_name));
    req.target_dir = Some(target_dir.to_path_buf());
    req.locked = true;
    // The library runs inside this test binary: cargo's rustc wrapper is the tool's own binary.
    req.rustc_wrapper = Some(env!("CARGO_BIN_EXE_cargo-slim-image").into());
    req
}

fn on_path(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run a built binary: directly on its own platform, else under qemu-user if installed.
fn run(bin: &BuiltBinary) -> Option<String> {
    let mut cmd = if cargo_slim_image::host::Host::current().native_platform() == Some(bin.platform)
    {
        Command::new(&bin.path)
    } else {
        let qemu = match bin.platform {
            Platform::LinuxAmd64 => "qemu-x86_64-static",
            Platform::LinuxArm64 => "qemu-aarch64-static",
        };
        if !on_path(qemu) {
            eprintln!(
                "not running {}: {qemu} is not installed",
                bin.path.display()
            );
            return None;
        }
        let mut c = Command::new(qemu);
        c.arg(&bin.path);
        c
    };
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{} failed: {out:?}",
        bin.path.display()
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

fn names(bins: &[BuiltBinary]) -> Vec<&str> {
    bins.iter().map(|b| b.name.as_str()).collect()
}

fn check_hello(platform: Platform) {
    let dir = tempfile::tempdir().unwrap();
    let req = request("hello", platform, dir.path());
    let bins = build(&req).unwrap();
    assert_eq!(names(&bins), ["goodbye", "hello"]);
    for b in &bins {
        assert_eq!(b.package, "hello");
        assert_eq!(b.platform, platform);
        assert!(b.path.starts_with(dir.path()), "{}", b.path.display());
        let info = elf::require_static(&b.path, platform).unwrap();
        assert_eq!(info.machine, platform.elf_machine());
    }
    if let Some(out) = run(&bins[1]) {
        assert_eq!(out, "hello from a slim image\n");
    }

    // --bin selects; an already-built (fresh) binary is still reported, at the same path.
    let mut only = req.clone();
    only.bins = vec!["goodbye".into()];
    let again = build(&only).unwrap();
    assert_eq!(names(&again), ["goodbye"]);
    assert_eq!(again[0].path, bins[0].path);
    if let Some(out) = run(&again[0]) {
        assert_eq!(out, "goodbye from a slim image\n");
    }
}

#[test]
fn builds_static_hello_for_amd64() {
    check_hello(Platform::LinuxAmd64);
}

#[test]
fn builds_static_hello_for_arm64() {
    check_hello(Platform::LinuxArm64);
}

#[test]
fn c_code_is_compiled_with_musl_gcc() {
    if cargo_slim_image::host::Host::current().native_platform() != Some(Platform::LinuxAmd64)
        || !on_path("musl-gcc")
    {
        eprintln!("skipped: needs an x86_64 host with musl-gcc (apt-get install musl-tools)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The fixture's C file refuses glibc headers, so this only builds if musl-gcc was picked.
    let bins = build(&request("with-c", Platform::LinuxAmd64, dir.path())).unwrap();
    assert_eq!(names(&bins), ["with-c"]);
    elf::require_static(&bins[0].path, Platform::LinuxAmd64).unwrap();
    assert_eq!(run(&bins[0]).unwrap(), "C counted 5 bytes\n");
}

#[test]
fn failed_build_names_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let mut req = request("hello", Platform::LinuxAmd64, dir.path());
    req.bins = vec!["no-such-bin".into()];
    let err = format!("{:#}", build(&req).unwrap_err());
    assert!(
        err.contains(
            "cargo build failed for x86_64-unknown-linux-musl (exit status 101): \
             see the errors above"
        ),
        "{err}"
    );
}

#[test]
fn dynamic_binary_is_refused_for_scratch() {
    let ls = Path::new("/bin/ls");
    let Some(host) = cargo_slim_image::host::Host::current().native_platform() else {
        return;
    };
    if !ls.exists() {
        return;
    }
    let info = elf::inspect(ls).unwrap();
    let interp = info.interpreter.expect("/bin/ls has a loader");
    let err = format!("{:#}", elf::require_static(ls, host).unwrap_err());
    assert!(err.contains(&interp), "{err}");
    assert!(err.contains("libc.so"), "{err}");
    assert!(err.contains(host.rust_target()), "{err}");
    // A base image with a loader only checks the machine.
    elf::require_machine(ls, host).unwrap();
}
