//! Durations given on the command line (`--duration`, `--idle-calibration`,
//! `sweep --cooldown`), parsed with `humantime` and bounded so that nothing
//! downstream (`Duration` arithmetic, `Instant::now() + d`) can overflow.
//!
//! Accepted: anything `humantime` reads (`30s`, `5m`, `1h 30m`, `2days`,
//! `500ms`), plus two forms trainwatt has always taken: a bare number of
//! seconds (`90`) and a decimal with one unit (`1.5m`, `0.25h`, `2.5s`).
//! Refused, with a message: negative, not-a-number, and anything longer than
//! [`MAX_DURATION`] (ten years; `--duration 1e20s` used to panic).
use std::time::Duration;

/// The longest duration accepted: ten years of 365.25 days.
pub const MAX_DURATION: Duration = Duration::from_secs(315_576_000);

const EXAMPLES: &str = "use e.g. 30s, 5m, 1.5h, 1h 30m or 500ms";

/// Parse a command-line duration (a clap `value_parser`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = match decimal_with_unit(s) {
        Some(secs) => {
            if secs.is_nan() || secs < 0.0 {
                return Err(format!("`{s}` is not a duration: {EXAMPLES}"));
            }
            if secs > MAX_DURATION.as_secs_f64() {
                return Err(too_long(s));
            }
            // Bounded above, so this cannot panic.
            Duration::from_secs_f64(secs)
        }
        None => humantime::parse_duration(s).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => too_long(s),
            _ => format!("`{s}` is not a duration ({e}): {EXAMPLES}"),
        })?,
    };
    if d > MAX_DURATION {
        return Err(too_long(s));
    }
    Ok(d)
}

fn too_long(s: &str) -> String {
    format!("`{s}` is too long: durations up to 10 years (87660h) are accepted")
}

/// Seconds for `90`, `1.5m`, `2.5s`, `250ms`, `0.5h`, `1e3s` (one number, one
/// unit of ms, s, m or h, or none for seconds; unchecked: infinite, NaN or
/// negative are refused by the caller); `None` for anything else, which goes
/// to `humantime`.
fn decimal_with_unit(s: &str) -> Option<f64> {
    let (num, mult) = [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)]
        .into_iter()
        .find_map(|(unit, mult)| s.strip_suffix(unit).map(|n| (n, mult)))
        .unwrap_or((s, 1.0));
    num.trim_end().parse::<f64>().ok().map(|v| v * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("12").unwrap(), Duration::from_secs(12));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("2days").unwrap(),
            Duration::from_secs(172_800)
        );
        assert!(parse_duration("soon").unwrap_err().contains("30s"));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn case8_durations_beyond_ten_years_are_refused_not_a_panic() {
        for s in [
            "1e20s",
            "1e16h",
            "1e19s",
            "1e400s",
            "infs",
            "99999999999999999999s",
            "87661h",
            "3653days",
            "18446744073709551615s",
            "3000years",
        ] {
            assert!(parse_duration(s).unwrap_err().contains("too long"), "{s}");
        }
        assert!(parse_duration("NaN").is_err());
        assert!(parse_duration("-infs").is_err());
        assert_eq!(parse_duration("1e3s").unwrap(), Duration::from_secs(1000));
        assert_eq!(parse_duration("87660h").unwrap(), MAX_DURATION);
        // The longest accepted duration can be added to an instant.
        assert!(std::time::Instant::now()
            .checked_add(MAX_DURATION)
            .is_some());
    }
}
