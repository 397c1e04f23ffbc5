//! The one way results reach stdout (the references, paths, YAML or JSON a run prints): written
//! whole, then flushed. A reader that went away first (`cargo slim-image ... | true`: EPIPE) is an
//! error that says so and what was already `done` (exit 1), not a panic (exit 101, "a bug") as
//! `print!` gives; so is a stdout that cannot take them (`> /dev/full`).

use std::io::Write as _;

/// Write `text` to stdout; `done` says in the error what the run did before it (e.g. "the outputs
/// were written", "nothing was built or written").
pub fn results(text: &str, done: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::BrokenPipe {
                "the program reading it exited before it read them"
            } else {
                // A full disk (`> /dev/full`), a closed or bad descriptor: the cause says which.
                "stdout did not take them"
            };
            anyhow::anyhow!(e).context(format!("writing the results to stdout: {why} ({done})"))
        })
}
