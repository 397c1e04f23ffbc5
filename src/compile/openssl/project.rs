//! The build of OpenSSL itself: a small generated cargo project whose build script calls the pinned
//! `openssl-src` crate, run with a fixed environment, installed through `DESTDIR`.
//!
//! Takes a temp directory, the platform's [`Decision`] and its [`Compiler`]; gives the install
//! directory (`include/`, `lib/`), checked to hold no path of the temp directory.

use super::compiler::{Compiler, STAGE};
use crate::compile::types::Decision;
use crate::ui;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `openssl-src` crate that builds OpenSSL (its version carries OpenSSL's after the `+`).
pub const OPENSSL_SRC: &str = "300.6.1+3.6.3";

/// How the generated project builds it; part of the cache key, so a change here makes new entries.
pub(super) const RECIPE: &str =
    "1: openssl-src Build, --release, SOURCE_DATE_EPOCH=0, --prefix=/usr/local via CFLAGS, DESTDIR";

/// The OpenSSL version [`OPENSSL_SRC`] builds.
pub fn version() -> &'static str {
    OPENSSL_SRC.split_once('+').map_or(OPENSSL_SRC, |(_, v)| v)
}

/// The generated project's build script: OpenSSL for `SLIM_OPENSSL_TARGET` into `SLIM_OPENSSL_OUT`.
const BUILD_RS: &str = r#"fn main() {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    openssl_src::Build::new()
        .target(&var("SLIM_OPENSSL_TARGET"))
        .host(&var("HOST"))
        .out_dir(var("SLIM_OPENSSL_OUT"))
        .build();
}
"#;

/// Build in `stage`; gives the install directory (`include/`, `lib/`).
pub(super) fn build_in(stage: &Path, d: &Decision, c: &Compiler, offline: bool) -> Result<PathBuf> {
    let triple = d.platform.rust_target();
    let bin = write_project(stage, c)?;
    let destdir = stage.join("dest");
    let mut cmd = command(stage, &bin, triple, c, offline)?;
    let log_path = stage.join("build.log");
    let log = std::fs::File::create(&log_path)?;
    // OpenSSL's Makefile assigns `DESTDIR=`, so only a command-line variable (which MAKEFLAGS
    // carries to every make it runs) overrides it; openssl-src's build step replaces MAKEFLAGS
    // with cargo's jobserver, its install step keeps this.
    cmd.env("MAKEFLAGS", make_var("DESTDIR", &destdir))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    ui::verbose(format!(
        "building OpenSSL in {} (log: {})",
        stage.display(),
        log_path.display()
    ));
    let status = cmd
        .status()
        .context("running cargo to build OpenSSL (openssl-src)")?;
    if !status.success() {
        return Err(failed(&log_path, triple, c, status));
    }
    let install = destdir.join("usr/local");
    if !complete_libs(&install) {
        bail!(
            "the OpenSSL build for {triple} succeeded but left no lib/libssl.a and lib/libcrypto.a in {} (see {})",
            install.display(),
            log_path.display()
        );
    }
    check_no_paths(&install, &[stage])?;
    Ok(install)
}

/// Write the generated project into `stage/project` and the compiler's wrapper scripts into
/// `stage/bin`, which is returned.
fn write_project(stage: &Path, c: &Compiler) -> Result<PathBuf> {
    let project = stage.join("project");
    let bin = stage.join("bin");
    std::fs::create_dir_all(project.join("src"))?;
    std::fs::create_dir_all(&bin)?;
    std::fs::write(
        project.join("Cargo.toml"),
        format!(
            "[package]\nname = \"slim-image-openssl\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[workspace]\n\n[build-dependencies]\nopenssl-src = \"={OPENSSL_SRC}\"\n"
        ),
    )?;
    std::fs::write(project.join("build.rs"), BUILD_RS)?;
    std::fs::write(project.join("src/main.rs"), "fn main() {}\n")?;
    for (file, script) in &c.scripts {
        use std::os::unix::fs::PermissionsExt;
        let p = bin.join(file);
        let stage_text = stage.to_string_lossy().replace('\'', r"'\''");
        std::fs::write(&p, script.replace(STAGE, &format!("'{stage_text}'")))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(bin)
}

/// The cargo command that builds the project in `stage` for `triple` (wrappers in `bin` first on
/// PATH), with the fixed environment and no secret; the caller adds `MAKEFLAGS` and the output.
fn command(stage: &Path, bin: &Path, triple: &str, c: &Compiler, offline: bool) -> Result<Command> {
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    let host = host_triple().unwrap_or_default();
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["build", "--release", "-vv", "--manifest-path"])
        .arg(stage.join("project/Cargo.toml"))
        .arg("--target-dir")
        .arg(stage.join("target"));
    if !host.is_empty() {
        cmd.args(["--target", &host]);
    }
    if offline {
        cmd.arg("--offline");
    }
    for (k, v) in fixed_env(triple, &c.env) {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    crate::secret_env::without_secrets(&mut cmd)
        .env("SOURCE_DATE_EPOCH", "0")
        .env("SLIM_OPENSSL_TARGET", triple)
        .env("SLIM_OPENSSL_OUT", stage.join("out"))
        .env("PATH", path)
        .current_dir(stage);
    Ok(cmd)
}

/// The error for a build that failed with `status`: the end of its log, and what to do.
fn failed(
    log_path: &Path,
    triple: &str,
    c: &Compiler,
    status: std::process::ExitStatus,
) -> anyhow::Error {
    let key = triple.replace('-', "_");
    let text = std::fs::read(log_path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(40)..].join("\n");
    anyhow::anyhow!(
        "building OpenSSL {} for {triple} with {} failed ({status}); the end of its output:\n{}\n\
         It needs perl and make ({}), and crates.io for the openssl-src crate. \
         To use an OpenSSL of your own, set {}_OPENSSL_DIR (or OPENSSL_DIR) and OPENSSL_STATIC=1, or \
         `openssl = \"system\"` in [package.metadata.slim-image]; or turn on openssl's `vendored` feature",
        version(),
        c.name,
        ui::redact_and_cut(&tail, 8000),
        crate::host::Host::current().install_hint(crate::host::Tool::PerlMake),
        key.to_ascii_uppercase()
    )
}

/// What the build's environment sets (`Some`) or removes (`None`), beside `tools` (the compiler's
/// `CC_<triple>` and the like): what the user set for their own C builds would change OpenSSL's bytes
/// without changing the cache key, so OpenSSL is built only from what is set here. Set, not only
/// removed, where a cargo config's `[env]` could bring it back (cargo's `[env]` does not replace
/// what is set): every spelling the cc crate reads for the target (`CC_x86_64-unknown-linux-musl`
/// comes before `CC_x86_64_unknown_linux_musl`; its flags add up from all of them), and the
/// rustflags, some of which cc turns into C flags.
pub(super) fn fixed_env(triple: &str, tools: &[(String, String)]) -> Vec<(String, Option<String>)> {
    let key = triple.replace('-', "_");
    let empty = [
        "CFLAGS".to_string(),
        "CXXFLAGS".into(),
        "CPPFLAGS".into(),
        "LDFLAGS".into(),
        "TARGET_CFLAGS".into(),
        "CARGO_ENCODED_RUSTFLAGS".into(),
        format!("CFLAGS_{triple}"),
    ];
    let removed = [
        "TARGET_CC",
        "TARGET_AR",
        "CROSS_COMPILE",
        "CRATE_CC_NO_DEFAULTS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_BUILD_DIR",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_RUSTC_WRAPPER",
        "PERL",
        "OPENSSL_SRC_PERL",
        "MFLAGS",
        "DESTDIR",
    ];
    let mut out: Vec<(String, Option<String>)> = empty
        .into_iter()
        .map(|v| (v, Some(String::new())))
        .chain(removed.iter().map(|v| (v.to_string(), None)))
        .collect();
    for (k, v) in tools {
        out.push((k.clone(), Some(v.clone())));
        if let Some(tool) = k.strip_suffix(&format!("_{key}")) {
            out.push((format!("{tool}_{triple}"), Some(v.clone())));
        }
    }
    // openssl-src hands the compiler's flags to OpenSSL's Configure, for which the last
    // --prefix wins: the prefix OpenSSL records is /usr/local, installed below DESTDIR.
    out.push((format!("CFLAGS_{key}"), Some("--prefix=/usr/local".into())));
    out
}

/// The host's triple, from `rustc -vV` of the rustc cargo runs: the generated project is built for it
/// explicitly, whatever `build.target` a cargo config file sets.
fn host_triple() -> Option<String> {
    let out = Command::new(crate::compile::user_config::rustc())
        .arg("-vV")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_string())
}

/// `NAME=value` for MAKEFLAGS, which splits on blanks: a blank or backslash in the value is escaped.
pub(super) fn make_var(name: &str, value: &Path) -> std::ffi::OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let mut out = format!("{name}=").into_bytes();
    for &b in value.as_os_str().as_bytes() {
        if matches!(b, b' ' | b'\t' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    std::ffi::OsString::from_vec(out)
}

fn complete_libs(dir: &Path) -> bool {
    ["lib/libssl.a", "lib/libcrypto.a"]
        .iter()
        .all(|f| dir.join(f).is_file())
}

/// Refuse libraries that hold one of `paths` (the build's temp directory): linked into a binary,
/// they would make the image's digest depend on where and by whom OpenSSL was built.
fn check_no_paths(install: &Path, paths: &[&Path]) -> Result<()> {
    for lib in ["lib/libssl.a", "lib/libcrypto.a"] {
        let bytes = std::fs::read(install.join(lib))
            .with_context(|| format!("reading {}", install.join(lib).display()))?;
        for p in paths {
            let needle = p.as_os_str().as_encoded_bytes();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                bail!(
                    "the OpenSSL just built holds its build directory's path {} in {lib}: binaries linked with it would differ by where it was built, so it is not kept (please report this, with the openssl-src version {OPENSSL_SRC}); meanwhile set OPENSSL_DIR to an OpenSSL of your own, or turn on openssl's `vendored` feature",
                    p.display()
                );
            }
        }
    }
    Ok(())
}
