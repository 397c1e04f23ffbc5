//! A layer made on another thread and joined the first time an image needs it, not before.
//!
//! The base-files layers (with and without the CA bundle, ~30 ms at level 12) and the zoneinfo layer do
//! not depend on the build. They are started before cargo runs; with `--binary` there is no build to
//! hide them behind, so joining them up front made the main thread wait before it could read and split
//! the binary. Joined lazily, they are made while the application layer is.

use anyhow::Result;
use std::sync::{Mutex, OnceLock};
use std::thread::ScopedJoinHandle;

/// The result of a scoped thread, taken once and then shared.
pub(super) struct Pending<'scope, T> {
    handle: Mutex<Option<ScopedJoinHandle<'scope, Result<T>>>>,
    done: OnceLock<Result<T>>,
}

impl<'scope, T> Pending<'scope, T> {
    pub(super) fn new(handle: ScopedJoinHandle<'scope, Result<T>>) -> Self {
        Pending {
            handle: Mutex::new(Some(handle)),
            done: OnceLock::new(),
        }
    }

    /// The thread's value, joining it on the first call (a panic on it is resumed here). An error is
    /// returned as text with its whole chain, as often as it is asked for.
    pub(super) fn get(&self) -> Result<&T> {
        let done = self.done.get_or_init(|| {
            let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
            match handle {
                Some(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                None => Err(anyhow::anyhow!(
                    "internal error: a pending layer was joined twice"
                )),
            }
        });
        done.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_is_joined_once_and_errors_keep_their_chain() {
        std::thread::scope(|s| {
            let ok = Pending::new(s.spawn(|| Ok(7)));
            assert_eq!(*ok.get().unwrap(), 7);
            assert_eq!(*ok.get().unwrap(), 7);
            let bad: Pending<'_, u8> = Pending::new(s.spawn(|| {
                Err(anyhow::anyhow!("inner")).map_err(|e| e.context("making the base-files layer"))
            }));
            for _ in 0..2 {
                let e = bad.get().unwrap_err().to_string();
                assert_eq!(e, "making the base-files layer: inner");
            }
        });
    }
}
