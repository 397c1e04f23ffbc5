//! Reading tar streams from base images and archives: base layers (to list their paths) and
//! oci-archive / docker-archive files (to take them apart).
//!
//! Takes any [`Read`] and calls back once per entry ([`for_each`]) with a [`TarEntry`] (path, kind,
//! link target, size) and a reader over exactly the entry's data (what the callback leaves unread is
//! skipped). Headers are parsed by the `tar` crate (checksums, octal and base-256 numbers, ustar
//! prefixes), which returns errors instead of panicking.
//!
//! The `tar` crate's own handling of extended headers reads a GNU long name or a PAX record whole,
//! whatever size its header claims (`EntryFields::read_all` in tar 0.4.46: a 256 MiB record is 256 MiB
//! of memory, more while it grows). So its entries are read *raw* and the extended headers are handled
//! here: each one's size is checked against [`MAX_TAR_RECORD`] from its header before a byte of it is
//! read (as Go's archive/tar does), PAX records are parsed by their length prefix (a malformed record
//! is an error, not a panic), and a PAX `size` that is not the header's own is refused (raw entries
//! cannot follow it).
//!
//! The end of the stream is taken as Go's archive/tar (podman, docker) takes it: the end-of-archive
//! trailer (two zero blocks) is optional, and so is the zero padding after the last entry's data
//! (umoci 0.4.7 `insert` writes neither). A stream that ends inside a header or inside an entry's data
//! is an error that says where.

use super::bounded::{self, MAX_TAR_RECORD};
use anyhow::{bail, Context, Result};
use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// Kind of a tar entry, as far as we care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    /// Regular file (or contiguous file).
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Hard link.
    Hardlink,
    /// Anything else (devices, fifos).
    Other,
}

/// One entry's header.
#[derive(Debug, Clone)]
pub struct TarEntry {
    /// Path, without a leading `./` or `/` and without a trailing `/`.
    pub path: String,
    /// Kind.
    pub kind: EntryType,
    /// Link target (symlinks and hard links).
    pub link: String,
    /// Data size (0 for links, devices, fifos and directories).
    pub size: u64,
    /// Permission bits (and setuid/setgid/sticky), as the header says.
    pub mode: u32,
    /// Owner: (uid, gid), a PAX record's when there is one.
    pub owner: (u64, u64),
    /// Modification time in seconds, a PAX record's (whole seconds) when there is one.
    pub mtime: u64,
    /// The header's type flag (`b'3'` a char device, `b'6'` a fifo, ...).
    pub flag: u8,
    /// Device (major, minor) of a char or block device, else (0, 0).
    pub device: (u32, u32),
    /// The PAX records of its extended header besides path, linkpath, size, uid, gid and the
    /// times (xattrs such as `SCHILY.xattr.security.capability`, uname, gname), in order.
    pub extra: Vec<(String, String)>,
}

fn clean(p: &str) -> String {
    p.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

/// Where the stream is, shared between [`EndPad`] (which reads) and [`for_each`] (which knows where
/// the current entry's data ends).
#[derive(Debug, Clone, Copy, Default)]
struct Position {
    /// Bytes read from the stream so far.
    pos: u64,
    /// End of the current entry's data.
    data_end: u64,
    /// End of its zero padding (the next 512-byte boundary).
    padded_end: u64,
    /// Where the stream ended, once it has.
    eof_at: Option<u64>,
}

/// The stream as the `tar` crate reads it: when the stream ends after the current entry's data but
/// before the end of its padding, the missing padding reads as zeros (so the crate sees an archive
/// that ends at an entry boundary). Nothing else is added.
struct EndPad<R> {
    inner: R,
    at: Rc<Cell<Position>>,
}

impl<R: Read> Read for EndPad<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut p = self.at.get();
        let n = match p.eof_at {
            Some(_) => 0,
            None => self.inner.read(buf)?,
        };
        if n == 0 && !buf.is_empty() {
            p.eof_at.get_or_insert(p.pos);
            if p.pos >= p.data_end && p.pos < p.padded_end {
                let zeros = buf
                    .len()
                    .min(usize::try_from(p.padded_end - p.pos).unwrap_or(usize::MAX));
                buf[..zeros].fill(0);
                p.pos += zeros as u64;
                self.at.set(p);
                return Ok(zeros);
            }
        }
        p.pos += n as u64;
        self.at.set(p);
        Ok(n)
    }
}

/// Extended headers seen before the entry they describe.
#[derive(Default)]
struct Pending {
    path: Option<String>,
    link: Option<String>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<u64>,
    extra: Vec<(String, String)>,
    any: bool,
}

impl Pending {
    /// Take in the records of a PAX extended header (`x`).
    fn pax(&mut self, data: &[u8]) -> Result<()> {
        for (k, v) in pax_records(data)? {
            match k {
                "path" => self.path = Some(v.to_string()),
                "linkpath" => self.link = Some(v.to_string()),
                "size" => {
                    let s = v
                        .parse()
                        .with_context(|| format!("a PAX size record `{v}` that is not a number"))?;
                    self.size = Some(s);
                }
                // Only read (verify shows them), never trusted for sizes: a bad one reads as absent.
                "uid" => self.uid = v.parse().ok(),
                "gid" => self.gid = v.parse().ok(),
                "mtime" => self.mtime = v.split('.').next().and_then(|s| s.parse().ok()),
                "atime" | "ctime" => {}
                _ => self.extra.push((k.to_string(), v.to_string())),
            }
        }
        Ok(())
    }

    /// Read an extended header (`L`, `K`, `x` or `g`) of `size` bytes from `data`, bounded.
    fn record(&mut self, flag: u8, data: &mut dyn Read, size: u64, last: &str) -> Result<()> {
        let what = match flag {
            b'L' => "a GNU long-name record",
            b'K' => "a GNU long-link record",
            b'x' => "a PAX extended header",
            _ => "a PAX global header",
        };
        let what = format!("{what} after {last}");
        let data = bounded::read_exact(data, size, MAX_TAR_RECORD, &what)?;
        // GNU long names are NUL-terminated.
        let text = String::from_utf8_lossy(data.split(|&b| b == 0).next().unwrap_or(&[]));
        match flag {
            b'L' => self.path = Some(text.into_owned()),
            b'K' => self.link = Some(text.into_owned()),
            b'x' => self.pax(&data).with_context(|| what.clone())?,
            _ => {}
        }
        self.any |= flag != b'g';
        Ok(())
    }

    /// The entry of header `h` (type `flag`, `size` bytes of data), with what the extended headers
    /// before it said; they are used up.
    fn entry(&mut self, h: &tar::Header, flag: u8, size: u64) -> Result<TarEntry> {
        let path = self
            .path
            .take()
            .unwrap_or_else(|| String::from_utf8_lossy(&h.path_bytes()).into_owned());
        if let Some(s) = self.size.take().filter(|&s| s != size) {
            bail!(
                "`{path}` has a PAX size record of {s} bytes but a header size of {size}: \
                 cargo slim-image cannot read such entries in base layers (some writers use them \
                 for files of 8 GiB and more)"
            );
        }
        // Go's archive/tar and Python's tarfile give links, devices, fifos and directories no data
        // whatever their size field says; the `tar` crate skips that many bytes. Readers that
        // disagree on where the next header is would see different files: refuse such an entry.
        if size > 0 && matches!(flag, b'1'..=b'6') {
            bail!(
                "`{path}` is a link, device, fifo or directory whose header claims {size} bytes of \
                 data: tar readers disagree on such entries, so cargo slim-image refuses them"
            );
        }
        let link = self.link.take().unwrap_or_else(|| {
            h.link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default()
        });
        self.any = false;
        let owner = (
            self.uid.take().unwrap_or_else(|| h.uid().unwrap_or(0)),
            self.gid.take().unwrap_or_else(|| h.gid().unwrap_or(0)),
        );
        Ok(TarEntry {
            kind: kind_of(flag, &path),
            path: clean(&path),
            link,
            size,
            mode: h.mode().unwrap_or(0) & 0o7777,
            owner,
            mtime: self.mtime.take().unwrap_or_else(|| h.mtime().unwrap_or(0)),
            flag,
            device: match flag {
                b'3' | b'4' => (
                    h.device_major().ok().flatten().unwrap_or(0),
                    h.device_minor().ok().flatten().unwrap_or(0),
                ),
                _ => (0, 0),
            },
            extra: std::mem::take(&mut self.extra),
        })
    }
}

/// The records (`LEN KEY=VALUE\n`) of a PAX extended header, by their length prefix as POSIX (and
/// Go's `parsePAXRecord`) reads them; a malformed record is an error.
pub fn pax_records(data: &[u8]) -> Result<Vec<(&str, &str)>> {
    let text = std::str::from_utf8(data).context("a PAX extended header that is not UTF-8")?;
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let bad = || {
            format!(
                "a malformed PAX record {:?}",
                rest.chars().take(40).collect::<String>()
            )
        };
        let (len, _) = rest.split_once(' ').with_context(bad)?;
        let n: usize = len
            .parse()
            .ok()
            .filter(|&n| n > len.len() + 1)
            .with_context(bad)?;
        let record = rest.get(len.len() + 1..n).with_context(bad)?;
        let record = record.strip_suffix('\n').with_context(bad)?;
        let (k, v) = record.split_once('=').with_context(bad)?;
        out.push((k, v));
        rest = &rest[n..];
    }
    Ok(out)
}

fn kind_of(flag: u8, path: &str) -> EntryType {
    match flag {
        b'0' | 0 | b'7' if path.ends_with('/') => EntryType::Dir,
        b'0' | 0 | b'7' => EntryType::File,
        b'5' => EntryType::Dir,
        b'2' => EntryType::Symlink,
        b'1' => EntryType::Hardlink,
        _ => EntryType::Other,
    }
}

/// What went wrong at the end of the stream, if it ended early; else the `tar` crate's error.
fn tar_error(e: io::Error, at: Position, last: &str) -> anyhow::Error {
    match at.eof_at {
        Some(p) if p < at.data_end => anyhow::anyhow!(
            "the tar stream ends inside the data of {last} (at byte {p}, {} bytes short)",
            at.data_end - p
        ),
        Some(p) => anyhow::anyhow!("the tar stream ends inside an entry header (at byte {p})"),
        None => anyhow::anyhow!("not a valid tar stream: {e} (after {last})"),
    }
}

/// Call `f` for every entry of the tar stream `inner`, in order, with a reader over its data.
pub fn for_each<R: Read>(
    inner: R,
    mut f: impl FnMut(&TarEntry, &mut dyn Read) -> Result<()>,
) -> Result<()> {
    let at = Rc::new(Cell::new(Position::default()));
    let mut archive = tar::Archive::new(EndPad {
        inner,
        at: at.clone(),
    });
    let mut last = "the start of the stream".to_string();
    let mut pending = Pending::default();
    let entries = archive
        .entries()
        .map_err(|e| tar_error(e, at.get(), &last))?
        .raw(true);
    for e in entries {
        let mut e = e.map_err(|e| tar_error(e, at.get(), &last))?;
        let size = e.size();
        let mut p = at.get();
        p.data_end = e.raw_file_position().saturating_add(size);
        p.padded_end = p.data_end.saturating_add(511) & !511;
        at.set(p);
        let flag = e.header().entry_type().as_byte();
        if matches!(flag, b'L' | b'K' | b'x' | b'g') {
            pending.record(flag, &mut e, size, &last)?;
            continue;
        }
        let entry = pending.entry(e.header(), flag, size)?;
        let path = entry.path.clone();
        last = format!("`{path}`");
        f(&entry, &mut e)?;
    }
    if pending.any {
        bail!("the tar stream ends after an extended header, before the entry it describes");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
