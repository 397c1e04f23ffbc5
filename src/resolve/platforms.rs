//! Which platforms an image is built for: `--platform`, then the `platforms` key, then
//! [`Platform::DEFAULT`] (linux/amd64, as ko and Jib), never the host's own architecture, which would
//! make an arm64 laptop push arm64-only images to amd64 clusters. The host only decides whether the
//! default deserves a note (it is not this machine's platform); it is passed in, so the rule is a
//! pure function tests can give any host.

use crate::host::Host;
use crate::platform::Platform;

/// The platforms of one image, and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The platforms, never empty.
    pub platforms: Vec<Platform>,
    /// Neither `--platform` nor `platforms` named any: [`Platform::DEFAULT`].
    pub default: bool,
}

/// The platforms from the flag (`cli`, parsed) or the key (`meta`, parsed; `None` or empty when
/// unset), else the default.
pub fn choose(cli: &[Platform], meta: Option<Vec<Platform>>) -> Chosen {
    if !cli.is_empty() {
        return Chosen {
            platforms: cli.to_vec(),
            default: false,
        };
    }
    match meta {
        Some(list) if !list.is_empty() => Chosen {
            platforms: list,
            default: false,
        },
        _ => Chosen {
            platforms: vec![Platform::DEFAULT],
            default: true,
        },
    }
}

/// The note for a run whose images took the default platform on `host`: `None` when the host's
/// CPU is the default's (the image runs here as it runs on the cluster).
pub fn default_note(host: &Host) -> Option<String> {
    let own = host.cpu_platform();
    if own == Some(Platform::DEFAULT) {
        return None;
    }
    let own = own.map_or_else(|| "one we do not build for".to_string(), |p| format!("{p}"));
    Some(format!(
        "building for {} (the default, as ko and Jib), not for this machine's {own} ({host}): \
         pass --platform linux/arm64 (or set platforms = [\"linux/amd64\", \"linux/arm64\"] in \
         [package.metadata.slim-image]) for an arm64 image",
        Platform::DEFAULT
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    const AMD: Platform = Platform::LinuxAmd64;
    const ARM: Platform = Platform::LinuxArm64;

    #[test]
    fn the_default_is_amd64_whatever_the_host() {
        let chosen = choose(&[], None);
        assert_eq!(chosen.platforms, [AMD]);
        assert!(chosen.default);
        assert_eq!(choose(&[], Some(vec![])), chosen);
        // The host plays no part in the choice; only in the note.
        for host in [
            Host::new("linux", "x86_64", None),
            Host::new("linux", "aarch64", None),
            Host::new("macos", "aarch64", None),
            Host::new("macos", "x86_64", None),
            Host::new("linux", "riscv64", None),
        ] {
            let note = default_note(&host);
            assert_eq!(note.is_none(), host.arch == "x86_64", "{host}: {note:?}");
            if let Some(n) = note {
                assert!(n.contains("building for linux/amd64 (the default"), "{n}");
                assert!(n.contains("--platform linux/arm64"), "{n}");
                assert!(n.contains(&host.to_string()), "{n}");
            }
        }
    }

    #[test]
    fn the_flag_wins_then_the_key() {
        assert_eq!(
            choose(&[ARM], Some(vec![AMD])),
            Chosen {
                platforms: vec![ARM],
                default: false
            }
        );
        assert_eq!(
            choose(&[], Some(vec![ARM, AMD])),
            Chosen {
                platforms: vec![ARM, AMD],
                default: false
            }
        );
    }
}
