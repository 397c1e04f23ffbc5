//! Unit tests of [`super`]: entry completion, digests, the layer cache and the level by size.

use super::*;
use crate::blob::media;

#[test]
fn parents_are_added_and_sorted() {
    let e = complete(vec![
        Entry::file("/usr/local/bin/app", 0o755, Source::Bytes(vec![1])),
        Entry::dir("/tmp", 0o1777),
    ])
    .unwrap();
    let paths: Vec<_> = e.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/tmp",
            "/usr",
            "/usr/local",
            "/usr/local/bin",
            "/usr/local/bin/app"
        ]
    );
}

#[test]
fn duplicates_and_bad_paths_are_errors() {
    let dup = complete(vec![
        Entry::file("/a", 0o644, Source::Bytes(vec![])),
        Entry::file("/a", 0o644, Source::Bytes(vec![])),
    ]);
    assert!(dup.unwrap_err().to_string().contains("/a"));
    assert!(normalize_path("etc/x").is_err());
    assert!(normalize_path("/etc/../x").is_err());
    assert_eq!(normalize_path("//etc/./x/").unwrap(), "/etc/x");
}

#[test]
fn same_entries_same_digest() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let mk = || vec![Entry::file("/etc/x", 0o644, Source::Bytes(b"x".to_vec()))];
    let a = build(&store, mk(), 0, LayerCompression::Gzip(6), "t").unwrap();
    let b = build(&store, mk(), 0, LayerCompression::Gzip(6), "t").unwrap();
    assert_eq!(a.descriptor, b.descriptor);
    assert_eq!(a.diff_id, b.diff_id);
    let c = build(&store, mk(), 1, LayerCompression::Gzip(6), "t").unwrap();
    assert_ne!(a.diff_id, c.diff_id);
}

#[test]
fn the_level_by_size_is_chosen_from_the_exact_tar_size_and_keys_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("app");
    std::fs::write(&f, vec![3u8; 70_001]).unwrap();
    let long = format!("/opt/{}/x", "n".repeat(120));
    let mk = || {
        vec![
            Entry::file("/usr/local/bin/app", 0o755, Source::Path(f.clone())),
            Entry::file(&long, 0o644, Source::Bytes(b"long name".to_vec())),
            Entry {
                kind: EntryKind::Symlink("/".repeat(150)),
                ..Entry::file("/link", 0o777, Source::Bytes(Vec::new()))
            },
            Entry::dir("/tmp", 0o1777),
        ]
    };
    let store = BlobStore::open(dir.path().join("store")).unwrap();
    let l = build(&store, mk(), 7, LayerCompression::GzipBySize, "t").unwrap();
    assert_eq!(
        tar_size(&complete(mk()).unwrap(), 7).unwrap(),
        l.uncompressed_size
    );
    let level = compress::gzip_level_for(l.uncompressed_size);
    assert_eq!(l.compression, LayerCompression::Gzip(level));
    assert_eq!(l.descriptor.media_type, media::LAYER_GZIP);
    // Recorded under the effective level, so another rule (or level) is another entry.
    assert!(layer_cache::lookup(&store, &l.diff_id, l.compression).is_some());
    let other = LayerCompression::Gzip(if level == 1 { 2 } else { 1 });
    assert!(layer_cache::lookup(&store, &l.diff_id, other).is_none());
    // The same bytes as that level asked for explicitly, in a fresh store.
    let fresh = BlobStore::open(dir.path().join("fresh")).unwrap();
    let e = build(&fresh, mk(), 7, LayerCompression::Gzip(level), "t").unwrap();
    assert_eq!(e.descriptor, l.descriptor);
    // Above the first bound, the next row's level.
    let (bound, _) = compress::GZIP_LEVEL_BY_SIZE[0];
    assert_eq!(
        LayerCompression::GzipBySize.for_size(bound + 1),
        LayerCompression::Gzip(compress::GZIP_LEVEL_BY_SIZE[1].1)
    );
    assert_eq!(
        LayerCompression::Zstd(3).for_size(1),
        LayerCompression::Zstd(3)
    );
}

#[test]
fn same_size_new_bytes_is_a_new_layer() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path().join("store")).unwrap();
    let f = dir.path().join("app");
    let mk = || vec![Entry::file("/app", 0o755, Source::Path(f.clone()))];
    let gz = LayerCompression::Gzip(5);
    std::fs::write(&f, b"version 1").unwrap();
    let a = build(&store, mk(), 0, gz, "t").unwrap();
    std::fs::write(&f, b"version 2").unwrap();
    let b = build(&store, mk(), 0, gz, "t").unwrap();
    assert_ne!(a.diff_id, b.diff_id);
    assert_ne!(a.descriptor.digest, b.descriptor.digest);
    std::fs::write(&f, b"version 1").unwrap();
    assert_eq!(
        build(&store, mk(), 0, gz, "t").unwrap().descriptor,
        a.descriptor
    );
}

#[test]
fn cache_hit_reuses_the_blob_and_zstd_is_its_own_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let mk = || {
        vec![Entry::file(
            "/etc/x",
            0o644,
            Source::Bytes(vec![7; 100_000]),
        )]
    };
    let a = build(&store, mk(), 0, LayerCompression::Gzip(6), "t").unwrap();
    assert_eq!(a.descriptor.media_type, media::LAYER_GZIP);
    // Damage the cached blob's size: the cache must not hand it out, and the rebuild restores it.
    std::fs::write(store.path(&a.descriptor.digest), b"x").unwrap();
    let b = build(&store, mk(), 0, LayerCompression::Gzip(6), "t").unwrap();
    assert_eq!(a.descriptor, b.descriptor);
    let len = std::fs::metadata(store.path(&b.descriptor.digest))
        .unwrap()
        .len();
    assert_eq!(len, b.descriptor.size);
    let z = build(&store, mk(), 0, LayerCompression::Zstd(3), "t").unwrap();
    assert_eq!(z.descriptor.media_type, media::LAYER_ZSTD);
    assert_eq!(z.diff_id, a.diff_id);
    let raw = zstd::decode_all(store.open_blob(&z.descriptor.digest).unwrap()).unwrap();
    assert_eq!(crate::digest::Digest::of(&raw), a.diff_id);
}

#[test]
fn a_hard_link_must_name_a_file_written_before_it() {
    let file = || Entry::file("/z/a", 0o644, Source::Bytes(vec![7]));
    let ok = complete(vec![Entry::hardlink("/z/b", "/z/a", 0o644), file()]).unwrap();
    assert!(matches!(&ok[2].kind, EntryKind::Hardlink(t) if t == "/z/a"));
    let h = header(&ok[2], 0, 0);
    assert_eq!((h.kind, h.link), (Kind::Hardlink, "z/a"));
    // To a later path, to nothing, to a directory: errors naming both paths.
    for (link, target) in [("/z/0", "/z/a"), ("/z/b", "/z/nothing"), ("/z/b", "/z")] {
        let err = complete(vec![Entry::hardlink(link, target, 0o644), file()]).unwrap_err();
        assert!(err.to_string().contains(target), "{err}");
    }
}
