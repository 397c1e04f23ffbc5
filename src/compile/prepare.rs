//! What a build hands the rustc wrapper, and the target dir it builds in.
//!
//! [`reproducible`] turns one platform's `cargo metadata` into a [`Reproducible`] (the remap list and
//! the `.dep-v0` payload of each package whose binaries carry their dependency list). [`setup`] then
//! picks the build's own cargo target dir, `<target>/slim-image/.build/<key>`, where the key is a
//! hash of the [`Stamp`] (tool version, remap list, which packages embed dependency data, the
//! chained user wrapper, the extra environment). cargo's fingerprints do not cover `RUSTC_WRAPPER`
//! or what a wrapper adds, so artifacts built without these flags (the user's own `cargo build`,
//! or another tool version) must never be reused: a different stamp means a different directory
//! (rather than wiping one directory whenever the stamp changes), so two runs with different
//! settings that share a target dir (tests, several workspaces with one `CARGO_TARGET_DIR`) never
//! remove each other's trees while cargo works in them, nor rebuild everything in turn. An
//! unchanged workspace gets the same directory and stays a no-op build. `setup` writes
//! the object files and the [`WrapperConfig`], and gives the environment that turns the wrapper on.

use super::remap::{self, Places};
use super::request::{BuildRequest, BuiltBinary, Reproducible};
use super::wrapper::{WrapperConfig, CONFIG_VAR};
use super::{depdata, user_env};
use anyhow::{bail, Context, Result};
use cargo_metadata::Metadata;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The wrapper's inputs from `md` (`cargo metadata` filtered for the platform, with the build's
/// features): remap pairs for the sysroot, `CARGO_HOME`, the workspace, `target_dir` and packages
/// outside them, and dependency data for each package of `embed`.
pub fn reproducible(md: &Metadata, target_dir: &Path, embed: &[String]) -> Result<Reproducible> {
    let places = Places {
        sysroot: remap::sysroot(),
        cargo_home: remap::cargo_home(),
        workspace_root: Some(md.workspace_root.clone().into_std_path_buf()),
        target_dirs: vec![absolute(target_dir)],
    };
    let mut dep_data = BTreeMap::new();
    for p in embed {
        let info = depdata::version_info(md, p)
            .with_context(|| format!("listing the dependencies of {p} to embed in its binaries"))?;
        dep_data.insert(p.clone(), depdata::payload(&info)?);
    }
    Ok(Reproducible {
        remap: remap::list(&places, md),
        dep_data,
    })
}

fn absolute(p: &Path) -> PathBuf {
    std::env::current_dir().map_or_else(|_| p.to_path_buf(), |d| d.join(p))
}

/// What decides the build's directory: everything the wrapper adds that cargo cannot see.
#[derive(Debug, Serialize)]
pub struct Stamp<'a> {
    /// `cargo-slim-image <version>`.
    pub tool: String,
    /// The remap pairs.
    pub remap: &'a [(PathBuf, String)],
    /// The packages whose bins carry dependency data (not the data: cargo rebuilds a bin whose
    /// dependencies change).
    pub dep_data: Vec<&'a str>,
    /// The chained user wrapper.
    pub user_wrapper: &'a Option<PathBuf>,
    /// The extra environment (`--min-size`'s profile overrides, so that build has its own tree).
    pub extra_env: &'a [(String, String)],
}

/// A prepared build: where cargo builds, and the environment that turns the wrapper on.
#[derive(Debug)]
pub struct Setup {
    /// The `--target-dir` for cargo.
    pub cargo_target_dir: PathBuf,
    /// `RUSTC_WRAPPER`, [`CONFIG_VAR`], `CARGO_BUILD_BUILD_DIR` (the build dir too), and
    /// `CFLAGS`/`CXXFLAGS` with the remap list for C compilers before the user's own.
    pub env: Vec<(String, String)>,
}

/// The locks of the build dirs this process built in, held (shared) until it exits: the binaries
/// are read after the build (packaging, the SBOM), and another run's pruning must not remove them
/// first. The system releases them when the process ends.
static HELD: std::sync::Mutex<Vec<std::fs::File>> = std::sync::Mutex::new(Vec::new());

/// How many build dirs one target dir keeps: the most recently used. A new stamp (a moved or
/// temporary checkout, another tool version) makes a new one, so older ones that no run holds are
/// removed, or a target dir shared by many checkouts would grow without end.
const KEEP: usize = 8;

fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

fn open_lock(dir: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
}

/// Create `dir` and hold its lock shared, marking it used now (the lock file's mtime). A pruning
/// run removes a dir only while holding its lock exclusively: if the lock we got is of a removed
/// file, the dir was pruned meanwhile, and it is made again.
fn hold(dir: &Path) -> Result<std::fs::File> {
    loop {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the build directory {}", dir.display()))?;
        let file = open_lock(dir).with_context(|| format!("opening {}/lock", dir.display()))?;
        file.lock_shared()
            .with_context(|| format!("locking {}/lock", dir.display()))?;
        let (now, held) = (std::fs::metadata(dir.join("lock")), file.metadata());
        if let (Ok(n), Ok(h)) = (&now, &held) {
            if same_file(n, h) {
                file.set_modified(std::time::SystemTime::now())
                    .with_context(|| format!("marking {} used", dir.display()))?;
                return Ok(file);
            }
        }
    }
}

/// Remove the build dirs under `root` past the [`KEEP`] most recently used (`current` counts as
/// one), each only if no run holds it. Best effort: what cannot be removed stays.
fn prune(root: &Path, current: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    // Real directories only: a symlink planted in `root` is never followed (its target would get
    // a lock file, and be locked, by a run that has no business there). And only build dirs, which
    // hold a `stamp.json`: whatever else is there (or in the place `root` itself links to) is not
    // the tool's to remove.
    let entries: Vec<_> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .collect();
    // What a run killed while removing a dir left behind (see below): nobody's any more.
    for e in &entries {
        if e.file_name().to_string_lossy().starts_with(".removing-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = entries
        .iter()
        .filter(|e| !e.file_name().to_string_lossy().starts_with(".removing-"))
        .map(|e| e.path())
        .filter(|p| p != current)
        .filter(|p| std::fs::symlink_metadata(p.join("stamp.json")).is_ok_and(|m| m.is_file()))
        .map(|p| {
            let used = std::fs::metadata(p.join("lock")).and_then(|m| m.modified());
            (used.unwrap_or(std::time::UNIX_EPOCH), p)
        })
        .collect();
    dirs.sort_by(|a, b| b.cmp(a));
    for (i, (_, dir)) in dirs.into_iter().enumerate().skip(KEEP - 1) {
        // The exclusive lock is held until the dir has left its name: released before (as it once
        // was, the lock's file dropped right after `try_lock`), another run's `hold` could take the
        // dir and write its objects while `remove_dir_all` was deleting them (tests/size.rs saw
        // "cannot open .../dep-data/...o" from rust-lld). Renamed first, the dir is gone from its
        // name at once: a run that opened its lock before waits on the old file, finds it is not the
        // one at the name any more, and makes a fresh dir ([`hold`]).
        let Ok(lock) = open_lock(&dir) else { continue };
        if lock.try_lock().is_err() {
            continue;
        }
        crate::ui::verbose(format!(
            "removing the unused build directory {}",
            dir.display()
        ));
        let away = root.join(format!(".removing-{}-{i}", std::process::id()));
        if std::fs::rename(&dir, &away).is_ok() {
            drop(lock);
            let _ = std::fs::remove_dir_all(&away);
        }
    }
}

/// The extra environment of one cargo build of `reqs`: each request's, in order, without repeats
/// (one request: its own, as it is).
pub fn merged_env(reqs: &[&BuildRequest]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for pair in reqs.iter().flat_map(|r| &r.extra_env) {
        if !env.contains(pair) {
            env.push(pair.clone());
        }
    }
    env
}

/// Pick the build dir for the requests of one cargo build (one per target; they share the remap
/// list and which packages embed dependency data, see `multi`) under `target_dir`, write the
/// stamp, each target's dependency objects and the wrapper config there, and give the environment
/// for cargo. One request gives the build dir it always had.
pub fn setup(reqs: &[&BuildRequest], target_dir: &Path) -> Result<Setup> {
    let req = reqs[0];
    let extra_env = merged_env(reqs);
    let target_dir = absolute(target_dir);
    if target_dir.to_str().is_none() {
        bail!(
            "the target dir {} is not valid UTF-8, which the rustc wrapper's config (JSON) and \
             rustc's --remap-path-prefix need: pass a --target-dir (or set CARGO_TARGET_DIR) whose \
             path is UTF-8",
            target_dir.display()
        );
    }
    let user_wrapper = user_env::user_rustc_wrapper();
    let stamp = Stamp {
        tool: format!("cargo-slim-image {}", env!("CARGO_PKG_VERSION")),
        remap: &req.repro.remap,
        dep_data: req.repro.dep_data.keys().map(String::as_str).collect(),
        user_wrapper: &user_wrapper,
        extra_env: &extra_env,
    };
    let stamp_json = serde_json::to_vec_pretty(&stamp).context("encoding the build stamp")?;
    let key = short_hash(&stamp_json);
    let root = target_dir.join("slim-image").join(".build");
    let dir = root.join(key);
    HELD.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(hold(&dir)?);
    prune(&root, &dir);
    write_if_changed(&dir.join("stamp.json"), &stamp_json)?;
    // The object files and the wrapper config are named by their contents: two runs with the
    // same stamp but other dependency data (other features) share this dir, and one must never
    // rewrite a file the other's cargo is linking with or its wrapper is reading.
    let targets = write_dep_objects(reqs, &dir)?;
    let mut remap = req.repro.remap.clone();
    // The build dir itself, most specific of all: OUT_DIR sources live in it.
    remap.push((dir.clone(), "/target".into()));
    let config = WrapperConfig {
        remap,
        targets,
        user_wrapper,
    };
    let text = serde_json::to_vec_pretty(&config).context("encoding the rustc wrapper config")?;
    let triples: Vec<&str> = reqs.iter().map(|r| r.platform.rust_target()).collect();
    let config_path = dir.join(format!(
        "wrapper-{}-{}.json",
        triples.join("+"),
        short_hash(&text)
    ));
    write_if_changed(&config_path, &text)?;
    let exe = match &req.rustc_wrapper {
        Some(p) => p.clone(),
        None => {
            std::env::current_exe().context("finding this executable to run it as rustc wrapper")?
        }
    };
    let c_flags = remap::c_flags(&config.remap);
    let c_env: Vec<(String, String)> = triples
        .iter()
        .flat_map(|t| user_env::c_flags_env(&c_flags, t, &|v| std::env::var(v).ok()))
        .collect();
    Ok(Setup {
        env: cargo_env(&dir, c_env, &exe, &config_path),
        cargo_target_dir: dir,
    })
}

/// Write each target's dependency objects of `reqs` under `dir`/dep-data/TRIPLE, named by their
/// contents: per triple, package name -> object file.
fn write_dep_objects(
    reqs: &[&BuildRequest],
    dir: &Path,
) -> Result<BTreeMap<String, BTreeMap<String, PathBuf>>> {
    let mut targets = BTreeMap::new();
    for r in reqs {
        let triple = r.platform.rust_target();
        let data_dir = dir.join("dep-data").join(triple);
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating the build directory {}", data_dir.display()))?;
        let mut dep_objects = BTreeMap::new();
        for (pkg, payload) in &r.repro.dep_data {
            let object = depdata::object(r.platform.elf_machine(), payload);
            let path = data_dir.join(format!("{pkg}-{}.o", short_hash(&object)));
            write_if_changed(&path, &object)?;
            dep_objects.insert(pkg.clone(), path);
        }
        targets.insert(triple.to_string(), dep_objects);
    }
    Ok(targets)
}

/// The environment of the cargo build: the C flags `c_env`, the build dir `dir`, this executable
/// (`exe`) as rustc wrapper and its config at `config_path`.
fn cargo_env(
    dir: &Path,
    c_env: Vec<(String, String)>,
    exe: &Path,
    config_path: &Path,
) -> Vec<(String, String)> {
    c_env
        .into_iter()
        .chain([
            // cargo's intermediate artifacts (deps, build script output, fingerprints) go to its
            // build dir, the target dir unless `build.build-dir` says otherwise: with one of the
            // user's, cargo would reuse artifacts of their own builds (made without the wrapper's
            // flags) and put OUT_DIR where no remap covers it. The environment beats config files.
            (
                "CARGO_BUILD_BUILD_DIR".into(),
                dir.to_string_lossy().into_owned(),
            ),
            ("RUSTC_WRAPPER".into(), exe.to_string_lossy().into_owned()),
            (
                CONFIG_VAR.into(),
                config_path.to_string_lossy().into_owned(),
            ),
        ])
        .collect()
}

/// The bins of `built` whose `.dep-v0` section is not the dependency data of this build: cargo does
/// not see the object file, so a link made with older data (or none) could be reused.
pub fn stale<'a>(req: &BuildRequest, built: &'a [BuiltBinary]) -> Result<Vec<&'a BuiltBinary>> {
    let mut out = Vec::new();
    for b in built {
        let Some(payload) = req.repro.dep_data.get(&b.package) else {
            continue;
        };
        let bytes = std::fs::read(&b.path).with_context(|| {
            format!("reading {} to check its dependency list", b.path.display())
        })?;
        if depdata::section_in(&bytes) != Some(payload.as_slice()) {
            out.push(b);
        }
    }
    Ok(out)
}

/// Remove `bin` and the file in the `deps/` beside it that it is a hard link of, so that cargo
/// links it again (it rebuilds an output that is missing).
pub fn unlink(bin: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(bin).with_context(|| format!("reading {}", bin.display()))?;
    let deps = bin.parent().map(|d| d.join("deps")).unwrap_or_default();
    for e in std::fs::read_dir(&deps).into_iter().flatten().flatten() {
        if e.metadata()
            .is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino())
        {
            std::fs::remove_file(e.path())
                .with_context(|| format!("removing {}", e.path().display()))?;
        }
    }
    std::fs::remove_file(bin).with_context(|| format!("removing {}", bin.display()))
}

/// The first 16 hex digits of the SHA-256 of `bytes`: a name for files that differ by content.
fn short_hash(bytes: &[u8]) -> String {
    crate::digest::Digest::of(bytes).hex()[..16].to_string()
}

/// Write `bytes` to `path` through a temp file and a rename, unless it already holds them (a
/// concurrent run with the same stamp writes the same bytes).
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|b| b == bytes) {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_the_most_recently_used_and_those_in_use() {
        let root = tempfile::tempdir().unwrap();
        let day = std::time::Duration::from_secs(86_400);
        let mut held = None;
        for i in 0..12u32 {
            let dir = root.path().join(format!("d{i:02}"));
            let lock = hold(&dir).unwrap();
            std::fs::write(dir.join("stamp.json"), "{}").unwrap();
            lock.set_modified(std::time::UNIX_EPOCH + day * (i + 1))
                .unwrap();
            if i == 0 {
                held = Some(lock); // the oldest, but a run is using it
            }
        }
        let current = root.path().join("d05");
        prune(root.path(), &current);
        let mut left: Vec<String> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let want = [
            "d00", "d04", "d05", "d06", "d07", "d08", "d09", "d10", "d11",
        ];
        assert_eq!(left, want);
        drop(held);
    }

    #[test]
    fn what_a_killed_prune_was_removing_is_removed_by_the_next() {
        let root = tempfile::tempdir().unwrap();
        // Renamed away, then killed inside remove_dir_all: no stamp.json left, no lock.
        let left = root.path().join(".removing-4242-9");
        std::fs::create_dir_all(left.join("dep-data")).unwrap();
        std::fs::write(left.join("dep-data/x.o"), "obj").unwrap();
        let current = root.path().join("cur");
        let _held = hold(&current).unwrap();
        prune(root.path(), &current);
        assert!(!left.exists());
        assert!(current.join("lock").exists());
    }

    #[test]
    fn prune_never_follows_a_symlink_nor_removes_what_is_no_build_dir() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "user data").unwrap();
        // The symlink is the oldest entry: pruned first if it counted as a build dir.
        std::os::unix::fs::symlink(outside.path(), root.path().join("planted")).unwrap();
        for i in 0..12u32 {
            let dir = root.path().join(format!("d{i:02}"));
            hold(&dir).unwrap();
            std::fs::write(dir.join("stamp.json"), "{}").unwrap();
        }
        // A directory that is not a build dir (no stamp.json), the oldest of all.
        let theirs = root.path().join("not-a-build-dir");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::write(theirs.join("lock"), "").unwrap();
        let old = std::fs::File::options()
            .write(true)
            .open(theirs.join("lock"))
            .unwrap();
        old.set_modified(std::time::UNIX_EPOCH).unwrap();
        prune(root.path(), &root.path().join("d11"));
        assert!(
            theirs.join("lock").exists(),
            "a directory that is no build dir was removed"
        );
        let mut left: Vec<String> = std::fs::read_dir(outside.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["keep"], "prune wrote or removed outside its root");
    }
}
