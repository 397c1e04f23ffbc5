//! Large in-memory buffers (a 34 MB binary read whole to split off its DWARF, the two files written
//! from it) backed by transparent huge pages where the kernel offers them on request.
//!
//! A fresh 34 MB `Vec` is 8,300 zero-filled 4 KiB page faults on first touch; on this 2-core machine
//! perf put about half of the time of reading the binary in them (`clear_page_erms`, `exc_page_fault`).
//! `madvise(MADV_HUGEPAGE)` on the buffer's whole 2 MiB-aligned pages lets the kernel fault it in 2 MiB
//! at a time ("madvise" is the default THP mode of Debian and Ubuntu kernels). It is a hint: where THP
//! is off or the call fails, the buffer is an ordinary one, same bytes.

use std::io::Read;
use std::path::Path;

/// Below this, a buffer is left as the allocator gives it (fewer than two huge pages).
const MIN: usize = 4 << 20;

/// An empty vector with room for `capacity` bytes, huge-page backed where possible.
pub fn with_capacity(capacity: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(capacity);
    hint(&mut v);
    v
}

/// The whole file at `path` (like `std::fs::read`), into a huge-page backed buffer when it is large.
pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let mut v = room_for(f.metadata()?.len())?;
    f.read_to_end(&mut v)?;
    Ok(v)
}

/// An empty vector with room for a file of `len` bytes and one byte more, so that reading to the
/// end needs no reallocation. A size no allocation can hold (a sparse file) is an error, as for
/// `std::fs::read`, not an abort.
fn room_for(len: u64) -> std::io::Result<Vec<u8>> {
    let room = usize::try_from(len).unwrap_or(usize::MAX).saturating_add(1);
    let mut v = Vec::new();
    v.try_reserve_exact(room).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::OutOfMemory,
            format!("it is {len} bytes, more than this machine can hold in memory"),
        )
    })?;
    hint(&mut v);
    Ok(v)
}

fn hint(v: &mut Vec<u8>) {
    let cap = v.capacity();
    if cap < MIN {
        return;
    }
    const PAGE: usize = 4096;
    let start = v.as_mut_ptr() as usize;
    let aligned = start.next_multiple_of(PAGE);
    let len = (start + cap).saturating_sub(aligned) / PAGE * PAGE;
    if len == 0 {
        return;
    }
    // SAFETY: the range lies inside the vector's own allocation (its capacity), page-aligned; the
    // advice changes how the kernel backs those pages, never their contents or the mapping itself.
    let _ = unsafe {
        rustix::mm::madvise(
            aligned as *mut std::ffi::c_void,
            len,
            rustix::mm::Advice::LinuxHugepage,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_file_reads_back_the_same_bytes_as_std() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        let data: Vec<u8> = (0..(5u32 << 20)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        assert_eq!(read(&p).unwrap(), data);
        let small = dir.path().join("small");
        std::fs::write(&small, b"abc").unwrap();
        assert_eq!(read(&small).unwrap(), b"abc");
        let mut v = with_capacity(MIN * 2);
        v.extend_from_slice(&data);
        assert_eq!(v, data);
    }

    #[test]
    fn a_size_bigger_than_memory_is_an_error_not_an_abort() {
        // 2^62 bytes is beyond any address space (x86_64 and aarch64 have at most 57 bits), so the
        // allocation fails on every machine, whatever its overcommit setting.
        for len in [1u64 << 62, u64::MAX] {
            let e = room_for(len).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::OutOfMemory);
            assert!(e.to_string().contains(&format!("{len} bytes")), "{e}");
        }
        assert!(room_for(10).unwrap().capacity() >= 11);
    }
}
