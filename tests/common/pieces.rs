//! Checking output for pieces of secrets: a cut or a partial redaction still leaks, so no
//! 8-character window of any form of a secret may appear.

use std::process::{Command, Output};

/// Fail when any 8-character piece of any of `secrets` is in stdout or stderr.
pub fn assert_no_piece(out: &Output, secrets: &[String]) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for s in secrets {
        let chars: Vec<char> = s.chars().collect();
        for w in chars.windows(8.min(chars.len()).max(1)) {
            let piece: String = w.iter().collect();
            assert!(
                !stdout.contains(&piece) && !stderr.contains(&piece),
                "`{piece}` of the secret `{s}` leaked:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
            );
        }
    }
}

/// Run `c`, require exit 1, an empty stdout and no piece of `secrets`; return stderr.
pub fn fails_clean(c: &mut Command, secrets: &[String]) -> String {
    let out = super::slim::run(c);
    assert_no_piece(&out, secrets);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "stdout on failure");
    stderr
}
