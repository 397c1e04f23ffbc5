//! OpenSSL built for a musl target once per user, for `openssl-sys` (see [`super::c_libs`]).
//!
//! Takes the platform's [`Decision`] (its C toolchain: musl-gcc natively, zig across architectures,
//! as for the crate's other C code) and gives a [`Built`]: a directory with `include/` and `lib/`
//! (`libssl.a`, `libcrypto.a`) and the environment that hands it to openssl-sys
//! (`<TRIPLE>_OPENSSL_DIR`, `<TRIPLE>_OPENSSL_STATIC=1`: per target, so a multi-platform run gives
//! each build its own). The build is the `openssl-src` crate's (pinned, [`OPENSSL_SRC`]), run from a
//! small generated cargo project whose build script calls `openssl_src::Build`, so OpenSSL is
//! configured exactly as openssl-sys's own `vendored` feature does it.
//!
//! The cache is `$SLIM_IMAGE_CACHE_DIR`, else `$XDG_CACHE_HOME/cargo-slim-image`, else
//! `~/.cache/cargo-slim-image`, under `openssl/<version>-<target>-<hash of toolchain and recipe>`:
//! every project of the user shares it. One run builds an entry at a time (an exclusive `flock` on
//! `<entry>.lock`; a second run waits, then finds the entry); the build is staged in a temp directory
//! beside it and renamed into place when complete, so an interrupted build leaves no entry (only a
//! temp that the next run removes).
//!
//! Reproducible: the static libraries must not depend on where the cache is or who built it, since
//! they are linked into the image's binary. OpenSSL compiles its sources by relative paths and
//! without debug info (a release build script), its build date comes from `SOURCE_DATE_EPOCH` (set
//! to 0), and the install prefix it records (`ENGINESDIR`, `MODULESDIR`) is the fixed `/usr/local`,
//! installed through `DESTDIR` into the temp directory; the C compiler is named by a bare program
//! name. The finished libraries are checked for the temp directory's path and refused if it is there.

use super::types::{Decision, Toolchain};
use crate::platform::Platform;
use crate::ui;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The `openssl-src` crate that builds OpenSSL (its version carries OpenSSL's after the `+`).
pub const OPENSSL_SRC: &str = "300.6.1+3.6.3";

/// How the generated project builds it; part of the cache key, so a change here makes new entries.
const RECIPE: &str =
    "1: openssl-src Build, --release, SOURCE_DATE_EPOCH=0, --prefix=/usr/local via CFLAGS, DESTDIR";

/// Stands for the build's temp directory in a wrapper script (replaced, shell-quoted, when written).
const STAGE: &str = "@STAGE@";

/// The OpenSSL version [`OPENSSL_SRC`] builds.
pub fn version() -> &'static str {
    OPENSSL_SRC.split_once('+').map_or(OPENSSL_SRC, |(_, v)| v)
}

/// OpenSSL for one target, in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The entry: `include/`, `lib/`.
    pub dir: PathBuf,
    /// OpenSSL's version.
    pub version: String,
    /// What to give cargo.
    pub env: Vec<(String, String)>,
}

/// The C compiler, archiver and ranlib for `d`, as (name for messages, its version for the key,
/// wrapper scripts to write: (file name, script), environment for the build).
struct Compiler {
    name: String,
    id: String,
    scripts: Vec<(String, String)>,
    env: Vec<(String, String)>,
}

fn compiler(d: &Decision) -> Result<Compiler> {
    let triple = d.platform.rust_target();
    let key = triple.replace('-', "_");
    let tools = |cc: &str, ar: &str, ranlib: &str| {
        vec![
            (format!("CC_{key}"), cc.to_string()),
            (format!("AR_{key}"), ar.to_string()),
            (format!("RANLIB_{key}"), ranlib.to_string()),
        ]
    };
    match &d.toolchain {
        Toolchain::MuslGcc => Ok(Compiler {
            name: "musl-gcc".into(),
            id: super::c_toolchain::tools(d)
                .c_version
                .unwrap_or_else(|| "musl-gcc".into()),
            scripts: Vec::new(),
            env: tools("musl-gcc", "ar", "ranlib"),
        }),
        Toolchain::Zig => {
            let zigbuild = super::toolchain::find_program("cargo-zigbuild")
                .with_context(|| {
                    format!(
                        "cargo-zigbuild is needed to compile OpenSSL with zig: install it with {}",
                        crate::host::Host::current().install_hint(crate::host::Tool::Zigbuild)
                    )
                })?;
            let zt = format!("{}-linux-musl", d.platform.rust_target().split('-').next().unwrap_or(""));
            let run = |what: &str, before: &str, after: &str| {
                format!(
                    "#!/bin/sh\nexec '{}' zig {what} -- {before}\"$@\"{after}\n",
                    zigbuild.display().to_string().replace('\'', r"'\''")
                )
            };
            // zig cc writes debug info by default, with the build directory as DW_AT_comp_dir:
            // none (as musl-gcc in a release build script), and any path of the build directory
            // mapped away. Here, not in CFLAGS, which OpenSSL records in libcrypto.
            let cc_after = format!(" -g0 -ffile-prefix-map={STAGE}=/openssl");
            // Bare names, found on PATH: the compiler's name is part of OpenSSL's recorded flags.
            let (cc, ar, ranlib) = (
                format!("slim-zig-cc-{zt}"),
                "slim-zig-ar".to_string(),
                "slim-zig-ranlib".to_string(),
            );
            Ok(Compiler {
                name: "zig".into(),
                id: super::c_toolchain::tools(d)
                    .c_version
                    .unwrap_or_else(|| "zig".into()),
                scripts: vec![
                    (cc.clone(), run("cc", &format!("-target {zt} "), &cc_after)),
                    (ar.clone(), run("ar", "", "")),
                    (ranlib.clone(), run("ranlib", "", "")),
                ],
                env: tools(&cc, &ar, &ranlib),
            })
        }
        other => bail!(
            "openssl-sys needs OpenSSL for {}, and cargo slim-image builds it with musl-gcc or zig, but this build's C toolchain is `{}`: set OPENSSL_DIR (or {}_OPENSSL_DIR) to an OpenSSL built for {triple} with OPENSSL_STATIC=1, or turn on openssl's `vendored` feature",
            d.platform,
            other.name(),
            key.to_ascii_uppercase()
        ),
    }
}

/// The environment that hands `dir` to openssl-sys for `platform`.
pub fn cargo_env(platform: Platform, dir: &Path) -> Vec<(String, String)> {
    let upper = platform
        .rust_target()
        .replace('-', "_")
        .to_ascii_uppercase();
    vec![
        (
            format!("{upper}_OPENSSL_DIR"),
            dir.to_string_lossy().into_owned(),
        ),
        (format!("{upper}_OPENSSL_STATIC"), "1".into()),
    ]
}

/// OpenSSL for `d`'s platform from the cache under `root`, built first if it is not there.
/// `why` names the crate that needs it (for the note).
pub fn ensure(d: &Decision, root: &Path, why: &str, offline: bool) -> Result<Built> {
    let triple = d.platform.rust_target();
    let c = compiler(d)?;
    let recipe = format!("{OPENSSL_SRC}\n{triple}\n{}\n{}\n{RECIPE}", c.name, c.id);
    let hash = crate::digest::Digest::of(recipe.as_bytes())
        .hex()
        .to_string();
    let name = format!("{}-{triple}-{}-{}", version(), c.name, &hash[..16]);
    let parent = root.join("openssl");
    let dir = parent.join(&name);
    let built = |dir: PathBuf| Built {
        env: cargo_env(d.platform, &dir),
        dir,
        version: version().to_string(),
    };
    if complete(&dir) {
        ui::note(format!(
            "using OpenSSL {} for {triple} from the cache {} (built before with {}; {why} needs it)",
            version(),
            dir.display(),
            c.name
        ));
        return Ok(built(dir));
    }
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("creating the OpenSSL cache {}", parent.display()))?;
    let lock_path = parent.join(format!("{name}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        ui::note(format!(
            "waiting for another cargo slim-image run that is building OpenSSL for {triple} ({})",
            lock_path.display()
        ));
        lock.lock()
            .with_context(|| format!("locking {}", lock_path.display()))?;
    }
    if complete(&dir) {
        ui::note(format!(
            "using OpenSSL {} for {triple} from the cache {} (another run built it with {}; {why} needs it)",
            version(),
            dir.display(),
            c.name
        ));
        return Ok(built(dir));
    }
    // Temps of runs that died (kill -9) while building; ours is made below.
    crate::sink::commit::sweep(&parent);
    if dir.exists() {
        ui::note(format!(
            "the OpenSSL cache entry {} is incomplete or damaged (a file differs from its record): building it again",
            dir.display()
        ));
        // Not complete: not a finished entry of ours; moved out of the way by removing.
        std::fs::remove_dir_all(&dir).with_context(|| {
            format!(
                "removing the incomplete OpenSSL cache entry {}",
                dir.display()
            )
        })?;
    }
    ui::status(
        "Building",
        format!(
            "OpenSSL {} for {triple} with {} (once for every project; {why} needs it)",
            version(),
            c.name
        ),
    );
    let start = Instant::now();
    let stage = crate::sink::commit::Temp::dir(&parent, crate::sink::commit::Kind::CLib)?;
    let install = build_in(stage.path(), d, &c, offline)?;
    write_record(
        &install,
        serde_json::json!({
            "openssl": version(),
            "openssl-src": OPENSSL_SRC,
            "target": triple,
            "c-toolchain": c.name,
            "c-toolchain-version": c.id,
            "recipe": RECIPE,
        }),
    )
    .with_context(|| format!("writing the OpenSSL cache entry in {}", install.display()))?;
    crate::sink::commit::sync_tree(&install)?;
    std::fs::rename(&install, &dir).with_context(|| {
        format!(
            "moving the built OpenSSL into the cache as {}",
            dir.display()
        )
    })?;
    crate::sink::commit::sync_dir(&parent)?;
    drop(stage);
    drop(lock);
    let secs = start.elapsed().as_secs();
    ui::note(format!(
        "built OpenSSL {} for {triple} with {} in {}m {:02}s, into {} (every later build of any project reuses it; {why} needs it)",
        version(),
        c.name,
        secs / 60,
        secs % 60,
        dir.display()
    ));
    Ok(built(dir))
}

/// The record of an entry (written last, before the rename).
const RECORD: &str = "cargo-slim-image.json";
/// The files of an entry that openssl-sys reads, whose digests the record holds.
const CHECKED: [&str; 3] = ["lib/libssl.a", "lib/libcrypto.a", "include/openssl/ssl.h"];

/// Write `dir`'s record: `fields` and the digests of its [`CHECKED`] files.
fn write_record(dir: &Path, mut fields: serde_json::Value) -> Result<()> {
    let mut files = serde_json::Map::new();
    for f in CHECKED {
        let d = file_digest(&dir.join(f)).with_context(|| format!("reading {f}"))?;
        files.insert(f.to_string(), d.into());
    }
    fields["files"] = files.into();
    std::fs::write(dir.join(RECORD), serde_json::to_vec_pretty(&fields)?)?;
    Ok(())
}

/// An entry is complete when its record is there and each of its [`CHECKED`] files has the digest
/// the record gives: a truncated or replaced library, or a missing header, is not used (it is
/// rebuilt), rather than failing the link in some later project.
fn complete(dir: &Path) -> bool {
    let Ok(text) = std::fs::File::open(dir.join(RECORD))
        .and_then(|f| crate::bounded::read_at_most(f, 64 * 1024))
    else {
        return false;
    };
    let Ok(record) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return false;
    };
    CHECKED.iter().all(|f| {
        record["files"][f]
            .as_str()
            .is_some_and(|want| file_digest(&dir.join(f)).is_ok_and(|got| got == want))
    })
}

/// `sha256:<hex>` of a file's bytes, read in pieces.
fn file_digest(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = crate::digest::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish().0.to_string())
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
fn build_in(stage: &Path, d: &Decision, c: &Compiler, offline: bool) -> Result<PathBuf> {
    let triple = d.platform.rust_target();
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
    let out = stage.join("out");
    let destdir = stage.join("dest");
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    let key = triple.replace('-', "_");
    let log_path = stage.join("build.log");
    let log = std::fs::File::create(&log_path)?;
    let host = host_triple().unwrap_or_default();
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["build", "--release", "-vv", "--manifest-path"])
        .arg(project.join("Cargo.toml"))
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
        // OpenSSL's Makefile assigns `DESTDIR=`, so only a command-line variable (which MAKEFLAGS
        // carries to every make it runs) overrides it; openssl-src's build step replaces
        // MAKEFLAGS with cargo's jobserver, its install step keeps this.
        .env("MAKEFLAGS", make_var("DESTDIR", &destdir))
        .env("SOURCE_DATE_EPOCH", "0")
        .env("SLIM_OPENSSL_TARGET", triple)
        .env("SLIM_OPENSSL_OUT", &out)
        .env("PATH", path)
        .current_dir(stage)
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
        let text = std::fs::read(&log_path).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        bail!(
            "building OpenSSL {} for {triple} with {} failed ({status}); the end of its output:\n{}\n\
             It needs perl and make ({}), and crates.io for the openssl-src crate. \
             To use an OpenSSL of your own, set {}_OPENSSL_DIR (or OPENSSL_DIR) and OPENSSL_STATIC=1, or \
             `openssl = \"system\"` in [package.metadata.slim-image]; or turn on openssl's `vendored` feature",
            version(),
            c.name,
            ui::redact_and_cut(&tail, 8000),
            crate::host::Host::current().install_hint(crate::host::Tool::PerlMake),
            key.to_ascii_uppercase()
        );
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

/// What the build's environment sets (`Some`) or removes (`None`), beside `tools` (the compiler's
/// `CC_<triple>` and the like): what the user set for their own C builds would change OpenSSL's bytes
/// without changing the cache key, so OpenSSL is built only from what is set here. Set, not only
/// removed, where a cargo config's `[env]` could bring it back (cargo's `[env]` does not replace
/// what is set): every spelling the cc crate reads for the target (`CC_x86_64-unknown-linux-musl`
/// comes before `CC_x86_64_unknown_linux_musl`; its flags add up from all of them), and the
/// rustflags, some of which cc turns into C flags.
fn fixed_env(triple: &str, tools: &[(String, String)]) -> Vec<(String, Option<String>)> {
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
    let out = Command::new(super::user_config::rustc())
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
fn make_var(name: &str, value: &Path) -> std::ffi::OsString {
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

#[cfg(test)]
#[path = "openssl_tests.rs"]
mod tests;
