//! Unit tests of `elf` (kept beside it so elf.rs stays about the code).
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
    if let Some(host) = crate::host::Host::current().native_platform() {
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
