//! Tar bytes written by hand, independent of the tool's own tar writer, for test inputs.

/// One ustar header block for `name`; `kind` is the type flag (`b'0'` a file, `b'2'` a symlink...),
/// `link` the link target. Mode 0644, uid/gid 0, mtime 0; device 1:3 for char and block devices.
pub fn ustar_header(name: &str, kind: u8, size: u64, link: &str) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let mut field = |at: usize, len: usize, v: u64| {
        let s = format!("{v:0w$o}\0", w = len - 1);
        h[at..at + len].copy_from_slice(s.as_bytes());
    };
    field(100, 8, 0o644);
    field(108, 8, 0);
    field(116, 8, 0);
    field(124, 12, size);
    field(136, 12, 0);
    if matches!(kind, b'3' | b'4') {
        field(329, 8, 1); // device major
        field(337, 8, 3); // device minor
    }
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}
