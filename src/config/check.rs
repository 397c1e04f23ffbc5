//! Checks of single values from the `slim-image` tables and the flags: `files[].dest`, `user`,
//! `stop-signal`, and the keys of `env`, `labels` and `annotations`.
//!
//! Each check takes the value as written and gives either the value to use (normalised where the
//! engines normalise it too) or a reason that says what to write instead; the caller adds the key or
//! flag and the Cargo.toml. Values are quoted with [`shown`], so a NUL or a newline is visible.

use crate::plan::BIN_DIR;
use crate::rootfs::{base_entries, CA_BUNDLE_PATH};

/// `s` as it may be printed in a message: control characters, quotes and backslashes escaped.
pub fn shown(s: &str) -> String {
    s.escape_debug().to_string()
}

/// The largest uid or gid the engines take: runc, containerd and docker refuse ids past 2^31-1
/// (`uids and gids must be in range 0-2147483647`, moby/sys/user), although `uid_t` is 32 bits
/// (4294967295 being `(uid_t)-1`, which means "no change" to `setuid`).
pub const MAX_ID: u64 = (1 << 31) - 1;

/// Paths the container runtime mounts over (its own /proc, /sys, /dev, and the files it bind-mounts
/// into /etc): a file put there is hidden when the container runs.
const RUNTIME_MOUNTS: &[&str] = &["/proc", "/sys", "/dev"];
const RUNTIME_FILES: &[&str] = &["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// The directories every image has (the base files' and those up to [`BIN_DIR`]), and the files the
/// tool writes into every image (passwd, group, nsswitch.conf, the CA bundle).
fn image_paths() -> (Vec<String>, Vec<String>) {
    let mut dirs: Vec<String> = Vec::new();
    let mut files = vec![CA_BUNDLE_PATH.to_string()];
    for e in base_entries() {
        match e.kind {
            crate::layer::EntryKind::Dir => dirs.push(e.path),
            _ => files.push(e.path),
        }
    }
    let mut p = std::path::Path::new(BIN_DIR);
    while p.as_os_str() != "/" {
        dirs.push(p.display().to_string());
        p = p.parent().unwrap_or(std::path::Path::new("/"));
    }
    (dirs, files)
}

/// Whether `path` is `dir` or below it.
pub fn at_or_below(path: &str, dir: &str) -> bool {
    path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// Check a `files[].dest`: an absolute, normalised path of a new file, not a directory the image
/// has, not a file the tool writes, not a place the runtime mounts over.
pub fn dest(d: &str) -> Result<(), String> {
    if d.chars().any(char::is_control) {
        return Err("contains a control character (a NUL or a newline would make a tar entry with another name): write a plain path".into());
    }
    if !d.starts_with('/') {
        return Err(format!(
            "is not absolute: write the path in the image, e.g. /{}",
            d.trim_start_matches("./")
        ));
    }
    if d == "/" {
        return Err("is the root directory: name a file, e.g. /etc/app/app.toml".into());
    }
    let parts: Vec<&str> = d[1..].split('/').collect();
    if parts
        .iter()
        .any(|c| c.is_empty() || *c == "." || *c == "..")
    {
        let hint = if parts.contains(&"..") {
            "write it without `..`".to_string()
        } else {
            let clean: Vec<&str> = parts
                .iter()
                .copied()
                .filter(|c| !c.is_empty() && *c != ".")
                .collect();
            format!("write /{}", clean.join("/"))
        };
        return Err(format!(
            "is not a normalised path (empty, `.` or `..` components, or a trailing /): {hint}"
        ));
    }
    if let Some(m) = RUNTIME_MOUNTS.iter().find(|m| at_or_below(d, m)) {
        return Err(format!(
            "is under {m}, which the container runtime mounts over: the file would be hidden; put it elsewhere, e.g. /etc/app/"
        ));
    }
    if RUNTIME_FILES.contains(&d) {
        return Err(
            "is a file the container runtime bind-mounts over (docker, podman and Kubernetes write it when the container starts): the file would be hidden"
                .into(),
        );
    }
    let (dirs, files) = image_paths();
    if dirs.iter().any(|x| x == d) {
        return Err(format!(
            "is a directory of the image: a file there would replace it and everything in it; name a file below it, e.g. {d}/app.conf"
        ));
    }
    if let Some(f) = files.iter().find(|f| at_or_below(d, f)) {
        let hint = match f.as_str() {
            CA_BUNDLE_PATH => "add certificates with `extra-ca-certificates = [\"ca.pem\"]` (appended to the bundle), or pick the bundle with `ca-certificates`",
            "/etc/passwd" | "/etc/group" => "the image's /etc/passwd and /etc/group hold root (0), nonroot (65532) and nobody (65534); run as any numeric uid with `user`, or build on a base image that has the accounts you need (`base`)",
            _ => "it is one of the image's base files; put yours at another path",
        };
        return Err(format!(
            "is (or is below) {f}, which cargo slim-image writes: {hint}"
        ));
    }
    Ok(())
}

/// The name the engines give a uid, for the hint after a user name.
fn known_user(name: &str) -> Option<u64> {
    match name {
        "root" => Some(0),
        "nonroot" => Some(crate::rootfs::NONROOT_UID),
        "nobody" => Some(65534),
        _ => None,
    }
}

fn id(s: &str, what: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        let hint = match known_user(s) {
            Some(n) => format!("use {n} ({s})"),
            None => format!("write the {what}'s number, e.g. 65532 (nonroot)"),
        };
        return Err(format!(
            "`{}` is not a numeric {what}: Kubernetes' runAsNonRoot can only check a numeric user; {hint}",
            shown(s)
        ));
    }
    match s.parse::<u64>() {
        Ok(n) if n <= MAX_ID => Ok(n),
        _ => Err(format!(
            "{what} {s} is past {MAX_ID}, the largest id runc, containerd and docker take"
        )),
    }
}

/// Check a user: `UID` or `UID:GID`, each a decimal number from 0 to [`MAX_ID`].
pub fn user(u: &str) -> Result<(), String> {
    let (uid, gid) = match u.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (u, None),
    };
    id(uid, "uid")?;
    if let Some(g) = gid {
        id(g, "gid")?;
    }
    Ok(())
}

/// Signal names the engines know (moby/sys/signal's Linux map, which docker, podman and containerd
/// use), without `SIG`; `RTMIN+1`..`RTMIN+15` and `RTMAX-14`..`RTMAX-1` are added in [`signal`].
const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
];

/// Check a stop signal and normalise it as the engines read it: a name with or without `SIG`, any
/// case (`term`, `SIGTERM`, `SIGRTMIN+3`) becomes `SIGTERM`...; a number from 1 to 64 stays a number.
pub fn signal(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<u32>() {
            Ok(n @ 1..=64) => Ok(n.to_string()),
            _ => Err(format!("signal number {s} is not one from 1 to 64")),
        };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    // SIGRTMIN+1..+15 and SIGRTMAX-14..-1, written without leading zeros, as in the engines' map.
    let offset = |prefix: &str, max: u8| {
        name.strip_prefix(prefix).is_some_and(|n| {
            n.parse::<u8>()
                .is_ok_and(|v| (1..=max).contains(&v) && v.to_string() == n)
        })
    };
    if SIGNALS.contains(&name) || offset("RTMIN+", 15) || offset("RTMAX-", 14) {
        return Ok(format!("SIG{name}"));
    }
    Err(format!(
        "`{}` is not a signal the engines know: write a name such as SIGTERM, SIGINT, SIGQUIT, SIGUSR1 or SIGRTMIN+3, or a number from 1 to 64",
        shown(s)
    ))
}

/// Check an environment variable name: not empty, no `=`, no control character.
pub fn env_key(k: &str) -> Result<(), String> {
    if k.is_empty() {
        return Err("an environment variable has an empty name".into());
    }
    if k.contains('=') {
        return Err(format!(
            "the environment variable name `{}` contains `=`: the runtime splits `NAME=VALUE` at the first `=`, so the name would be cut",
            shown(k)
        ));
    }
    if k.chars().any(char::is_control) {
        return Err(format!(
            "the environment variable name `{}` contains a control character",
            shown(k)
        ));
    }
    Ok(())
}

/// Check a label or annotation key: not empty (nor blank), no control character.
pub fn map_key(k: &str) -> Result<(), String> {
    if k.trim().is_empty() {
        return Err("a key is empty: write e.g. org.example.team".into());
    }
    if k.chars().any(char::is_control) {
        return Err(format!(
            "the key `{}` contains a control character",
            shown(k)
        ));
    }
    Ok(())
}

/// Check that a push target (`REGISTRY/NAME[:TAG]`) names its registry, by docker's rule
/// ([`crate::reference::registry_host`]): `app:1` or `acme/app` would silently mean Docker Hub.
pub fn push_target(t: &str) -> Result<(), String> {
    let name = crate::reference::split_tag(t.split('@').next().unwrap_or(t)).0;
    if crate::reference::registry_host(name).is_some() {
        return Ok(());
    }
    let short = name.rsplit('/').next().unwrap_or(name);
    Err(format!(
        "`{}` names no registry, so it would go to docker.io/{}: write the registry host first, e.g. ghcr.io/OWNER/{short}, localhost:5000/{short} or docker.io/{}",
        shown(t),
        if name.contains('/') { name.to_string() } else { format!("library/{name}") },
        if name.contains('/') { name.to_string() } else { format!("OWNER/{name}") },
    ))
}

#[cfg(test)]
mod tests {
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
    fn keys() {
        assert!(env_key("").is_err());
        assert!(env_key("A=B").is_err());
        assert!(env_key("A\0").is_err());
        assert!(env_key("RUST_LOG").is_ok());
        assert!(map_key("").is_err());
        assert!(map_key(" ").is_err());
        assert!(map_key("org.example").is_ok());
    }
}
