//! A minimal streaming tar reader: enough to take apart oci-archive / docker-archive files and to list
//! what a base image's layers hold.
//!
//! Takes any [`Read`] and gives entries one at a time ([`TarReader::next_entry`]): the path (ustar
//! prefix, GNU long names and PAX `path` records understood), the kind, the link target and a reader over
//! exactly the entry's data. Data an entry's caller does not read is skipped.

use anyhow::{bail, Context, Result};
use std::io::{self, Read};

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
    /// Data size.
    pub size: u64,
}

/// Reads entries from a tar stream.
pub struct TarReader<R: Read> {
    inner: R,
    /// Unread data of the current entry.
    left: u64,
    /// Padding after the current entry's data.
    pad: u64,
}

fn octal(field: &[u8]) -> Result<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // GNU base-256 for large values.
        let mut v: u64 = 0;
        for (i, b) in field.iter().enumerate() {
            let b = if i == 0 { b & 0x7f } else { *b };
            v = v.checked_shl(8).context("tar size overflows")? | u64::from(b);
        }
        return Ok(v);
    }
    let s: String = field
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(s, 8).with_context(|| format!("bad octal number `{s}` in a tar header"))
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn clean(p: &str) -> String {
    p.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

impl<R: Read> TarReader<R> {
    /// Read a tar stream from `inner`.
    pub fn new(inner: R) -> Self {
        TarReader {
            inner,
            left: 0,
            pad: 0,
        }
    }

    fn skip_pending(&mut self) -> io::Result<()> {
        let n = self.left + self.pad;
        self.left = 0;
        self.pad = 0;
        let skipped = io::copy(&mut (&mut self.inner).take(n), &mut io::sink())?;
        if skipped < n {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the tar stream ends inside an entry",
            ));
        }
        Ok(())
    }

    fn read_block(&mut self) -> Result<Option<[u8; 512]>> {
        let mut block = [0u8; 512];
        let mut got = 0;
        while got < 512 {
            let n = self.inner.read(&mut block[got..])?;
            if n == 0 {
                if got == 0 {
                    return Ok(None);
                }
                bail!("the tar stream ends inside a header");
            }
            got += n;
        }
        Ok(Some(block))
    }

    fn read_data(&mut self, size: u64) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        (&mut self.inner).take(size).read_to_end(&mut v)?;
        if (v.len() as u64) < size {
            bail!("the tar stream ends inside an entry");
        }
        let pad = (512 - size % 512) % 512;
        io::copy(&mut (&mut self.inner).take(pad), &mut io::sink())?;
        Ok(v)
    }

    /// The next entry, or `None` at the end of the archive. Read its data with [`TarReader::data`]
    /// before asking for the next one (or do not: it is skipped).
    pub fn next_entry(&mut self) -> Result<Option<TarEntry>> {
        self.skip_pending()?;
        let mut long_name: Option<String> = None;
        let mut long_link: Option<String> = None;
        loop {
            let Some(h) = self.read_block()? else {
                return Ok(None);
            };
            if h.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            let size = octal(&h[124..136])?;
            let flag = h[156];
            match flag {
                b'L' => {
                    long_name = Some(cstr(&self.read_data(size)?));
                    continue;
                }
                b'K' => {
                    long_link = Some(cstr(&self.read_data(size)?));
                    continue;
                }
                b'x' => {
                    let data = self.read_data(size)?;
                    for (k, v) in pax_records(&data) {
                        match k.as_str() {
                            "path" => long_name = Some(v),
                            "linkpath" => long_link = Some(v),
                            _ => {}
                        }
                    }
                    continue;
                }
                b'g' => {
                    self.read_data(size)?;
                    continue;
                }
                _ => {}
            }
            let mut name = cstr(&h[0..100]);
            if &h[257..262] == b"ustar" {
                let prefix = cstr(&h[345..500]);
                if !prefix.is_empty() {
                    name = format!("{prefix}/{name}");
                }
            }
            let kind = match flag {
                b'0' | 0 | b'7' => EntryType::File,
                b'5' => EntryType::Dir,
                b'2' => EntryType::Symlink,
                b'1' => EntryType::Hardlink,
                _ => EntryType::Other,
            };
            let kind = if kind == EntryType::File && name.ends_with('/') {
                EntryType::Dir
            } else {
                kind
            };
            let data_size = if matches!(kind, EntryType::File | EntryType::Other) {
                size
            } else {
                0
            };
            self.left = data_size;
            self.pad = (512 - data_size % 512) % 512;
            return Ok(Some(TarEntry {
                path: clean(&long_name.unwrap_or(name)),
                kind,
                link: long_link.unwrap_or_else(|| cstr(&h[157..257])),
                size: data_size,
            }));
        }
    }

    /// A reader over the current entry's data; what is left unread is skipped on the next entry.
    pub fn data(&mut self) -> EntryData<'_, R> {
        EntryData { tar: self }
    }
}

/// The data of the current entry of a [`TarReader`].
pub struct EntryData<'a, R: Read> {
    tar: &'a mut TarReader<R>,
}

impl<R: Read> Read for EntryData<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.tar.left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.tar.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the tar stream ends inside an entry",
            ));
        }
        self.tar.left -= n as u64;
        Ok(n)
    }
}

fn pax_records(data: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some((len, _)) = rest.split_once(' ') {
        let Ok(n) = len.parse::<usize>() else { break };
        if n == 0 || n > rest.len() {
            break;
        }
        let record = &rest[len.len() + 1..n];
        if let Some((k, v)) = record.trim_end_matches('\n').split_once('=') {
            out.push((k.to_string(), v.to_string()));
        }
        rest = &rest[n..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tar::{Header, Kind, TarWriter};

    #[test]
    fn reads_what_our_writer_writes() {
        let mut w = TarWriter::new(Vec::new());
        let long = format!("a/{}/file", "x".repeat(150));
        for (p, k, data) in [
            ("etc", Kind::Dir, &b""[..]),
            ("etc/passwd", Kind::File, &b"root:x:0:0\n"[..]),
            (long.as_str(), Kind::File, &b"y"[..]),
        ] {
            let h = Header {
                path: p,
                kind: k,
                mode: 0o644,
                uid: 0,
                gid: 0,
                mtime: 0,
                size: data.len() as u64,
                link: "",
            };
            w.append(&h, &mut &data[..]).unwrap();
        }
        let bytes = w.finish().unwrap();
        let mut r = TarReader::new(&bytes[..]);
        let e = r.next_entry().unwrap().unwrap();
        assert_eq!((e.path.as_str(), e.kind), ("etc", EntryType::Dir));
        let e = r.next_entry().unwrap().unwrap();
        assert_eq!(e.path, "etc/passwd");
        let mut s = String::new();
        r.data().read_to_string(&mut s).unwrap();
        assert_eq!(s, "root:x:0:0\n");
        let e = r.next_entry().unwrap().unwrap();
        assert_eq!(e.path, long);
        assert!(r.next_entry().unwrap().is_none());
    }
}
