//! `cargo slim-image verify`: its arguments, raw (the build flags after IMAGE are parsed by
//! `join::build_flags`).

use clap::Args;

/// `cargo slim-image verify`.
#[derive(Debug, Args, Clone)]
pub struct VerifyArgs {
    /// The image to check: REGISTRY/NAME[:TAG][@DIGEST], oci:DIR[:TAG] or oci-archive:FILE[:TAG].
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The flags the image was built with, as for a build (-p, --bin, --platform, --base,
    /// --features, --profile, --env, ...); they may come before `verify` instead. Outputs
    /// (--output, --tarball, --load, --push) are ignored: verify writes and pushes nothing.
    #[arg(
        value_name = "BUILD FLAGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub build: Vec<String>,
}
