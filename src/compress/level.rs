//! The default gzip level of a layer, from its uncompressed size: the most effort where it is cheap
//! (small and medium layers, compressed once and then served by the layer cache), less where it would
//! cost seconds (large layers). Pure: a size in, a level out.

/// The default gzip level by the layer's uncompressed (tar) size: the first row whose bound (bytes,
/// inclusive) the size is within gives the level; a larger layer gets [`GZIP_LEVEL_LARGE`]. Measured
/// with `scripts/bench.sh --levels` (table and reasoning in README, "Compression level by layer
/// size"). Part of the output: changing a row changes the digests of the layers it covers (the layer
/// cache keys name the effective level, so no stale layer is served).
///
/// - up to 4 MB, level 12, libdeflate's smallest (3-4.5% smaller than level 6 on binaries; 5-8 MB/s
///   of CPU, so at most about 0.7 s of CPU, once: the layer cache serves it afterwards);
/// - up to 16 MB, level 6 (50-85 MB/s; level 9 costs 2-3.5x its CPU to save under 1%, levels 10-11
///   are within 0.2% of 12 at 55-85% of its CPU);
/// - larger, level 4 (about 100 MB/s, 2.5-3% larger than 6): a 35 MB layer stays at about 0.3 s.
pub const GZIP_LEVEL_BY_SIZE: [(u64, u32); 2] = [(4_000_000, 12), (16_000_000, 6)];

/// The default gzip level of a layer larger than every row of [`GZIP_LEVEL_BY_SIZE`].
pub const GZIP_LEVEL_LARGE: u32 = 4;

/// The default gzip level for a layer whose tar stream is `uncompressed` bytes.
pub fn gzip_level_for(uncompressed: u64) -> u32 {
    GZIP_LEVEL_BY_SIZE
        .iter()
        .find(|&&(bound, _)| uncompressed <= bound)
        .map_or(GZIP_LEVEL_LARGE, |&(_, level)| level)
}

/// The size rule as a file-name-safe string (`12le4000000-6le16000000-4`), for cache keys.
pub fn gzip_rule_key() -> String {
    let mut key: String = GZIP_LEVEL_BY_SIZE
        .iter()
        .map(|(bound, level)| format!("{level}le{bound}-"))
        .collect();
    key.push_str(&GZIP_LEVEL_LARGE.to_string());
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::MAX_GZIP_LEVEL;

    #[test]
    fn the_level_follows_the_size_rule_at_its_bounds() {
        let mut below = 0;
        for &(bound, level) in &GZIP_LEVEL_BY_SIZE {
            assert!(bound > below, "the rows go up in size");
            assert!((1..=MAX_GZIP_LEVEL).contains(&level));
            assert_eq!(gzip_level_for(below + 1), level);
            assert_eq!(gzip_level_for(bound), level);
            below = bound;
        }
        assert_eq!(gzip_level_for(below + 1), GZIP_LEVEL_LARGE);
        assert_eq!(gzip_level_for(u64::MAX), GZIP_LEVEL_LARGE);
        assert_eq!(gzip_level_for(0), GZIP_LEVEL_BY_SIZE[0].1);
        // Larger layers never get more effort than smaller ones.
        let levels: Vec<u32> = GZIP_LEVEL_BY_SIZE.iter().map(|r| r.1).collect();
        assert!(levels.windows(2).all(|w| w[0] >= w[1]));
        assert!(levels.last() >= Some(&GZIP_LEVEL_LARGE));
    }
}
