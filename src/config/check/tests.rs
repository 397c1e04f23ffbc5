//! Unit tests of the single-value checks.

use super::*;

#[test]
fn dests() {
    for ok in [
        "/etc/app/app.toml",
        "/etc/x",
        "/tmp/x",
        "/usr/local/bin/tool",
        "/srv/data",
    ] {
        assert_eq!(dest(ok), Ok(()), "{ok}");
    }
    for bad in [
        "/etc",
        "/tmp",
        "/etc/ssl",
        "/etc/ssl/certs",
        "/usr/local/bin",
        "/usr",
        "/home/nonroot",
        "/root",
        "/",
        "etc/x",
        "/etc/./x",
        "/etc//x",
        "/etc/x/",
        "/etc/../x",
        "/etc/a\0b",
        "/etc/passwd",
        "/etc/group",
        "/etc/passwd/x",
        CA_BUNDLE_PATH,
        "/proc/x",
        "/dev",
        "/etc/hosts",
        "/etc/x\n",
    ] {
        assert!(dest(bad).is_err(), "{bad:?}");
    }
    assert!(dest("/etc//x/").unwrap_err().contains("write /etc/x"));
    // Found by the adversarial review.
    for bad in [
        "/etc/hosts/x",
        "/etc/resolv.conf/x/y",
        "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "/etc/passwd\u{200b}",
        "/etc/\u{202e}txt.exe",
    ] {
        assert!(dest(bad).is_err(), "{bad:?}");
    }
    assert_eq!(dest(&format!("/etc/{}", "a".repeat(MAX_NAME))), Ok(()));
    assert!(dest(&format!("/etc/{}", "a".repeat(MAX_NAME + 1))).is_err());
    let deep = format!("/{}", "a/".repeat(MAX_DEST / 2 + 1));
    assert!(dest(deep.trim_end_matches('/')).is_err());
    assert!(dest("/tmp/")
        .unwrap_err()
        .contains("written as /tmp it is a directory"));
    assert!(no_nul("a\0b").is_err());
    assert_eq!(no_nul("a\nb"), Ok(()));
}

#[test]
fn users() {
    for ok in ["0", "65532", "65532:65532", "1000:0", "2147483647"] {
        assert_eq!(user(ok), Ok(()), "{ok}");
    }
    for bad in [
        "-1",
        "4294967296",
        "2147483648",
        "",
        ":",
        "1:",
        ":1",
        "1:2:3",
        "nonroot",
        "0x1",
        "+1",
        " 1",
    ] {
        assert!(user(bad).is_err(), "{bad:?}");
    }
    assert!(user("nonroot").unwrap_err().contains("use 65532 (nonroot)"));
    assert!(user("0:root").unwrap_err().contains("use 0 (root)"));
}

#[test]
fn signals() {
    for (i, o) in [
        ("SIGTERM", "SIGTERM"),
        ("term", "SIGTERM"),
        ("sigint", "SIGINT"),
        ("SIGRTMIN+3", "SIGRTMIN+3"),
        ("rtmax-14", "SIGRTMAX-14"),
        ("SIGRTMAX", "SIGRTMAX"),
        ("9", "9"),
        ("64", "64"),
    ] {
        assert_eq!(signal(i).as_deref(), Ok(o), "{i}");
    }
    for bad in [
        "",
        "0",
        "65",
        "SIGFOO",
        "SIGRTMIN+16",
        "SIGRTMIN+0",
        "SIGRTMAX-15",
        "SIGRTMIN-1",
        "-9",
        "SIG",
        "TERM ",
    ] {
        assert!(signal(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn push_targets() {
    for ok in [
        "ghcr.io/a/b:1",
        "localhost/x",
        "localhost:5000/x",
        "127.0.0.1:5000/x:1",
        "docker.io/acme/app",
    ] {
        assert_eq!(push_target(ok), Ok(()), "{ok}");
    }
    for bad in ["app:1", "app", "acme/app", "acme/app:1", "localhost"] {
        assert!(push_target(bad).is_err(), "{bad}");
    }
}

#[test]
fn misspelt_tables() {
    for near in [
        "slim_image",
        "SlimImage",
        "slim-images",
        "slim-imag",
        "slimage",
        "slim-iamge",
        "cargo-slim-image",
        "slim.image",
    ] {
        assert!(near_slim_image(near), "{near}");
    }
    for far in [
        "slim-image",
        "deb",
        "docs.rs",
        "generate-rpm",
        "image",
        "slim",
    ] {
        assert!(!near_slim_image(far), "{far}");
    }
}

#[test]
fn keys() {
    assert!(env_key("").is_err());
    assert!(env_key("A=B").is_err());
    assert!(env_key("A\0").is_err());
    assert!(env_key("RUST_LOG").is_ok());
    assert!(map_key("").is_err());
    assert!(map_key(" ").is_err());
    assert!(map_key("org.example").is_ok());
}
