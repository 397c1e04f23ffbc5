//! What the plan says about SBOMs: the `--sbom` / `sbom` [`Choice`] and the document [`Format`] it
//! picks, with the format's media type and file suffix. A leaf, so the plan, the report and the
//! sinks name the setting without importing the documents' code in [`super`].

/// Which SBOM to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// SPDX 2.3 JSON (`application/spdx+json`).
    #[default]
    Spdx,
    /// CycloneDX 1.5 JSON (`application/vnd.cyclonedx+json`).
    Cyclonedx,
}

impl Format {
    /// The media type of the document (also the referrer's `artifactType`).
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Spdx => "application/spdx+json",
            Format::Cyclonedx => "application/vnd.cyclonedx+json",
        }
    }

    /// The file name suffix, e.g. `spdx.json`.
    pub fn suffix(self) -> &'static str {
        match self {
            Format::Spdx => "spdx.json",
            Format::Cyclonedx => "cdx.json",
        }
    }
}

/// `--sbom` / metadata `sbom`: a format, or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// SPDX 2.3 JSON.
    Spdx,
    /// CycloneDX 1.5 JSON.
    Cyclonedx,
    /// No SBOM.
    None,
}

impl Choice {
    /// The format, or `None` for no SBOM.
    pub fn format(self) -> Option<Format> {
        match self {
            Choice::Spdx => Some(Format::Spdx),
            Choice::Cyclonedx => Some(Format::Cyclonedx),
            Choice::None => None,
        }
    }

    /// Parse the metadata value (`origin` names it in errors).
    pub fn parse(s: &str, origin: &str) -> anyhow::Result<Choice> {
        match s.trim().to_ascii_lowercase().as_str() {
            "spdx" => Ok(Choice::Spdx),
            "cyclonedx" => Ok(Choice::Cyclonedx),
            "none" | "false" | "off" => Ok(Choice::None),
            other => anyhow::bail!(
                "{origin}: sbom = `{other}` is not one of: spdx (default), cyclonedx, none"
            ),
        }
    }
}
