//! Static-linking and architecture checks on ELF executables, done by seeking, never by reading the
//! whole file.
//!
//! Takes the path of a built binary; gives an [`ElfInfo`] (machine, ELF type, `PT_INTERP` loader
//! and `DT_NEEDED` libraries) read from the ELF header, the program headers, the `PT_INTERP` and
//! `PT_DYNAMIC` segments and the needed names in `DT_STRTAB` (mapped through the `PT_LOAD`
//! segments). Binaries can be 35 MB and more, so only those few ranges are read. [`require_static`]
//! is the check for an image `FROM scratch`; [`require_machine`] is the check for a base that has a
//! loader. Only 64-bit little-endian ELF (x86_64, aarch64) is accepted.

use crate::platform::Platform;
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// `e_type` of a fixed-address executable.
pub const ET_EXEC: u16 = 2;
/// `e_type` of a position-independent executable (or shared library); static-pie binaries are this.
pub const ET_DYN: u16 = 3;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: i64 = 0;
const DT_NEEDED: i64 = 1;
const DT_STRTAB: i64 = 5;
const DT_STRSZ: i64 = 10;
/// `e_phnum` value meaning "the real count is in section header 0".
const PN_XNUM: u16 = 0xffff;
/// Longest loader path or library name we read; real ones are a few dozen bytes.
const MAX_NAME: u64 = 4096;
/// The fix for anything that is not a 64-bit little-endian ELF executable.
const PASS: &str = "pass a Linux binary built for x86_64/aarch64";
/// Largest `PT_DYNAMIC` we read (16 bytes per entry; real ones hold a few dozen entries).
const MAX_DYNAMIC: u64 = 1 << 20;

/// What [`inspect`] found in an ELF executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// `e_machine` (62 = x86_64, 183 = aarch64).
    pub machine: u16,
    /// The `PT_INTERP` loader path, if any (e.g. `/lib64/ld-linux-x86-64.so.2`).
    pub interpreter: Option<String>,
    /// The `DT_NEEDED` shared libraries, in file order.
    pub needed: Vec<String>,
    /// `e_type`: [`ET_EXEC`] or [`ET_DYN`] for executables.
    pub elf_type: u16,
}

impl ElfInfo {
    /// No loader and no shared libraries: runs on an empty filesystem. Static-pie binaries (ET_DYN,
    /// as x86_64 musl Rust builds are) count as static.
    pub fn is_static(&self) -> bool {
        self.interpreter.is_none() && self.needed.is_empty()
    }

    /// A name for [`ElfInfo::machine`], e.g. `x86_64`.
    pub fn machine_name(&self) -> String {
        machine_name(self.machine)
    }
}

/// A readable name for an ELF `e_machine` value.
pub fn machine_name(machine: u16) -> String {
    match machine {
        3 => "x86 (32-bit)".into(),
        8 => "MIPS".into(),
        20 => "PowerPC".into(),
        21 => "PowerPC64".into(),
        22 => "s390x".into(),
        40 => "ARM (32-bit)".into(),
        62 => "x86_64".into(),
        183 => "aarch64".into(),
        243 => "RISC-V".into(),
        258 => "LoongArch".into(),
        other => format!("unknown machine {other}"),
    }
}

/// Read the ELF header, program headers, loader and needed libraries of `path`.
pub fn inspect(path: &Path) -> Result<ElfInfo> {
    let file = File::open(path).with_context(|| {
        format!(
            "opening {} to check that it is a static executable",
            path.display()
        )
    })?;
    let len = file
        .metadata()
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len();
    Elf { file, len, path }.info()
}

/// For an image `FROM scratch`: the binary must be static and built for `platform`.
pub fn require_static(path: &Path, platform: Platform) -> Result<ElfInfo> {
    let info = require_machine(path, platform)?;
    if info.is_static() {
        return Ok(info);
    }
    let mut what = Vec::new();
    if let Some(interp) = &info.interpreter {
        what.push(format!("the loader {interp}"));
    }
    if !info.needed.is_empty() {
        what.push(format!("the shared libraries {}", info.needed.join(", ")));
    }
    bail!(
        "{} is dynamically linked (it needs {}), so it cannot run in an image FROM scratch: build \
         it for {} (cargo slim-image does this unless told otherwise); make sure RUSTFLAGS or \
         .cargo/config.toml do not set `-C target-feature=-crt-static`; a crate with C code needs \
         a musl C compiler ({}); or use a base image that has these libraries",
        path.display(),
        what.join(" and "),
        platform.rust_target(),
        crate::host::Host::current().install_hint(crate::host::Tool::MuslGcc)
    )
}

/// For a base image that has a loader (e.g. alpine): the binary must be an executable for
/// `platform`.
pub fn require_machine(path: &Path, platform: Platform) -> Result<ElfInfo> {
    let info = inspect(path)?;
    if info.elf_type != ET_EXEC && info.elf_type != ET_DYN {
        bail!(
            "{} is an ELF {}, not an executable: pass the binary that cargo built for {}",
            path.display(),
            type_name(info.elf_type),
            platform.rust_target()
        );
    }
    if info.machine != platform.elf_machine() {
        bail!(
            "{} is built for {}, but the image is for {} (which needs {}): build it with \
             --target {}",
            path.display(),
            info.machine_name(),
            platform,
            machine_name(platform.elf_machine()),
            platform.rust_target()
        );
    }
    Ok(info)
}

fn type_name(elf_type: u16) -> String {
    match elf_type {
        0 => "file of no type".into(),
        1 => "relocatable object (.o)".into(),
        ET_EXEC => "executable".into(),
        ET_DYN => "shared object".into(),
        4 => "core dump".into(),
        other => format!("file of type {other}"),
    }
}

/// An open ELF file and its length, for bounds-checked reads at offsets.
struct Elf<'a> {
    file: File,
    len: u64,
    path: &'a Path,
}

/// One program header: the fields we use.
struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

impl Elf<'_> {
    fn info(&mut self) -> Result<ElfInfo> {
        let head = self.read_prefix(64)?;
        self.check_ident(&head)?;
        if head.len() < 64 {
            bail!(self.truncated("ELF header", 0, 64));
        }
        let elf_type = u16_at(&head, 16);
        let machine = u16_at(&head, 18);
        let segments = self.segments(&head)?;
        let mut info = ElfInfo {
            machine,
            interpreter: None,
            needed: Vec::new(),
            elf_type,
        };
        if let Some(interp) = segments.iter().find(|s| s.kind == PT_INTERP) {
            let bytes = self.read_at(
                interp.offset,
                interp.filesz.min(MAX_NAME),
                "PT_INTERP segment",
            )?;
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            info.interpreter = Some(String::from_utf8_lossy(&bytes[..end]).into_owned());
        }
        if let Some(dynamic) = segments.iter().find(|s| s.kind == PT_DYNAMIC) {
            info.needed = self.needed(dynamic, &segments)?;
        }
        Ok(info)
    }

    /// Reject anything that is not 64-bit little-endian ELF, saying what it is instead.
    fn check_ident(&self, head: &[u8]) -> Result<()> {
        let path = self.path.display();
        if head.len() < 4 || &head[..4] != b"\x7fELF" {
            bail!(
                "{path} is not an ELF executable (it starts with {}): {PASS}",
                describe_start(head)
            );
        }
        if head.len() < 6 {
            bail!(self.truncated("ELF identification", 0, 16));
        }
        match head[4] {
            2 => {}
            1 => bail!("{path} is a 32-bit ELF file: {PASS}"),
            c => bail!("{path} is an ELF file of unknown class {c}: {PASS}"),
        }
        match head[5] {
            1 => Ok(()),
            2 => bail!("{path} is a big-endian ELF file: {PASS}"),
            d => bail!("{path} is an ELF file of unknown byte order {d}: {PASS}"),
        }
    }

    fn segments(&mut self, head: &[u8]) -> Result<Vec<Segment>> {
        let phoff = u64_at(head, 32);
        let shoff = u64_at(head, 40);
        let phentsize = u64::from(u16_at(head, 54));
        let mut phnum = u64::from(u16_at(head, 56));
        if phnum == u64::from(PN_XNUM) {
            // Too many headers for e_phnum: the count is sh_info of section header 0.
            let sh0 = self.read_at(shoff, 64, "section header 0")?;
            phnum = u64::from(u32_at(&sh0, 44));
        }
        if phnum == 0 {
            return Ok(Vec::new());
        }
        if phentsize < 56 {
            bail!(
                "{} is not a valid ELF executable (its program headers are {phentsize} bytes, \
                 not 56): {PASS}",
                self.path.display()
            );
        }
        let table = self.read_at(phoff, phentsize * phnum, "program header table")?;
        Ok(table
            .chunks_exact(phentsize as usize)
            .map(|ph| Segment {
                kind: u32_at(ph, 0),
                offset: u64_at(ph, 8),
                vaddr: u64_at(ph, 16),
                filesz: u64_at(ph, 32),
            })
            .collect())
    }

    /// The `DT_NEEDED` names of the `PT_DYNAMIC` segment.
    fn needed(&mut self, dynamic: &Segment, segments: &[Segment]) -> Result<Vec<String>> {
        let bytes = self.read_at(
            dynamic.offset,
            dynamic.filesz.min(MAX_DYNAMIC),
            "PT_DYNAMIC segment",
        )?;
        let (mut needed_offsets, mut strtab, mut strsz) = (Vec::new(), None, None);
        for entry in bytes.chunks_exact(16) {
            let tag = u64_at(entry, 0) as i64;
            let val = u64_at(entry, 8);
            match tag {
                DT_NULL => break,
                DT_NEEDED => needed_offsets.push(val),
                DT_STRTAB => strtab = Some(val),
                DT_STRSZ => strsz = Some(val),
                _ => {}
            }
        }
        if needed_offsets.is_empty() {
            return Ok(Vec::new());
        }
        let Some(addr) = strtab else {
            bail!(
                "{} is not a valid ELF executable: it needs shared libraries but has no DT_STRTAB \
                 to name them; rebuild it",
                self.path.display()
            );
        };
        let Some(table) = file_offset(segments, addr) else {
            bail!(
                "{} is not a valid ELF executable: its DT_STRTAB address {addr:#x} is in no \
                 PT_LOAD segment; rebuild it",
                self.path.display()
            );
        };
        let mut names = Vec::with_capacity(needed_offsets.len());
        for off in needed_offsets {
            let max = strsz.map_or(MAX_NAME, |sz| sz.saturating_sub(off).min(MAX_NAME));
            names.push(self.c_string(table.saturating_add(off), max)?);
        }
        Ok(names)
    }

    /// A NUL-terminated string at `offset`, at most `max` bytes long.
    fn c_string(&mut self, offset: u64, max: u64) -> Result<String> {
        let avail = self.len.saturating_sub(offset).min(max);
        let bytes = self.read_at(offset, avail, "dynamic string table")?;
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Ok(String::from_utf8_lossy(&bytes[..end]).into_owned())
    }

    /// Up to `n` bytes from the start (fewer if the file is shorter).
    fn read_prefix(&mut self, n: u64) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        (&self.file)
            .take(n)
            .read_to_end(&mut buf)
            .with_context(|| format!("reading the start of {}", self.path.display()))?;
        Ok(buf)
    }

    /// Exactly `n` bytes at `offset`; a clear error if the file ends first.
    fn read_at(&mut self, offset: u64, n: u64, what: &str) -> Result<Vec<u8>> {
        if offset.checked_add(n).is_none_or(|end| end > self.len) {
            bail!(self.truncated(what, offset, n));
        }
        let mut buf = vec![0; n as usize];
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.read_exact(&mut buf))
            .with_context(|| format!("reading the {what} of {}", self.path.display()))?;
        Ok(buf)
    }

    fn truncated(&self, what: &str, offset: u64, n: u64) -> String {
        format!(
            "{} is truncated or corrupt: its {what} ({n} bytes at offset {offset}) goes past the \
             end of the file ({} bytes); rebuild it or copy it again",
            self.path.display(),
            self.len
        )
    }
}

/// Map a virtual address to a file offset through the `PT_LOAD` segments.
fn file_offset(segments: &[Segment], addr: u64) -> Option<u64> {
    segments
        .iter()
        .filter(|s| s.kind == PT_LOAD)
        .find(|s| addr >= s.vaddr && addr - s.vaddr < s.filesz)
        .map(|s| s.offset + (addr - s.vaddr))
}

/// How a non-ELF file starts, for error messages: text in quotes, else hex bytes.
fn describe_start(head: &[u8]) -> String {
    if head.is_empty() {
        return "nothing: it is empty".into();
    }
    let start = &head[..head.len().min(16)];
    let text: String = String::from_utf8_lossy(start)
        .chars()
        .take_while(|c| *c != '\n')
        .collect();
    if start.starts_with(b"#!")
        || start
            .iter()
            .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\n')
    {
        format!("{text:?}")
    } else {
        start
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

pub mod allocator;

#[cfg(test)]
mod tests;
