//! The one place where outputs are committed: temp paths beside a destination, the lock on the
//! destination, the swap that makes the new output visible, and the cleanup of what a run leaves.
//!
//! - Every temp this run creates ([`Temp`]) is named `.slim-image-<kind>-<pid>-<n>`, holds an advisory
//!   lock (`flock`) on itself while it lives, and is listed in one registry of live temps. Dropping a
//!   [`Temp`] that was not committed removes it; on SIGINT/SIGTERM/SIGHUP ([`install_signal_cleanup`])
//!   every listed path is removed and the process exits with 130/143/129.
//! - [`sweep`] removes leftovers of runs that died (`kill -9`, a crash, a power cut): only names of the
//!   form above, only when that pid is not alive *and* nobody holds the temp's lock, so a live run (also
//!   one in another pid namespace) never loses its temp and nothing the tool did not create is touched.
//! - [`DestLock`] ([`super::lock`]) serialises the runs writing one destination: `flock` on `.<name>.slim-image-lock`
//!   beside it, re-checked after locking (the path must still be the locked inode, else lock again),
//!   and removed by its holder before unlocking, so no lock file stays behind and no two runs ever
//!   hold "the" lock on two different inodes.
//! - [`commit`] makes a unit of staged temps visible under one lock: each staged file and directory is
//!   fsynced before, and the parent directory after, the rename. A directory replaces the old one with
//!   one `renameat2(RENAME_EXCHANGE)` where the file system has it (a crash leaves the old or the new
//!   layout, never none); elsewhere the old one is moved aside first (named after its destination, so
//!   [`sweep`] puts it back if the run dies before the new one is in). The signal cleanup waits for a
//!   commit in progress, so it never removes an old output that is aside.

use anyhow::{Context, Result};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

pub use super::lock::{lock_path, DestLock};
pub use super::sweep::sweep;

/// The prefix of every temp name; [`sweep`] looks at nothing else.
pub const PREFIX: &str = ".slim-image-";

/// What a temp is for; part of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A layout directory being written (or, after a swap, the old one being removed).
    Layout,
    /// A tarball being written.
    Archive,
    /// An SBOM file beside a layout.
    Sbom,
    /// A debug file (`debuginfo = "split"`) beside a layout.
    Debug,
    /// A provenance statement beside a layout.
    Provenance,
    /// The `--image-refs` file.
    Refs,
    /// The previous layout moved aside (file systems without `RENAME_EXCHANGE`).
    Old,
    /// A C library (OpenSSL) being built for the per-user cache (`compile::openssl`).
    CLib,
    /// The mount memory being saved in the per-user cache (`sink::mounts`).
    Mounts,
}

impl Kind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Kind::Layout => "layout",
            Kind::Archive => "archive",
            Kind::Sbom => "sbom",
            Kind::Debug => "debug",
            Kind::Provenance => "provenance",
            Kind::Refs => "refs",
            Kind::Old => "old",
            Kind::CLib => "c-lib",
            Kind::Mounts => "mounts",
        }
    }
    pub(super) const ALL: [Kind; 9] = [
        Kind::Layout,
        Kind::Archive,
        Kind::Sbom,
        Kind::Debug,
        Kind::Provenance,
        Kind::Refs,
        Kind::Old,
        Kind::CLib,
        Kind::Mounts,
    ];
}

/// Paths this run created and removes if it stops early (temps, and lock files it holds).
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

pub(super) fn live() -> MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn forget(live: &mut Vec<PathBuf>, path: &Path) {
    live.retain(|p| p != path);
}

pub(super) fn remove_path(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A temp file or directory beside a destination, removed on drop unless committed.
#[derive(Debug)]
pub struct Temp {
    path: PathBuf,
    /// The temp itself (a directory is opened read-only), locked while this value lives.
    file: File,
    armed: bool,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl Temp {
    /// A new empty directory in `parent`.
    pub fn dir(parent: &Path, kind: Kind) -> Result<Temp> {
        Temp::create(parent, kind, true)
    }

    /// A new empty file in `parent`, open for writing.
    pub fn file(parent: &Path, kind: Kind) -> Result<Temp> {
        Temp::create(parent, kind, false)
    }

    fn create(parent: &Path, kind: Kind, dir: bool) -> Result<Temp> {
        let pid = std::process::id();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let path = parent.join(format!("{PREFIX}{}-{pid}-{n}{nanos:x}", kind.as_str()));
            let mut registry = live();
            let made = if dir {
                fs::create_dir(&path).and_then(|()| File::open(&path))
            } else {
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
            };
            let file = match made {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("creating a temp {} in {}", kind.as_str(), parent.display())
                    })
                }
            };
            registry.push(path.clone());
            drop(registry);
            // Only this run holds it; [`sweep`] skips a temp whose lock it cannot take.
            file.try_lock()
                .with_context(|| format!("locking the temp {}", path.display()))?;
            return Ok(Temp {
                path,
                file,
                armed: true,
            });
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file (for a directory: read-only).
    pub fn as_file(&self) -> &File {
        &self.file
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let mut registry = live();
        if self.armed {
            let _ = remove_path(&self.path);
        }
        forget(&mut registry, &self.path);
    }
}

/// The directory `dest` is in (`.` for a bare name).
pub fn parent_of(dest: &Path) -> PathBuf {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `dest` with its symlinks followed (at most 40, like the kernel): the path an output replaces, so
/// the user's link stays a link. A missing path (or a dangling link's target) is returned as is.
pub fn follow_links(dest: &Path) -> Result<PathBuf> {
    let mut p = dest.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&p)
                    .with_context(|| format!("reading the symlink {}", p.display()))?;
                p = if link.is_absolute() {
                    link
                } else {
                    parent_of(&p).join(link)
                };
            }
            _ => return Ok(p),
        }
    }
    anyhow::bail!(
        "{}: too many levels of symbolic links: give the real path",
        dest.display()
    )
}

/// fsync a directory (so a rename into or out of it is durable).
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("flushing the directory {}", dir.display()))
}

/// fsync every file and directory under `dir`, and `dir` itself.
pub fn sync_tree(dir: &Path) -> Result<()> {
    let mut paths = Vec::new();
    collect_tree(dir, &mut paths)?;
    sync_paths(&paths)
}

/// Every file and directory under `dir`, then `dir`.
fn collect_tree(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e.with_context(|| format!("reading {}", dir.display()))?;
        let t = e.file_type()?;
        if t.is_dir() {
            collect_tree(&e.path(), out)?;
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    out.push(dir.to_path_buf());
    Ok(())
}

/// fsync `paths` (files and directories), several at a time: the file system commits its journal once
/// for the fsyncs that wait together, where one after the other each waits for a commit of its own.
/// Measured (strace, `--binary` of a 34 MB ripgrep, the layout and three files beside it, ext4 on
/// this VM): ~3 ms per fsync one after the other, most of which the threads overlap.
fn sync_paths(paths: &[PathBuf]) -> Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let work = || -> Result<()> {
        loop {
            let Some(p) = paths.get(next.fetch_add(1, Ordering::Relaxed)) else {
                return Ok(());
            };
            File::open(p)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("flushing {}", p.display()))?;
        }
    };
    let threads = paths.len().clamp(1, 8);
    std::thread::scope(|s| {
        let workers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut result = work();
        for w in workers {
            let r = w
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("an fsync thread panicked")));
            result = result.and(r);
        }
        result
    })
}

/// `renameat2(from, to, RENAME_EXCHANGE)`: swap two existing paths atomically. `Ok(false)` when the
/// kernel or file system has no exchange (then nothing changed).
fn exchange(from: &Path, to: &Path) -> Result<bool> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    match renameat_with(CWD, from, CWD, to, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(true),
        Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => Ok(false),
        Err(e) => Err(io::Error::from(e))
            .with_context(|| format!("swapping {} into place at {}", from.display(), to.display())),
    }
}

/// Put the staged directory `temp` at `dest`, replacing the directory there (see the module docs).
/// Runs inside the commit section: `registry` is the locked list of live paths.
fn swap_dir(registry: &mut Vec<PathBuf>, temp: &Temp, dest: &Path) -> Result<()> {
    let exists = fs::symlink_metadata(dest).is_ok();
    if !exists {
        return fs::rename(&temp.path, dest)
            .with_context(|| format!("moving the new output into {}", dest.display()));
    }
    if exchange(&temp.path, dest)? {
        // The temp path now holds the old output; it is still listed, so an interrupt removes it.
        let _ = remove_path(&temp.path);
        return Ok(());
    }
    swap_aside(registry, temp, dest)
}

/// The swap without `RENAME_EXCHANGE`: the previous output is moved aside (see [`aside_path`]), the
/// new one renamed in, the previous one removed.
fn swap_aside(registry: &mut Vec<PathBuf>, temp: &Temp, dest: &Path) -> Result<()> {
    let aside = aside_path(dest);
    fs::rename(dest, &aside)
        .with_context(|| format!("moving the previous output {} aside", dest.display()))?;
    registry.push(aside.clone());
    if let Err(e) = fs::rename(&temp.path, dest) {
        let _ = fs::rename(&aside, dest);
        forget(registry, &aside);
        return Err(e).with_context(|| format!("moving the new output into {}", dest.display()));
    }
    let _ = remove_path(&aside);
    forget(registry, &aside);
    Ok(())
}

/// Where the previous output goes during a swap without `RENAME_EXCHANGE`:
/// `.slim-image-old-<pid>-<n>.<name>`, so that [`sweep`] can put it back if the run dies there.
fn aside_path(dest: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    parent_of(dest).join(format!(
        "{PREFIX}{}-{}-{n:x}.{name}",
        Kind::Old.as_str(),
        std::process::id()
    ))
}

/// A file replaces only a missing path or a file (a directory, FIFO or device there is the user's);
/// a directory only a missing path or a directory.
fn check_dest(is_dir: bool, dest: &Path) -> Result<()> {
    let Ok(m) = fs::symlink_metadata(dest) else {
        return Ok(());
    };
    let t = m.file_type();
    if is_dir && !t.is_dir() {
        anyhow::bail!(
            "{} exists and is not a directory, so the output directory cannot replace it: remove it or \
             give another path; nothing was written",
            dest.display()
        );
    }
    if !is_dir && (t.is_dir() || is_special(t)) {
        anyhow::bail!(
            "{} is a {}, not a file, so the output file cannot replace it: move it away or give another \
             path; nothing was written",
            dest.display(),
            if t.is_dir() { "directory" } else { "FIFO, device or socket" }
        );
    }
    Ok(())
}

/// Make the staged temps visible at their destinations, as one unit under `lock` (the lock of the
/// unit's main destination). Each temp must be complete; it is fsynced here. A directory replaces a
/// directory (see [`swap_dir`]), a file replaces a file by rename.
pub fn commit(lock: &DestLock, staged: Vec<(Temp, PathBuf)>) -> Result<()> {
    commit_removing(lock, staged, &[])
}

/// [`commit`], and remove the files `stale` (an earlier run's outputs that this unit replaces
/// without writing them again, [`super::beside`]). They go first, inside the commit section (a
/// signal waits for it), after every check: a run killed there leaves the previous unit without
/// them, never the new one next to them.
pub fn commit_removing(
    _lock: &DestLock,
    staged: Vec<(Temp, PathBuf)>,
    stale: &[PathBuf],
) -> Result<()> {
    // Every destination is checked before the first rename, so the unit fails whole, never half in.
    for (t, dest) in &staged {
        let is_dir = t.file.metadata().map(|m| m.is_dir()).unwrap_or(false);
        check_dest(is_dir, dest)?;
    }
    let mut flush = Vec::new();
    for (t, _) in &staged {
        if t.file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            collect_tree(&t.path, &mut flush)?;
        } else {
            flush.push(t.path.clone());
        }
    }
    sync_paths(&flush)?;
    let mut parents = Vec::new();
    // Dropped after the section: a Temp's drop takes the registry lock itself.
    let mut done = Vec::new();
    let mut registry = live();
    let mut result = Ok(());
    // Beside the unit's destinations, so their directory is flushed with theirs.
    for p in stale {
        match fs::remove_file(p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                result = Err(e).with_context(|| format!("removing the stale {}", p.display()));
                break;
            }
            _ => {}
        }
    }
    for (mut t, dest) in staged {
        if result.is_ok() {
            let is_dir = t.file.metadata().map(|m| m.is_dir()).unwrap_or(false);
            result = if is_dir {
                swap_dir(&mut registry, &t, &dest)
            } else {
                fs::rename(&t.path, &dest)
                    .with_context(|| format!("moving the finished file to {}", dest.display()))
            };
            if result.is_ok() {
                t.armed = false;
                forget(&mut registry, &t.path);
                let p = parent_of(&dest);
                if !parents.contains(&p) {
                    parents.push(p);
                }
            }
        }
        done.push(t);
    }
    drop(registry);
    drop(done);
    result?;
    for p in parents {
        sync_dir(&p)?;
    }
    Ok(())
}

/// Rename the finished temp file `temp` over `dest`, without fsync: for a hint in a cache that its
/// reader checks and ignores when it is cut or empty (the mount memory), not for an output. A run
/// killed before this leaves only its temp, which [`sweep`] removes.
pub fn rename_unsynced(mut temp: Temp, dest: &Path) -> Result<()> {
    let mut registry = live();
    fs::rename(&temp.path, dest).with_context(|| {
        format!(
            "moving {} into place at {}",
            temp.path.display(),
            dest.display()
        )
    })?;
    temp.armed = false;
    forget(&mut registry, &temp.path);
    // Before `temp`: its drop takes the registry lock itself.
    drop(registry);
    Ok(())
}

/// Whether a file type is special (FIFO, device, socket): such a file is written into, never replaced.
pub fn is_special(t: fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    t.is_fifo() || t.is_char_device() || t.is_block_device() || t.is_socket()
}

/// Whether `sig` is ignored (`SIG_IGN`), e.g. SIGHUP under `nohup`.
fn ignored(sig: i32) -> bool {
    // SAFETY: a zeroed sigaction is a valid out-parameter; a null new action only queries.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) };
    r == 0 && old.sa_sigaction == libc::SIG_IGN
}

/// On SIGINT, SIGTERM or SIGHUP (the terminal or ssh session went away): wait for a commit in
/// progress, remove every temp (and held lock file) of this run, and exit with 128 + the signal (130,
/// 143, 129). SIGHUP ignored when the run started (`nohup`) stays ignored. Installed once; later calls do nothing.
pub fn install_signal_cleanup() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if ONCE.get().is_some() {
        return Ok(());
    }
    // SIGHUP ignored when we started (`nohup`) stays ignored: the user asked the run to outlive the
    // terminal.
    let mut handled = vec![SIGINT, SIGTERM];
    if !ignored(SIGHUP) {
        handled.push(SIGHUP);
    }
    let mut signals = signal_hook::iterator::Signals::new(handled)
        .context("installing the SIGINT/SIGTERM/SIGHUP handler")?;
    let _ = ONCE.set(());
    std::thread::Builder::new()
        .name("slim-image-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let registry = live();
                for p in registry.iter().rev() {
                    // A second try: the main thread may have just added a file to a temp directory.
                    if remove_path(p).is_err() {
                        let _ = remove_path(p);
                    }
                }
                std::process::exit(128 + sig);
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_fsync_that_fails_among_many_threads_names_its_file() {
        let d = tempfile::tempdir().unwrap();
        let mut paths: Vec<PathBuf> = (0..20).map(|i| d.path().join(format!("f{i}"))).collect();
        for p in &paths {
            fs::write(p, b"x").unwrap();
        }
        // Removed between collecting and flushing (another process, or the user).
        let gone = d.path().join("gone");
        paths.insert(7, gone.clone());
        let e = format!("{:#}", sync_paths(&paths).unwrap_err());
        assert!(e.contains(&gone.display().to_string()), "{e}");
        sync_paths(&paths[..7]).unwrap();
        sync_paths(&[]).unwrap();
    }

    #[test]
    fn commit_swaps_a_directory_and_files_as_one_unit() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("out");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("old"), b"1").unwrap();
        let side = d.path().join("out.txt");
        fs::write(&side, b"old").unwrap();
        let new = Temp::dir(d.path(), Kind::Layout).unwrap();
        fs::write(new.path().join("new"), b"2").unwrap();
        let file = Temp::file(d.path(), Kind::Sbom).unwrap();
        std::io::Write::write_all(&mut file.as_file(), b"new").unwrap();
        let lock = DestLock::take(&dest).unwrap();
        commit(&lock, vec![(new, dest.clone()), (file, side.clone())]).unwrap();
        drop(lock);
        assert!(dest.join("new").is_file() && !dest.join("old").exists());
        assert_eq!(fs::read(&side).unwrap(), b"new");
        let left: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }

    #[test]
    fn exchange_swaps_two_directories_where_supported() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        fs::write(a.join("from-a"), b"").unwrap();
        if exchange(&a, &b).unwrap() {
            assert!(b.join("from-a").is_file() && !a.join("from-a").exists());
        } else {
            // Nothing changed where the file system has no exchange (the fallback path is used).
            assert!(a.join("from-a").is_file());
        }
    }

    #[test]
    fn swap_without_exchange_and_a_run_that_died_mid_swap() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("out");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("old"), b"1").unwrap();
        let new = Temp::dir(d.path(), Kind::Layout).unwrap();
        fs::write(new.path().join("new"), b"2").unwrap();
        swap_aside(&mut Vec::new(), &new, &dest).unwrap();
        assert!(dest.join("new").is_file() && !dest.join("old").exists());
        drop(new);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        // Died between the two renames: the previous output is put back.
        let aside = d.path().join(".slim-image-old-2147483646-1.out.v1");
        fs::rename(&dest, &aside).unwrap();
        sweep(d.path());
        assert!(d.path().join("out.v1/new").is_file() && !aside.exists());
        // Died after the second rename: the new output stays, the old one goes.
        fs::create_dir(&aside).unwrap();
        sweep(d.path());
        assert!(d.path().join("out.v1/new").is_file() && !aside.exists());
    }
}
