//! Dependency data for scanners, in cargo-auditable's format, built in (no `cargo auditable` needed).
//!
//! Takes `cargo metadata` (filtered for the platform, with the build's features) and a
//! package that builds binaries; gives the `.dep-v0` payload: the package's dependency tree as
//! `auditable-serde`'s `VersionInfo` JSON (root = the package; normal and build dependencies, a
//! proc-macro and what only it pulls in recorded as build; dev-dependencies left out), zlib-compressed,
//! and an ELF64 relocatable object that carries it in a section `.dep-v0` (not allocated: it takes
//! no memory at run time) with one global symbol, [`SYMBOL`]. The rustc wrapper links that object into
//! the package's bins and names the symbol with `-u`, so `--gc-sections` keeps it; `strip` removes
//! symbols and debug info, not this section. `rust-audit-info`, `cargo audit bin`, Trivy and Syft read
//! it. The object is written by hand (about 60 lines) rather than with the `object` crate: the crate
//! with its ELF writer adds four crates to the build (object, indexmap, hashbrown, foldhash) for the
//! same 5 sections.

use anyhow::{bail, Context, Result};
use auditable_serde::{DependencyKind, Package, Source, VersionInfo};
use cargo_metadata::{Metadata, NodeDep, TargetKind};
use std::collections::{BTreeMap, BTreeSet};

/// The symbol the object defines and the linker is told to keep (cargo-auditable's name).
pub const SYMBOL: &str = "AUDITABLE_VERSION_INFO";

/// The section name scanners look for.
pub const SECTION: &str = ".dep-v0";

/// zlib level of the payload (libdeflate, pinned in Cargo.toml, so the bytes are the same
/// everywhere). The payload is a few KB: the highest level costs well under a millisecond.
const LEVEL: i32 = 12;

/// How a package is reached from the root, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Dev,
    Build,
    Runtime,
}

/// The strongest kind of a `cargo metadata` resolve edge (`dep_kinds[].kind`: null, "build", "dev";
/// a kind this cargo_metadata does not know counts as dev).
fn edge_kind(dep: &NodeDep) -> Kind {
    dep.dep_kinds
        .iter()
        .map(|k| match k.kind {
            cargo_metadata::DependencyKind::Normal => Kind::Runtime,
            cargo_metadata::DependencyKind::Build => Kind::Build,
            _ => Kind::Dev,
        })
        .max()
        .unwrap_or(Kind::Runtime)
}

fn source(pkg: &cargo_metadata::Package) -> Source {
    match pkg.source.as_ref().map(|s| s.repr.as_str()) {
        None => Source::Local,
        Some(
            "registry+https://github.com/rust-lang/crates.io-index"
            | "sparse+https://index.crates.io/",
        ) => Source::CratesIo,
        Some(s) => Source::from(s.split('+').next().unwrap_or(s)),
    }
}

fn is_proc_macro(pkg: &cargo_metadata::Package) -> bool {
    !pkg.targets.is_empty()
        && pkg
            .targets
            .iter()
            .all(|t| t.kind.iter().all(|k| *k == TargetKind::ProcMacro))
}

/// The kind each package is reached from `root_id` with: the strongest; a build dependency's own
/// dependencies are build dependencies too.
fn reach<'a>(
    root_id: &'a str,
    packages: &BTreeMap<&str, &cargo_metadata::Package>,
    nodes: &BTreeMap<&str, &'a cargo_metadata::Node>,
) -> BTreeMap<&'a str, Kind> {
    let mut kind: BTreeMap<&str, Kind> = BTreeMap::from([(root_id, Kind::Runtime)]);
    let mut queue = vec![root_id];
    while let Some(id) = queue.pop() {
        let parent = kind[id];
        for dep in nodes.get(id).map(|n| n.deps.as_slice()).unwrap_or(&[]) {
            let to = dep.pkg.repr.as_str();
            let mut k = edge_kind(dep).min(parent);
            if packages.get(to).is_some_and(|p| is_proc_macro(p)) {
                k = k.min(Kind::Build);
            }
            if kind.get(to).is_none_or(|old| k > *old) {
                kind.insert(to, k);
                queue.push(to);
            }
        }
    }
    kind
}

/// The dependency tree of workspace package `root` as `VersionInfo` (format 1: proc-macros are
/// build dependencies). Packages are sorted by name, version and id, so the bytes do not depend on
/// the order `cargo metadata` lists them in.
pub fn version_info(md: &Metadata, root: &str) -> Result<VersionInfo> {
    let packages: BTreeMap<&str, &cargo_metadata::Package> = md
        .packages
        .iter()
        .map(|p| (p.id.repr.as_str(), p))
        .collect();
    let nodes: BTreeMap<&str, &cargo_metadata::Node> = md
        .resolve
        .as_ref()
        .context("cargo metadata gave no resolve graph")?
        .nodes
        .iter()
        .map(|n| (n.id.repr.as_str(), n))
        .collect();
    let members: BTreeSet<&str> = md
        .workspace_members
        .iter()
        .map(|id| id.repr.as_str())
        .collect();
    let Some(root_id) = members
        .iter()
        .copied()
        .find(|id| packages.get(id).is_some_and(|p| p.name == root))
    else {
        bail!("package `{root}` is not in the workspace's cargo metadata");
    };
    let kind = reach(root_id, &packages, &nodes);
    let mut listed: Vec<(&str, &semver::Version, &str)> = Vec::new();
    for (id, k) in &kind {
        if *k == Kind::Dev {
            continue;
        }
        let p = packages
            .get(id)
            .with_context(|| format!("cargo metadata lists no package {id}"))?;
        listed.push((p.name.as_str(), &p.version, id));
    }
    listed.sort();
    let index: BTreeMap<&str, usize> = listed.iter().enumerate().map(|(i, l)| (l.2, i)).collect();
    let mut out = Vec::new();
    for (name, version, id) in &listed {
        let mut dependencies: Vec<usize> = nodes
            .get(id)
            .map(|n| n.deps.as_slice())
            .unwrap_or(&[])
            .iter()
            .filter(|d| edge_kind(d) != Kind::Dev)
            .filter_map(|d| index.get(d.pkg.repr.as_str()).copied())
            .collect();
        dependencies.sort_unstable();
        dependencies.dedup();
        out.push(Package {
            name: name.to_string(),
            version: (*version).clone(),
            source: source(packages[id]),
            kind: if kind[id] == Kind::Build {
                DependencyKind::Build
            } else {
                DependencyKind::Runtime
            },
            dependencies,
            root: *id == root_id,
        });
    }
    Ok(VersionInfo {
        packages: out,
        format: 1,
    })
}

/// The section's contents: the JSON of `info`, zlib-compressed.
pub fn payload(info: &VersionInfo) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(info).context("encoding the dependency list as JSON")?;
    let level = libdeflater::CompressionLvl::new(LEVEL)
        .map_err(|e| anyhow::anyhow!("zlib level {LEVEL}: {e:?}"))?;
    let mut c = libdeflater::Compressor::new(level);
    let mut out = vec![0; c.zlib_compress_bound(json.len())];
    let n = c
        .zlib_compress(&json, &mut out)
        .map_err(|e| anyhow::anyhow!("compressing the dependency list: {e:?}"))?;
    out.truncate(n);
    Ok(out)
}

/// An ELF64 little-endian relocatable object for `e_machine` (62 x86_64, 183 aarch64) with `data`
/// in a non-allocated section [`SECTION`] and a global data symbol [`SYMBOL`] over it. Sections:
/// null, `.dep-v0`, `.symtab`, `.strtab`, `.shstrtab`.
pub fn object(e_machine: u16, data: &[u8]) -> Vec<u8> {
    fn pad8(v: &mut Vec<u8>) {
        v.resize(v.len().next_multiple_of(8), 0);
    }
    let strtab = format!("\0{SYMBOL}\0");
    let shstrtab = format!("\0{SECTION}\0.symtab\0.strtab\0.shstrtab\0");
    // Offsets of the names in .shstrtab.
    let name = |s: &str| shstrtab.find(&format!("\0{s}\0")).map_or(0, |i| i + 1) as u32;
    let mut f = vec![0u8; 64];
    let data_off = f.len();
    f.extend_from_slice(data);
    pad8(&mut f);
    let symtab_off = f.len();
    f.extend_from_slice(&[0; 24]); // the null symbol
    f.extend_from_slice(&1u32.to_le_bytes()); // st_name: SYMBOL in .strtab
    f.push(0x11); // st_info: STB_GLOBAL << 4 | STT_OBJECT
    f.push(0); // st_other: STV_DEFAULT
    f.extend_from_slice(&1u16.to_le_bytes()); // st_shndx: .dep-v0
    f.extend_from_slice(&0u64.to_le_bytes()); // st_value
    f.extend_from_slice(&(data.len() as u64).to_le_bytes()); // st_size
    let strtab_off = f.len();
    f.extend_from_slice(strtab.as_bytes());
    let shstrtab_off = f.len();
    f.extend_from_slice(shstrtab.as_bytes());
    pad8(&mut f);
    let shoff = f.len();
    // (name, type, offset, size, link, info, align, entsize); flags, addr are 0 for all.
    type Header = (u32, u32, usize, usize, u32, u32, u64, u64);
    let sections: [Header; 5] = [
        (0, 0, 0, 0, 0, 0, 0, 0),
        (name(SECTION), 1, data_off, data.len(), 0, 0, 1, 0),
        (name(".symtab"), 2, symtab_off, 48, 3, 1, 8, 24),
        (name(".strtab"), 3, strtab_off, strtab.len(), 0, 0, 1, 0),
        (
            name(".shstrtab"),
            3,
            shstrtab_off,
            shstrtab.len(),
            0,
            0,
            1,
            0,
        ),
    ];
    for (name, kind, off, size, link, info, align, entsize) in sections {
        f.extend_from_slice(&name.to_le_bytes());
        f.extend_from_slice(&kind.to_le_bytes());
        f.extend_from_slice(&0u64.to_le_bytes()); // sh_flags: not SHF_ALLOC
        f.extend_from_slice(&0u64.to_le_bytes()); // sh_addr
        f.extend_from_slice(&(off as u64).to_le_bytes());
        f.extend_from_slice(&(size as u64).to_le_bytes());
        f.extend_from_slice(&link.to_le_bytes());
        f.extend_from_slice(&info.to_le_bytes());
        f.extend_from_slice(&align.to_le_bytes());
        f.extend_from_slice(&entsize.to_le_bytes());
    }
    // The ELF header: 64-bit, little-endian, version 1, System V ABI, ET_REL.
    let mut h = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    h.extend_from_slice(&1u16.to_le_bytes()); // e_type: ET_REL
    h.extend_from_slice(&e_machine.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes()); // e_version
    h.extend_from_slice(&0u64.to_le_bytes()); // e_entry
    h.extend_from_slice(&0u64.to_le_bytes()); // e_phoff
    h.extend_from_slice(&(shoff as u64).to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for v in [64u16, 0, 0, 64, 5, 4] {
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        h.extend_from_slice(&v.to_le_bytes());
    }
    f[..64].copy_from_slice(&h);
    f
}

/// The contents of section [`SECTION`] in the bytes of an ELF64 little-endian file, if it has one
/// (`None` for anything else, malformed files included).
pub fn section_in(elf: &[u8]) -> Option<&[u8]> {
    let at = |off: u64, n: usize| -> Option<&[u8]> {
        let off = usize::try_from(off).ok()?;
        elf.get(off..off.checked_add(n)?)
    };
    let u16_at = |off: u64| Some(u16::from_le_bytes(at(off, 2)?.try_into().ok()?));
    let u32_at = |off: u64| Some(u32::from_le_bytes(at(off, 4)?.try_into().ok()?));
    let u64_at = |off: u64| Some(u64::from_le_bytes(at(off, 8)?.try_into().ok()?));
    if at(0, 6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (shoff, shentsize) = (u64_at(40)?, u64::from(u16_at(58)?));
    let (shnum, shstrndx) = (u64::from(u16_at(60)?), u64::from(u16_at(62)?));
    let header = |i: u64| shoff.checked_add(i.checked_mul(shentsize)?);
    let names = u64_at(header(shstrndx)? + 24)?;
    for i in 0..shnum {
        let h = header(i)?;
        let name_off = names.checked_add(u64::from(u32_at(h)?))?;
        if at(name_off, SECTION.len() + 1)? == format!("{SECTION}\0").as_bytes() {
            return at(u64_at(h + 24)?, usize::try_from(u64_at(h + 32)?).ok()?);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbom::deps::test_metadata;
    use serde_json::{json, Value};

    fn pkg(id: &str, kind: &str, source: Option<&str>) -> Value {
        json!({"id": id, "name": id, "version": "1.0.0", "source": source,
               "targets": [{"kind": [kind]}]})
    }

    #[test]
    fn kinds_are_propagated_and_dev_dependencies_left_out() {
        let dep = |id: &str, kind: Value| json!({"pkg": id, "dep_kinds": [{"kind": kind}]});
        let reg = Some("registry+https://github.com/rust-lang/crates.io-index");
        let md = json!({
            "workspace_members": ["app"],
            "packages": [pkg("app", "bin", None), pkg("norm", "lib", reg), pkg("dev", "lib", reg),
                         pkg("bld", "lib", Some("git+https://example.invalid/x#abc")),
                         pkg("pm", "proc-macro", reg), pkg("under-pm", "lib", reg),
                         pkg("under-dev", "lib", reg)],
            "resolve": {"nodes": [
                {"id": "app", "deps": [dep("norm", Value::Null), dep("dev", json!("dev")),
                                        dep("bld", json!("build")), dep("pm", Value::Null)]},
                {"id": "pm", "deps": [dep("under-pm", Value::Null), dep("norm", Value::Null)]},
                {"id": "dev", "deps": [dep("under-dev", Value::Null)]},
                {"id": "norm", "deps": []}
            ]}
        });
        let md = test_metadata(md);
        let info = version_info(&md, "app").unwrap();
        let got: Vec<(&str, DependencyKind, &[usize], bool)> = info
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.kind, p.dependencies.as_slice(), p.root))
            .collect();
        use DependencyKind::{Build, Runtime};
        assert_eq!(
            got,
            [
                ("app", Runtime, &[1, 2, 3][..], true),
                ("bld", Build, &[][..], false),
                ("norm", Runtime, &[][..], false),
                ("pm", Build, &[2, 4][..], false),
                ("under-pm", Build, &[][..], false),
            ]
        );
        assert_eq!(info.packages[1].source, Source::Git);
        assert_eq!(info.packages[2].source, Source::CratesIo);
        assert_eq!(info.packages[0].source, Source::Local);
        // What scanners parse: auditable-serde's own reader validates it (one root, no cycle).
        let text = serde_json::to_string(&info).unwrap();
        assert!(text.ends_with(",\"format\":1}"), "{text}");
        assert_eq!(text.parse::<VersionInfo>().unwrap(), info);
        assert!(version_info(&md, "nope").is_err());
    }

    #[test]
    fn payload_is_zlib_of_the_json_and_the_object_is_an_elf_relocatable() {
        let md = json!({"workspace_members": ["a"], "packages": [pkg("a", "bin", None)],
                        "resolve": {"nodes": [{"id": "a", "deps": []}]}});
        let md = test_metadata(md);
        let info = version_info(&md, "a").unwrap();
        let z = payload(&info).unwrap();
        let mut json = Vec::new();
        use std::io::Read;
        flate2::read::ZlibDecoder::new(&z[..])
            .read_to_end(&mut json)
            .unwrap();
        assert_eq!(json, serde_json::to_vec(&info).unwrap());
        let o = object(62, &z);
        assert_eq!(&o[..4], b"\x7fELF");
        assert_eq!(u16::from_le_bytes([o[16], o[17]]), 1);
        assert_eq!(u16::from_le_bytes([o[18], o[19]]), 62);
        // The section data sits right after the header, the section table at e_shoff.
        assert_eq!(&o[64..64 + z.len()], &z[..]);
        let shoff = u64::from_le_bytes(o[40..48].try_into().unwrap()) as usize;
        assert_eq!(o.len(), shoff + 5 * 64);
        let sh = |i: usize, at: usize| {
            u64::from_le_bytes(o[shoff + i * 64 + at..][..8].try_into().unwrap())
        };
        assert_eq!((sh(1, 24), sh(1, 32)), (64, z.len() as u64));
        assert_eq!(sh(1, 8), 0, "not SHF_ALLOC");
        assert_eq!(object(62, &z), o, "deterministic");
        assert_eq!(section_in(&o), Some(&z[..]));
        assert_eq!(section_in(&o[..shoff]), None, "no section headers");
        assert_eq!(section_in(b"\x7fELF"), None);
    }
}
