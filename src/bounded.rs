//! The one bounded read for every length an input can claim: take a stream and a limit, give at most
//! `limit + 1` bytes, so the caller can tell "fits" from "too big" without ever buffering more.
//!
//! A leaf module (imports nothing of the crate): the registry client (manifests), the blob store
//! (cached JSON blobs) and the base readers (`base::bounded`, which adds the named errors and the
//! limits for base images) all read through it.

use std::io::{self, Read};

/// Read `r` to its end or to `limit + 1` bytes, whichever comes first. More than `limit` bytes in
/// the result means the input is over the limit (nothing further was read).
pub fn read_at_most(r: impl Read, limit: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_byte_past_the_limit_and_no_more() {
        let data = [7u8; 100];
        assert_eq!(read_at_most(&data[..], 100).unwrap().len(), 100);
        assert_eq!(read_at_most(&data[..], 10).unwrap().len(), 11);
        assert_eq!(read_at_most(&data[..], u64::MAX).unwrap().len(), 100);
        assert!(read_at_most(&[][..], 0).unwrap().is_empty());
    }
}
