//! What the plan says about tarballs: which [`Format`] `--tarball` writes. A leaf, so the plan
//! names it without importing the archive writer in `sink::archive`.

/// Which tarball format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// OCI layout in a tar (`podman load`, `skopeo copy oci-archive:`).
    #[default]
    Oci,
    /// docker-archive (`docker load`, `podman load`); also carries the OCI layout.
    Docker,
}

impl Format {
    /// The value as written on the command line (`--tarball-format`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Oci => "oci",
            Format::Docker => "docker",
        }
    }
}
