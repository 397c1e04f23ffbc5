//! Attacks on the rustc wrapper mode, the remap list and the tool's build dirs (issue 12): each test
//! is a way a user's environment or files broke a promise once (a normal run taken for wrapper mode,
//! RUSTFLAGS that hid every compilation from the wrapper, ...). They build the small
//! tests/fixtures/hello workspace in the shared target dir.

mod common;

use common::slim;
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

fn built(name: &str) -> PathBuf {
    slim::built_binary(&slim::shared_target(), TRIPLE, name, false)
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
    slim::ok(c);
    assert!(has_dep_section(&built("hello")));
}

/// A `--print` in the user's RUSTFLAGS reaches every compilation: those are still compilations
/// (remapped, linked with the dependency data), not probes. They used to be passed through
/// untouched, and the build failed saying a linker dropped the section.
#[test]
fn a_print_in_rustflags_does_not_hide_compilations_from_the_wrapper() {
    // goodbye, not hello: the tests run at once, and another RUSTFLAGS relinks the bin.
    let mut c = on_hello(&["--bin", "goodbye"]);
    c.env("RUSTFLAGS", "--print=native-static-libs");
    slim::ok(c);
    assert!(has_dep_section(&built("goodbye")));
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
    slim::ok(c);
    assert!(has_dep_section(&built("hello")));
}
