//! Sizes on the command line.

use anyhow::{Result, bail};

/// Parses a size: a bare number is in `default_unit_mib` MiB; `K`, `M`,
/// `G`, `T` suffixes (with an optional `i` and/or `B`) are binary units.
/// Returns MiB.
pub fn parse_mib(text: &str, default_unit_mib: u64) -> Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = match num.parse() {
        Ok(n) => n,
        Err(_) => bail!("invalid size {text:?}"),
    };
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit.trim_end_matches('B').trim_end_matches('I');
    let mib = match unit {
        "" => n.checked_mul(default_unit_mib),
        "K" => Some(n / 1024),
        "M" => Some(n),
        "G" => n.checked_mul(1024),
        "T" => n.checked_mul(1024 * 1024),
        _ => bail!("invalid size {text:?}: unknown unit"),
    };
    match mib {
        Some(v) => Ok(v),
        None => bail!("size {text:?} is too large"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_mib("2048", 1).expect("ok"), 2048);
        assert_eq!(parse_mib("2G", 1).expect("ok"), 2048);
        assert_eq!(parse_mib("512MiB", 1).expect("ok"), 512);
        assert_eq!(parse_mib("64", 1024).expect("ok"), 64 * 1024);
        assert_eq!(parse_mib("1T", 1).expect("ok"), 1 << 20);
        assert!(parse_mib("x", 1).is_err());
        assert!(parse_mib("5Q", 1).is_err());
    }
}
