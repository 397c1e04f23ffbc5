//! Platforms: the `os/arch` pair an image runs on, and the Rust target triple that builds for it.
//!
//! The architecture always comes from the target triple, never from the host (oci-spec's default is the
//! host arch, which silently mislabels cross-built images).

use std::fmt;
use std::str::FromStr;

/// A container platform we can build for: `linux/amd64` or `linux/arm64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Platform {
    /// linux/amd64, built with `x86_64-unknown-linux-musl`.
    LinuxAmd64,
    /// linux/arm64 (variant v8), built with `aarch64-unknown-linux-musl`.
    LinuxArm64,
}

impl Platform {
    /// Every platform we support, in a fixed order.
    pub const ALL: [Platform; 2] = [Platform::LinuxAmd64, Platform::LinuxArm64];

    /// The platform of an image whose build names none (no `--platform`, no `platforms` key):
    /// linux/amd64 whatever the host, as ko and Jib do, so an arm64 laptop does not push
    /// arm64-only images to amd64 clusters.
    pub const DEFAULT: Platform = Platform::LinuxAmd64;

    /// The static musl Rust target triple for this platform.
    pub fn rust_target(self) -> &'static str {
        match self {
            Platform::LinuxAmd64 => "x86_64-unknown-linux-musl",
            Platform::LinuxArm64 => "aarch64-unknown-linux-musl",
        }
    }

    /// The OCI `os` value.
    pub fn os(self) -> &'static str {
        "linux"
    }

    /// The OCI `architecture` value (GOARCH spelling).
    pub fn architecture(self) -> &'static str {
        match self {
            Platform::LinuxAmd64 => "amd64",
            Platform::LinuxArm64 => "arm64",
        }
    }

    /// The OCI `variant` value, where one is conventional.
    pub fn variant(self) -> Option<&'static str> {
        match self {
            Platform::LinuxAmd64 => None,
            Platform::LinuxArm64 => Some("v8"),
        }
    }

    /// The ELF `e_machine` value binaries for this platform must carry.
    pub fn elf_machine(self) -> u16 {
        match self {
            Platform::LinuxAmd64 => 62,  // EM_X86_64
            Platform::LinuxArm64 => 183, // EM_AARCH64
        }
    }

    /// The platform a Rust target triple builds for, if we support it.
    pub fn from_rust_target(triple: &str) -> Option<Platform> {
        Platform::ALL
            .into_iter()
            .find(|p| p.rust_target() == triple)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os(), self.architecture())
    }
}

/// Error for a platform string we cannot build for.
#[derive(Debug, thiserror::Error)]
#[error("unsupported platform `{0}`: expected linux/amd64 or linux/arm64 (also accepted: amd64, arm64, x86_64, aarch64, linux/arm64/v8)")]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "linux/amd64" | "amd64" | "x86_64" | "linux/x86_64" => Ok(Platform::LinuxAmd64),
            "linux/arm64" | "linux/arm64/v8" | "arm64" | "aarch64" | "linux/aarch64" => {
                Ok(Platform::LinuxArm64)
            }
            _ => Err(UnknownPlatform(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!(
            "linux/arm64".parse::<Platform>().unwrap(),
            Platform::LinuxArm64
        );
        assert_eq!("amd64".parse::<Platform>().unwrap(), Platform::LinuxAmd64);
        assert_eq!(Platform::LinuxArm64.to_string(), "linux/arm64");
        assert!("windows/amd64".parse::<Platform>().is_err());
        assert_eq!(
            Platform::from_rust_target("aarch64-unknown-linux-musl"),
            Some(Platform::LinuxArm64)
        );
    }
}
