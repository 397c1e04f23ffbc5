//! The flags that are no image's own, checked and turned into the plan's values: the cargo flags
//! ([`BuildFlags`]), the layer compression, the registry client options, and the domain value of
//! each enum flag (`cli` has its own enums, so nothing below `resolve` knows clap).

use crate::cli::{
    BuildArgs, CToolchainArg, Cli, ColorArg, CompressionArg, DebuginfoArg, OutputArgs,
    ProvenanceArg, SbomArg, TarballFormat,
};
use crate::compile::c_toolchain::Choice as CToolchain;
use crate::layer::LayerCompression;
use crate::plan::BuildFlags;
use anyhow::Result;

/// zstd level for `--compression zstd`: 3 is zstd's own default, smaller than gzip -6 and faster.
pub const ZSTD_LEVEL: i32 = 3;

/// The cargo flags of `cli` (`-v`, `-q` from the whole command line).
pub fn build_flags(cli: &Cli) -> BuildFlags {
    let b: &BuildArgs = &cli.build;
    BuildFlags {
        features: b.features.clone(),
        all_features: b.all_features,
        no_default_features: b.no_default_features,
        profile: b.profile.clone(),
        locked: b.locked,
        frozen: b.frozen,
        offline: b.offline,
        verbose: cli.verbose,
        quiet: cli.quiet,
    }
}

/// The layer compression the flags ask for (`--compression`, `--compression-level`), checked.
pub fn layer_compression(o: &OutputArgs) -> Result<LayerCompression> {
    use crate::compress::MAX_GZIP_LEVEL;
    const MAX_GZIP: i32 = MAX_GZIP_LEVEL as i32;
    Ok(match (o.compression, o.compression_level) {
        // The level by layer size (compress::GZIP_LEVEL_BY_SIZE), resolved per layer.
        (CompressionArg::Gzip, None) => LayerCompression::GzipBySize,
        (CompressionArg::Gzip, Some(l @ 1..=MAX_GZIP)) => LayerCompression::Gzip(l as u32),
        (CompressionArg::Zstd, None) => LayerCompression::Zstd(ZSTD_LEVEL),
        (CompressionArg::Zstd, Some(l @ 1..=19)) => LayerCompression::Zstd(l),
        (c, Some(l)) => anyhow::bail!(
            "--compression-level {l} is out of range for {}: use 1-{MAX_GZIP_LEVEL} for gzip, 1-19 for zstd",
            match c {
                CompressionArg::Gzip => "gzip",
                CompressionArg::Zstd => "zstd",
            }
        ),
    })
}

/// Registry client options from the command line (`--insecure-registry`, `--registry-ca`,
/// `--retries`, `--timeout`); credentials from the environment.
pub fn client_options(o: &OutputArgs) -> crate::registry::ClientOptions {
    crate::registry::ClientOptions {
        insecure_registries: o.insecure_registry.clone(),
        registry_ca: o.registry_ca.clone(),
        tuning: crate::registry::Tuning {
            retries: o.retries,
            io_timeout: std::time::Duration::from_secs(o.timeout.max(1)),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// `--c-toolchain`.
pub fn c_toolchain(c: CToolchainArg) -> CToolchain {
    match c {
        CToolchainArg::Auto => CToolchain::Auto,
        CToolchainArg::MuslGcc => CToolchain::MuslGcc,
        CToolchainArg::Zig => CToolchain::Zig,
        CToolchainArg::RustLld => CToolchain::RustLld,
    }
}

/// `--sbom`.
pub fn sbom(c: SbomArg) -> crate::sbom::Choice {
    match c {
        SbomArg::Spdx => crate::sbom::Choice::Spdx,
        SbomArg::Cyclonedx => crate::sbom::Choice::Cyclonedx,
        SbomArg::None => crate::sbom::Choice::None,
    }
}

/// `--provenance`.
pub fn provenance(c: ProvenanceArg) -> crate::provenance::Choice {
    match c {
        ProvenanceArg::Slsa => crate::provenance::Choice::Slsa,
        ProvenanceArg::None => crate::provenance::Choice::None,
    }
}

/// `--debuginfo`.
pub fn debuginfo(c: DebuginfoArg) -> crate::debuginfo::Mode {
    match c {
        DebuginfoArg::Split => crate::debuginfo::Mode::Split,
        DebuginfoArg::Keep => crate::debuginfo::Mode::Keep,
        DebuginfoArg::Drop => crate::debuginfo::Mode::Drop,
    }
}

/// `--tarball-format`.
pub fn tarball_format(c: TarballFormat) -> crate::sink::tarball_format::Format {
    match c {
        TarballFormat::Oci => crate::sink::tarball_format::Format::Oci,
        TarballFormat::Docker => crate::sink::tarball_format::Format::Docker,
    }
}

/// `--color`.
pub fn colour(c: ColorArg) -> crate::ui::colour::When {
    match c {
        ColorArg::Auto => crate::ui::colour::When::Auto,
        ColorArg::Always => crate::ui::colour::When::Always,
        ColorArg::Never => crate::ui::colour::When::Never,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// Each flag value maps to the domain value of the same spelling (the one metadata keys use).
    #[test]
    fn flags_and_keys_spell_their_values_alike() {
        let name = |v: &dyn Fn() -> Option<clap::builder::PossibleValue>| {
            v().map(|p| p.get_name().to_string()).unwrap_or_default()
        };
        for c in CToolchainArg::value_variants() {
            assert_eq!(name(&|| c.to_possible_value()), c_toolchain(*c).name());
        }
        for c in DebuginfoArg::value_variants() {
            assert_eq!(name(&|| c.to_possible_value()), debuginfo(*c).as_str());
        }
        for c in ProvenanceArg::value_variants() {
            assert_eq!(name(&|| c.to_possible_value()), provenance(*c).as_str());
        }
        for c in TarballFormat::value_variants() {
            assert_eq!(name(&|| c.to_possible_value()), tarball_format(*c).name());
        }
        for c in SbomArg::value_variants() {
            let n = name(&|| c.to_possible_value());
            assert_eq!(
                crate::sbom::Choice::parse(&n, "test").unwrap(),
                sbom(*c),
                "{n}"
            );
        }
    }

    #[test]
    fn compression_levels_are_checked_by_algorithm() {
        let o = |c, l| OutputArgs {
            compression: c,
            compression_level: l,
            ..OutputArgs::default()
        };
        assert_eq!(
            layer_compression(&o(CompressionArg::Gzip, None)).unwrap(),
            LayerCompression::GzipBySize
        );
        assert_eq!(
            layer_compression(&o(CompressionArg::Zstd, Some(19))).unwrap(),
            LayerCompression::Zstd(19)
        );
        let e = layer_compression(&o(CompressionArg::Gzip, Some(13))).unwrap_err();
        assert!(e.to_string().contains("out of range for gzip"), "{e}");
    }
}
