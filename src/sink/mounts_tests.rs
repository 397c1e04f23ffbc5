//! Unit tests of the mount memory (`mounts.rs`): order, bounds, validation, untrusted files.

use super::*;

fn d(n: u32) -> Digest {
    Digest::of(&n.to_be_bytes())
}

#[test]
fn newest_holder_first_and_gone_sources_dropped() {
    let mut s = Snapshot::default();
    s.record("r.example", "a", &[d(1), d(2)], &[]);
    s.record("r.example", "b", &[d(1)], &[]);
    assert_eq!(s.holders("r.example", &d(1)), ["b", "a"]);
    assert_eq!(s.holders("r.example", &d(2)), ["a"]);
    assert!(s.holders("other.example", &d(1)).is_empty());
    s.record(
        "r.example",
        "c",
        &[d(3)],
        &[(d(1), "b".into()), (d(2), "a".into())],
    );
    assert_eq!(s.holders("r.example", &d(1)), ["a"]);
    assert!(s.holders("r.example", &d(2)).is_empty());
    for repo in ["e", "f", "g", "h", "i"] {
        s.record("r.example", repo, &[d(1)], &[]);
    }
    assert_eq!(s.holders("r.example", &d(1)), ["i", "h", "g", "f"]);
}

#[test]
fn round_trips_and_drops_what_is_not_a_registry_repository_and_digest() {
    let mut s = Snapshot::default();
    s.record("localhost:5000", "acme/app", &[d(1)], &[]);
    let disk: OnDisk = serde_json::from_slice(&s.to_bytes()).unwrap();
    let (back, dropped) = Snapshot::from_disk(disk.entries);
    assert_eq!(
        (back.holders("localhost:5000", &d(1)), dropped),
        (&["acme/app".to_string()][..], 0)
    );
    let bad = |registry: &str, digest: &str, repos: &[&str]| DiskEntry {
        registry: registry.into(),
        digest: digest.into(),
        repositories: repos.iter().map(|r| r.to_string()).collect(),
        used: 1,
    };
    let good = d(2).to_string();
    let (s, dropped) = Snapshot::from_disk(vec![
        bad("r.example", "sha256:nothex", &["a"]),
        bad("r.example", &good, &[]),
        bad("r.example", &good, &["UPPER"]),
        bad("r.example", &good, &["a", "a"]),
        bad("nodot", &good, &["a"]),
        bad("r.example/x", &good, &["a"]),
        bad("r.example", &good, &["a", "b", "c", "d", "e"]),
        bad("u:p@r.example", &good, &["a"]),
        bad("r.example", &good, &["ok/repo"]),
    ]);
    assert_eq!(dropped, 8);
    assert_eq!(s.holders("r.example", &d(2)), ["ok/repo"]);
}

#[test]
fn bounded_per_registry_and_in_bytes_oldest_out() {
    let mut s = Snapshot::default();
    for i in 0..(MAX_PER_REGISTRY as u32 + 10) {
        s.record("r.example", "a", &[d(i)], &[]);
    }
    let disk: OnDisk = serde_json::from_slice(&s.to_bytes()).unwrap();
    assert_eq!(disk.entries.len(), MAX_PER_REGISTRY);
    let (back, _) = Snapshot::from_disk(disk.entries);
    assert!(
        back.holders("r.example", &d(0)).is_empty(),
        "the oldest goes first"
    );
    assert_eq!(
        back.holders("r.example", &d(MAX_PER_REGISTRY as u32 + 9)),
        ["a"]
    );
    // Many registries with long repository names: the file stays under its bound.
    let long = "x".repeat(200);
    let mut s = Snapshot::default();
    for reg in 0..40u32 {
        let digests: Vec<Digest> = (0..80).map(|i| d(reg * 1000 + i)).collect();
        for k in 0..4 {
            s.record(
                &format!("r{reg}.example"),
                &format!("{long}/{k}"),
                &digests,
                &[],
            );
        }
    }
    let bytes = s.to_bytes();
    assert!(bytes.len() as u64 <= MAX_FILE, "{}", bytes.len());
    assert!(bytes.len() as u64 > MAX_FILE - 2000, "{}", bytes.len());
}

#[test]
fn files_and_directories_that_cannot_be_trusted_are_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let m = MountMemory::in_cache(root.path());
    assert!(m.load().holders("r.example", &d(1)).is_empty());
    m.remember("r.example", "a", &[d(1)], &[]);
    assert_eq!(m.load().holders("r.example", &d(1)), ["a"]);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&m.dir), mode(&m.path())), (0o700, 0o600));
    // Not JSON, or too big: ignored, and replaced by the next save.
    fs::write(m.path(), "{{{{").unwrap();
    assert!(m.load().holders("r.example", &d(1)).is_empty());
    fs::write(m.path(), vec![b' '; MAX_FILE as usize + 10]).unwrap();
    assert!(m.load().holders("r.example", &d(1)).is_empty());
    m.remember("r.example", "b", &[d(1)], &[]);
    assert_eq!(m.load().holders("r.example", &d(1)), ["b"]);
    // A symlink or a FIFO in its place: not read (no hang), and not replaced.
    let target = root.path().join("elsewhere");
    fs::write(&target, fs::read(m.path()).unwrap()).unwrap();
    fs::remove_file(m.path()).unwrap();
    std::os::unix::fs::symlink(&target, m.path()).unwrap();
    assert!(m.load().holders("r.example", &d(1)).is_empty());
    m.remember("r.example", "c", &[d(1)], &[]);
    assert!(fs::symlink_metadata(m.path())
        .unwrap()
        .file_type()
        .is_symlink());
    fs::remove_file(m.path()).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        m.path(),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    assert!(m.load().holders("r.example", &d(1)).is_empty());
    fs::remove_file(m.path()).unwrap();
    // A directory others may write: neither read nor written.
    m.remember("r.example", "d", &[d(1)], &[]);
    fs::set_permissions(&m.dir, fs::Permissions::from_mode(0o777)).unwrap();
    assert!(m.load().holders("r.example", &d(1)).is_empty());
    m.remember("r.example", "e", &[d(2)], &[]);
    fs::set_permissions(&m.dir, fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(m.load().holders("r.example", &d(1)), ["d"]);
    assert!(m.load().holders("r.example", &d(2)).is_empty());
}

#[test]
fn temp_files_of_killed_runs_are_swept_and_a_save_leaves_none() {
    use crate::sink::commit::{Kind, Temp};
    let root = tempfile::tempdir().unwrap();
    let m = MountMemory::in_cache(root.path());
    m.remember("r.example", "a", &[d(1)], &[]);
    // What `kill -9` in the middle of a save leaves (pid 0x7ffffffe is beyond pid_max: never
    // alive), and the temp of a save in progress in another run (locked, kept).
    let dead = m.dir.join(".slim-image-mounts-2147483646-1");
    fs::write(&dead, b"{\"version\":1,").unwrap();
    let live = Temp::file(&m.dir, Kind::Mounts).unwrap();
    for i in 0..20 {
        m.remember("r.example", &format!("r{i}"), &[d(1)], &[]);
    }
    let mut names: Vec<String> = fs::read_dir(&m.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let live_name = live
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(names, [live_name, FILE_NAME.to_string()]);
    assert_eq!(m.load().holders("r.example", &d(1))[0], "r19");
    let mode = fs::metadata(m.path()).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
}

#[test]
fn saves_at_once_never_leave_a_file_that_does_not_parse() {
    let root = tempfile::tempdir().unwrap();
    let m = MountMemory::in_cache(root.path());
    std::thread::scope(|s| {
        for t in 0..4 {
            let m = &m;
            s.spawn(move || {
                for i in 0..25 {
                    m.remember("r.example", &format!("t{t}/r{i}"), &[d(t), d(100 + i)], &[]);
                    // Every read in between finds a whole file (a lost update is allowed).
                    let bytes = fs::read(m.path()).unwrap();
                    serde_json::from_slice::<OnDisk>(&bytes).unwrap();
                }
            });
        }
    });
    let s = m.load();
    assert!((0..4).any(|t| !s.holders("r.example", &d(t)).is_empty()));
    assert_eq!(fs::read_dir(&m.dir).unwrap().count(), 1, "temp files left");
}

#[test]
fn registry_spellings_that_references_do_not_give_are_dropped() {
    let entry = |registry: &str, repo: &str| DiskEntry {
        registry: registry.into(),
        digest: d(1).to_string(),
        repositories: vec![repo.into()],
        used: 1,
    };
    // Each names a registry the way no reference normalises it: another spelling of a host the
    // tool talks to under its normal name, so an entry for one is never used for another.
    let (s, dropped) = Snapshot::from_disk(vec![
        entry("LOCALHOST:5000", "a"),
        entry("Registry.Example:5000", "a"),
        entry("index.docker.io", "acme/app"),
        entry("registry-1.docker.io", "acme/app"),
        entry("localhost:5000/", "a"),
        entry("docker.io", "app"),
        entry("r.example:0", "a"),
        entry("localhost:5000", "a"),
        entry("docker.io", "library/app"),
    ]);
    assert_eq!(dropped, 7);
    assert_eq!(s.holders("localhost:5000", &d(1)), ["a"]);
    assert!(s.holders("127.0.0.1:5000", &d(1)).is_empty());
    assert_eq!(s.holders("docker.io", &d(1)), ["library/app"]);
}

#[test]
fn a_directory_or_file_of_another_user_is_neither_read_nor_written() {
    use std::os::unix::fs::MetadataExt;
    let root = tempfile::tempdir().unwrap();
    let m = MountMemory::in_cache(root.path());
    m.remember("r.example", "a", &[d(1)], &[]);
    let nobody = 65534;
    if rustix::process::geteuid().as_raw() != 0 {
        // Only root can give a file away.
        eprintln!("SKIP: not root, cannot chown the memory to nobody");
        return;
    }
    let before = fs::read(m.path()).unwrap();
    // The file another user's.
    std::os::unix::fs::chown(m.path(), Some(nobody), Some(nobody)).unwrap();
    assert!(m.load().holders("r.example", &d(1)).is_empty());
    m.remember("r.example", "b", &[d(1)], &[]);
    assert_eq!(fs::read(m.path()).unwrap(), before);
    assert_eq!(fs::metadata(m.path()).unwrap().uid(), nobody);
    // The directory another user's (the file ours again).
    std::os::unix::fs::chown(m.path(), Some(0), Some(0)).unwrap();
    std::os::unix::fs::chown(&m.dir, Some(nobody), Some(nobody)).unwrap();
    assert!(m.load().holders("r.example", &d(1)).is_empty());
    m.remember("r.example", "c", &[d(2)], &[]);
    assert_eq!(fs::read(m.path()).unwrap(), before);
    assert_eq!(fs::read_dir(&m.dir).unwrap().count(), 1);
}

#[test]
fn a_memory_a_crash_emptied_cut_or_zero_filled_is_ignored_and_replaced() {
    let root = tempfile::tempdir().unwrap();
    let m = MountMemory::in_cache(root.path());
    for i in 0..50 {
        m.remember("r.example", "a", &[d(i)], &[]);
    }
    let whole = fs::read(m.path()).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("emptied", Vec::new()),
        ("zero-filled", vec![0; whole.len()]),
        ("cut", whole[..whole.len() / 2].to_vec()),
        ("cut, zeros after", {
            let mut v = whole[..whole.len() / 2].to_vec();
            v.resize(whole.len(), 0);
            v
        }),
        ("whole, zeros after", {
            let mut v = whole.clone();
            v.resize(whole.len() + 4096, 0);
            v
        }),
    ];
    for (how, bytes) in cases {
        fs::write(m.path(), bytes).unwrap();
        assert!(m.load().holders("r.example", &d(0)).is_empty(), "{how}");
        m.remember("r.example", "b", &[d(1)], &[]);
        assert_eq!(m.load().holders("r.example", &d(1)), ["b"], "{how}");
        fs::write(m.path(), &whole).unwrap();
    }
}
