//! What the plan says about provenance: the `--provenance` / `provenance` [`Choice`], the names
//! of what it makes that a sink recognises beside a layout ([`MEDIA_TYPE`], [`SUFFIX`]), and the
//! statement's in-toto types that signing names ([`STATEMENT_TYPE`], [`PREDICATE_TYPE`]). A leaf, so
//! the plan, the sinks and `sign::cosign` name them without importing the statement's code in
//! [`super`].

/// The referrer's `artifactType` and its layer's media type.
pub const MEDIA_TYPE: &str = "application/vnd.in-toto+json";
/// The file name suffix of a statement beside the layout.
pub const SUFFIX: &str = "provenance.json";
/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// `predicateType` of SLSA provenance v1.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";

/// `--provenance` / metadata `provenance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    /// An in-toto Statement with a SLSA provenance v1 predicate (the default).
    #[default]
    Slsa,
    /// No provenance.
    None,
}

impl Choice {
    /// Parse the metadata value (`origin` names it in errors).
    pub fn parse(s: &str, origin: &str) -> anyhow::Result<Choice> {
        match s.trim().to_ascii_lowercase().as_str() {
            "slsa" => Ok(Choice::Slsa),
            "none" | "false" | "off" => Ok(Choice::None),
            other => {
                anyhow::bail!(
                    "{origin}: provenance = `{other}` is not one of: slsa (default), none"
                )
            }
        }
    }

    /// The value as written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Slsa => "slsa",
            Choice::None => "none",
        }
    }
}
