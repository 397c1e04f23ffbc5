//! The OpenSSL cache: where it is, what an entry must hold, and what reaches the build.
use super::entry::{CHECKED, RECORD};
use super::project::{fixed_env, make_var};
use super::*;
use crate::user_cache::root as cache_root;

#[test]
fn the_cache_is_slim_image_cache_dir_else_xdg_cache_home_else_home() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let all = env(&[
        ("SLIM_IMAGE_CACHE_DIR", "/c"),
        ("XDG_CACHE_HOME", "/x"),
        ("HOME", "/h"),
    ]);
    assert_eq!(cache_root(&all).unwrap(), Path::new("/c"));
    let xdg = env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")]);
    assert_eq!(cache_root(&xdg).unwrap(), Path::new("/x/cargo-slim-image"));
    // A relative XDG_CACHE_HOME is ignored, as the XDG spec says.
    let relative = env(&[("XDG_CACHE_HOME", "x"), ("HOME", "/h")]);
    assert_eq!(
        cache_root(&relative).unwrap(),
        Path::new("/h/.cache/cargo-slim-image")
    );
    // A relative one is made absolute here: it becomes OPENSSL_DIR, which openssl-sys's build
    // script reads from its own directory.
    let here = std::env::current_dir().unwrap();
    let rel = env(&[("SLIM_IMAGE_CACHE_DIR", "c/d"), ("HOME", "/h")]);
    assert_eq!(cache_root(&rel).unwrap(), here.join("c/d"));
    let rel_home = env(&[("HOME", "h")]);
    assert_eq!(
        cache_root(&rel_home).unwrap(),
        here.join("h/.cache/cargo-slim-image")
    );
    let none = env(&[("SLIM_IMAGE_CACHE_DIR", " ")]);
    assert!(format!("{:#}", cache_root(&none).unwrap_err()).contains("SLIM_IMAGE_CACHE_DIR"));
}

#[test]
fn what_the_user_set_for_c_builds_does_not_reach_the_openssl_build() {
    // Each spelling the cc crate (which openssl-src asks for the compiler and its flags) reads
    // for the target, and cargo's rustflags (cc turns some into C flags): set by the build,
    // so neither the user's environment nor a cargo config's `[env]` (which does not replace
    // what is set) changes OpenSSL's bytes under the same cache key.
    let triple = "x86_64-unknown-linux-musl";
    let key = "x86_64_unknown_linux_musl";
    let tools: Vec<(String, String)> = ["CC", "AR", "RANLIB"]
        .iter()
        .map(|t| (format!("{t}_{key}"), t.to_ascii_lowercase()))
        .collect();
    let env = fixed_env(triple, &tools);
    let get = |k: &str| {
        env.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    for t in ["CC", "AR", "RANLIB"] {
        let want = Some(Some(t.to_ascii_lowercase()));
        assert_eq!(get(&format!("{t}_{key}")), want, "{t}");
        assert_eq!(get(&format!("{t}_{triple}")), want, "{t}_{triple}");
    }
    for v in [
        "CFLAGS",
        "TARGET_CFLAGS",
        "CPPFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        assert_eq!(get(v), Some(Some(String::new())), "{v}");
    }
    let prefix = Some(Some("--prefix=/usr/local".to_string()));
    assert_eq!(get(&format!("CFLAGS_{key}")), prefix);
    assert_eq!(get(&format!("CFLAGS_{triple}")), Some(Some(String::new())));
}

#[test]
fn a_truncated_library_or_a_missing_header_makes_an_entry_incomplete() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::create_dir_all(dir.join("include/openssl")).unwrap();
    for f in CHECKED {
        std::fs::write(dir.join(f), format!("{f} bytes")).unwrap();
    }
    // A record of before (no digests) is not a complete entry.
    std::fs::write(dir.join(RECORD), b"{\"openssl\": \"3.6.3\"}").unwrap();
    assert!(!complete(dir));
    write_record(dir, serde_json::json!({"openssl": version()})).unwrap();
    assert!(complete(dir));
    std::fs::write(dir.join("lib/libssl.a"), b"lib/libssl.a by").unwrap();
    assert!(!complete(dir), "truncated");
    std::fs::write(dir.join("lib/libssl.a"), b"lib/libssl.a bytes").unwrap();
    assert!(complete(dir));
    std::fs::remove_dir_all(dir.join("include")).unwrap();
    assert!(!complete(dir), "no headers");
}

#[test]
fn make_variables_escape_blanks_and_the_env_is_per_target() {
    assert_eq!(
        make_var("DESTDIR", Path::new("/home/a b/c\\d")),
        std::ffi::OsString::from("DESTDIR=/home/a\\ b/c\\\\d")
    );
    assert_eq!(
        cargo_env(Platform::LinuxArm64, Path::new("/c/o")),
        [
            (
                "AARCH64_UNKNOWN_LINUX_MUSL_OPENSSL_DIR".to_string(),
                "/c/o".to_string()
            ),
            (
                "AARCH64_UNKNOWN_LINUX_MUSL_OPENSSL_STATIC".to_string(),
                "1".to_string()
            ),
        ]
    );
    assert_eq!(version(), "3.6.3");
}
