//! `cargo slim-image debuginfo`: its arguments, raw.

use clap::Args;
use std::path::PathBuf;

/// `cargo slim-image debuginfo`.
#[derive(Debug, Args, Clone)]
pub struct DebuginfoArgs {
    /// The image: REGISTRY/NAME[:TAG][@DIGEST], oci:DIR[:TAG] or oci-archive:FILE[:TAG].
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Where to write the `<binary>.debug` files: a new or empty directory.
    #[arg(short = 'o', long, value_name = "DIR")]
    pub output: PathBuf,
}
