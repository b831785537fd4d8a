//! A pure parser for `nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]`
//! text: which column is which, values with or without units, `[N/A]` and
//! `[Not Supported]`, both timestamp styles. The conversion of a whole log
//! into a session is in [`super::nvidia_smi`].

pub const NAME: &str = "nvidia_smi_csv";

/// What a `--query-gpu` column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    Timestamp,
    Index,
    /// `uuid` or `pci.bus_id`: identifies a GPU like `index`.
    Ident,
    Name,
    Power,
    Util,
    MemUsed,
    Temp,
    SmClock,
    Other,
}

/// Map a query name (`power.draw [W]` or `power.draw`) to its kind.
pub fn column_kind(field: &str) -> ColumnKind {
    let key = field.split(" [").next().unwrap_or(field).trim();
    match key {
        "timestamp" => ColumnKind::Timestamp,
        "index" => ColumnKind::Index,
        "uuid" | "gpu_uuid" | "pci.bus_id" | "gpu_bus_id" => ColumnKind::Ident,
        "name" | "gpu_name" => ColumnKind::Name,
        "power.draw" | "power.draw.instant" | "power.draw.average" => ColumnKind::Power,
        "utilization.gpu" => ColumnKind::Util,
        "memory.used" => ColumnKind::MemUsed,
        "temperature.gpu" => ColumnKind::Temp,
        "clocks.sm" | "clocks.current.sm" => ColumnKind::SmClock,
        _ => ColumnKind::Other,
    }
}

fn looks_like_query_name(f: &str) -> bool {
    let key = f.split(" [").next().unwrap_or(f).trim();
    !key.is_empty()
        && key.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_')
}

/// Split a CSV row (nvidia-smi never quotes) into trimmed fields.
pub fn split_row(line: &str) -> Vec<&str> {
    line.split(',').map(str::trim).collect()
}

/// True when `line` is a `--query-gpu` header.
pub fn is_header(line: &str) -> bool {
    let f = split_row(line);
    f.iter().all(|x| looks_like_query_name(x))
        && f.iter().any(|x| column_kind(x) != ColumnKind::Other)
}

/// A value without its unit; `None` for `[N/A]`, `[Not Supported]` and the like.
pub fn parse_value(field: &str) -> Option<f64> {
    let f = field.trim();
    if f.starts_with('[') || f.eq_ignore_ascii_case("N/A") || f.is_empty() {
        return None;
    }
    let num = f.split_whitespace().next()?;
    num.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `YYYY/MM/DD HH:MM:SS.mmm` (desktop) or `MM-DD-YYYY HH:MM:SS` (Jetson), as
/// whole seconds since 1970 as if UTC (nvidia-smi prints local time) and the
/// fraction of a second, kept apart so differences stay exact. The whole
/// field must match: `00:00:02.1e306` is not a time.
pub fn parse_timestamp(s: &str) -> Option<(i64, f64)> {
    use time::macros::format_description;
    let s = s.trim();
    let desktop = format_description!("[year]/[month]/[day] [hour]:[minute]:[second].[subsecond]");
    let desktop_whole = format_description!("[year]/[month]/[day] [hour]:[minute]:[second]");
    let jetson = format_description!("[month]-[day]-[year] [hour]:[minute]:[second]");
    let jetson_frac =
        format_description!("[month]-[day]-[year] [hour]:[minute]:[second].[subsecond]");
    let t = [desktop, desktop_whole, jetson, jetson_frac]
        .iter()
        .find_map(|f| time::PrimitiveDateTime::parse(s, f).ok())?
        .assume_utc();
    Some((t.unix_timestamp(), f64::from(t.nanosecond()) / 1e9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_units_and_sentinels() {
        assert_eq!(parse_value("22.89 W"), Some(22.89));
        assert_eq!(parse_value("100 %"), Some(100.0));
        assert_eq!(parse_value("[N/A]"), None);
        assert_eq!(parse_value("[Not Supported]"), None);
        assert_eq!(parse_value("P0"), None);
        assert_eq!(
            parse_timestamp("2024/10/30 18:42:33.189").map(|t| (t.1 * 1000.0).round() as i64),
            Some(189)
        );
        assert!(parse_timestamp("03-11-2026 15:13:16").is_some());
        assert!(parse_timestamp("garbage").is_none());
        assert_eq!(
            parse_timestamp("2024/10/30 18:42:33"),
            Some((1_730_313_753, 0.0))
        );
        // Case 6: an exponent in the seconds is not a fraction of a second.
        assert!(parse_timestamp("2024/01/01 00:00:02.1e306").is_none());
        assert!(parse_timestamp("2024/01/01 00:00:02.5 junk").is_none());
    }
}
