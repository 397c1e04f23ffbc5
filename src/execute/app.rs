//! The application layer of one (image, platform): the binaries at `/usr/local/bin/<name>` (checked
//! against the platform and base, their DWARF handled as `debuginfo` says, [`crate::debuginfo`]),
//! the extra files, and the CA bundle when it is not the default one. Each binary's symbols are read
//! for the allocator note (`allocator-check`, [`crate::elf::allocator`]).

use super::built::Binaries;
use crate::base::{BaseImage, PlatformBase};
use crate::blob::BlobStore;
use crate::layer::{self, Entry, Layer, LayerCompression, Source};
use crate::plan::{ImageSpec, BIN_DIR};
use crate::platform::Platform;
use crate::rootfs;
use anyhow::{Context, Result};

/// What [`app_layer`] did to one platform's binaries: one debug-info report per binary, the debug
/// files it split off, and the digest of each binary it read whole (`(name, digest)`).
#[derive(Debug, Default)]
pub(super) struct AppDebug {
    pub reports: Vec<crate::report::BinaryReport>,
    pub files: Vec<crate::debuginfo::DebugFile>,
    pub read: Vec<(String, crate::digest::Digest)>,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn app_layer(
    store: &BlobStore,
    img: &ImageSpec,
    platform: Platform,
    bins: &Binaries,
    epoch: u64,
    base: Option<(&BaseImage, &PlatformBase)>,
    compression: LayerCompression,
    debug: &mut AppDebug,
) -> Result<Layer> {
    let mut entries = Vec::new();
    let mut split_off = Vec::new();
    for b in &img.binaries {
        let path = bins.get(&(platform, b.name.clone())).with_context(|| {
            format!("cargo did not report a binary `{}` for {platform}", b.name)
        })?;
        crate::base::assemble::check_binary(path, platform, base)?;
        if img.allocator_check {
            allocator_note(path, &b.name);
        }
        let prepared =
            crate::debuginfo::prepare(path, &b.name, img.debuginfo, b.prebuilt.is_some())?;
        if let Some(d) = prepared.read {
            debug.read.push((b.name.clone(), d));
        }
        debug.reports.push(crate::report::BinaryReport {
            binary: b.name.clone(),
            mode: img.debuginfo.as_str(),
            removed: prepared.removed,
            debug_file_size: prepared.debug.as_ref().map(|d| d.1.len() as u64),
        });
        if let Some((name, bytes)) = prepared.debug {
            split_off.push((b.name.clone(), name, bytes));
        }
        entries.push(Entry::file(
            &format!("{BIN_DIR}/{}", b.name),
            0o755,
            prepared.source,
        ));
    }
    for f in &img.files {
        entries.push(Entry::file(&f.dest, f.mode, Source::Path(f.src.clone())));
    }
    if !img.ca.is_default() {
        if let Some(bundle) = rootfs::ca_bundle(&img.ca)? {
            entries.push(rootfs::ca_entry(bundle));
        }
    }
    if let Some((b, pb)) = base {
        crate::base::assemble::warn_links_replaced(
            b,
            pb,
            platform,
            "app",
            crate::base::assemble::dir_flags(&entries),
        );
    }
    let names: Vec<&str> = img.binaries.iter().map(|b| b.name.as_str()).collect();
    let comment = format!("cargo slim-image: {BIN_DIR}/{}", names.join(", "));
    // The debug files go into the store (hashed and written: 27 MB for ripgrep) on a thread of
    // their own while the layer is compressed, not after it (measured with perf on `--binary` of a
    // 34 MB ripgrep: ~40 ms of the run's 0.31 s was this, on one core while the other idled).
    let (layer, stored) = std::thread::scope(|s| {
        let stored = s.spawn(|| store_debug_files(store, platform, split_off));
        let layer = layer::build(store, entries, epoch, compression, &comment);
        let stored = stored
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (layer, stored)
    });
    debug.files.extend(stored?);
    layer
}

/// Put each split-off debug file `(binary, file name, bytes)` into the store.
fn store_debug_files(
    store: &BlobStore,
    platform: Platform,
    files: Vec<(String, String, Vec<u8>)>,
) -> Result<Vec<crate::debuginfo::DebugFile>> {
    files
        .into_iter()
        .map(|(binary, name, bytes)| {
            let blob = store.put_bytes(crate::debuginfo::output::FILE_MEDIA_TYPE, &bytes)?;
            Ok(crate::debuginfo::DebugFile {
                platform,
                binary,
                name,
                blob,
            })
        })
        .collect()
}

/// The note on musl's malloc for the binary `name` at `path` (once per binary name in a run), when
/// its symbols say it is multi-threaded and has no other allocator ([`crate::elf::allocator`]). A
/// binary whose symbols cannot be read gets no note, only a verbose line: it was already checked.
fn allocator_note(path: &std::path::Path, name: &str) {
    static SAID: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let a = match crate::elf::allocator::scan(path) {
        Ok(a) => a,
        Err(e) => {
            crate::ui::verbose(format!(
                "allocator check of {}: could not read its symbols: {e:#}",
                path.display()
            ));
            return;
        }
    };
    if !a.symbols {
        crate::ui::verbose(format!(
            "allocator check of {name}: no symbol table (stripped), so it is not known which allocator it uses"
        ));
    }
    if let Some(other) = a.other {
        crate::ui::verbose(format!("allocator check of {name}: it uses {other}"));
    }
    if a.wants_note() && SAID.lock().map_or(true, |mut s| s.insert(name.to_string())) {
        crate::ui::note(crate::elf::allocator::note(name));
    }
}
