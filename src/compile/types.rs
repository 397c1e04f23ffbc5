//! The values the C side of a build is decided and recorded in, with no logic that runs anything:
//! the `c-toolchain` [`Choice`], the [`Toolchain`] picked, the [`UserSettings`] found, the
//! [`Decision`] for one platform, and what the SBOM records ([`Tools`], [`CLibrary`]).
//!
//! Takes the `-sys` crates' shape from `c_crates`; the bottom of `compile`: `c_toolchain` decides
//! these values, `user_config` reads the settings, `c_libs` and `openssl` build from a decision,
//! and `toolchain` turns one into a cargo command.

use super::c_crates::SysCrate;
use crate::platform::Platform;

/// `c-toolchain` / `--c-toolchain`: how C code of dependencies is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    /// By the rule: rust-lld for pure Rust, musl-gcc natively, zig when cross-compiling.
    #[default]
    Auto,
    /// `CC_<target>=musl-gcc`, linked with rust-lld (the machine's own platform only, on Linux).
    MuslGcc,
    /// `cargo zigbuild` (zig compiles the C code and links), for any platform.
    Zig,
    /// rust-lld and Rust's self-contained musl, no C compiler (pure Rust only).
    RustLld,
}

impl Choice {
    /// The spelling of the key and the flag.
    pub fn name(self) -> &'static str {
        match self {
            Choice::Auto => "auto",
            Choice::MuslGcc => "musl-gcc",
            Choice::Zig => "zig",
            Choice::RustLld => "rust-lld",
        }
    }

    /// Parse a `c-toolchain` value; the error says what to write.
    pub fn parse(s: &str) -> Result<Choice, String> {
        [Choice::Auto, Choice::MuslGcc, Choice::Zig, Choice::RustLld]
            .into_iter()
            .find(|c| c.name() == s.trim())
            .ok_or_else(|| {
                format!(
                    "`{}` is not a C toolchain: write one of auto (default), musl-gcc, zig, rust-lld",
                    crate::config::quote::shown(s)
                )
            })
    }
}

/// The toolchain one platform's build uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Toolchain {
    /// rust-lld with Rust's self-contained musl (crt objects, libc.a); no C compiler.
    RustLld,
    /// `CC_<target>=musl-gcc` for C code, rust-lld to link.
    MuslGcc,
    /// `cargo zigbuild`: zig compiles C code and links.
    Zig,
    /// A C compiler the user set (e.g. `CC_x86_64_unknown_linux_musl=clang`), and no linker: their
    /// compiler for C code, rust-lld to link (a C compiler says nothing about the linker, which
    /// would otherwise be rustc's default, the `cc` on PATH).
    UserCc(String),
    /// A linker the user set (and maybe a C compiler); we set nothing.
    User(String),
}

impl Toolchain {
    /// How the plan, the notes and the SBOM name it: `rust-lld`, `musl-gcc`, `zig`, `user: ...`.
    pub fn name(&self) -> String {
        match self {
            Toolchain::RustLld => "rust-lld".into(),
            Toolchain::MuslGcc => "musl-gcc".into(),
            Toolchain::Zig => "zig".into(),
            Toolchain::UserCc(s) => format!("user: {s}, linked with rust-lld"),
            Toolchain::User(s) => format!("user: {s}"),
        }
    }
}

/// A C compiler and a linker the user configured for the target (what was set, for the record; read
/// by `user_settings`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSettings {
    /// `CC_<triple>=...` or `TARGET_CC=...`, in the environment or a config file's `[env]`.
    pub cc: Option<String>,
    /// `CARGO_TARGET_<T>_LINKER=...`, `linker` in a cargo config's `[target.<triple>]` or matching
    /// `[target.'cfg(..)']`, or `-C linker=` / `-C linker-flavor=` in rustflags.
    pub linker: Option<String>,
    /// With no linker set: a link argument in rustflags that only a C compiler driver understands
    /// (`-C link-arg=-Wl,...`), which rust-lld, a plain ld, rejects.
    pub link_args: Option<String>,
}

/// The C toolchain of one platform's build, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The platform built.
    pub platform: Platform,
    /// What builds it.
    pub toolchain: Toolchain,
    /// The crates compiled for the platform whose build scripts use `cc` (`name@version`).
    pub c_crates: Vec<String>,
    /// The choice it came from.
    pub choice: Choice,
    /// The `-sys` crates compiled for the platform, with their features (what `c_libs` reads).
    pub sys_crates: Vec<SysCrate>,
    /// The `cargo tree` text of the platform it was decided from (empty when none was run): what
    /// `multi` compares with one `cargo tree` of several targets.
    pub tree: String,
}

impl Decision {
    /// The C crates for a message: `ring@0.17.8, zstd-sys@2.0.16`.
    pub(super) fn crates(&self) -> String {
        self.c_crates.join(", ")
    }
}

/// What built one platform's binaries, for the SBOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// `rustc -V`, e.g. `rustc 1.95.0 (59807616e 2026-04-14)`.
    pub rustc: Option<String>,
    /// The C toolchain's name ([`Toolchain::name`]).
    pub c_toolchain: String,
    /// Its version: the first line of `musl-gcc --version`, `cargo-zigbuild --version` and `zig
    /// version`, or `rustc -V` for rust-lld (it ships with rustc); `None` for the user's own.
    pub c_version: Option<String>,
    /// C libraries cargo slim-image built and linked in (OpenSSL, see `c_libs`).
    pub c_libraries: Vec<CLibrary>,
}

/// A C library built by cargo slim-image and linked into a platform's binaries, for the SBOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CLibrary {
    /// `openssl`.
    pub name: String,
    /// `3.6.3`.
    pub version: String,
    /// Its declared license (SPDX expression).
    pub license: String,
    /// The crate it was built for (`openssl-sys@0.9.118`).
    pub for_crate: String,
}

impl CLibrary {
    /// `pkg:generic/openssl@3.6.3`.
    pub fn purl(&self) -> String {
        format!("pkg:generic/{}@{}", self.name, self.version)
    }
}
