//! Opening the store's own files (blobs, marks, layer cache entries) as plain files only.
//!
//! Anything in the store can be replaced by a careless user or another local process: a blob by a
//! symlink out of the cache (to `/etc/shadow`), a FIFO (an `open` for reading blocks until a writer
//! comes, so the run would hang) or a directory; a mark or a layer cache entry by a huge file or a
//! device. So every such file is opened with `O_NOFOLLOW | O_NONBLOCK` (a symlink is refused, a FIFO
//! opens at once) and must then be a regular file, and small files are read up to a bound.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// What was found where a plain file of the store should be.
#[derive(Debug, thiserror::Error)]
#[error("{path} is {what}, not a file the tool wrote")]
pub struct NotPlain {
    /// The path.
    pub path: std::path::PathBuf,
    /// "a symlink", "a directory", "a FIFO or other special file".
    pub what: &'static str,
}

impl NotPlain {
    /// Whether the thing can be removed as a name (all but a directory): a symlink is removed, never
    /// its target.
    pub fn removable(&self) -> bool {
        self.what != "a directory"
    }
}

/// Open `path` for reading if it is a regular file: a symlink, FIFO, socket, device or directory is
/// an error of kind `InvalidData` wrapping [`NotPlain`] (never followed, never blocked on).
pub fn open(path: &Path) -> io::Result<fs::File> {
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let not_plain = |what| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            NotPlain {
                path: path.to_path_buf(),
                what,
            },
        )
    };
    let f = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(not_plain("a symlink"))
        }
        Err(e) => return Err(e),
    };
    let t = f.metadata()?.file_type();
    if t.is_file() {
        Ok(f)
    } else if t.is_dir() {
        Err(not_plain("a directory"))
    } else {
        Err(not_plain("a FIFO or other special file"))
    }
}

/// The [`NotPlain`] inside an error from [`open`], if that is what it is.
pub fn not_plain(e: &io::Error) -> Option<&NotPlain> {
    e.get_ref().and_then(|i| i.downcast_ref::<NotPlain>())
}

/// The text of a small plain file (a mark, a layer cache entry): `None` when it is missing, not a
/// regular file, longer than `limit` bytes or not UTF-8. Such files are only hints, so any of that is
/// a miss, never an error.
pub fn read_small(path: &Path, limit: u64) -> Option<String> {
    let f = open(path).ok()?;
    let mut text = String::new();
    f.take(limit + 1).read_to_string(&mut text).ok()?;
    (text.len() as u64 <= limit).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_open_and_nothing_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"v1 text").unwrap();
        assert_eq!(read_small(&file, 64).as_deref(), Some("v1 text"));
        assert_eq!(read_small(&file, 3), None, "over the bound");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from(0o644)).unwrap();
        for (p, what) in [
            (&link, "a symlink"),
            (&fifo, "a FIFO or other special file"),
            (&dir.path().to_path_buf(), "a directory"),
        ] {
            let e = open(p).unwrap_err();
            assert_eq!(not_plain(&e).map(|n| n.what), Some(what), "{e}");
            assert_eq!(read_small(p, 64), None);
        }
        assert_eq!(read_small(Path::new("/dev/zero"), 64), None);
    }
}
