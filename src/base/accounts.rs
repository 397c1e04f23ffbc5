//! The nonroot user on a base that lacks it: images run as 65532:65532 by default, and a base such as
//! alpine has no such account, so the process would have no user name and `HOME=/` (engines fall back
//! to `/` when the uid is not in `/etc/passwd`).
//!
//! Takes the base's account files as the scan kept them ([`PlatformBase::accounts`]) and the image's
//! user, and gives the base's `/etc/passwd` and `/etc/group` with the nonroot line appended (for the
//! base-files layer), or a note when a file could not be read (a link, or over the size bound).

use super::PlatformBase;
use crate::layer::{Entry, Source};
use crate::rootfs::{self, NONROOT_UID};

/// What to add for the nonroot user: entries for the base-files layer and what the note says.
#[derive(Debug, Default)]
pub struct NonrootFix {
    /// The base's files with the nonroot line added.
    pub entries: Vec<Entry>,
    /// The paths they replace, e.g. `/etc/passwd`.
    pub extended: Vec<&'static str>,
    /// Files that are there but could not be read, with why.
    pub unread: Vec<String>,
}

/// The nonroot account for an image that runs as `user` (`uid[:gid]` or a name) on `pb`. Nothing
/// unless the user is the nonroot one (65532 or `nonroot`) and the base has its own account file
/// (a base without one gets ours whole).
pub fn nonroot(pb: &PlatformBase, user: &str) -> NonrootFix {
    let mut fix = NonrootFix::default();
    let (u, g) = user.split_once(':').unwrap_or((user, ""));
    let uid = NONROOT_UID.to_string();
    if u != uid && u != "nonroot" {
        return fix;
    }
    let wanted = [
        ("/etc/passwd", rootfs::nonroot_line(false), true),
        (
            "/etc/group",
            rootfs::nonroot_line(true),
            g.is_empty() || g == uid || g == "nonroot",
        ),
    ];
    for (path, line, applies) in wanted {
        // Not a regular file (a directory, a dangling link): the base-files layer puts ours
        // there whole, so there is nothing of the base's to extend or to warn about.
        if !applies || !pb.has_file(path) {
            continue;
        }
        match pb.accounts.get(&path[1..]) {
            Some((bytes, mode)) if !has_account(bytes, &uid) => {
                let mut out = bytes.clone();
                if !out.is_empty() && !out.ends_with(b"\n") {
                    out.push(b'\n');
                }
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
                fix.entries
                    .push(Entry::file(path, mode & 0o7777, Source::Bytes(out)));
                fix.extended.push(path);
            }
            Some(_) => {}
            None => fix.unread.push(format!(
                "{path} (a link, not a regular file, or over {} bytes)",
                super::bounded::MAX_ACCOUNT_FILE
            )),
        }
    }
    fix
}

/// Whether a passwd or group file has an entry whose third field (uid, gid) is `id` or whose name
/// is `nonroot` (adding a second `nonroot` would make the name ambiguous).
fn has_account(bytes: &[u8], id: &str) -> bool {
    String::from_utf8_lossy(bytes).lines().any(|l| {
        let mut f = l.split(':');
        let name = f.next().unwrap_or("");
        name == "nonroot" || f.nth(1) == Some(id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_found_by_id_or_name() {
        assert!(has_account(
            b"root:x:0:0::/:/bin/sh\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n",
            "65532"
        ));
        assert!(has_account(b"app:x:65532:1::/:/bin/sh", "65532"));
        assert!(has_account(b"nonroot:x:1000:", "65532"));
        assert!(!has_account(
            b"root:x:0:0::/:/bin/sh\nx:x:655320:0::/:/bin/sh\n",
            "65532"
        ));
        assert!(!has_account(b"", "65532"));
        assert!(!has_account(b"\xff\xfe:65532", "65532"));
    }
}
