//! Splitting a built ELF file in memory into the binary that goes into the image and its debug file,
//! as `objcopy --only-keep-debug` / `--strip-debug` / `--add-gnu-debuglink` do.
//!
//! Takes the bytes of a built file (the one in `target/` is never written); gives a [`Split`]: the
//! stripped binary, with every `.debug_*` / `.zdebug_*` section removed and a `.gnu_debuglink` added
//! (the debug file's name and CRC32, so gdb finds it beside the binary or in a debug directory), and
//! the debug file: the same section headers, the DWARF and the symbol table with data, every other
//! section `SHT_NOBITS` (addresses kept, so gdb and addr2line map it onto the stripped binary). Every
//! allocated section stays at its offset and address with its bytes (the dynamic symbol, string,
//! hash, version and dynamic tables of a dynamically linked binary too: they are copied, not rebuilt
//! by the writer); every other section's data (`.dep-v0` above all, which `rust-audit-info` reads)
//! is copied unchanged; the relocations of a removed section (an object file's `.rela.debug_*`) go
//! with it. A file that is not ELF, or has no DWARF,
//! is no [`Split`]: the caller puts it in the image as it is, same bytes.
//!
//! The ELF is read and written by the `object` crate's `build::elf::Builder` (pinned exactly in
//! Cargo.toml: its writer lays out the stripped file, so its version is part of the image's bytes).
//! Measured on this 2-core machine: object 0.37.3 with `build` (and its hashbrown/indexmap) adds
//! 10.2 s to a clean dev build of this crate, once; a hand-written section rewriter would have had to
//! relocate the section header table and the non-allocated sections itself.

use anyhow::{anyhow, bail, Result};
use object::build::elf::{Builder, SectionData};
use object::elf;

/// A built file split in two.
#[derive(Debug, Clone)]
pub struct Split {
    /// The binary for the image: no DWARF, a `.gnu_debuglink` to the debug file.
    pub stripped: Vec<u8>,
    /// The debug file (`<binary>.debug`): the DWARF and the symbol table.
    pub debug: Vec<u8>,
}

/// Whether a section of this name is debug info (`.debug_*`, `.zdebug_*`).
pub fn is_debug(name: &[u8]) -> bool {
    name.starts_with(b".debug_") || name.starts_with(b".zdebug_")
}

/// Whether a section is debug info to take out of the image: a debug name and not allocated. Rust's
/// `.debug_gdb_scripts` is allocated (it is loaded with the program, which may read it), so it stays,
/// as it does with `objcopy --strip-debug`.
fn removable(name: &[u8], sh_flags: u64) -> bool {
    is_debug(name) && sh_flags & u64::from(elf::SHF_ALLOC) == 0
}

/// Whether `bytes` is an ELF file with at least one removable debug section. Anything that does not
/// parse as ELF is not.
pub fn has_debug(bytes: &[u8]) -> bool {
    use object::{Object, ObjectSection, SectionFlags};
    if !bytes.starts_with(&elf::ELFMAG) {
        return false;
    }
    match object::File::parse(bytes) {
        Ok(f) => f.sections().any(|s| {
            let flags = match s.flags() {
                SectionFlags::Elf { sh_flags } => sh_flags,
                _ => u64::from(elf::SHF_ALLOC),
            };
            s.name_bytes().is_ok_and(|n| removable(n, flags))
        }),
        Err(_) => false,
    }
}

/// Split `bytes` (a built file) whose debug file will be called `debug_name` (e.g. `app.debug`).
/// `None` when it is not ELF or carries no DWARF: then it goes into the image unchanged.
pub fn split(bytes: &[u8], debug_name: &str) -> Result<Option<Split>> {
    if !has_debug(bytes) {
        return Ok(None);
    }
    check_layout(bytes)?;
    // The two files are written at the same time (a 34 MB input: ~25 ms for the debug file, ~12 ms for
    // the stripped binary, on the path every `--binary` run waits for). The stripped one gets a
    // placeholder CRC, patched once the debug file is there: the link's size does not depend on the
    // CRC, so neither does anything else of the file (`a_patched_link_is_the_link_written_with_its_crc`).
    let (debug, stripped) = std::thread::scope(|s| {
        let debug = s.spawn(|| only_keep_debug(bytes));
        let stripped = strip_debug(bytes, Some((debug_name, 0)));
        let debug = debug
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (debug, stripped)
    });
    let debug = debug?;
    let mut stripped = stripped?;
    patch_link_crc(&mut stripped, crc32fast::hash(&debug))?;
    Ok(Some(Split { stripped, debug }))
}

/// Set the CRC32 (the last 4 bytes of `.gnu_debuglink`, in the file's byte order) of a written file.
fn patch_link_crc(file: &mut [u8], crc: u32) -> Result<()> {
    use object::read::elf::{FileHeader, SectionHeader};
    fn range<H: FileHeader<Endian = object::Endianness>>(file: &[u8]) -> Option<(usize, bool)> {
        let h = H::parse(file).ok()?;
        let endian = h.endian().ok()?;
        let (_, sec) = h
            .sections(endian, file)
            .ok()?
            .section_by_name(endian, b".gnu_debuglink")?;
        let (off, size) = sec.file_range(endian)?;
        let end = usize::try_from(off.checked_add(size)?).ok()?;
        (size >= 4 && end <= file.len()).then_some((end, endian == object::Endianness::Little))
    }
    // e_ident[EI_CLASS], byte 4 of every ELF file: 32- or 64-bit headers.
    let found = match file.get(4) {
        Some(&elf::ELFCLASS64) => range::<elf::FileHeader64<object::Endianness>>(file),
        Some(&elf::ELFCLASS32) => range::<elf::FileHeader32<object::Endianness>>(file),
        _ => None,
    };
    let Some((end, little)) = found else {
        bail!("internal error: the stripped file has no readable .gnu_debuglink to set its CRC in");
    };
    file[end - 4..end].copy_from_slice(&if little {
        crc.to_le_bytes()
    } else {
        crc.to_be_bytes()
    });
    Ok(())
}

/// `bytes` without its DWARF and with no debuglink (`debuginfo = "drop"`); `None` when it is not ELF
/// or carries no DWARF.
pub fn drop_debug(bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    if !has_debug(bytes) {
        return Ok(None);
    }
    check_layout(bytes)?;
    strip_debug(bytes, None).map(Some)
}

/// Room the rewritten file may take for alignment padding beyond the input's own length.
const ALIGN_SLACK: u64 = 16 << 20;

/// The section headers are ones a linker writes, so the writer lays out a file no larger than about
/// the input: every section with data lies inside the file, every alignment is 0 or a power of two,
/// and all of them together add at most the input's length plus [`ALIGN_SLACK`] of padding. A
/// `--binary` is the user's file: an alignment of 2^40 would otherwise make a terabyte of padding,
/// one that is not a power of two garbage offsets.
fn check_layout(bytes: &[u8]) -> Result<()> {
    use object::{Object, ObjectSection};
    let f = object::File::parse(bytes).map_err(|e| anyhow!("reading it as ELF: {e}"))?;
    let len = bytes.len() as u64;
    let mut padding: u64 = 0;
    for s in f.sections() {
        let name = String::from_utf8_lossy(s.name_bytes().unwrap_or(b"?")).into_owned();
        let Some((offset, size)) = s.file_range() else {
            continue;
        };
        if offset.checked_add(size).is_none_or(|end| end > len) {
            bail!(
                "section {name} claims bytes {offset:#x}+{size:#x}, past the end of the file \
                 ({len:#x} bytes): the file is truncated or not what a linker writes"
            );
        }
        let align = s.align();
        if align != 0 && !align.is_power_of_two() {
            bail!("section {name} has alignment {align:#x}, not a power of two: not what a linker writes");
        }
        padding = padding.saturating_add(align);
    }
    if padding > len.saturating_add(ALIGN_SLACK) {
        bail!(
            "its sections' alignments add up to {padding:#x} bytes, more than the file itself \
             ({len:#x} bytes): not what a linker writes"
        );
    }
    Ok(())
}

/// The ELF without its debug sections (`objcopy --strip-debug`), plus a `.gnu_debuglink` to the
/// debug file of this name and CRC32 when there is one.
fn strip_debug(bytes: &[u8], link: Option<(&str, u32)>) -> Result<Vec<u8>> {
    let mut b = read(bytes)?;
    let mut deleted = Vec::new();
    for s in b.sections.iter_mut() {
        if removable(&s.name, s.sh_flags) {
            s.delete = true;
            deleted.push(s.id());
        }
    }
    for s in b.sections.iter_mut() {
        // The relocations of a deleted section (`.rela.debug_info` of an object file) go with it.
        if s.sh_info_section.is_some_and(|i| deleted.contains(&i)) {
            s.delete = true;
        }
        // Every allocated section keeps its bytes: the writer would rebuild the dynamic symbol,
        // string, hash, version and dynamic tables (deduplicated, reordered, shorter) where the
        // input's are what the loader was linked against. `check_layout` saw they are in the file.
        let structured = !matches!(
            s.data,
            SectionData::Data(_) | SectionData::UninitializedData(_) | SectionData::Note(_)
        );
        if s.sh_flags & u64::from(elf::SHF_ALLOC) != 0 && s.sh_type != elf::SHT_NOBITS && structured
        {
            let (o, n) = (s.sh_offset as usize, s.sh_size as usize);
            s.data = SectionData::Data(bytes[o..o + n].to_vec().into());
        }
    }
    for sym in b.dynamic_symbols.iter_mut() {
        sym.delete = true;
    }
    if let Some((name, crc)) = link {
        let link = debuglink(name, crc, b.endian == object::Endianness::Little);
        // One link, to this debug file: an input's own `.gnu_debuglink` (to a file that is not in
        // the image) goes.
        for s in b.sections.iter_mut() {
            if &*s.name == b".gnu_debuglink".as_slice() {
                s.delete = true;
            }
        }
        let s = b.sections.add();
        s.name = b".gnu_debuglink".to_vec().into();
        s.sh_type = elf::SHT_PROGBITS;
        s.sh_addralign = 4;
        s.data = SectionData::Data(link.into());
    }
    write(b, bytes.len())
}

/// The debug file (`objcopy --only-keep-debug`): DWARF, symbols and notes keep their data; every
/// other section is `SHT_NOBITS` of its size at its address; no program headers (nothing loads it).
fn only_keep_debug(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut b = read(bytes)?;
    for seg in b.segments.iter_mut() {
        seg.delete = true;
    }
    for sym in b.dynamic_symbols.iter_mut() {
        sym.delete = true;
    }
    b.header.e_phoff = 0;
    for s in b.sections.iter_mut() {
        let keep = is_debug(&s.name)
            || matches!(
                s.data,
                SectionData::Symbol
                    | SectionData::String
                    | SectionData::SectionString
                    | SectionData::SymbolSectionIndex
                    | SectionData::Note(_)
            );
        if keep || s.sh_type == elf::SHT_NOBITS {
            continue;
        }
        let size = s.sh_size;
        s.sh_type = elf::SHT_NOBITS;
        s.data = SectionData::UninitializedData(size);
    }
    write(b, bytes.len())
}

/// The `.gnu_debuglink` payload: the file name, NUL, padding to 4 bytes, the CRC32 in the file's
/// byte order.
fn debuglink(name: &str, crc: u32, little: bool) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
    v.extend_from_slice(&if little {
        crc.to_le_bytes()
    } else {
        crc.to_be_bytes()
    });
    v
}

fn read(bytes: &[u8]) -> Result<Builder<'_>> {
    Builder::read(bytes).map_err(|e| anyhow!("reading it as ELF: {e}"))
}

/// `b` written out; `room` is an upper bound of its size (the input's), so the buffer is allocated
/// once (huge-page backed, see [`crate::bigbuf`]).
fn write(b: Builder<'_>, room: usize) -> Result<Vec<u8>> {
    let mut out = crate::bigbuf::with_capacity(room);
    b.write(&mut out)
        .map_err(|e| anyhow!("writing it back as ELF: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patched_link_is_the_link_written_with_its_crc() {
        let input = super::super::split_attacks::elf_with_dwarf();
        let split = split(&input, "t.debug").unwrap().unwrap();
        let direct = strip_debug(&input, Some(("t.debug", crc32fast::hash(&split.debug)))).unwrap();
        assert_eq!(split.stripped, direct);
        let placeholder = strip_debug(&input, Some(("t.debug", 0))).unwrap();
        assert_ne!(placeholder, direct, "the CRC must be in the bytes");
        let mut not_elf = b"not an ELF file at all".to_vec();
        assert!(patch_link_crc(&mut not_elf, 1).is_err());
    }

    #[test]
    fn the_debuglink_is_the_name_padded_to_four_then_the_crc() {
        assert_eq!(
            debuglink("ab.debug", 0x0403_0201, true),
            b"ab.debug\0\0\0\0\x01\x02\x03\x04".to_vec()
        );
        assert_eq!(
            debuglink("abc", 0x0403_0201, false),
            b"abc\0\x04\x03\x02\x01".to_vec()
        );
    }

    #[test]
    fn something_that_is_not_elf_is_no_split() {
        assert!(split(b"#!/bin/sh\necho hi\n", "x.debug").unwrap().is_none());
        assert!(split(b"\x7fELF garbage", "x.debug").unwrap().is_none());
    }

    #[test]
    fn debug_names_are_the_dwarf_sections_only() {
        assert!(is_debug(b".debug_info"));
        assert!(is_debug(b".zdebug_line"));
        assert!(!is_debug(b".dep-v0"));
        assert!(!is_debug(b".symtab"));
        assert!(!is_debug(b".gnu_debuglink"));
        assert!(removable(b".debug_line", 0));
        assert!(!removable(b".debug_gdb_scripts", u64::from(elf::SHF_ALLOC)));
    }
}
