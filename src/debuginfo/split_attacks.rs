//! Hostile input for [`super::split`]: a `--binary` is the user's file, so every mutation of a real
//! ELF with DWARF (truncated, section headers past the end, huge sizes, wrong class or byte order,
//! no sections) must give a split, "not ELF / no DWARF", or an error, never a panic or an
//! allocation of a claimed size.

use super::split::{drop_debug, split};

/// A small Rust binary with DWARF, compiled once with the toolchain the tests run with.
pub(super) fn elf_with_dwarf() -> Vec<u8> {
    static ELF: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    ELF.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.rs"), "fn main() {}\n").unwrap();
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let st = std::process::Command::new(rustc)
            .current_dir(dir.path())
            .args(["-g", "-C", "opt-level=0", "m.rs", "-o", "m"])
            .status()
            .unwrap();
        assert!(st.success());
        std::fs::read(dir.path().join("m")).unwrap()
    })
    .clone()
}

fn u16_at(b: &[u8], o: usize) -> usize {
    u16::from_le_bytes([b[o], b[o + 1]]) as usize
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

fn put64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

/// Runs split and drop on `bytes`; panics (the test fails) if either panics.
fn survive(what: &str, bytes: &[u8]) {
    let r = std::panic::catch_unwind(|| {
        let s = split(bytes, "m.debug");
        let d = drop_debug(bytes);
        if let Ok(Some(s)) = &s {
            assert!(
                object::File::parse(&*s.stripped).is_ok(),
                "{what}: stripped unreadable"
            );
        }
        (s.is_ok(), d.is_ok())
    });
    assert!(r.is_ok(), "{what}: split panicked");
}

#[test]
fn every_mutation_of_the_elf_header_and_section_headers_is_survived() {
    let elf = elf_with_dwarf();
    assert!(
        split(&elf, "m.debug").unwrap().is_some(),
        "the sample has DWARF"
    );
    let shoff = u64_at(&elf, 0x28) as usize;
    let shnum = u16_at(&elf, 0x3c);
    // Truncated anywhere in the header, the section header table, the end.
    let mut cuts: Vec<usize> = (0..80).collect();
    cuts.extend([
        shoff - 1,
        shoff,
        shoff + 1,
        shoff + 64,
        elf.len() / 2,
        elf.len() - 1,
    ]);
    for n in cuts {
        survive(&format!("cut at {n}"), &elf[..n.min(elf.len())]);
    }
    // The header's own fields.
    for (o, v) in [(4u8, 1u8), (4, 2), (5, 2), (5, 0), (6, 0)] {
        let mut b = elf.clone();
        b[o as usize] = v;
        survive(&format!("e_ident[{o}] = {v}"), &b);
    }
    for (o, v) in [
        (0x28usize, u64::MAX),
        (0x28, elf.len() as u64),
        (0x20, u64::MAX),
    ] {
        let mut b = elf.clone();
        put64(&mut b, o, v);
        survive(&format!("header +{o:#x} = {v:#x}"), &b);
    }
    for (o, v) in [
        (0x3cusize, 0u16),
        (0x3c, 0xffff),
        (0x3e, 0xffff),
        (0x3a, 0),
        (0x3a, 1),
    ] {
        let mut b = elf.clone();
        b[o..o + 2].copy_from_slice(&v.to_le_bytes());
        survive(&format!("header +{o:#x} = {v:#x}"), &b);
    }
    // Each section header: a huge or past-the-end size and offset, a wild link, alignment, type.
    for i in 1..shnum {
        let h = shoff + i * 64;
        for (f, v) in [
            (0x20usize, u64::MAX),
            (0x20, 1 << 40),
            (0x20, elf.len() as u64),
            (0x18, u64::MAX),
            (0x18, elf.len() as u64 - 1),
            (0x30, 3),
            (0x30, u64::MAX),
            (0x30, 1 << 40),
            (0x38, u64::MAX),
            (0x08, u64::MAX),
        ] {
            let mut b = elf.clone();
            put64(&mut b, h + f, v);
            survive(&format!("section {i} +{f:#x} = {v:#x}"), &b);
        }
        for (f, v) in [(0u32, u32::MAX), (4, 8), (4, 0x7fff_ffff), (0x28, u32::MAX)] {
            let mut b = elf.clone();
            let o = h + f as usize;
            b[o..o + 4].copy_from_slice(&v.to_le_bytes());
            survive(&format!("section {i} +{f:#x} = {v:#x}"), &b);
        }
    }
}

#[test]
fn a_huge_alignment_or_an_empty_section_far_past_the_end_is_an_error_not_a_terabyte() {
    let elf = elf_with_dwarf();
    let shoff = u64_at(&elf, 0x28) as usize;
    let shnum = u16_at(&elf, 0x3c);
    let alloc = (1..shnum)
        .map(|i| shoff + i * 64)
        .find(|h| {
            u64_at(&elf, h + 8) & 2 != 0
                && u32::from_le_bytes(elf[h + 4..h + 8].try_into().unwrap()) == 1
        })
        .expect("an allocated PROGBITS section");
    let mut aligned = elf.clone();
    put64(&mut aligned, alloc + 0x30, 1 << 40);
    let e = split(&aligned, "m.debug").unwrap_err();
    assert!(format!("{e:#}").contains("alignment"), "{e:#}");
    let mut far = elf.clone();
    put64(&mut far, alloc + 0x20, 0);
    put64(&mut far, alloc + 0x18, 1 << 40);
    let e = drop_debug(&far).unwrap_err();
    assert!(format!("{e:#}").contains("past the end"), "{e:#}");
}

/// `cc` output for `args` (a C `main` returning 0), or `None` when there is no C compiler that can.
fn cc(args: &[&str]) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.c"), "int main(void) { return 0; }\n").unwrap();
    let st = std::process::Command::new("cc")
        .current_dir(dir.path())
        .args(args)
        .args(["a.c", "-o", "out"])
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    st.success()
        .then(|| std::fs::read(dir.path().join("out")).unwrap())
}

fn sections(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    use object::{Object, ObjectSection};
    let f = object::File::parse(bytes).unwrap();
    f.sections()
        .map(|s| {
            let n = s.name().unwrap_or("?").to_string();
            (
                n,
                s.uncompressed_data()
                    .map(|d| d.into_owned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn dynamic_compressed_and_object_files_split_keeping_every_other_section_and_still_run() {
    let mut samples = vec![("rust -g", elf_with_dwarf(), true)];
    for (what, args, runs) in [
        ("cc -g -gz=zlib", &["-g", "-gz=zlib"][..], true),
        ("cc -g -c", &["-g", "-c"][..], false),
    ] {
        if let Some(b) = cc(args) {
            samples.push((what, b, runs));
        }
    }
    // A 32-bit object file: the reader has no support for all its sections; an error, no panic.
    if let Some(b) = cc(&["-m32", "-g", "-c"]) {
        let e = split(&b, "out.debug").err().map(|e| format!("{e:#}"));
        assert!(e.as_ref().is_none_or(|e| e.contains("as ELF")), "{e:?}");
    }
    let mut bad = 0;
    for (what, elf, runs) in samples {
        let Some(s) = split(&elf, "out.debug").unwrap_or_else(|e| panic!("{what}: {e:#}")) else {
            panic!("{what}: no split");
        };
        let again = split(&elf, "out.debug").unwrap().unwrap();
        assert!(
            s.stripped == again.stripped && s.debug == again.debug,
            "{what}: not deterministic"
        );
        let after = sections(&s.stripped);
        assert!(
            after
                .iter()
                .all(|(n, _)| !n.starts_with(".debug_") || n == ".debug_gdb_scripts"),
            "{what}: {after:?}"
        );
        for (name, data) in sections(&elf) {
            let rebuilt = [".symtab", ".strtab", ".shstrtab"].contains(&name.as_str())
                || name.starts_with(".rela.debug_")
                || name.starts_with(".rel.debug_");
            if super::split::is_debug(name.as_bytes()) || rebuilt {
                continue;
            }
            let same = after.iter().find(|(n, _)| *n == name);
            if same.is_none_or(|(_, d)| *d != data) {
                let d = same.map(|x| x.1.clone()).unwrap_or_default();
                let first = d.iter().zip(&data).position(|(a, b)| a != b);
                eprintln!(
                    "{what}: section {name} changed: {} -> {} bytes, first difference at {first:?}",
                    data.len(),
                    d.len()
                );
                bad += 1;
            }
        }
        if runs {
            let dir = tempfile::tempdir().unwrap();
            let exe = dir.path().join("out");
            std::fs::write(&exe, &s.stripped).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
            let st = std::process::Command::new(&exe).status().unwrap();
            assert!(
                st.success(),
                "{what}: the stripped binary does not run: {st:?}"
            );
        }
    }
    assert_eq!(bad, 0, "sections changed (above)");
}

#[test]
fn a_binary_that_already_has_a_debuglink_gets_one_naming_the_new_debug_file() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m");
    std::fs::write(&m, elf_with_dwarf()).unwrap();
    std::fs::write(dir.path().join("old.debug"), b"old").unwrap();
    let st = std::process::Command::new("objcopy")
        .current_dir(dir.path())
        .args(["--add-gnu-debuglink=old.debug", "m"])
        .status();
    if !st.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no objcopy");
        return;
    }
    let linked = std::fs::read(&m).unwrap();
    let s = split(&linked, "m.debug").unwrap().unwrap();
    let links: Vec<Vec<u8>> = sections(&s.stripped)
        .into_iter()
        .filter(|(n, _)| n == ".gnu_debuglink")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(links.len(), 1, "{} .gnu_debuglink sections", links.len());
    assert!(links[0].starts_with(b"m.debug\0"), "{:?}", links[0]);
}
