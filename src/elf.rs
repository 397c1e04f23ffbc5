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
         a musl C compiler (apt-get install musl-tools); or use a base image that has these \
         libraries",
        path.display(),
        what.join(" and "),
        platform.rust_target()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A minimal 64-bit little-endian ELF: header, program headers (PT_LOAD over the whole file,
    /// PT_INTERP and PT_DYNAMIC as asked), then the loader path, string table and dynamic section.
    fn tiny_elf(
        machine: u16,
        elf_type: u16,
        interp: Option<&str>,
        needed: &[&str],
        dynamic: bool,
    ) -> Vec<u8> {
        const BASE: u64 = 0x40_0000;
        let nph = 1 + u64::from(interp.is_some()) + u64::from(dynamic);
        let mut data = Vec::new(); // everything after the program headers
        let data_off = 64 + 56 * nph;
        let interp_off = data_off;
        if let Some(i) = interp {
            data.extend_from_slice(i.as_bytes());
            data.push(0);
        }
        let strtab_off = data_off + data.len() as u64;
        let mut strtab = vec![0u8];
        let mut name_offs = Vec::new();
        for n in needed {
            name_offs.push(strtab.len() as u64);
            strtab.extend_from_slice(n.as_bytes());
            strtab.push(0);
        }
        data.extend_from_slice(&strtab);
        let dyn_off = data_off + data.len() as u64;
        let mut dyns: Vec<(i64, u64)> = name_offs.iter().map(|o| (DT_NEEDED, *o)).collect();
        dyns.push((DT_STRTAB, BASE + strtab_off));
        dyns.push((DT_STRSZ, strtab.len() as u64));
        dyns.push((DT_NULL, 0));
        for (t, v) in &dyns {
            data.extend_from_slice(&t.to_le_bytes());
            data.extend_from_slice(&v.to_le_bytes());
        }
        let total = data_off + data.len() as u64;

        let mut out = vec![0u8; 64];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2; // 64-bit
        out[5] = 1; // little-endian
        out[6] = 1;
        out[16..18].copy_from_slice(&elf_type.to_le_bytes());
        out[18..20].copy_from_slice(&machine.to_le_bytes());
        out[32..40].copy_from_slice(&64u64.to_le_bytes());
        out[52..54].copy_from_slice(&64u16.to_le_bytes());
        out[54..56].copy_from_slice(&56u16.to_le_bytes());
        out[56..58].copy_from_slice(&(nph as u16).to_le_bytes());
        let mut ph = |kind: u32, off: u64, size: u64| {
            let mut p = [0u8; 56];
            p[..4].copy_from_slice(&kind.to_le_bytes());
            p[8..16].copy_from_slice(&off.to_le_bytes());
            p[16..24].copy_from_slice(&(BASE + off).to_le_bytes());
            p[32..40].copy_from_slice(&size.to_le_bytes());
            p[40..48].copy_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&p);
        };
        ph(PT_LOAD, 0, total);
        if let Some(i) = interp {
            ph(PT_INTERP, interp_off, i.len() as u64 + 1);
        }
        if dynamic {
            ph(PT_DYNAMIC, dyn_off, 16 * dyns.len() as u64);
        }
        out.extend_from_slice(&data);
        out
    }

    fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f.flush().unwrap();
        f
    }

    fn err(r: Result<ElfInfo>) -> String {
        format!("{:#}", r.unwrap_err())
    }

    #[test]
    fn reads_loader_and_needed_libraries() {
        let f = write_temp(&tiny_elf(
            62,
            ET_DYN,
            Some("/lib64/ld-linux-x86-64.so.2"),
            &["libgcc_s.so.1", "libc.so.6"],
            true,
        ));
        let info = inspect(f.path()).unwrap();
        assert_eq!(info.machine, 62);
        assert_eq!(info.elf_type, ET_DYN);
        assert_eq!(
            info.interpreter.as_deref(),
            Some("/lib64/ld-linux-x86-64.so.2")
        );
        assert_eq!(info.needed, ["libgcc_s.so.1", "libc.so.6"]);
        assert!(!info.is_static());
        let msg = err(require_static(f.path(), Platform::LinuxAmd64));
        assert!(msg.contains("/lib64/ld-linux-x86-64.so.2"), "{msg}");
        assert!(msg.contains("libgcc_s.so.1, libc.so.6"), "{msg}");
        assert!(msg.contains("x86_64-unknown-linux-musl"), "{msg}");
        assert!(msg.contains("crt-static"), "{msg}");
        // A base with a loader only needs the right machine.
        assert!(require_machine(f.path(), Platform::LinuxAmd64).is_ok());
    }

    #[test]
    fn static_pie_and_static_exec_are_static() {
        // x86_64 musl Rust binaries: ET_DYN with a PT_DYNAMIC but no loader and no DT_NEEDED.
        let pie = write_temp(&tiny_elf(62, ET_DYN, None, &[], true));
        assert!(require_static(pie.path(), Platform::LinuxAmd64)
            .unwrap()
            .is_static());
        let exec = write_temp(&tiny_elf(183, ET_EXEC, None, &[], false));
        let info = require_static(exec.path(), Platform::LinuxArm64).unwrap();
        assert_eq!((info.machine, info.elf_type), (183, ET_EXEC));
    }

    #[test]
    fn wrong_machine_names_both() {
        let f = write_temp(&tiny_elf(183, ET_EXEC, None, &[], false));
        let msg = err(require_static(f.path(), Platform::LinuxAmd64));
        assert!(msg.contains("built for aarch64"), "{msg}");
        assert!(msg.contains("linux/amd64"), "{msg}");
        assert!(msg.contains("--target x86_64-unknown-linux-musl"), "{msg}");
        let obj = write_temp(&tiny_elf(62, 1, None, &[], false));
        let msg = err(require_machine(obj.path(), Platform::LinuxAmd64));
        assert!(msg.contains("relocatable object"), "{msg}");
    }

    #[test]
    fn rejects_non_elf_32_bit_big_endian_and_truncated() {
        let script = write_temp(b"#!/bin/sh\necho hi\n");
        let msg = err(inspect(script.path()));
        assert!(
            msg.contains(
                "is not an ELF executable (it starts with \"#!/bin/sh\"): pass a Linux binary"
            ),
            "{msg}"
        );
        let empty = write_temp(b"");
        assert!(err(inspect(empty.path())).contains("it is empty"));
        let zip = write_temp(b"PK\x03\x04\x14\x00\x00\x00");
        assert!(err(inspect(zip.path())).contains("50 4b 03 04"));

        let mut elf32 = tiny_elf(62, ET_EXEC, None, &[], false);
        elf32[4] = 1;
        assert!(err(inspect(write_temp(&elf32).path())).contains("32-bit"));
        let mut be = tiny_elf(62, ET_EXEC, None, &[], false);
        be[5] = 2;
        assert!(err(inspect(write_temp(&be).path())).contains("big-endian"));

        let full = tiny_elf(
            62,
            ET_DYN,
            Some("/lib/ld-musl-x86_64.so.1"),
            &["libc.so"],
            true,
        );
        for cut in [10, 40, 100, full.len() - 20] {
            let f = write_temp(&full[..cut]);
            let msg = err(inspect(f.path()));
            assert!(
                msg.contains("is truncated or corrupt"),
                "cut at {cut}: {msg}"
            );
        }
        let missing = err(inspect(Path::new("/nonexistent/binary")));
        assert!(missing.contains("/nonexistent/binary"), "{missing}");
    }

    #[test]
    fn real_dynamic_binary() {
        let ls = Path::new("/bin/ls");
        if !ls.exists() {
            return;
        }
        let info = inspect(ls).unwrap();
        let interp = info.interpreter.clone().unwrap();
        assert!(interp.contains("ld-"), "{interp}");
        assert!(
            info.needed.iter().any(|n| n.starts_with("libc.so")),
            "{:?}",
            info.needed
        );
        if let Some(host) = Platform::host() {
            let msg = err(require_static(ls, host));
            assert!(msg.contains(&interp), "{msg}");
        }
    }

    #[test]
    fn real_static_binary_from_musl_gcc() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("hello.c");
        std::fs::write(
            &src,
            "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n",
        )
        .unwrap();
        let exe = dir.path().join("hello");
        let built = std::process::Command::new("musl-gcc")
            .arg("-static")
            .arg("-o")
            .arg(&exe)
            .arg(&src)
            .status();
        if !matches!(built, Ok(s) if s.success()) {
            eprintln!("skipped: musl-gcc is not installed (apt-get install musl-tools)");
            return;
        }
        let info = require_static(&exe, Platform::LinuxAmd64).unwrap();
        assert!(info.is_static());
    }
}
