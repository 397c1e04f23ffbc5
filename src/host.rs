//! The machine cargo slim-image runs on: its OS, its CPU and (on Linux) its distribution's package
//! manager, read once ([`Host::current`]) and then passed around as a value, so every decision that
//! depends on it (is a build for a platform native or cross? which command installs a missing tool?)
//! is a pure function that tests can give any host.
//!
//! A Linux platform is native only on a Linux host of the same CPU: on macOS (or any other OS) every
//! `linux/*` target is cross, whatever the CPU, because the host's C compiler and linker make
//! Mach-O (or other) binaries, not Linux ones.
//!
//! Which programs it has: [`program`], the one lookup on `PATH`.

use crate::platform::Platform;
use std::fmt;

pub mod program;

/// The operating system of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Os {
    /// Linux: a build for the platform of its own CPU is native.
    Linux,
    /// macOS: every Linux target is cross.
    MacOs,
    /// Anything else (`std::env::consts::OS` spelling): every Linux target is cross.
    Other(String),
}

/// The package manager whose commands the hints for missing tools give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageManager {
    /// Debian, Ubuntu and their derivatives.
    Apt,
    /// Fedora, RHEL, CentOS, Rocky, Alma.
    Dnf,
    /// Alpine.
    Apk,
    /// Arch and its derivatives.
    Pacman,
    /// Homebrew, on macOS.
    Brew,
    /// None we know: the hints say what to install, not how.
    Unknown,
}

/// A tool a build may need that is installed with the system's package manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `musl-gcc`, the C compiler for C code on the host's own platform.
    MuslGcc,
    /// `cargo-zigbuild` (and zig), for C code of another platform.
    Zigbuild,
    /// perl and make, which OpenSSL's build runs.
    PerlMake,
}

/// The machine we run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Its OS.
    pub os: Os,
    /// Its CPU, in Rust's spelling (`x86_64`, `aarch64`, ...).
    pub arch: String,
    /// Its package manager.
    pub package_manager: PackageManager,
}

impl Host {
    /// This machine: `std::env::consts` and, on Linux, `/etc/os-release` (at most 64 KiB read).
    pub fn current() -> Host {
        let os = std::env::consts::OS;
        let release = (os == "linux")
            .then(|| {
                let f = std::fs::File::open("/etc/os-release")
                    .or_else(|_| std::fs::File::open("/usr/lib/os-release"))
                    .ok()?;
                crate::bounded::read_at_most(f, 64 * 1024).ok()
            })
            .flatten();
        let release = release.map(|b| String::from_utf8_lossy(&b).into_owned());
        Host::new(os, std::env::consts::ARCH, release.as_deref())
    }

    /// A host from `std::env::consts::OS`/`ARCH`-style values and the text of its
    /// `/etc/os-release`, if any.
    pub fn new(os: &str, arch: &str, os_release: Option<&str>) -> Host {
        let parsed = match os {
            "linux" => Os::Linux,
            "macos" => Os::MacOs,
            other => Os::Other(other.to_string()),
        };
        Host {
            package_manager: package_manager(&parsed, os_release),
            os: parsed,
            arch: arch.to_string(),
        }
    }

    /// A Linux host of `platform`'s CPU with an unknown package manager (for tests and examples).
    pub fn linux(platform: Platform) -> Host {
        let arch = match platform {
            Platform::LinuxAmd64 => "x86_64",
            Platform::LinuxArm64 => "aarch64",
        };
        Host::new("linux", arch, None)
    }

    /// The Linux platform of this CPU, whatever the OS: what a Linux VM on it runs (Docker Desktop
    /// on an Apple Silicon Mac runs linux/arm64).
    pub fn cpu_platform(&self) -> Option<Platform> {
        match self.arch.as_str() {
            "x86_64" => Some(Platform::LinuxAmd64),
            "aarch64" => Some(Platform::LinuxArm64),
            _ => None,
        }
    }

    /// The platform this machine runs natively, if it is one we build for: only on Linux.
    pub fn native_platform(&self) -> Option<Platform> {
        (self.os == Os::Linux)
            .then(|| self.cpu_platform())
            .flatten()
    }

    /// Whether building for `platform` is cross-compiling here (see the module docs).
    pub fn is_cross(&self, platform: Platform) -> bool {
        self.native_platform() != Some(platform)
    }

    /// The command that installs `tool` here, or what to install where no package manager is known.
    pub fn install_hint(&self, tool: Tool) -> String {
        install_hint(self.package_manager, tool)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.os {
            Os::Linux => write!(f, "Linux {}", self.arch),
            Os::MacOs => write!(f, "macOS {}", self.arch),
            Os::Other(os) => write!(f, "{os} {}", self.arch),
        }
    }
}

/// The package manager of a host: brew on macOS; on Linux from `/etc/os-release`'s `ID` and
/// `ID_LIKE` (the first we know wins, so a derivative gets its parent's); else unknown.
pub fn package_manager(os: &Os, os_release: Option<&str>) -> PackageManager {
    match os {
        Os::MacOs => return PackageManager::Brew,
        Os::Other(_) => return PackageManager::Unknown,
        Os::Linux => {}
    }
    let mut ids: Vec<String> = Vec::new();
    for key in ["ID", "ID_LIKE"] {
        let value = os_release
            .into_iter()
            .flat_map(str::lines)
            .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='));
        if let Some(v) = value {
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            ids.extend(v.split_whitespace().map(str::to_ascii_lowercase));
        }
    }
    ids.iter()
        .find_map(|id| match id.as_str() {
            "debian" | "ubuntu" => Some(PackageManager::Apt),
            "fedora" | "rhel" | "centos" | "rocky" | "almalinux" => Some(PackageManager::Dnf),
            "alpine" => Some(PackageManager::Apk),
            "arch" | "archlinux" | "manjaro" => Some(PackageManager::Pacman),
            _ => None,
        })
        .unwrap_or(PackageManager::Unknown)
}

/// How to install `tool` with `pm`.
pub fn install_hint(pm: PackageManager, tool: Tool) -> String {
    use PackageManager::*;
    // cargo-zigbuild from PyPI brings a zig of its own (the `ziglang` package); where the system
    // packages zig, cargo-zigbuild itself comes from crates.io.
    let zig = |install_zig: &str| {
        format!("{install_zig} and `cargo install --locked cargo-zigbuild` (or `pip install cargo-zigbuild`, which brings zig)")
    };
    match (tool, pm) {
        (Tool::MuslGcc, Apt) => "`apt-get install musl-tools`".into(),
        (Tool::MuslGcc, Dnf) => "`dnf install musl-gcc`".into(),
        (Tool::MuslGcc, Pacman) => "`pacman -S musl`".into(),
        // Alpine's own gcc compiles for musl; it has no musl-gcc wrapper.
        (Tool::MuslGcc, Apk) => "`apk add build-base` (Alpine's gcc targets musl) and set CC_<triple>=gcc, e.g. CC_x86_64_unknown_linux_musl=gcc".into(),
        (Tool::MuslGcc, Brew | Unknown) => {
            "musl-gcc (musl's gcc wrapper, e.g. Debian's musl-tools package)".into()
        }
        (Tool::Zigbuild, Dnf) => zig("`dnf install zig`"),
        (Tool::Zigbuild, Apk) => zig("`apk add zig`"),
        (Tool::Zigbuild, Pacman) => zig("`pacman -S zig`"),
        (Tool::Zigbuild, Brew) => zig("`brew install zig`"),
        (Tool::Zigbuild, Apt | Unknown) => "`pip install cargo-zigbuild` (it brings zig)".into(),
        (Tool::PerlMake, Apt) => "`apt-get install perl make`".into(),
        (Tool::PerlMake, Dnf) => "`dnf install perl make`".into(),
        (Tool::PerlMake, Apk) => "`apk add perl make`".into(),
        (Tool::PerlMake, Pacman) => "`pacman -S perl make`".into(),
        (Tool::PerlMake, Brew) => "`brew install perl make`".into(),
        (Tool::PerlMake, Unknown) => "perl and make".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linux_target_is_native_only_on_linux_of_its_cpu() {
        let amd = Host::new("linux", "x86_64", None);
        assert!(!amd.is_cross(Platform::LinuxAmd64));
        assert!(amd.is_cross(Platform::LinuxArm64));
        let arm = Host::new("linux", "aarch64", None);
        assert!(!arm.is_cross(Platform::LinuxArm64));
        // Apple Silicon: same CPU as linux/arm64, still cross (the host cc makes Mach-O).
        let mac = Host::new("macos", "aarch64", None);
        assert_eq!(mac.native_platform(), None);
        assert_eq!(mac.cpu_platform(), Some(Platform::LinuxArm64));
        assert!(mac.is_cross(Platform::LinuxArm64));
        assert!(mac.is_cross(Platform::LinuxAmd64));
        assert_eq!(mac.to_string(), "macOS aarch64");
        let riscv = Host::new("linux", "riscv64", None);
        assert!(Platform::ALL.iter().all(|&p| riscv.is_cross(p)));
        let bsd = Host::new("freebsd", "x86_64", None);
        assert!(bsd.is_cross(Platform::LinuxAmd64));
        assert_eq!(bsd.package_manager, PackageManager::Unknown);
    }

    #[test]
    fn the_package_manager_comes_from_os_release() {
        let pm = |text: &str| Host::new("linux", "x86_64", Some(text)).package_manager;
        assert_eq!(
            pm("NAME=\"Debian GNU/Linux\"\nID=debian\n"),
            PackageManager::Apt
        );
        assert_eq!(pm("ID=ubuntu\nID_LIKE=debian\n"), PackageManager::Apt);
        assert_eq!(
            pm("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n"),
            PackageManager::Apt
        );
        assert_eq!(pm("ID=fedora\n"), PackageManager::Dnf);
        assert_eq!(
            pm("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n"),
            PackageManager::Dnf
        );
        assert_eq!(pm("ID=alpine\n"), PackageManager::Apk);
        assert_eq!(pm("ID=arch\n"), PackageManager::Pacman);
        assert_eq!(pm("ID=endeavouros\nID_LIKE=arch\n"), PackageManager::Pacman);
        assert_eq!(pm("ID=nixos\n"), PackageManager::Unknown);
        assert_eq!(pm(""), PackageManager::Unknown);
        // VERSION_ID= must not be read as ID=.
        assert_eq!(pm("VERSION_ID=12\n"), PackageManager::Unknown);
        assert_eq!(
            Host::new("linux", "x86_64", None).package_manager,
            PackageManager::Unknown
        );
        assert_eq!(
            Host::new("macos", "aarch64", Some("ID=debian")).package_manager,
            PackageManager::Brew
        );
    }

    #[test]
    fn hints_name_the_hosts_package_manager() {
        let hint = |os, release| Host::new(os, "x86_64", release).install_hint(Tool::MuslGcc);
        assert_eq!(
            hint("linux", Some("ID=debian")),
            "`apt-get install musl-tools`"
        );
        assert_eq!(hint("linux", Some("ID=fedora")), "`dnf install musl-gcc`");
        assert_eq!(hint("linux", Some("ID=arch")), "`pacman -S musl`");
        assert!(hint("linux", Some("ID=alpine")).contains("apk add build-base"));
        let zig = Host::new("macos", "aarch64", None).install_hint(Tool::Zigbuild);
        assert!(zig.contains("brew install zig"), "{zig}");
        assert!(
            zig.contains("cargo install --locked cargo-zigbuild"),
            "{zig}"
        );
        let zig = Host::new("linux", "x86_64", Some("ID=ubuntu")).install_hint(Tool::Zigbuild);
        assert_eq!(zig, "`pip install cargo-zigbuild` (it brings zig)");
        let pm = Host::new("linux", "x86_64", Some("ID=fedora")).install_hint(Tool::PerlMake);
        assert_eq!(pm, "`dnf install perl make`");
    }
}
