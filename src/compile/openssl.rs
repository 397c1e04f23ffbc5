//! OpenSSL built for a musl target once per user, for `openssl-sys` (see `compile::c_libs`).
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

mod compiler;
mod entry;
mod project;

use super::types::Decision;
use crate::platform::Platform;
use crate::ui;
use anyhow::{Context, Result};
use compiler::{compiler, Compiler};
use entry::{complete, write_record};
use project::{build_in, RECIPE};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use project::{version, OPENSSL_SRC};

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
    let lock = lock_entry(&parent, &name, triple)?;
    if complete(&dir) {
        ui::note(format!(
            "using OpenSSL {} for {triple} from the cache {} (another run built it with {}; {why} needs it)",
            version(),
            dir.display(),
            c.name
        ));
        return Ok(built(dir));
    }
    let start = build_entry(d, &c, &dir, why, offline)?;
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

/// Take the lock of the entry `name` in `parent` (`<name>.lock`), waiting (with a note) while
/// another run builds it.
fn lock_entry(parent: &Path, name: &str, triple: &str) -> Result<std::fs::File> {
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
    Ok(lock)
}

/// Build the entry `dir` (under its lock): in a temp beside it, recorded, flushed and renamed into
/// place. Gives when the build started.
fn build_entry(
    d: &Decision,
    c: &Compiler,
    dir: &Path,
    why: &str,
    offline: bool,
) -> Result<Instant> {
    let triple = d.platform.rust_target();
    let parent = crate::sink::commit::parent_of(dir);
    // Temps of runs that died (kill -9) while building; ours is made below.
    crate::sink::commit::sweep(&parent);
    if dir.exists() {
        ui::note(format!(
            "the OpenSSL cache entry {} is incomplete or damaged (a file differs from its record): building it again",
            dir.display()
        ));
        // Not complete: not a finished entry of ours; moved out of the way by removing.
        std::fs::remove_dir_all(dir).with_context(|| {
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
    let install = build_in(stage.path(), d, c, offline)?;
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
    std::fs::rename(&install, dir).with_context(|| {
        format!(
            "moving the built OpenSSL into the cache as {}",
            dir.display()
        )
    })?;
    crate::sink::commit::sync_dir(&parent)?;
    drop(stage);
    Ok(start)
}

#[cfg(test)]
#[path = "openssl_tests.rs"]
mod tests;
