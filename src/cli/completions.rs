//! `cargo slim-image completions`: its argument, raw.

use clap::Args;

/// `cargo slim-image completions`.
#[derive(Debug, Args, Clone)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
