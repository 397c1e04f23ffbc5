//! What the provenance says about where a build came from: the workspace's git repository and
//! commit, the sha256 of its Cargo.lock, and the CI run that built it.
//!
//! Takes the workspace root and the process environment; gives [`Source`] and [`invocation_id`].
//! Git is read from `.git` directly (HEAD, loose refs, packed-refs, `remote.origin.url`, worktrees'
//! `commondir`), never by running `git` and never over the network, so the answer does not depend on
//! which tools are installed. Every file is read through the bounded reader. A repository URL has its
//! user name and password removed (`https://user:token@host/...` is a common CI remote). Nothing
//! here fails a build: what cannot be read is left out, with a warning.

use crate::digest::Digest;
use std::path::{Path, PathBuf};

/// The most of any one `.git` file read (HEAD, a ref, config, packed-refs).
const MAX_GIT_FILE: u64 = 16 << 20;
/// The most of Cargo.lock read.
const MAX_LOCK: u64 = 64 << 20;

/// The git checkout of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Git {
    /// `remote.origin.url` without credentials, as a URL (`git@host:path` becomes `ssh://git@host/path`).
    pub url: Option<String>,
    /// The branch HEAD names (`refs/heads/main`), `None` when detached.
    pub reference: Option<String>,
    /// The commit HEAD is at (hex).
    pub commit: String,
}

/// Where the workspace's sources came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// The git checkout the workspace is in, if any.
    pub git: Option<Git>,
    /// The sha256 of the workspace's Cargo.lock, if it has one.
    pub cargo_lock: Option<Digest>,
}

impl Source {
    /// Read the source facts of the workspace at `root`.
    pub fn read(root: &Path) -> Source {
        let lock = root.join("Cargo.lock");
        let cargo_lock = match std::fs::symlink_metadata(&lock) {
            Ok(_) => match read_bounded(&lock, MAX_LOCK) {
                Ok(bytes) => Some(Digest::of(&bytes)),
                Err(e) => {
                    crate::ui::warn(format!(
                        "provenance: {} is not recorded: {e:#}",
                        lock.display()
                    ));
                    None
                }
            },
            Err(_) => None,
        };
        Source {
            git: git(root),
            cargo_lock,
        }
    }
}

/// The CI run of this build, as a URL: GitHub Actions
/// (`$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID/attempts/$GITHUB_RUN_ATTEMPT`)
/// or GitLab CI (`$CI_JOB_URL`); `None` elsewhere. `var` looks a variable up (the process
/// environment in a build); no other variable is read.
pub fn invocation_id(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let get = |k: &str| var(k).filter(|v| !v.is_empty());
    if let (Some(server), Some(repo), Some(run)) = (
        get("GITHUB_SERVER_URL"),
        get("GITHUB_REPOSITORY"),
        get("GITHUB_RUN_ID"),
    ) {
        let attempt = get("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".into());
        let url = format!(
            "{}/{repo}/actions/runs/{run}/attempts/{attempt}",
            server.trim_end_matches('/')
        );
        return Some(strip_credentials(&url));
    }
    get("CI_JOB_URL").map(|u| strip_credentials(&u))
}

/// The whole of the regular file `p` (symlinks followed), at most `limit` bytes. A FIFO is opened
/// without blocking and refused (a plain open of a FIFO at `.git/HEAD` would wait for ever for a
/// writer), as are devices (`/dev/zero`) and directories; a longer file is an error, not its first
/// `limit` bytes (a truncated Cargo.lock would be recorded with a digest of nothing real).
fn read_bounded(p: &Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    let f = crate::base::bounded::open_regular(p)?;
    crate::base::bounded::read_all(f, limit, &p.display().to_string())
}

fn read_small(p: &Path) -> Option<String> {
    let bytes = match read_bounded(p, MAX_GIT_FILE) {
        Ok(b) => b,
        Err(e) => {
            // Missing is the common case (no packed-refs, no commondir): said only when it is there.
            if std::fs::symlink_metadata(p).is_ok() {
                crate::ui::warn(format!("provenance: {e:#}; it is not used"));
            }
            return None;
        }
    };
    String::from_utf8(bytes).ok()
}

/// The `.git` directory (and the common directory, for a worktree) of the repository `root` is in.
fn git_dirs(root: &Path) -> Option<(PathBuf, PathBuf)> {
    for dir in root.ancestors() {
        let dot = dir.join(".git");
        let Ok(meta) = std::fs::metadata(&dot) else {
            continue;
        };
        let git_dir = if meta.is_dir() {
            dot
        } else {
            // A worktree or submodule: `gitdir: <path>`, relative to the file's directory.
            let text = read_small(&dot)?;
            let p = text.trim().strip_prefix("gitdir:")?.trim();
            dir.join(p)
        };
        let common = match read_small(&git_dir.join("commondir")) {
            Some(c) => git_dir.join(c.trim()),
            None => git_dir.clone(),
        };
        return Some((git_dir, common));
    }
    None
}

fn is_hex_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit `name` (`refs/heads/main`) points at: a loose ref, else packed-refs.
fn resolve_ref(git_dir: &Path, common: &Path, name: &str) -> Option<String> {
    if name.split('/').any(|c| c.is_empty() || c == "..") {
        return None;
    }
    for dir in [git_dir, common] {
        if let Some(t) = read_small(&dir.join(name)) {
            let t = t.trim();
            if is_hex_id(t) {
                return Some(t.to_ascii_lowercase());
            }
        }
    }
    packed_ref(&common.join("packed-refs"), name)
}

/// The id of `name` in the packed-refs file `p`, read a line at a time: a repository with many
/// tags has a packed-refs of tens of MiB, more than any one file is read whole here. A line longer
/// than a ref line can be is skipped, never buffered.
fn packed_ref(p: &Path, name: &str) -> Option<String> {
    use std::io::{BufRead, Read};
    /// A ref line: a 64-hex id, a space, a ref name (git limits none, 4 KiB is generous).
    const MAX_LINE: u64 = 4096;
    let f = match crate::base::bounded::open_regular(p) {
        Ok(f) => f,
        Err(e) => {
            if std::fs::symlink_metadata(p).is_ok() {
                crate::ui::warn(format!("provenance: {e:#}; it is not used"));
            }
            return None;
        }
    };
    let mut r = std::io::BufReader::new(f);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut r).take(MAX_LINE).read_until(b'\n', &mut line).ok()?;
        if n == 0 {
            return None;
        }
        if !line.ends_with(b"\n") && n as u64 == MAX_LINE {
            // The rest of an over-long line.
            loop {
                let buf = r.fill_buf().ok()?;
                if buf.is_empty() {
                    return None;
                }
                match buf.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        r.consume(i + 1);
                        break;
                    }
                    None => {
                        let len = buf.len();
                        r.consume(len);
                    }
                }
            }
            continue;
        }
        let Ok(l) = std::str::from_utf8(&line) else {
            continue;
        };
        if let Some((id, r)) = l.split_once(' ') {
            if r.trim() == name && is_hex_id(id) {
                return Some(id.to_ascii_lowercase());
            }
        }
    }
}

fn git(root: &Path) -> Option<Git> {
    let (git_dir, common) = git_dirs(root)?;
    let head = read_small(&git_dir.join("HEAD"))?;
    let head = head.trim();
    let (reference, commit) = match head.strip_prefix("ref:") {
        Some(r) => {
            let r = r.trim().to_string();
            // A branch without commits yet: nothing to record.
            let c = resolve_ref(&git_dir, &common, &r)?;
            (Some(r), c)
        }
        None if is_hex_id(head) => (None, head.to_ascii_lowercase()),
        None => {
            crate::ui::warn(format!(
                "provenance: {} is not a commit or a ref; the git commit is not recorded",
                git_dir.join("HEAD").display()
            ));
            return None;
        }
    };
    let url = read_small(&common.join("config"))
        .and_then(|c| origin_url(&c))
        .and_then(|u| url_of(&u));
    Some(Git {
        url,
        reference,
        commit,
    })
}

/// `url` of `[remote "origin"]` in a git config file.
fn origin_url(config: &str) -> Option<String> {
    let mut in_origin = false;
    for line in config.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            let section: String = l.chars().filter(|c| !c.is_whitespace()).collect();
            in_origin = section.eq_ignore_ascii_case("[remote\"origin\"]");
            continue;
        }
        if !in_origin {
            continue;
        }
        if let Some((k, v)) = l.split_once('=') {
            if k.trim().eq_ignore_ascii_case("url") {
                let v = v.trim().trim_matches('"');
                return (!v.is_empty()).then(|| v.to_string());
            }
        }
    }
    None
}

/// A remote as a URL without credentials: scp-like `user@host:path` becomes `ssh://host/path`.
/// A remote on this machine (`/srv/git/app`, `../app.git`, `file:///home/alice/app`) is no URL
/// anyone else can fetch, and its path names the build machine (often a user's home): `None`.
fn url_of(remote: &str) -> Option<String> {
    if !remote.contains("://") {
        if let Some((host, path)) = remote.split_once(':') {
            if !host.contains('/') && !host.is_empty() {
                let host = host.rsplit('@').next().unwrap_or(host);
                return Some(format!("ssh://{host}/{}", path.trim_start_matches('/')));
            }
        }
        return None;
    }
    let url = strip_credentials(remote);
    (!url.to_ascii_lowercase().starts_with("file://")).then_some(url)
}

/// `scheme://user:password@host/...` without `user:password@` (a user name alone goes too: it is
/// often a token, as in `https://<token>@github.com/...`). Also drops a query and a fragment.
pub fn strip_credentials(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_remote_urls() {
        assert_eq!(
            url_of("https://x-access-token:ghp_secret@github.com/acme/app.git").as_deref(),
            Some("https://github.com/acme/app.git")
        );
        assert_eq!(
            url_of("https://tok@gitlab.com/a/b?private_token=x#y").as_deref(),
            Some("https://gitlab.com/a/b")
        );
        assert_eq!(
            url_of("git@github.com:acme/app.git").as_deref(),
            Some("ssh://github.com/acme/app.git")
        );
        // A path on the build machine (a user name in it, often) is no URL.
        for local in [
            "/home/alice/src/app",
            "../app.git",
            "app",
            "file:///home/alice/app",
            "FILE://alice@/home/alice/app",
        ] {
            assert_eq!(url_of(local), None, "{local}");
        }
    }

    #[test]
    fn origin_url_is_read_from_its_section_only() {
        let c = "[core]\n\turl = nope\n[remote \"upstream\"]\n\turl = https://u/x\n[remote \"origin\"]\n\tfetch = +refs/heads/*\n\turl = https://github.com/acme/app\n";
        assert_eq!(
            origin_url(c).as_deref(),
            Some("https://github.com/acme/app")
        );
        assert_eq!(origin_url("[core]\n"), None);
    }

    #[test]
    fn invocation_from_github_then_gitlab_and_nothing_else() {
        let gh = |k: &str| {
            match k {
                "GITHUB_SERVER_URL" => Some("https://github.com"),
                "GITHUB_REPOSITORY" => Some("acme/app"),
                "GITHUB_RUN_ID" => Some("42"),
                "GITHUB_RUN_ATTEMPT" => Some("2"),
                _ => None,
            }
            .map(String::from)
        };
        assert_eq!(
            invocation_id(gh).as_deref(),
            Some("https://github.com/acme/app/actions/runs/42/attempts/2")
        );
        let gl = |k: &str| (k == "CI_JOB_URL").then(|| "https://gitlab.com/a/b/-/jobs/7".into());
        assert_eq!(
            invocation_id(gl).as_deref(),
            Some("https://gitlab.com/a/b/-/jobs/7")
        );
        assert_eq!(invocation_id(|_| None), None);
    }

    #[test]
    fn git_head_through_packed_refs_and_worktrees() {
        let d = tempfile::tempdir().unwrap();
        let main = d.path().join("main");
        let g = main.join(".git");
        std::fs::create_dir_all(g.join("refs/heads")).unwrap();
        std::fs::create_dir_all(g.join("worktrees/wt")).unwrap();
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        std::fs::write(g.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(
            g.join("packed-refs"),
            format!("# pack-refs\n{a} refs/heads/main\n{b} refs/heads/w\n"),
        )
        .unwrap();
        std::fs::write(
            g.join("config"),
            "[remote \"origin\"]\n url = https://t@h/r\n",
        )
        .unwrap();
        std::fs::write(g.join("worktrees/wt/HEAD"), "ref: refs/heads/w\n").unwrap();
        std::fs::write(g.join("worktrees/wt/commondir"), "../..\n").unwrap();
        let wt = d.path().join("wt");
        std::fs::create_dir_all(wt.join("sub")).unwrap();
        std::fs::write(
            wt.join(".git"),
            format!("gitdir: {}\n", g.join("worktrees/wt").display()),
        )
        .unwrap();
        let got = git(&main).unwrap();
        assert_eq!(
            (got.reference.as_deref(), got.commit.as_str()),
            (Some("refs/heads/main"), a.as_str())
        );
        assert_eq!(got.url.as_deref(), Some("https://h/r"));
        let got = git(&wt.join("sub")).unwrap();
        assert_eq!(
            (got.reference.as_deref(), got.commit.as_str()),
            (Some("refs/heads/w"), b.as_str())
        );
        std::fs::write(g.join("refs/heads/main"), format!("{b}\n")).unwrap();
        assert_eq!(git(&main).unwrap().commit, b);
    }

    /// `f` on another thread, or a panic when it has not returned in 20 s (a FIFO opened for
    /// reading blocks until a writer comes, which none will).
    fn within_time<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(20))
            .expect("reading the workspace's .git hung")
    }

    fn mkfifo(p: &Path) {
        let _ = std::fs::remove_file(p);
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(
            unsafe { libc::mkfifo(c.as_ptr(), 0o644) },
            0,
            "{}",
            p.display()
        );
    }

    /// A repository at `root` on `main` at commit `a...a` (loose), with an origin.
    fn repo(root: &Path) -> PathBuf {
        let g = root.join(".git");
        std::fs::create_dir_all(g.join("refs/heads")).unwrap();
        std::fs::write(g.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(g.join("refs/heads/main"), format!("{}\n", "a".repeat(40))).unwrap();
        std::fs::write(
            g.join("config"),
            "[remote \"origin\"]\n url = https://h/r\n",
        )
        .unwrap();
        g
    }

    #[test]
    fn fifos_and_devices_in_a_hostile_git_dir_never_hang_the_build() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_path_buf();
        let g = repo(&root);
        // HEAD a FIFO: no git facts, no hang.
        mkfifo(&g.join("HEAD"));
        let r = root.clone();
        assert_eq!(within_time(move || git(&r)), None);
        // HEAD a link to /dev/zero: refused as a device, not read for 16 MiB.
        std::fs::remove_file(g.join("HEAD")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", g.join("HEAD")).unwrap();
        let r = root.clone();
        assert_eq!(within_time(move || git(&r)), None);
        std::fs::remove_file(g.join("HEAD")).unwrap();
        std::fs::write(g.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        // The loose ref, config, packed-refs and commondir FIFOs: the rest is still read.
        mkfifo(&g.join("config"));
        mkfifo(&g.join("commondir"));
        let r = root.clone();
        let got = within_time(move || git(&r)).expect("HEAD and the ref are readable");
        assert_eq!((got.commit, got.url), ("a".repeat(40), None));
        mkfifo(&g.join("refs/heads/main"));
        mkfifo(&g.join("packed-refs"));
        let r = root.clone();
        assert_eq!(within_time(move || git(&r)), None);
        // `.git` itself a FIFO (a worktree's `.git` is a file, read for its `gitdir:`).
        let w = root.join("w");
        std::fs::create_dir_all(&w).unwrap();
        mkfifo(&w.join(".git"));
        assert_eq!(within_time(move || git(&w)), None);
        // Cargo.lock a FIFO, and one over the limit: not recorded (no digest of a part of it).
        let ws = root.join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        mkfifo(&ws.join("Cargo.lock"));
        let s = ws.clone();
        assert_eq!(within_time(move || Source::read(&s)).cargo_lock, None);
        std::fs::remove_file(ws.join("Cargo.lock")).unwrap();
        let f = std::fs::File::create(ws.join("Cargo.lock")).unwrap();
        f.set_len(MAX_LOCK + 1).unwrap();
        assert_eq!(Source::read(&ws).cargo_lock, None);
        f.set_len(MAX_LOCK).unwrap();
        assert!(Source::read(&ws).cargo_lock.is_some());
    }

    #[test]
    fn a_packed_refs_bigger_than_any_file_read_whole_is_read_by_line() {
        let d = tempfile::tempdir().unwrap();
        let g = repo(d.path());
        std::fs::remove_file(g.join("refs/heads/main")).unwrap();
        let b = "b".repeat(40);
        let mut packed = String::from("# pack-refs with: peeled fully-peeled sorted\n");
        // An over-long line (skipped, not buffered), then more tags than 16 MiB, then the branch.
        packed.push_str(&"x".repeat(100_000));
        packed.push('\n');
        let mut i = 0;
        while packed.len() as u64 <= MAX_GIT_FILE {
            packed.push_str(&format!("{} refs/tags/v{i}\n", "c".repeat(40)));
            i += 1;
        }
        packed.push_str(&format!("{b} refs/heads/main\n"));
        std::fs::write(g.join("packed-refs"), packed).unwrap();
        assert_eq!(git(d.path()).unwrap().commit, b);
    }
}
