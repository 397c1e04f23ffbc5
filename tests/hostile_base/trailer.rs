//! A base layer made by umoci insert (no end-of-archive trailer) is accepted as podman accepts it;
//! one cut inside a header or inside an entry's data is refused.

use super::*;

/// A layout (tag `1`) whose one layer is made by `umoci insert` (no end-of-archive trailer, no
/// padding after the last file's data).
fn umoci_insert_layout(work: &Path) -> PathBuf {
    let l = work.join("umoci");
    let image = format!("{}:1", l.display());
    run_ok(Command::new("umoci").args(["init", "--layout"]).arg(&l)).unwrap();
    run_ok(Command::new("umoci").args(["new", "--image", &image])).unwrap();
    let src = work.join("ins");
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::write(src.join("etc/motd"), "hello\n").unwrap();
    run_ok(
        Command::new("umoci")
            .args(["insert", "--rootless", "--image", &image])
            .arg(&src)
            .arg("/opt"),
    )
    .unwrap();
    l
}

/// The uncompressed layers of a layout's first manifest.
fn layers_of(l: &Path) -> Vec<(String, Vec<u8>)> {
    let (_, m) = slim::manifest_of(l);
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let digest = d["digest"].as_str().unwrap().to_string();
            let gz = std::fs::read(slim::blob_path(l, &digest)).unwrap();
            let mut tar = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut tar)
                .unwrap();
            (digest, tar)
        })
        .collect()
}

#[test]
fn a_layer_without_the_trailer_is_accepted_and_a_cut_one_is_not() {
    require!("umoci", "tar");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let l = umoci_insert_layout(w);
    let layers = layers_of(&l);
    let (digest, tar) = layers.last().unwrap().clone();
    assert_ne!(tar.len() % 512, 0, "umoci insert now pads its layers");
    let out = w.join("out");
    slim::ok(on_base(
        &format!("oci:{}:1", l.display()),
        &w.join("t"),
        &out,
    ));
    let (_, m) = slim::manifest_of(&out);
    assert!(m["layers"].to_string().contains(&digest), "{m}");
    // umoci unpacks what we made on it, the base's file included.
    let bundle = peers::umoci_unpack(&out, "latest").unwrap();
    assert_eq!(
        std::fs::read_to_string(bundle.path().join("rootfs/opt/etc/motd")).unwrap(),
        "hello\n"
    );

    // Cut inside the last file's data, and inside a header: refused, naming the layer.
    let data_at = tar.len() - "hello\n".len();
    for (cut, what) in [
        (tar.len() - 2, "inside the data of"),
        (data_at - 100, "inside an entry header"),
    ] {
        let d = w.join(format!("cut{cut}"));
        std::fs::create_dir_all(&d).unwrap();
        let layer = layer_from_tar(&d, &tar[..cut]);
        let l = layout_with(&d, &layer);
        let base = format!("oci:{}:1", l.display());
        refused(
            on_base(&base, &d.join("t"), &d.join("out")),
            &[&base, &layer.digest, what],
        );
    }
}
