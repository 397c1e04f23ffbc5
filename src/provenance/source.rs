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
        let cargo_lock = match std::fs::File::open(root.join("Cargo.lock")) {
            Ok(f) => match crate::bounded::read_at_most(f, MAX_LOCK) {
                Ok(bytes) => Some(Digest::of(&bytes)),
                Err(e) => {
                    crate::ui::warn(format!(
                        "provenance: {} is not recorded: {e}",
                        root.join("Cargo.lock").display()
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

fn read_small(p: &Path) -> Option<String> {
    let f = std::fs::File::open(p).ok()?;
    let bytes = crate::bounded::read_at_most(f, MAX_GIT_FILE).ok()?;
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
    let packed = read_small(&common.join("packed-refs"))?;
    packed.lines().find_map(|l| {
        let (id, r) = l.split_once(' ')?;
        (r.trim() == name && is_hex_id(id)).then(|| id.to_ascii_lowercase())
    })
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
        .map(|u| url_of(&u));
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

/// A remote as a URL without credentials: scp-like `user@host:path` becomes `ssh://user@host/path`.
fn url_of(remote: &str) -> String {
    if !remote.contains("://") {
        if let Some((host, path)) = remote.split_once(':') {
            if !host.contains('/') && !host.is_empty() {
                let host = host.rsplit('@').next().unwrap_or(host);
                return format!("ssh://{host}/{}", path.trim_start_matches('/'));
            }
        }
        return remote.to_string();
    }
    strip_credentials(remote)
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
            url_of("https://x-access-token:ghp_secret@github.com/acme/app.git"),
            "https://github.com/acme/app.git"
        );
        assert_eq!(
            url_of("https://tok@gitlab.com/a/b?private_token=x#y"),
            "https://gitlab.com/a/b"
        );
        assert_eq!(
            url_of("git@github.com:acme/app.git"),
            "ssh://github.com/acme/app.git"
        );
        assert_eq!(url_of("/srv/git/app"), "/srv/git/app");
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
}
