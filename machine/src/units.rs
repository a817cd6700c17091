//! Sizes as people write them (`2G`, `512MiB`, `4096`): the CLI's
//! `--memory` / `--disk` and the desktop app's settings read them alike.

use crate::error::{MachineError, Result};

/// Parses a size: a bare number is in `default_unit_mib` MiB; `K`, `M`,
/// `G`, `T` suffixes (with an optional `i` and/or `B`, any case) are
/// binary units. Returns MiB; an unknown unit, a missing number or an
/// overflow is [`MachineError::InvalidSetting`] naming `setting`.
pub fn parse_mib(setting: &str, text: &str, default_unit_mib: u64) -> Result<u64> {
    let bad = |reason: String| MachineError::InvalidSetting {
        setting: setting.to_string(),
        reason,
    };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| bad(format!("invalid size {text:?}")))?;
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit.trim_end_matches('B').trim_end_matches('I');
    let mib = match unit {
        "" => n.checked_mul(default_unit_mib),
        "K" => Some(n / 1024),
        "M" => Some(n),
        "G" => n.checked_mul(1024),
        "T" => n.checked_mul(1024 * 1024),
        _ => {
            return Err(bad(format!(
                "invalid size {text:?}: unknown unit (use M, G or T)"
            )));
        }
    };
    mib.ok_or_else(|| bad(format!("size {text:?} is too large")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_mib("memory", "2048", 1).expect("ok"), 2048);
        assert_eq!(parse_mib("memory", "2G", 1).expect("ok"), 2048);
        assert_eq!(parse_mib("memory", "2 gib", 1).expect("ok"), 2048);
        assert_eq!(parse_mib("memory", "512MiB", 1).expect("ok"), 512);
        assert_eq!(parse_mib("disk", "64", 1024).expect("ok"), 64 * 1024);
        assert_eq!(parse_mib("disk", "1T", 1).expect("ok"), 1 << 20);
        for bad in ["x", "5Q", "", "G", "-1G", "99999999999999999999T"] {
            let err = parse_mib("memory", bad, 1).expect_err(bad);
            assert!(err.to_string().contains("invalid setting memory"), "{err}");
        }
    }
}
