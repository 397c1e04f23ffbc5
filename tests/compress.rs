//! Layer compression against independent readers: the parallel gzip stream (one gzip member per MiB)
//! is read back to the exact input by `gzip -t`, GNU gzip, busybox gunzip and Python's gzip module; its
//! bytes do not depend on the thread count or the run, at the default level by layer size and at an
//! explicit one; the default level is the one the size rule gives, and `--compression-level` wins; `--compression zstd` layers load and run in podman (umoci 0.4.7 does
//! not read zstd layers at all: checked, so a newer umoci that does is noticed).

mod common;

use cargo_slim_image::compress::{gzip_level_for, ParallelGzip, CHUNK, GZIP_LEVEL_BY_SIZE};
use common::peers::{self, Podman};
use common::slim::{self, cmd, ok};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A few MiB that compress like a binary: real machine code (busybox, when installed) and text,
/// interleaved with pseudo-random bytes, and not a multiple of the piece size.
fn sample() -> Vec<u8> {
    let code = std::fs::read("/bin/busybox").unwrap_or_else(|_| b"no busybox here ".repeat(4096));
    let mut x: u32 = 7;
    let mut out = Vec::new();
    while out.len() < 3 * CHUNK + 12_345 {
        out.extend_from_slice(&code[..code.len().min(300_000)]);
        out.extend((0..50_000).map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 24) as u8
        }));
    }
    out.truncate(3 * CHUNK + 12_345);
    out
}

fn gzip_with(data: &[u8], threads: usize) -> Vec<u8> {
    let mut w = ParallelGzip::new(Vec::new(), 5, threads);
    for piece in data.chunks(100_003) {
        w.write_all(piece).unwrap();
    }
    w.finish().unwrap()
}

fn run_stdout(c: &mut Command) -> Vec<u8> {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn parallel_gzip_is_one_member_per_mib_that_gzip_busybox_and_python_read_back_exactly() {
    let test = "parallel_gzip_is_one_member_per_mib_that_gzip_busybox_and_python_read_back_exactly";
    if !peers::check_tools(test, &["gzip", "busybox", "python3"]) {
        return;
    }
    let data = sample();
    let gz = gzip_with(&data, 2);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("layer.gz");
    std::fs::write(&f, &gz).unwrap();
    run_stdout(Command::new("gzip").arg("-t").arg(&f));
    assert!(run_stdout(Command::new("gzip").arg("-dc").arg(&f)) == data);
    assert!(run_stdout(Command::new("busybox").args(["gunzip", "-c"]).arg(&f)) == data);
    // Python walks the members one by one (zlib stops at the end of each): one per MiB of input,
    // each a whole piece, and gzip.decompress reads them all as one stream.
    let py = "import gzip,sys,zlib\n\
              raw=open(sys.argv[1],'rb').read()\n\
              rest,pieces=raw,[]\n\
              while rest:\n\
              \x20 d=zlib.decompressobj(31)\n\
              \x20 pieces.append(d.decompress(rest))\n\
              \x20 assert d.eof\n\
              \x20 rest=d.unused_data\n\
              assert all(len(p)==1<<20 for p in pieces[:-1]) and 0<len(pieces[-1])<=1<<20\n\
              out=b''.join(pieces)\n\
              assert gzip.decompress(raw)==out\n\
              print(len(pieces),file=sys.stderr)\n\
              sys.stdout.buffer.write(out)";
    let out = Command::new("python3")
        .args(["-c", py])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == data);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        data.len().div_ceil(CHUNK).to_string()
    );
}

#[test]
fn parallel_gzip_bytes_do_not_depend_on_threads_or_runs() {
    let data = sample();
    let one = gzip_with(&data, 1);
    for threads in [1, 2, 3, 8] {
        assert!(gzip_with(&data, threads) == one, "{threads} threads");
    }
}

fn layout_layers(layout: &Path) -> Vec<(String, String)> {
    let (_, man) = slim::manifest_of(layout);
    man["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["digest"].as_str().unwrap().to_string(),
                l["mediaType"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn busybox() -> Option<PathBuf> {
    peers::which("busybox")
}

/// One layer as the JSON report has it: digest, media type, uncompressed size, compression level.
type LayerRow = (String, String, u64, Option<u64>);

/// `cargo slim-image --binary BIN -q --message-format json` into `dir/<name>` (layout and target dir),
/// with `extra` flags and `SLIM_IMAGE_COMPRESSION_THREADS=threads`; returns the layout and, per layer,
/// (digest, media type, uncompressed size, reported compression level).
fn json_image(
    bin: &Path,
    dir: &Path,
    name: &str,
    threads: &str,
    extra: &[&str],
) -> (PathBuf, Vec<LayerRow>) {
    let layout = dir.join(format!("layout-{name}"));
    let target = dir.join(format!("t-{name}"));
    let mut args = vec![
        "--binary",
        bin.to_str().unwrap(),
        "-t",
        "bb:1",
        "--target-dir",
        target.to_str().unwrap(),
        "-o",
        layout.to_str().unwrap(),
        "-q",
        "--message-format",
        "json",
    ];
    args.extend_from_slice(extra);
    let mut c = cmd(&args);
    c.env("SLIM_IMAGE_COMPRESSION_THREADS", threads);
    let report: serde_json::Value = serde_json::from_str(&ok(c)).unwrap();
    let layers = report["images"][0]["manifests"][0]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["digest"].as_str().unwrap().to_string(),
                l["media_type"].as_str().unwrap().to_string(),
                l["uncompressed_size"].as_u64().unwrap(),
                l["compression_level"].as_u64(),
            )
        })
        .collect();
    (layout, layers)
}

#[test]
fn cli_layers_are_the_same_for_any_thread_count_and_gzip_reads_them() {
    let test = "cli_layers_are_the_same_for_any_thread_count_and_gzip_reads_them";
    if !peers::check_tools(test, &["busybox", "gzip"]) {
        return;
    }
    let bin = busybox().unwrap();
    let work = tempfile::tempdir().unwrap();
    // Default compression (the level by layer size), and an explicit level: busybox (about 2 MB) makes
    // an app layer of several 1 MiB gzip members, so the threads really split it.
    for extra in [&[][..], &["--compression-level", "6"][..]] {
        let mut outs = Vec::new();
        for threads in ["1", "2", "4"] {
            let (layout, layers) = json_image(&bin, work.path(), threads, threads, extra);
            assert_eq!(layout_layers(&layout).len(), layers.len());
            for (digest, media, _, _) in &layers {
                assert_eq!(media, "application/vnd.oci.image.layer.v1.tar+gzip");
                run_stdout(
                    Command::new("gzip")
                        .arg("-t")
                        .arg(slim::blob_path(&layout, digest)),
                );
            }
            assert!(layers[1].2 > CHUNK as u64, "the app layer spans pieces");
            outs.push(layers);
            std::fs::remove_dir_all(work.path().join(format!("t-{threads}"))).unwrap();
            std::fs::remove_dir_all(work.path().join(format!("layout-{threads}"))).unwrap();
            // And the SBOM and provenance beside it: without their layout they would count as the
            // user's files and stop the next build (tests/beside_files.rs).
            for e in std::fs::read_dir(work.path()).unwrap() {
                let p = e.unwrap().path();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if name.starts_with(&format!("layout-{threads}.")) {
                    std::fs::remove_file(p).unwrap();
                }
            }
        }
        assert_eq!(outs[0], outs[1], "{extra:?}: 1 and 2 threads");
        assert_eq!(outs[0], outs[2], "{extra:?}: 1 and 4 threads");
    }
}

#[test]
fn the_default_gzip_level_follows_the_layer_size_and_the_flag_overrides_it() {
    let test = "the_default_gzip_level_follows_the_layer_size_and_the_flag_overrides_it";
    if !peers::check_tools(test, &["busybox"]) {
        return;
    }
    let bin = busybox().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (_, by_size) = json_image(&bin, work.path(), "default", "2", &[]);
    assert_eq!(by_size.len(), 2, "base files and app");
    for (_, _, uncompressed, level) in &by_size {
        assert_eq!(
            *level,
            Some(gzip_level_for(*uncompressed) as u64),
            "a layer of {uncompressed} bytes"
        );
    }
    // Small layers get the most effort the rule gives (the base files, a 2 MB binary).
    let top = GZIP_LEVEL_BY_SIZE[0];
    assert!(by_size.iter().all(|l| l.2 <= top.0), "{by_size:?}");
    assert_eq!(by_size[1].3, Some(top.1 as u64));
    // The same bytes as asking for that level by flag: the report is not just a label.
    let (_, explicit) = json_image(
        &bin,
        work.path(),
        "explicit",
        "2",
        &["--compression-level", &top.1.to_string()],
    );
    assert_eq!(explicit, by_size);
    // The flag overrides the rule, for every layer.
    let (layout, low) = json_image(&bin, work.path(), "low", "2", &["--compression-level", "1"]);
    let size =
        |layout: &Path, d: &str| std::fs::metadata(slim::blob_path(layout, d)).unwrap().len();
    let default_layout = work.path().join("layout-default");
    for (i, (digest, _, uncompressed, level)) in low.iter().enumerate() {
        assert_eq!(*level, Some(1));
        assert_ne!(digest, &by_size[i].0, "layer {i} at level 1");
        assert_eq!(*uncompressed, by_size[i].2);
        // Level 1 is larger than the rule's level 12: the blob is what the report says.
        assert!(size(&layout, digest) > size(&default_layout, &by_size[i].0));
    }
}

#[test]
fn layers_are_the_same_on_a_cpu_without_simd() {
    // The same bytes on another machine: the tool run by qemu as an x86-64 without SSE4, AVX2, PCLMUL
    // or SHA, so libdeflate, the CRC and SHA-256 code and zlib-rs all take their portable paths.
    let test = "layers_are_the_same_on_a_cpu_without_simd";
    if !cfg!(target_arch = "x86_64") {
        eprintln!("SKIP {test}: only meaningful on an x86_64 host");
        return;
    }
    if !peers::check_tools(test, &["busybox", "qemu-x86_64-static"]) {
        return;
    }
    let bin = busybox().unwrap();
    let work = tempfile::tempdir().unwrap();
    let args = |name: &str| {
        vec![
            "slim-image".to_string(),
            "--binary".into(),
            bin.to_str().unwrap().into(),
            "-t".into(),
            "bb:1".into(),
            "--target-dir".into(),
            work.path()
                .join(format!("t-{name}"))
                .to_str()
                .unwrap()
                .into(),
            "-o".into(),
            work.path()
                .join(format!("layout-{name}"))
                .to_str()
                .unwrap()
                .into(),
            "-q".into(),
        ]
    };
    let native = ok(cmd(&args("native")[1..]
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()));
    let mut q = Command::new("qemu-x86_64-static");
    q.args(["-cpu", "qemu64", env!("CARGO_BIN_EXE_cargo-slim-image")])
        .args(args("qemu"))
        .env_remove("SOURCE_DATE_EPOCH");
    let emulated = String::from_utf8(run_stdout(&mut q)).unwrap();
    assert_eq!(emulated, native);
    assert!(native.contains("@sha256:"), "{native}");
}

/// `cargo slim-image -q --binary BIN` as `localhost/slim-zstd:1` with zstd layers, built in
/// `target_dir` into `layout`, plus `extra`; returns stdout.
fn zstd_image(bin: &Path, target_dir: &Path, layout: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "--binary",
        bin.to_str().unwrap(),
        "-t",
        "localhost/slim-zstd:1",
        "--compression",
        "zstd",
        "--target-dir",
        target_dir.to_str().unwrap(),
        "-o",
        layout.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push("-q");
    ok(cmd(&args))
}

#[test]
fn zstd_layers_run_in_podman() {
    let test = "zstd_layers_run_in_podman";
    if !peers::check_tools(test, &["busybox", "podman", "umoci"]) {
        return;
    }
    let bin = busybox().unwrap();
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let tar = work.path().join("z.tar");
    let first = zstd_image(
        &bin,
        &work.path().join("t"),
        &layout,
        &["--tarball", tar.to_str().unwrap()],
    );
    let layers = layout_layers(&layout);
    assert_eq!(layers.len(), 2);
    for (digest, media) in &layers {
        assert_eq!(media, "application/vnd.oci.image.layer.v1.tar+zstd");
        let raw = zstd::decode_all(std::fs::File::open(slim::blob_path(&layout, digest)).unwrap())
            .unwrap();
        assert_eq!(raw.len() % 512, 0, "a tar stream is whole 512-byte blocks");
    }
    // A second run in a fresh target dir: the same bytes.
    let second = zstd_image(
        &bin,
        &work.path().join("t2"),
        &work.path().join("layout2"),
        &[],
    );
    assert_eq!(second, first);

    let podman = Podman::new().expect("podman storage");
    podman.load(&tar).expect("podman loads a zstd image");
    let out = podman.run("localhost/slim-zstd:1", &["echo", "hello from zstd"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello from zstd"
    );

    // umoci 0.4.7 (Debian 12) refuses zstd layers by media type; a umoci that reads them must unpack.
    match peers::umoci_unpack(&layout, "1") {
        Ok(rootfs) => {
            let p = rootfs.path().join("rootfs/usr/local/bin/busybox");
            assert!(
                p.is_file(),
                "umoci unpacked the zstd image without the binary"
            );
        }
        Err(e) => {
            let msg = format!("{e:#}");
            assert!(
                msg.contains("tar+zstd"),
                "umoci failed on the zstd image for another reason: {msg}"
            );
            eprintln!("NOTE: this umoci does not read zstd layers: {msg}");
        }
    }
}
