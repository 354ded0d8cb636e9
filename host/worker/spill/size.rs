//! Memory sizes from the user and the machine: `--memory-limit` parsing
//! ([`parse_byte_size`]) and its default ([`default_memory_limit`]).

/// The fallback memory limit when the machine's memory is unknown.
const FALLBACK_MEMORY_LIMIT: u64 = 1 << 30;

/// The default `--memory-limit`: a quarter of `MemTotal` in
/// `/proc/meminfo`, or 1 GiB when that cannot be read.
pub fn default_memory_limit() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| parse_mem_total(&text))
        .map(|total| total / 4)
        .unwrap_or(FALLBACK_MEMORY_LIMIT)
}

/// `MemTotal` in bytes from the text of `/proc/meminfo`.
fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Why a byte size does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ByteSizeError {
    /// No number leads the text.
    #[error("{0:?} is not a byte size (like 268435456 or 256MiB)")]
    NotANumber(String),
    /// The suffix is not one of the known units.
    #[error("unknown size suffix {suffix:?} in {text:?}")]
    UnknownSuffix {
        /// The suffix.
        suffix: String,
        /// The whole text.
        text: String,
    },
    /// The size does not fit 64 bits.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Parses a byte size: a number with an optional suffix `K`, `KB`, `KiB`,
/// `M`, `MB`, `MiB`, `G`, `GB`, `GiB`, `T`... (all powers of 1024; case
/// insensitive), e.g. `256MiB` or `1g`.
pub fn parse_byte_size(text: &str) -> Result<u64, ByteSizeError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| ByteSizeError::NotANumber(text.to_string()))?;
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(ByteSizeError::UnknownSuffix {
                suffix: other.to_string(),
                text: text.to_string(),
            })
        }
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| ByteSizeError::TooLarge(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_byte_size("1234"), Ok(1234));
        assert_eq!(parse_byte_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_byte_size("256M"), Ok(256 << 20));
        assert_eq!(parse_byte_size("2g"), Ok(2 << 30));
        assert_eq!(parse_byte_size("64 KiB"), Ok(64 << 10));
        assert!(parse_byte_size("12XB").is_err());
        assert!(parse_byte_size("MiB").is_err());
        assert!(parse_byte_size("99999999999T").is_err());
    }

    #[test]
    fn mem_total_is_read_from_meminfo() {
        let text = "MemTotal:       24684096 kB\nMemFree: 1 kB\n";
        assert_eq!(parse_mem_total(text), Some(24684096 * 1024));
        assert_eq!(parse_mem_total("nothing"), None);
        assert!(default_memory_limit() > 0);
    }
}
