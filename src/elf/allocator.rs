//! Which allocator a static binary uses, from its symbol table: the facts behind the note that a
//! multi-threaded binary on musl's malloc would be faster with a global allocator (`allocator-check`).
//!
//! Takes the path of a built binary; gives [`Allocator`]: whether it has a symbol table at all
//! (`strip = true` or `--min-size` removes it: then nothing can be said), whether it starts threads,
//! whether musl's malloc is linked in, and which other allocator, if any. Only the section headers,
//! the `.symtab` and its string table are read, each checked against the file's length and at most
//! [`MAX_TABLE`] bytes. The names were measured on release builds for x86_64-unknown-linux-musl with
//! rustc 1.95 (musl 1.2.5), symbols kept:
//!
//! - threads: `pthread_create` / `__pthread_create` are defined only when something starts a thread
//!   (`std::thread::spawn`); a single-threaded program has neither.
//! - musl's malloc: `__libc_malloc_impl`, defined by musl's mallocng (and oldmalloc) since 1.2.1,
//!   present with and without a `#[global_allocator]`, as musl itself allocates through it.
//! - another allocator: mimalloc (`mi_free`, `mi_malloc_aligned`, ...), jemalloc from
//!   tikv-jemallocator (`_rjem_malloc`, `_rjem_mallocx`, ...; `je_malloc` without the prefix),
//!   snmalloc-rs (`sn_rust_alloc`), rpmalloc (`rpmalloc`).
//!
//! A `#[global_allocator]` leaves no symbol of its own once inlined (fat LTO removes even std's
//! `__rdl_alloc`), so one that is none of those (a wrapper over `System`, or a pure-Rust allocator)
//! is not told from the default: it gets the note too, and `allocator-check = false` silences it.

use super::{u16_at, u32_at, u64_at, Elf};
use anyhow::Result;
use std::path::Path;

/// The largest symbol or string table read (a 35 MB Rust binary has a few MB of each).
pub const MAX_TABLE: u64 = 256 << 20;

const SHT_SYMTAB: u32 = 2;
const SHN_UNDEF: u16 = 0;
/// Size of one ELF64 symbol.
const SYM_SIZE: usize = 24;

/// What a binary's symbol table says about threads and allocators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocator {
    /// It has a `.symtab` (not stripped): the other fields mean something.
    pub symbols: bool,
    /// It can start threads (`pthread_create` is defined).
    pub threads: bool,
    /// musl's malloc is linked in (`__libc_malloc_impl`).
    pub musl_malloc: bool,
    /// Another allocator found, by name (`mimalloc`, `jemalloc`, ...).
    pub other: Option<&'static str>,
}

impl Allocator {
    /// Multi-threaded, on musl's malloc, with no other allocator: worth the note.
    pub fn wants_note(&self) -> bool {
        self.symbols && self.threads && self.musl_malloc && self.other.is_none()
    }
}

/// The allocator a defined symbol `name` belongs to, if it is one we know.
fn other_allocator(name: &[u8]) -> Option<&'static str> {
    match name {
        b"mi_malloc" | b"mi_free" | b"mi_malloc_aligned" | b"mi_zalloc_aligned" => Some("mimalloc"),
        b"je_malloc" | b"je_mallocx" => Some("jemalloc"),
        n if n.starts_with(b"_rjem_") => Some("jemalloc"),
        b"sn_rust_alloc" => Some("snmalloc"),
        b"rpmalloc" => Some("rpmalloc"),
        _ => None,
    }
}

/// Read the symbol table of the binary at `path`.
pub fn scan(path: &Path) -> Result<Allocator> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut elf = Elf { file, len, path };
    let head = elf.read_at(0, 64, "ELF header")?;
    elf.check_ident(&head)?;
    let shoff = u64_at(&head, 40);
    let shentsize = u64::from(u16_at(&head, 58));
    let mut shnum = u64::from(u16_at(&head, 60));
    if shoff == 0 || shentsize < 64 {
        return Ok(Allocator::default());
    }
    if shnum == 0 {
        // More sections than e_shnum holds: the count is sh_size of section header 0.
        shnum = u64_at(&elf.read_at(shoff, 64, "section header 0")?, 32);
    }
    let table = elf.read_at(
        shoff,
        shentsize.saturating_mul(shnum).min(MAX_TABLE),
        "section header table",
    )?;
    let headers: Vec<&[u8]> = table.chunks_exact(shentsize as usize).collect();
    let Some(symtab) = headers.iter().find(|h| u32_at(h, 4) == SHT_SYMTAB) else {
        return Ok(Allocator::default());
    };
    let Some(strtab) = headers.get(u32_at(symtab, 40) as usize) else {
        return Ok(Allocator::default());
    };
    let read = |elf: &mut Elf<'_>, h: &[u8], what: &str| {
        let (offset, size) = (u64_at(h, 24), u64_at(h, 32));
        if size > MAX_TABLE {
            anyhow::bail!("its {what} is {size} bytes, more than the {MAX_TABLE} read");
        }
        elf.read_at(offset, size, what)
    };
    let syms = read(&mut elf, symtab, "symbol table")?;
    let strs = read(&mut elf, strtab, "symbol string table")?;
    let mut found = Allocator {
        symbols: true,
        ..Allocator::default()
    };
    for sym in syms.chunks_exact(SYM_SIZE) {
        if u16_at(sym, 6) == SHN_UNDEF {
            continue;
        }
        let start = u32_at(sym, 0) as usize;
        let Some(rest) = strs.get(start..) else {
            continue;
        };
        let name = &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())];
        match name {
            b"pthread_create" | b"__pthread_create" => found.threads = true,
            b"__libc_malloc_impl" => found.musl_malloc = true,
            n => found.other = found.other.or(other_allocator(n)),
        }
    }
    Ok(found)
}

/// The note for binary `name`: what was found and the two lines that change it.
pub fn note(name: &str) -> String {
    format!(
        "{name} is multi-threaded and allocates with musl's malloc, which is often several times \
         slower than glibc's when threads allocate at once; a global allocator avoids that. Add \
         these two lines (mimalloc's C code is built by the musl C toolchain, see \"C toolchain\"):\n\
         \x20   Cargo.toml, [dependencies]:  mimalloc = \"0.1\"\n\
         \x20   src/main.rs:                 #[global_allocator] static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;\n\
         or jemalloc: tikv-jemallocator = \"0.6\" and tikv_jemallocator::Jemalloc. \
         `allocator-check = false` in [package.metadata.slim-image] silences this note"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_allocators_by_symbol() {
        assert_eq!(other_allocator(b"mi_free"), Some("mimalloc"));
        assert_eq!(other_allocator(b"_rjem_mallocx"), Some("jemalloc"));
        assert_eq!(other_allocator(b"malloc"), None);
        assert_eq!(other_allocator(b"__libc_malloc_impl"), None);
    }

    #[test]
    fn the_test_binary_itself_is_read_without_error() {
        // A glibc test binary: it has a symbol table, and no musl malloc.
        let me = std::env::current_exe().unwrap();
        let a = scan(&me).unwrap();
        assert!(a.symbols);
        assert!(!a.musl_malloc);
        assert!(!a.wants_note());
    }

    #[test]
    fn a_file_that_is_not_elf_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"#!/bin/sh\necho hi\n").unwrap();
        assert!(scan(&p).is_err());
    }
}
