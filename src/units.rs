//! Byte sizes as people write them: [`human_size`] gives `1.5 KiB` / `2.00 MiB` for messages and
//! summaries, [`parse_size`] reads `size-budget` values such as `"2 MiB"`, `"1500 KB"` or
//! `2000000`. A leaf: it imports nothing of the crate.

use anyhow::{bail, Result};

/// Bytes as KiB/MiB for people.
pub fn human_size(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.2} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

/// Parse a size: a number of bytes, optionally followed by B, KB/MB/GB (powers of 1000) or KiB/MiB/GiB
/// (powers of 1024); `k`, `m`, `g` alone mean KiB, MiB, GiB.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = match num.parse() {
        Ok(n) => n,
        Err(_) => {
            bail!("size `{s}` is not a size: write it like \"2 MiB\", \"1500 KB\" or 2000000")
        }
    };
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1000 * 1000,
        "gb" => 1000 * 1000 * 1000,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        other => bail!("size `{s}`: unknown unit `{other}` (use B, KB, MB, GB, KiB, MiB or GiB)"),
    };
    Ok((n * mult as f64).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("2 MiB").unwrap(), 2 * 1024 * 1024);
        assert_eq!(parse_size("1500KB").unwrap(), 1_500_000);
        assert_eq!(parse_size("2000000").unwrap(), 2_000_000);
        assert_eq!(parse_size("1.5m").unwrap(), 1_572_864);
        assert!(parse_size("big").is_err());
        assert!(parse_size("2 MiBs")
            .unwrap_err()
            .to_string()
            .contains("MiBs"));
    }

    #[test]
    fn sizes_print() {
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(2 * 1024 * 1024), "2.00 MiB");
    }
}
