//! Checks of single values from the `slim-image` tables and the flags: `files[].dest`, `user`,
//! `stop-signal`, `c-toolchain`, `debuginfo`, and the keys of `env`, `labels` and `annotations`.
//!
//! Each check takes the value as written and gives either the value to use (normalised where the
//! engines normalise it too) or a reason that says what to write instead; the caller adds the key or
//! flag and the Cargo.toml. Values are quoted with [`shown`], so a NUL or a newline is visible.

use crate::rootfs::{base_entries, BIN_DIR, CA_BUNDLE_PATH};

pub use super::quote::shown;

/// The largest uid or gid the engines take: runc, containerd and docker refuse ids past 2^31-1
/// (`uids and gids must be in range 0-2147483647`, moby/sys/user), although `uid_t` is 32 bits
/// (4294967295 being `(uid_t)-1`, which means "no change" to `setuid`).
pub const MAX_ID: u64 = (1 << 31) - 1;

/// Paths the container runtime mounts over (its own /proc, /sys, /dev, and the files it bind-mounts
/// into /etc): a file put there is hidden when the container runs.
/// Kubernetes adds the service account token directory to every pod that automounts it (the default).
const RUNTIME_MOUNTS: &[&str] = &[
    "/proc",
    "/sys",
    "/dev",
    "/var/run/secrets/kubernetes.io/serviceaccount",
];
/// A path below one of these makes it a directory, and the runtime's bind mount of a file over a
/// directory fails: the container does not start (runc: `not a directory`).
const RUNTIME_FILES: &[&str] = &["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// The longest file name Linux file systems take (`NAME_MAX`): a longer component makes a tar entry
/// that no engine can unpack (`file name too long`).
pub const MAX_NAME: usize = 255;
/// The longest `dest`, in bytes: `PATH_MAX` (4096, with its NUL) counts the unpacker's own root
/// directory too (podman's `/var/lib/containers/storage/overlay/<64 hex>/diff` is 109 bytes), so
/// 256 bytes are left for it.
pub const MAX_DEST: usize = 3840;

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

use crate::ui::INVISIBLE;

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
    if let Some(f) = d.chars().find(|c| INVISIBLE.contains(c)) {
        return Err(format!(
            "contains the invisible character U+{:04X} (a bidirectional control or a zero-width character): the path would show as another one; write a plain path",
            u32::from(f)
        ));
    }
    let parts: Vec<&str> = d[1..].split('/').collect();
    if parts
        .iter()
        .any(|c| c.is_empty() || *c == "." || *c == "..")
    {
        if parts.contains(&"..") {
            return Err("is not a normalised path (empty, `.` or `..` components, or a trailing /): write it without `..`".into());
        }
        let clean: Vec<&str> = parts
            .iter()
            .copied()
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        let clean = format!("/{}", clean.join("/"));
        let what = "is not a normalised path (empty, `.` or `..` components, or a trailing /)";
        // Suggest the clean spelling only if it is itself accepted.
        return Err(match dest(&clean) {
            Ok(()) => format!("{what}: write {clean}"),
            Err(why) => format!("{what}, and written as {clean} it {why}"),
        });
    }
    if let Some(long) = parts.iter().find(|c| c.len() > MAX_NAME) {
        return Err(format!(
            "has a component of {} bytes (`{}...`): Linux file names take at most {MAX_NAME} bytes, so no engine could unpack the image; use a shorter name",
            long.len(),
            shown(&long.chars().take(16).collect::<String>())
        ));
    }
    if d.len() > MAX_DEST {
        return Err(format!(
            "is {} bytes long: paths in an image may be at most {MAX_DEST} bytes (Linux's PATH_MAX, less room for the engine's own directory); use a shorter path",
            d.len()
        ));
    }
    place(d)
}

/// Check where a `files[].dest` (spelt right) goes: not a place the runtime mounts over, not a
/// directory the image has, not a file the tool writes.
fn place(d: &str) -> Result<(), String> {
    if let Some(m) = RUNTIME_MOUNTS.iter().find(|m| at_or_below(d, m)) {
        return Err(format!(
            "is under {m}, which the container runtime mounts over: the file would be hidden; put it elsewhere, e.g. /etc/app/"
        ));
    }
    if let Some(f) = RUNTIME_FILES.iter().find(|f| at_or_below(d, f)) {
        return Err(if d == *f {
            "is a file the container runtime bind-mounts over (docker, podman and Kubernetes write it when the container starts): the file would be hidden".into()
        } else {
            format!("is below {f}, a file the container runtime bind-mounts when the container starts: {f} would be a directory and the container would not start (`not a directory`); put it elsewhere, e.g. /etc/app/")
        });
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

/// Check a `c-toolchain` value: `auto`, `musl-gcc`, `zig` or `rust-lld`.
pub fn c_toolchain(s: &str) -> Result<crate::compile::c_toolchain::Choice, String> {
    crate::compile::c_toolchain::Choice::parse(s)
}

/// Check a `debuginfo` value: `split`, `keep` or `drop`.
pub fn debuginfo(s: &str) -> Result<crate::debuginfo::mode::Mode, String> {
    crate::debuginfo::mode::Mode::parse(s)
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

/// Check a value the runtime hands to the process as a C string (an `env` value, an `entrypoint` or
/// `cmd` argument, the `workdir`): no NUL, which such a string cannot hold, so the container would
/// not start (runc: `environment variable value can't contain null`).
pub fn no_nul(v: &str) -> Result<(), String> {
    if v.contains('\0') {
        return Err(format!(
            "`{}` contains a NUL: the runtime passes it to the process as a C string, which ends at a NUL, so the container would not start; remove it",
            shown(v)
        ));
    }
    Ok(())
}

/// Check a label or annotation key: not empty (nor blank), no control character.
pub fn map_key(k: &str) -> Result<(), String> {
    if k.trim().is_empty() {
        return Err("a key is empty (or blank): name it, e.g. org.example.team".into());
    }
    if k.chars().any(char::is_control) {
        return Err(format!(
            "the key `{}` contains a control character",
            shown(k)
        ));
    }
    Ok(())
}

/// Whether a `metadata` key is `slim-image` spelt another way: the same letters in any case with
/// other separators (`slim_image`, `SlimImage`), a `cargo-` prefix (`cargo-slim-image`), or up to two
/// letters added, dropped or changed (`slim-images`, `slim-imag`, `slimage`, `slim-iamge`).
pub fn near_slim_image(key: &str) -> bool {
    let folded: String = key
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' ' | '.'))
        .collect::<String>()
        .to_lowercase();
    let word = folded.strip_prefix("cargo").unwrap_or(&folded);
    key != "slim-image" && edit_distance(word, "slimimage") <= 2
}

/// Levenshtein distance (insertions, deletions, substitutions) between two short strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j] + 1).min(row[j + 1] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
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
mod tests;
