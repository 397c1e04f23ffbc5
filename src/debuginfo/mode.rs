//! What the plan says about debug info: the [`Mode`] of `debuginfo` / `--debuginfo`, and the names
//! of what `split` makes that a sink recognises beside a layout ([`ARTIFACT_TYPE`],
//! [`FILE_MEDIA_TYPE`]). A leaf, so the plan, the config checks and the sinks name them without
//! importing the ELF work in [`super`].

/// `artifactType` of the debug-info referrer of an image manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.cargo-slim-image.debuginfo.v1";

/// Media type of each of its layers: one ELF debug file (`objcopy --only-keep-debug` output).
pub const FILE_MEDIA_TYPE: &str = "application/vnd.cargo-slim-image.debuginfo.v1+elf";

/// What to do with a binary's DWARF (`debuginfo` / `--debuginfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Out of the image, into a `<binary>.debug` file beside it (`.gnu_debuglink` to it).
    #[default]
    Split,
    /// In the image, as built.
    Keep,
    /// Out of the image and thrown away.
    Drop,
}

impl Mode {
    /// The value as written in metadata and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Split => "split",
            Mode::Keep => "keep",
            Mode::Drop => "drop",
        }
    }

    /// Parse a metadata value; the error says which values there are.
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "split" => Ok(Mode::Split),
            "keep" => Ok(Mode::Keep),
            "drop" => Ok(Mode::Drop),
            other => Err(format!(
                "`{other}` is not a debuginfo mode: use \"split\" (the default), \"keep\" or \"drop\""
            )),
        }
    }
}
