//! The session file format, version 1.
//!
//! ```text
//! {"format":"trainwatt-session","schema":1,"trainwatt":"0.1.0","start_utc":"2026-11-28T04:00:00Z",...,"channels":[...]}
//! [0.1003,12.481,null,3.2]                                 a sample: t (s since start) then one value per channel
//! {"ev":"step","t":1.5,"epoch":1,"step":10,"loss":1.25}    a training event
//! {"ev":"marker","t":2.0,"kind":"sensor_gap","text":"..."} a marker
//! {"ev":"end","t":60.0,"samples":600,"energy_j":{...}}     the closing line of a clean session
//! ```
//! Samples are bare JSON arrays so a 6-hour, 10 Hz session stays compact and
//! reads fast; everything else is a JSON object tagged by `ev`.
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

use crate::model::event::{Marker, SessionEnd};
use crate::model::sample::{Channel, Sample};

pub use crate::model::header::{DeviceInfo, Header, FORMAT_NAME, SCHEMA_VERSION};

/// The shortest and longest sampling interval a header may declare: 1 µs
/// (no source here samples faster) to one day (a longer "interval" would let
/// the integrator bridge any gap).
pub const MIN_INTERVAL_MS: f64 = 0.001;
pub const MAX_INTERVAL_MS: f64 = 86_400_000.0;

/// Whether `ms` is a sampling interval a session may declare.
pub fn interval_ms_in_range(ms: f64) -> bool {
    ms.is_finite() && (MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&ms)
}

impl Header {
    /// What the reader requires of a header, checked by the writer before
    /// anything is written: unique channel names, an interval in range.
    pub fn validate(&self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for c in &self.channels {
            if !names.insert(c.name.as_str()) {
                return Err(format!(
                    "channel `{}` is declared twice in the header",
                    c.name
                ));
            }
        }
        if !interval_ms_in_range(self.interval_ms) {
            return Err(format!(
                "the header's interval_ms {} is out of range ({MIN_INTERVAL_MS} ms to {MAX_INTERVAL_MS} ms, 1 µs to one day)",
                self.interval_ms
            ));
        }
        Ok(())
    }

    /// A header for a session starting now on this host.
    pub fn new(channels: Vec<Channel>, interval_ms: f64) -> Self {
        Header {
            start_utc: now_utc_rfc3339(),
            host: hostname(),
            ..Header::bare(channels, interval_ms)
        }
    }
}

/// The current time as RFC 3339 UTC with millisecond precision.
pub fn now_utc_rfc3339() -> String {
    format_utc(time::OffsetDateTime::now_utc())
}

pub fn format_utc(t: time::OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_string())
}

/// This machine's host name, or "unknown".
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

#[derive(Serialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub(crate) enum OtherRef<'a> {
    Marker(&'a Marker),
    End(&'a SessionEnd),
}

#[derive(Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub(crate) enum Other {
    Marker(Marker),
    End(SessionEnd),
}

/// Append a sample row as a compact JSON array (no newline). Time is kept to
/// 0.1 ms and readings to 1 mW / 1 mJ: finer than any sensor here resolves,
/// and it keeps a 6-hour session small. Non-finite readings become `null`.
pub fn encode_sample(out: &mut String, s: &Sample) {
    out.push('[');
    push_rounded(out, s.t_s, 1e4);
    for v in &s.values {
        out.push(',');
        match v {
            Some(x) if x.is_finite() => push_rounded(out, *x, 1e3),
            _ => out.push_str("null"),
        }
    }
    out.push(']');
}

/// A time as a sample row stores it (0.1 ms), for events that must line up
/// with the rows (a marker at a reading, the closing line at the last one).
pub fn stored_time(t_s: f64) -> f64 {
    if t_s.abs() >= 1e15 {
        t_s
    } else {
        (t_s * 1e4).round() / 1e4
    }
}

fn push_rounded(out: &mut String, x: f64, scale: f64) {
    // Beyond 2^53 / scale rounding changes nothing, and `x * scale` could
    // overflow to infinity (1e306 W × 1e3): such a value is written as it
    // is, in exponent form so it stays short ("1e306").
    if x.abs() >= 1e15 {
        let _ = write!(out, "{x:e}");
        return;
    }
    // Display prints the shortest string that round-trips ("100", "4.2").
    let r = (x * scale).round() / scale;
    let _ = write!(out, "{}", if r == 0.0 { 0.0 } else { r });
}

/// Parse a sample row `[t,v0,v1,...]` (the line without its newline). Returns
/// `Err` with a short reason when the line is not a well-formed row of
/// `n_channels` values. This is the hot path of every reader (a 6-hour,
/// 10 Hz session is 216,000 rows), so it works on bytes.
pub fn decode_sample(line: &[u8], n_channels: usize) -> Result<Sample, String> {
    let mut end = line.len();
    while end > 0 && line[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    let inner = match (line.first(), end.checked_sub(1).map(|i| line[i])) {
        (Some(b'['), Some(b']')) if end >= 2 => &line[1..end - 1],
        _ => return Err("a sample row must be a JSON array [t, v0, v1, ...]".to_string()),
    };
    let mut parts = inner.split(|&b| b == b',');
    let t_s = parse_number(parts.next().unwrap_or(b""))
        .ok_or_else(|| "the first element (time in seconds) is not a number".to_string())?;
    let mut values = Vec::with_capacity(n_channels);
    for p in parts {
        let p = trim_bytes(p);
        if p == b"null" {
            values.push(None);
        } else {
            values.push(Some(parse_number(p).ok_or_else(|| {
                format!("`{}` is not a number or null", String::from_utf8_lossy(p))
            })?));
        }
    }
    if values.len() != n_channels {
        return Err(format!(
            "the row has {} values but the header declares {} channels",
            values.len(),
            n_channels
        ));
    }
    Ok(Sample { t_s, values })
}

fn trim_bytes(mut p: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = p {
        p = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = p {
        p = rest;
    }
    p
}

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A JSON number. Plain decimals with at most 15 significant digits (what
/// the writer produces) take Clinger's fast path: the integer mantissa and
/// the power of ten are both exact in f64, so one division is correctly
/// rounded and equals the standard parser's result. Anything else (exponents,
/// long mantissas) goes to the standard parser. `inf`, `nan` are rejected.
pub fn parse_number(p: &[u8]) -> Option<f64> {
    let p = trim_bytes(p);
    let (neg, digits) = match p.first()? {
        b'-' => (true, &p[1..]),
        _ => (false, p),
    };
    let mut mantissa: u64 = 0;
    let mut n_digits = 0u32;
    let mut frac_digits = 0usize;
    let mut seen_dot = false;
    let mut fast = !digits.is_empty();
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa.wrapping_mul(10).wrapping_add((b - b'0') as u64);
                n_digits += 1;
                if seen_dot {
                    frac_digits += 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => {
                fast = false;
                break;
            }
        }
    }
    if fast && n_digits > 0 && n_digits <= 15 && frac_digits < POW10.len() {
        let v = mantissa as f64 / POW10[frac_digits];
        return Some(if neg { -v } else { v });
    }
    // JSON numbers only: f64::from_str also takes "inf", "nan", "+1".
    let first = *digits.first()?;
    if !first.is_ascii_digit()
        || digits
            .iter()
            .any(|b| !(b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+')))
    {
        return None;
    }
    let s = std::str::from_utf8(p).ok()?;
    s.parse::<f64>().ok().filter(|x| x.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_round_trips_with_nulls_and_rounding() {
        let s = Sample {
            t_s: 12.345_67,
            values: vec![Some(4.2), None, Some(-0.5), Some(f64::NAN), Some(100.0)],
        };
        let mut out = String::new();
        encode_sample(&mut out, &s);
        assert_eq!(out, "[12.3457,4.2,null,-0.5,null,100]");
        let back = decode_sample(out.as_bytes(), 5).unwrap();
        assert_eq!(back.t_s, 12.3457);
        assert_eq!(
            back.values,
            vec![Some(4.2), None, Some(-0.5), None, Some(100.0)]
        );
    }

    #[test]
    fn case5_huge_finite_values_stay_finite_when_written() {
        let s = Sample {
            t_s: 1e306,
            values: vec![Some(1e306), Some(-1.7e308), Some(123456789012345.6)],
        };
        let mut out = String::new();
        encode_sample(&mut out, &s);
        assert_eq!(out, "[1e306,1e306,-1.7e308,123456789012345.6]");
        let back = decode_sample(out.as_bytes(), 3).unwrap();
        assert_eq!(back.t_s, 1e306);
        assert_eq!(back.values[1], Some(-1.7e308));
    }

    #[test]
    fn fast_number_path_matches_the_standard_parser() {
        for s in [
            "0",
            "-0.5",
            "12.3457",
            "4.2",
            "100",
            "0.1",
            "123456789.123",
            "1e3",
            "-2.5E-2",
            "999999999999999",
            "1234567890123456789",
            "0.30000000000000004",
            "7.000",
        ] {
            assert_eq!(parse_number(s.as_bytes()), s.parse::<f64>().ok(), "{s}");
        }
        for s in ["", "-", ".", "inf", "nan", "+1", "1.2.3", "0x10", "1,5"] {
            assert_eq!(parse_number(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn decode_rejects_wrong_width_and_garbage() {
        assert!(decode_sample(b"[1,2,3]", 3)
            .unwrap_err()
            .contains("2 values"));
        assert!(decode_sample(b"[1,abc]", 1).is_err());
        assert!(decode_sample(b"[1,inf]", 1).is_err());
        assert!(decode_sample(b"{\"t\":1}", 1).is_err());
        assert!(decode_sample(b"[1,2", 1).is_err());
    }
}
