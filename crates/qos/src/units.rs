//! tc(8) unit syntax for rates, sizes and times, so the switch can accept
//! the seed's commands (`rate 100kbps`, `burst 10kb`, `latency 50ms`)
//! verbatim. As in iproute2: rates use SI prefixes (k = 1000) and "bps"
//! means *bytes* per second; sizes use 1024; a bare time is microseconds.

use crate::rate::Rate;

/// A unit string that could not be read; names the offending token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// No number at the start of the token.
    #[error("`{0}`: expected a number followed by a unit")]
    NotANumber(String),
    /// The suffix is not a known unit.
    #[error("`{token}`: unknown unit `{unit}`")]
    UnknownUnit {
        /// The whole token.
        token: String,
        /// The suffix that was not recognised.
        unit: String,
    },
    /// The value is zero where zero makes no sense, or does not fit.
    #[error("`{0}`: value out of range")]
    OutOfRange(String),
}

fn split(token: &str) -> Result<(f64, String), UnitError> {
    let t = token.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(end);
    let value: f64 = num
        .parse()
        .map_err(|_| UnitError::NotANumber(token.to_string()))?;
    if !value.is_finite() {
        return Err(UnitError::OutOfRange(token.to_string()));
    }
    Ok((value, unit.to_ascii_lowercase()))
}

fn unknown(token: &str, unit: &str) -> UnitError {
    UnitError::UnknownUnit {
        token: token.to_string(),
        unit: unit.to_string(),
    }
}

fn to_u64(token: &str, v: f64) -> Result<u64, UnitError> {
    if v < 0.0 || v > u64::MAX as f64 {
        return Err(UnitError::OutOfRange(token.to_string()));
    }
    Ok(v.round() as u64)
}

/// Parses a tc(8) rate: `bit` or bare number = bit/s, `kbit`/`mbit`/
/// `gbit`/`tbit`, `kibit`/`mibit`/... (1024), `bps` = byte/s, `kbps`/
/// `mbps`/`gbps` = kilo/mega/giga*bytes*/s. `"100kbps"` is 800 000 bit/s.
pub fn parse_rate(token: &str) -> Result<Rate, UnitError> {
    let (v, unit) = split(token)?;
    let (mul, bytes) = match unit.as_str() {
        "" | "bit" => (1.0, false),
        "kbit" => (1e3, false),
        "mbit" => (1e6, false),
        "gbit" => (1e9, false),
        "tbit" => (1e12, false),
        "kibit" => (1024.0, false),
        "mibit" => (1024.0 * 1024.0, false),
        "gibit" => (1024.0 * 1024.0 * 1024.0, false),
        "bps" => (1.0, true),
        "kbps" => (1e3, true),
        "mbps" => (1e6, true),
        "gbps" => (1e9, true),
        "kibps" => (1024.0, true),
        "mibps" => (1024.0 * 1024.0, true),
        "gibps" => (1024.0 * 1024.0 * 1024.0, true),
        _ => return Err(unknown(token, &unit)),
    };
    let bits = v * mul * if bytes { 8.0 } else { 1.0 };
    Rate::from_bps(to_u64(token, bits)?).ok_or_else(|| UnitError::OutOfRange(token.to_string()))
}

/// Parses a tc(8) size into bytes: `b` or bare = bytes, `k`/`kb` = 1024
/// bytes, `m`/`mb`, `g`/`gb`, `kbit`/`mbit`/`gbit` = 1024ⁿ bits.
pub fn parse_size(token: &str) -> Result<u64, UnitError> {
    let (v, unit) = split(token)?;
    let mul = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1024.0,
        "m" | "mb" => 1024.0 * 1024.0,
        "g" | "gb" => 1024.0 * 1024.0 * 1024.0,
        "kbit" => 1024.0 / 8.0,
        "mbit" => 1024.0 * 1024.0 / 8.0,
        "gbit" => 1024.0 * 1024.0 * 1024.0 / 8.0,
        _ => return Err(unknown(token, &unit)),
    };
    to_u64(token, v * mul)
}

/// Parses a tc(8) time into nanoseconds: `s`/`sec`/`secs`, `ms`/`msec`/
/// `msecs`, `us`/`usec`/`usecs` or bare (microseconds).
pub fn parse_time(token: &str) -> Result<u64, UnitError> {
    let (v, unit) = split(token)?;
    let mul = match unit.as_str() {
        "s" | "sec" | "secs" => 1e9,
        "ms" | "msec" | "msecs" => 1e6,
        "" | "us" | "usec" | "usecs" => 1e3,
        "ns" | "nsec" | "nsecs" => 1.0,
        _ => return Err(unknown(token, &unit)),
    };
    to_u64(token, v * mul)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_units() {
        assert_eq!(parse_rate("100kbps").map(|r| r.bps()), Ok(800_000));
        assert_eq!(parse_rate("10mbit").map(|r| r.bps()), Ok(10_000_000));
        assert_eq!(parse_rate("10000000").map(|r| r.bps()), Ok(10_000_000));
        assert_eq!(parse_size("10kb"), Ok(10_240));
        assert_eq!(parse_size("1540"), Ok(1540));
        assert_eq!(parse_time("50ms"), Ok(50_000_000));
        assert_eq!(parse_time("400"), Ok(400_000));
    }

    #[test]
    fn bad_tokens_are_named() {
        let e = parse_rate("10furlongs").expect_err("bad unit");
        assert!(e.to_string().contains("10furlongs"), "{e}");
        assert!(matches!(parse_size("kb"), Err(UnitError::NotANumber(_))));
        assert!(matches!(parse_rate("0kbit"), Err(UnitError::OutOfRange(_))));
        assert!(parse_time("1e99s").is_err());
    }
}
