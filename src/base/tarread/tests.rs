use super::*;
use crate::tar::{Header, Kind, TarWriter};

fn ours(entries: &[(&str, Kind, &[u8])]) -> Vec<u8> {
    let mut w = TarWriter::new(Vec::new());
    for (p, k, data) in entries {
        let h = Header {
            path: p,
            kind: *k,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            size: data.len() as u64,
            link: "",
        };
        w.append(&h, &mut &data[..]).unwrap();
    }
    w.finish().unwrap()
}

fn list(bytes: &[u8]) -> Result<Vec<(String, EntryType, String)>> {
    let mut v = Vec::new();
    for_each(bytes, |e, data| {
        let mut s = String::new();
        data.read_to_string(&mut s)?;
        v.push((e.path.clone(), e.kind, s));
        Ok(())
    })?;
    Ok(v)
}

/// A ustar header with a valid checksum.
fn header(name: &str, flag: u8, size: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = flag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn padded(data: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    v.resize(data.len().div_ceil(512) * 512, 0);
    v
}

#[test]
fn reads_what_our_writer_writes() {
    let long = format!("a/{}/file", "x".repeat(150));
    let bytes = ours(&[
        ("etc", Kind::Dir, b""),
        ("etc/passwd", Kind::File, b"root:x:0:0\n"),
        (&long, Kind::File, b"y"),
    ]);
    let v = list(&bytes).unwrap();
    assert_eq!(v[0].0, "etc");
    assert_eq!(v[0].1, EntryType::Dir);
    assert_eq!(
        (v[1].0.as_str(), v[1].2.as_str()),
        ("etc/passwd", "root:x:0:0\n")
    );
    assert_eq!(v[2].0, long);
    assert_eq!(v.len(), 3);
}

#[test]
fn pax_and_gnu_long_names_are_read() {
    let rec = "31 path=pax/long/name/here.txt\n";
    assert_eq!(rec.len(), 31);
    let mut t = header("PaxHeader/x", b'x', rec.len() as u64).to_vec();
    t.extend(padded(rec.as_bytes()));
    t.extend(header("short", b'0', 2));
    t.extend(padded(b"hi"));
    t.extend(header("././@LongLink", b'L', 9));
    t.extend(padded(b"gnu/long\0"));
    t.extend(header("trunc", b'5', 0));
    t.extend([0u8; 1024]);
    let v = list(&t).unwrap();
    assert_eq!(
        (v[0].0.as_str(), v[0].2.as_str()),
        ("pax/long/name/here.txt", "hi")
    );
    assert_eq!((v[1].0.as_str(), v[1].1), ("gnu/long", EntryType::Dir));
}

#[test]
fn malformed_pax_records_are_errors_not_panics() {
    for rec in [
        "1 x",
        "3 x\n",
        "99 path=a\n",
        "x path=a\n",
        "10 patha\n ",
        "0 \n",
        "6 a=b\n\n",
    ] {
        let mut t = header("PaxHeader/x", b'x', rec.len() as u64).to_vec();
        t.extend(padded(rec.as_bytes()));
        t.extend(header("f", b'0', 0));
        t.extend([0u8; 1024]);
        let e = list(&t).unwrap_err();
        assert!(format!("{e:#}").contains("PAX"), "{rec:?}: {e:#}");
    }
}

#[test]
fn records_over_the_limit_are_refused_from_their_header() {
    for flag in [b'x', b'L', b'K', b'g'] {
        // The header claims 256 MiB; only the header is there: refused before reading.
        let t = header("big", flag, 256 << 20).to_vec();
        let e = format!("{:#}", list(&t).unwrap_err());
        assert!(e.contains("limit"), "{e}");
    }
}

#[test]
fn a_stream_may_end_at_an_entry_boundary_but_not_inside_one() {
    let full = ours(&[("a", Kind::File, b"hello"), ("b", Kind::Dir, b"")]);
    // Our writer: header a, data a, header b, trailer.
    let no_trailer = &full[..1536];
    assert_eq!(list(no_trailer).unwrap().len(), 2);
    // umoci 0.4.7 insert: the last entry's data without its padding, no trailer.
    let mut umoci = header("a", b'0', 5).to_vec();
    umoci.extend(b"hello");
    assert_eq!(list(&umoci).unwrap()[0].2, "hello");
    let e = format!("{:#}", list(&umoci[..510]).unwrap_err());
    assert!(e.contains("inside an entry header"), "{e}");
    let e = format!("{:#}", list(&umoci[..514]).unwrap_err());
    assert!(e.contains("inside the data of `a`"), "{e}");
    let e = format!("{:#}", list(&full[..1536 + 100]).unwrap_err());
    assert!(e.contains("inside an entry header"), "{e}");
    // An extended header with no entry after it.
    let mut t = header("PaxHeader/x", b'x', 12).to_vec();
    t.extend(padded(b"12 path=ab\n\0"[..12].as_ref()));
    assert!(list(&t).is_err());
}

#[test]
fn pax_size_that_differs_from_the_header_is_refused() {
    let rec = "12 size=100\n";
    let mut t = header("PaxHeader/x", b'x', rec.len() as u64).to_vec();
    t.extend(padded(rec.as_bytes()));
    t.extend(header("f", b'0', 0));
    t.extend([0u8; 1024]);
    let e = format!("{:#}", list(&t).unwrap_err());
    assert!(e.contains("PAX size"), "{e}");
}

#[test]
fn header_only_entries_with_data_are_refused() {
    // Go would read "hidden" as the next header; the tar crate would skip it as data.
    let mut t = header("dir/", b'5', 512).to_vec();
    t.extend(header("hidden", b'0', 0));
    t.extend([0u8; 1024]);
    let e = format!("{:#}", list(&t).unwrap_err());
    assert!(e.contains("disagree"), "{e}");
}
