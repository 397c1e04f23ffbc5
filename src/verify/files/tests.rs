//! Unit tests of [`super`]: layers written by hand, compared entry by entry.

use super::*;
use crate::tar::{Header, Kind, TarWriter};

fn layer(store: &BlobStore, files: &[(&str, u32, &[u8])]) -> Descriptor {
    let mut w = TarWriter::new(Vec::new());
    for (path, mode, data) in files {
        let h = Header {
            path,
            kind: Kind::File,
            mode: *mode,
            uid: 0,
            gid: 0,
            mtime: 0,
            size: data.len() as u64,
            link: "",
        };
        w.append(&h, &mut &data[..]).unwrap();
    }
    let tar = w.finish().unwrap();
    store.put_bytes(crate::base::LAYER_TAR, &tar).unwrap()
}

/// One raw tar entry: type flag, path, data, device (major and minor), PAX records.
type Raw<'a> = (u8, &'a str, &'a [u8], u32, &'a [(&'a str, &'a str)]);

/// A tar of raw entries, each after a PAX header of its records when it has any.
fn raw(store: &BlobStore, entries: &[Raw<'_>]) -> Descriptor {
    let mut out = Vec::new();
    let mut put = |flag: u8, path: &str, data: &[u8], dev: u32| {
        let mut h = tar::Header::new_ustar();
        h.set_path(path).unwrap();
        h.set_entry_type(tar::EntryType::new(flag));
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_device_major(dev).unwrap();
        h.set_device_minor(dev).unwrap();
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    };
    for (flag, path, data, dev, pax) in entries {
        if !pax.is_empty() {
            let mut rec = Vec::new();
            for (k, v) in *pax {
                let body = format!(" {k}={v}\n");
                let mut n = body.len() + 1;
                while format!("{n}{body}").len() != n {
                    n += 1;
                }
                rec.extend_from_slice(format!("{n}{body}").as_bytes());
            }
            put(b'x', "PaxHeaders/x", &rec, 0);
        }
        put(*flag, path, data, *dev);
    }
    out.extend_from_slice(&[0; 1024]);
    store.put_bytes(crate::base::LAYER_TAR, &out).unwrap()
}

#[test]
fn names_an_xattr_or_a_device_that_differs() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let plain = raw(&store, &[(b'0', "usr/bin/app", b"12", 0, &[])]);
    let capable = raw(
        &store,
        &[(
            b'0',
            "usr/bin/app",
            b"12",
            0,
            &[("SCHILY.xattr.security.capability", "AQAAAg")],
        )],
    );
    let LayerFinding::File(d) = compare(&store, &capable, &plain, "img", || Ok(())).unwrap() else {
        panic!()
    };
    assert_eq!(
        describe(&d),
        "usr/bin/app differs: extended headers (SCHILY.xattr.security.capability only in the \
         image)"
    );
    let null = raw(&store, &[(b'3', "dev/null", b"", 1, &[])]);
    let fifo = raw(&store, &[(b'6', "dev/null", b"", 0, &[])]);
    let mem = raw(&store, &[(b'3', "dev/null", b"", 2, &[])]);
    let LayerFinding::File(d) = compare(&store, &fifo, &null, "img", || Ok(())).unwrap() else {
        panic!()
    };
    assert!(describe(&d).contains("type (fifo -> char device)"), "{d:?}");
    let LayerFinding::File(d) = compare(&store, &mem, &null, "img", || Ok(())).unwrap() else {
        panic!()
    };
    assert_eq!(describe(&d), "dev/null differs: device (2:2 -> 1:1)");
}

#[test]
fn names_the_first_differing_file_and_how() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let a = layer(
        &store,
        &[("etc/a", 0o644, b"x"), ("usr/bin/app", 0o755, b"1234")],
    );
    let b = layer(
        &store,
        &[("etc/a", 0o644, b"x"), ("usr/bin/app", 0o755, b"12345")],
    );
    let LayerFinding::File(d) = compare(&store, &a, &b, "img", || Ok(())).unwrap() else {
        panic!()
    };
    assert_eq!(
        (d.path.as_str(), &d.what[..]),
        ("usr/bin/app", &["size", "content"][..])
    );
    assert_eq!(
        describe(&d),
        "usr/bin/app differs: content (size 4 -> 5 bytes)"
    );
    let c = layer(
        &store,
        &[("etc/a", 0o600, b"y"), ("usr/bin/app", 0o755, b"1234")],
    );
    let LayerFinding::File(d) = compare(&store, &a, &c, "img", || Ok(())).unwrap() else {
        panic!()
    };
    assert_eq!(d.path, "etc/a");
    assert!(describe(&d).contains("same size") && describe(&d).contains("mode (0644 -> 0600)"));
    let e = layer(&store, &[("etc/a", 0o644, b"x")]);
    let LayerFinding::File(d) = compare(&store, &a, &e, "img", || Ok(())).unwrap() else {
        panic!()
    };
    assert_eq!(
        describe(&d),
        "usr/bin/app is in the image but not in the rebuild"
    );
    let f = layer(
        &store,
        &[("usr/bin/app", 0o755, b"1234"), ("etc/a", 0o644, b"x")],
    );
    let LayerFinding::Other(why) = compare(&store, &a, &f, "img", || Ok(())).unwrap() else {
        panic!()
    };
    assert!(why.contains("another order"), "{why}");
    // The same entries, one of them twice: named, not "another order".
    let g = layer(
        &store,
        &[
            ("etc/a", 0o644, b"x"),
            ("usr/bin/app", 0o755, b"1234"),
            ("etc/a", 0o644, b"x"),
        ],
    );
    let LayerFinding::Other(why) = compare(&store, &g, &a, "img", || Ok(())).unwrap() else {
        panic!()
    };
    assert!(
        why.starts_with("etc/a is in the image's layer 2 times, in the rebuild's 1"),
        "{why}"
    );
}
