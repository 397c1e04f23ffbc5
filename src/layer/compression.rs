//! How a layer's tar stream is compressed: [`LayerCompression`], its media type, its layer-cache key
//! and the level a layer's size chooses. Takes the encoders' parameters from [`crate::compress`];
//! gives the value the layer builder compresses with and the layer cache keys entries by.

use crate::blob::media;
use crate::compress;

/// Layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    /// gzip at the given level (1-12): parallel, one member per MiB ([`crate::compress::ParallelGzip`]).
    Gzip(u32),
    /// gzip at the level [`compress::gzip_level_for`] picks from the layer's uncompressed size (the
    /// default): `layer::build` resolves it to [`LayerCompression::Gzip`] before anything is compressed.
    GzipBySize,
    /// zstd at the given level (1-22), multi-threaded mode.
    Zstd(i32),
}

impl LayerCompression {
    /// The layer media type this compression gives.
    pub fn media_type(self) -> &'static str {
        match self {
            LayerCompression::Gzip(_) | LayerCompression::GzipBySize => media::LAYER_GZIP,
            LayerCompression::Zstd(_) => media::LAYER_ZSTD,
        }
    }

    /// Everything that decides the compressed bytes for a given tar, as a file-name-safe key for the
    /// layer cache: algorithm, level, and the format version of our encoder (the parallel gzip piece
    /// size; the zstd library version, whose output may change between releases). `layer::build` asks it
    /// only of a resolved compression, so the key names the effective level; an unresolved
    /// [`LayerCompression::GzipBySize`] names the rule itself (its levels and thresholds), which with the
    /// diff_id decides the bytes just as well.
    pub fn cache_key(self) -> String {
        match self {
            LayerCompression::GzipBySize => format!(
                "gzip-by-size-{}-members{}-libdeflate{}",
                compress::gzip_rule_key(),
                compress::CHUNK,
                compress::LIBDEFLATE
            ),
            LayerCompression::Gzip(l) => {
                format!(
                    "gzip-{l}-members{}-libdeflate{}",
                    compress::CHUNK,
                    compress::LIBDEFLATE
                )
            }
            LayerCompression::Zstd(l) => {
                format!(
                    "zstd-{l}-mt{}-{}",
                    compress::zstd_stream::ZSTD_JOB,
                    zstd::zstd_safe::version_string()
                )
            }
        }
    }

    /// The compression for a layer whose tar stream is `uncompressed` bytes: the size's level for
    /// [`LayerCompression::GzipBySize`], else `self`.
    pub fn for_size(self, uncompressed: u64) -> LayerCompression {
        match self {
            LayerCompression::GzipBySize => {
                LayerCompression::Gzip(compress::gzip_level_for(uncompressed))
            }
            c => c,
        }
    }

    /// The level, once resolved (`None` for an unresolved [`LayerCompression::GzipBySize`]).
    pub fn level(self) -> Option<i32> {
        match self {
            LayerCompression::Gzip(l) => Some(l as i32),
            LayerCompression::Zstd(l) => Some(l),
            LayerCompression::GzipBySize => None,
        }
    }
}
