//! The cleanup on SIGINT, SIGTERM and SIGHUP: every temp (and held lock file) of this run is removed
//! and the process exits with 128 + the signal.
//!
//! Takes the registry of live paths (`temp::live`), which a commit in progress holds, so
//! the cleanup waits for it; gives the installed handler thread.

use super::temp::{live, remove_path};
use anyhow::{Context, Result};

/// Whether `sig` is ignored (`SIG_IGN`), e.g. SIGHUP under `nohup`.
fn ignored(sig: i32) -> bool {
    // SAFETY: a zeroed sigaction is a valid out-parameter; a null new action only queries.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) };
    r == 0 && old.sa_sigaction == libc::SIG_IGN
}

/// On SIGINT, SIGTERM or SIGHUP (the terminal or ssh session went away): wait for a commit in
/// progress, remove every temp (and held lock file) of this run, and exit with 128 + the signal (130,
/// 143, 129). SIGHUP ignored when the run started (`nohup`) stays ignored. Installed once; later calls do nothing.
pub fn install_signal_cleanup() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if ONCE.get().is_some() {
        return Ok(());
    }
    // SIGHUP ignored when we started (`nohup`) stays ignored: the user asked the run to outlive the
    // terminal.
    let mut handled = vec![SIGINT, SIGTERM];
    if !ignored(SIGHUP) {
        handled.push(SIGHUP);
    }
    let mut signals = signal_hook::iterator::Signals::new(handled)
        .context("installing the SIGINT/SIGTERM/SIGHUP handler")?;
    let _ = ONCE.set(());
    std::thread::Builder::new()
        .name("slim-image-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let registry = live();
                for p in registry.iter().rev() {
                    // Tried again while it fails: the main thread keeps running and may have just
                    // added a file to a temp directory (remove_dir_all then meets a directory that
                    // is not empty). It cannot make a new temp, nor drop one, while this thread
                    // holds the registry, so its writing stops at the first file it cannot create
                    // (tests/outputs_attack.rs, SIGTERM while the layout is being written).
                    for _ in 0..100 {
                        if remove_path(p).is_ok() {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                }
                std::process::exit(128 + sig);
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}
