//! Finding a program: the one lookup every caller uses (the `--load` engine, a credential helper,
//! the C toolchain's tools), through the `which` crate.
//!
//! Takes a program's name and the directories to look in (a `PATH` value split by
//! [`path_dirs`], plus any a caller adds, such as `$CARGO_HOME/bin`); gives the first executable
//! regular file of that name (links followed), as `execvp` would run it. A relative directory (`.`,
//! an empty entry) counts from the current directory, unless the caller asks for absolute entries
//! only ([`Entries::Absolute`]), as a credential helper is looked up. What is found only says
//! whether a tool is there (the error before a build names what to install); it never decides the
//! bytes of a build (the C toolchain is chosen from the workspace and the configuration, see
//! `compile::toolchain`). A leaf: imports nothing of the crate.

use std::ffi::OsStr;
use std::path::PathBuf;

/// Which entries of a `PATH` value count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entries {
    /// Every entry; a relative one (`.`, `bin`, an empty entry) names a directory under the current
    /// one, as for `execvp`.
    All,
    /// Absolute directories only: a relative entry would run a program from wherever the tool was
    /// started (Go's `exec.LookPath` refuses it too).
    Absolute,
}

/// The directories of `path` (a `PATH` value), in order, with the relative ones left out for
/// [`Entries::Absolute`].
pub fn path_dirs(path: &OsStr, entries: Entries) -> Vec<PathBuf> {
    std::env::split_paths(path)
        .filter(|d| entries == Entries::All || d.is_absolute())
        .collect()
}

/// The first of `dirs` that holds an executable regular file `name` (a plain name, no `/`), as an
/// absolute path.
pub fn find_in(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok();
    // Made absolute here: `which` would expand a leading `~` of a relative entry to the home
    // directory, which neither `execvp` nor cargo does. A directory whose name holds the list
    // separator (`:`) cannot be written into a `PATH` list, so it is left out.
    let dirs: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| match &cwd {
            _ if d.is_absolute() => Some(d.clone()),
            Some(cwd) => Some(cwd.join(d)),
            None => None,
        })
        .filter(|d| std::env::join_paths([d]).is_ok())
        .collect();
    if dirs.is_empty() {
        // `which` reads an empty list as one empty entry, the current directory.
        return None;
    }
    let list = std::env::join_paths(&dirs).ok()?;
    which::which_in_global(name, Some(list)).ok()?.next()
}

/// `name` on the process's `PATH` (every entry counts).
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    find_in(name, &path_dirs(&path, Entries::All))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file(dir: &std::path::Path, name: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn the_first_executable_file_in_order() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        file(a.path(), "tool", 0o644); // not executable: skipped
        std::fs::create_dir(a.path().join("dir-tool")).unwrap();
        let want = file(b.path(), "tool", 0o755);
        file(b.path(), "dir-tool", 0o755);
        let dirs = [a.path().to_path_buf(), b.path().to_path_buf()];
        assert_eq!(find_in("tool", &dirs), Some(want));
        assert_eq!(find_in("dir-tool", &dirs), Some(b.path().join("dir-tool")));
        assert_eq!(find_in("missing", &dirs), None);
        assert_eq!(find_in("tool", &[]), None);
        // A link is followed to the file it names.
        let c = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(b.path().join("tool"), c.path().join("tool")).unwrap();
        assert_eq!(
            find_in("tool", &[c.path().to_path_buf()]),
            Some(c.path().join("tool"))
        );
    }

    #[test]
    fn a_dangling_link_or_a_link_to_a_directory_is_passed_over() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::os::unix::fs::symlink(a.path().join("gone"), a.path().join("tool")).unwrap();
        std::fs::create_dir(a.path().join("d")).unwrap();
        std::fs::set_permissions(a.path().join("d"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::os::unix::fs::symlink(a.path().join("d"), a.path().join("dtool")).unwrap();
        let want = file(b.path(), "tool", 0o755);
        let dirs = [a.path().to_path_buf(), b.path().to_path_buf()];
        assert_eq!(find_in("tool", &dirs), Some(want));
        assert_eq!(find_in("dtool", &dirs), None);
    }

    #[test]
    fn relative_entries_count_only_when_asked_for() {
        let list = OsStr::new("/usr/bin::.:bin:/bin");
        assert_eq!(
            path_dirs(list, Entries::Absolute),
            [PathBuf::from("/usr/bin"), PathBuf::from("/bin")]
        );
        assert_eq!(path_dirs(list, Entries::All).len(), 5);
        // Only relative entries, absolute ones asked for: nothing to look in, not the current
        // directory.
        assert!(path_dirs(OsStr::new(":."), Entries::Absolute).is_empty());
    }
}
