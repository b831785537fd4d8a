//! A pure parser for one line of `tegrastats` output, every format seen in
//! real logs: unitless (JetPack 4) and `mW` (JetPack 5+) rails, three-value
//! rails (JetPack 7), `MM-DD-YYYY HH:MM:SS` prefixes, `<epoch>::` prefixes
//! (jetsontools), lines without rails (non-root), `NC` placeholder rails,
//! negative readings, the legacy TX1 format, and garbage (never a panic).

/// A wall-clock stamp as tegrastats prints it (device local time, one-second
/// resolution), kept as its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalStamp {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl LocalStamp {
    /// Seconds since 1970-01-01 as if the stamp were UTC.
    pub fn as_if_utc_s(&self) -> Option<i64> {
        let month = time::Month::try_from(self.month).ok()?;
        let date = time::Date::from_calendar_date(self.year, month, self.day).ok()?;
        let t = time::Time::from_hms(self.hour, self.minute, self.second).ok()?;
        Some(
            time::PrimitiveDateTime::new(date, t)
                .assume_utc()
                .unix_timestamp(),
        )
    }
}

/// One power rail: name and readings in milliwatts (`cur/avg`, or
/// `cur/avg/max` on JetPack 7: only `cur` is used for energy).
#[derive(Clone, Debug, PartialEq)]
pub struct RailReading {
    pub name: String,
    pub cur_mw: f64,
    pub avg_mw: f64,
}

/// Everything a user of trainwatt wants from one tegrastats line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TegraLine {
    /// `<unix seconds>::` prefix written by wrappers such as jetsontools, as
    /// whole seconds and fraction (kept apart so differences stay exact).
    pub epoch: Option<(i64, f64)>,
    /// `MM-DD-YYYY HH:MM:SS` prefix (JetPack 5+).
    pub stamp: Option<LocalStamp>,
    pub ram_used_mb: Option<f64>,
    pub ram_total_mb: Option<f64>,
    /// Per-core load in %, `None` for cores that are `off`.
    pub cpu_load_pct: Vec<Option<f64>>,
    pub gpu_load_pct: Option<f64>,
    /// The first GPC frequency (`GR3D_FREQ 43%@[305,0]` gives 305).
    pub gpu_mhz: Option<f64>,
    pub emc_load_pct: Option<f64>,
    /// Temperatures in °C by sensor name; `-256C` (absent sensor) is `None`.
    pub temps_c: Vec<(String, Option<f64>)>,
    /// Power rails in the order printed, placeholders (`NC`) removed.
    pub rails: Vec<RailReading>,
    /// Placeholder rails skipped on this line.
    pub placeholder_rails: u32,
}

/// Why a line is not a tegrastats data line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineKind {
    Blank,
    /// Not tegrastats output (a shell prompt, `date`, `Script done on ...`,
    /// `Unknown command: --readall`, a truncated fragment).
    Garbage,
}

/// Parse one line. `Err(LineKind)` says why it is not data; never panics.
pub fn parse_line(raw: &str) -> Result<TegraLine, LineKind> {
    let line = raw.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if line.is_empty() {
        return Err(LineKind::Blank);
    }
    let mut out = TegraLine::default();
    let rest = strip_prefixes(line, &mut out);
    let toks: Vec<&str> = rest.split_whitespace().collect();
    // A data line always carries the RAM field first.
    if toks.len() < 2 || toks[0] != "RAM" {
        return Err(LineKind::Garbage);
    }
    let mut i = 0;
    while i < toks.len() {
        i += read_field(&mut out, toks[i], toks.get(i + 1).copied());
    }
    Ok(out)
}

/// The `<epoch>::` and `MM-DD-YYYY HH:MM:SS` prefixes, read into `out`;
/// returns the rest of the line.
fn strip_prefixes<'a>(line: &'a str, out: &mut TegraLine) -> &'a str {
    let mut rest = line;
    if let Some((pre, after)) = rest.split_once("::") {
        if let Some(e) = parse_epoch(pre) {
            out.epoch = Some(e);
            rest = after.trim_start();
        }
    }
    if let Some((st, after)) = parse_stamp(rest) {
        out.stamp = Some(st);
        rest = after;
    }
    rest
}

/// Read the field that starts at token `t` (followed by `next`) into `out`;
/// returns how many tokens it took (1 for a token that is no field).
fn read_field(out: &mut TegraLine, t: &str, next: Option<&str>) -> usize {
    if read_named(out, t, next) {
        return 2;
    }
    if let Some((name, c)) = parse_temp(t) {
        out.temps_c.push((name.to_string(), c));
        return 1;
    }
    if read_rail(out, t, next) {
        return 2;
    }
    1
}

/// `RAM`, `CPU [..]`, `GR3D_FREQ` and `EMC_FREQ` (or their legacy names)
/// with a value that parses: true when `t` and `next` were one of them.
fn read_named(out: &mut TegraLine, t: &str, next: Option<&str>) -> bool {
    match t {
        "RAM" => {
            if let Some((u, tot)) = next.and_then(parse_used_total_mb) {
                out.ram_used_mb = Some(u);
                out.ram_total_mb = Some(tot);
                return true;
            }
        }
        "CPU" | "cpu" if next.is_some_and(|n| n.starts_with('[')) => {
            out.cpu_load_pct = parse_cpu_list(next.unwrap_or(""));
            return true;
        }
        "GR3D_FREQ" | "GR3D" => {
            if let Some(n) = next {
                let (load, mhz) = parse_load_at_freq(n);
                if load.is_some() || mhz.is_some() {
                    out.gpu_load_pct = load;
                    out.gpu_mhz = mhz;
                    return true;
                }
            }
        }
        "EMC_FREQ" | "EMC" => {
            if let Some(n) = next {
                let (load, _) = parse_load_at_freq(n);
                if load.is_some() {
                    out.emc_load_pct = load;
                    return true;
                }
            }
        }
        _ => {}
    }
    false
}

/// `NAME cur/avg` with numbers (and optionally mW) only: this tells a rail
/// `GPU 463/463` from `GPU@40C` and the `CPU [..]` list. Placeholder rails
/// (`NC`) are counted, not kept. True when `t` and `next` were a rail.
fn read_rail(out: &mut TegraLine, t: &str, next: Option<&str>) -> bool {
    let Some((cur, avg)) = next.and_then(parse_rail_values) else {
        return false;
    };
    if !is_rail_name(t) {
        return false;
    }
    if super::jetson_rails::is_placeholder_rail(t) {
        out.placeholder_rails += 1;
    } else {
        out.rails.push(RailReading {
            name: t.to_string(),
            cur_mw: cur,
            avg_mw: avg,
        });
    }
    true
}

fn parse_epoch(s: &str) -> Option<(i64, f64)> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let whole = whole.parse::<i64>().ok()?;
    let frac = if frac.is_empty() {
        0.0
    } else {
        format!("0.{frac}").parse::<f64>().ok()?
    };
    Some((whole, frac))
}

/// `MM-DD-YYYY HH:MM:SS ` at the start of `s`.
fn parse_stamp(s: &str) -> Option<(LocalStamp, &str)> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let shape = b"NN-NN-NNNN NN:NN:NN";
    for (c, want) in b[..19].iter().zip(shape) {
        let ok = match want {
            b'N' => c.is_ascii_digit(),
            other => c == other,
        };
        if !ok {
            return None;
        }
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    let st = LocalStamp {
        month: n(0..2)? as u8,
        day: n(3..5)? as u8,
        year: n(6..10)? as i32,
        hour: n(11..13)? as u8,
        minute: n(14..16)? as u8,
        second: n(17..19)? as u8,
    };
    Some((st, s[19..].trim_start()))
}

/// `936/3964MB` (also kB / GB) in MB.
fn parse_used_total_mb(s: &str) -> Option<(f64, f64)> {
    let (num, scale) = if let Some(x) = s.strip_suffix("MB") {
        (x, 1.0)
    } else if let Some(x) = s.strip_suffix("kB") {
        (x, 1.0 / 1024.0)
    } else if let Some(x) = s.strip_suffix("GB") {
        (x, 1024.0)
    } else {
        return None;
    };
    let (u, t) = num.split_once('/')?;
    // Checked after scaling: `1e306/2GB` is finite as printed, infinite in MB.
    Some((
        finite(u.parse::<f64>().ok()? * scale)?,
        finite(t.parse::<f64>().ok()? * scale)?,
    ))
}

/// `[10%@102,off,3%@102]` or the legacy `[0%,0%,0%,0%]@1734`.
fn parse_cpu_list(s: &str) -> Vec<Option<f64>> {
    let inner = s.trim_start_matches('[');
    let inner = inner.split(']').next().unwrap_or("");
    inner
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let load = p.split('@').next().unwrap_or("");
            load.strip_suffix('%')
                .and_then(|x| x.parse::<f64>().ok())
                .and_then(finite)
        })
        .collect()
}

/// `43%@[305,0]`, `0%@76`, `0%`, `@0`: (load %, first frequency MHz).
fn parse_load_at_freq(s: &str) -> (Option<f64>, Option<f64>) {
    let (load, freq) = match s.split_once('@') {
        Some((l, f)) => (l, Some(f)),
        None => (s, None),
    };
    let load = load
        .strip_suffix('%')
        .and_then(|x| x.parse::<f64>().ok())
        .and_then(finite);
    let freq = freq.and_then(|f| {
        let f = f.trim_start_matches('[');
        let first = f.split([',', ']']).next().unwrap_or("");
        first.parse::<f64>().ok().and_then(finite)
    });
    (load, freq)
}

/// `PMIC@100C`, `cpu@52.968C/52.968C` (JetPack 7), `CV0@-256C` (absent).
fn parse_temp(t: &str) -> Option<(&str, Option<f64>)> {
    let (name, v) = t.split_once('@')?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let v = v.split('/').next()?;
    let c = finite(v.strip_suffix('C')?.parse::<f64>().ok()?)?;
    Some((name, (c > -255.0).then_some(c)))
}

/// `1537/1228`, `13209mW/13209mW`, `5139mW/5139mW/5139mW`, `-398mW/-398mW`.
fn parse_rail_values(s: &str) -> Option<(f64, f64)> {
    let mut parts = s.split('/');
    let cur = parse_mw(parts.next()?)?;
    let avg = parse_mw(parts.next()?)?;
    if let Some(third) = parts.next() {
        parse_mw(third)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some((cur, avg))
}

fn parse_mw(s: &str) -> Option<f64> {
    let s = s.strip_suffix("mW").unwrap_or(s);
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<f64>().ok().and_then(finite)
}

/// A number only when it is finite (a 400-digit field parses to infinity).
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn is_rail_name(t: &str) -> bool {
    !t.is_empty()
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && t.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && !matches!(t, "RAM" | "SWAP" | "IRAM" | "lfb" | "cached")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NANO: &str = "RAM 936/3964MB (lfb 366x4MB) SWAP 0/4096MB (cached 0MB) IRAM 0/252kB(lfb 252kB) CPU [10%@102,3%@102,0%@102,0%@102] EMC_FREQ 0%@204 GR3D_FREQ 42%@76 APE 25 PLL@24C CPU@27.5C PMIC@50C GPU@28C AO@29.5C thermal@28C POM_5V_IN 2793/1750 POM_5V_GPU 76/25 POM_5V_CPU 1222/604";

    #[test]
    fn nano_unitless_rails_and_fields() {
        let l = parse_line(NANO).unwrap();
        assert_eq!(l.epoch, None);
        assert_eq!(l.stamp, None);
        assert_eq!(l.ram_used_mb, Some(936.0));
        assert_eq!(
            l.cpu_load_pct,
            vec![Some(10.0), Some(3.0), Some(0.0), Some(0.0)]
        );
        assert_eq!(l.gpu_load_pct, Some(42.0));
        assert_eq!(l.gpu_mhz, Some(76.0));
        let names: Vec<&str> = l.rails.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"]);
        assert_eq!(l.rails[0].cur_mw, 2793.0);
        assert_eq!(l.rails[0].avg_mw, 1750.0);
        assert!(l.temps_c.contains(&("CPU".to_string(), Some(27.5))));
    }

    #[test]
    fn agx_xavier_rail_names_do_not_clash_with_cpu_list_and_temps() {
        let s = "05-06-2024 11:23:06 RAM 7921/30991MB (lfb 4105x4MB) SWAP 0/15495MB (cached 0MB) CPU [23%@2264,76%@2265] EMC_FREQ 38%@2133 GR3D_FREQ 90%@[1377] VIC_FREQ 1036 APE 150 CPU@55C GPU@57C GPU 13209mW/13209mW CPU 5220mW/5220mW SOC 4604mW/4604mW CV 0mW/0mW VDDRQ 2303mW/2303mW SYS5V 4360mW/4360mW";
        let l = parse_line(s).unwrap();
        let st = l.stamp.unwrap();
        assert_eq!(
            (st.month, st.day, st.year, st.hour, st.second),
            (5, 6, 2024, 11, 6)
        );
        let names: Vec<&str> = l.rails.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"]);
        assert_eq!(l.cpu_load_pct.len(), 2);
        assert_eq!(l.gpu_mhz, Some(1377.0));
        assert!(l.temps_c.contains(&("GPU".to_string(), Some(57.0))));
    }

    #[test]
    fn epoch_prefix_nc_placeholders_and_absent_sensors() {
        let s = "1750866197.2428074::06-25-2025 09:43:17 RAM 6589/30587MB (lfb 459x4MB) CPU [0%@2201,off] EMC_FREQ 0%@3199 GR3D_FREQ 0%@1300 GR3D2_FREQ 0%@1300 CV0@-256C CPU@52.625C VDD_GPU_SOC 4368mW/4368mW VDD_CPU_CV 1588mW/1588mW VIN_SYS_5V0 4233mW/4233mW NC 0mW/0mW VDDQ_VDD2_1V8AO 403mW/403mW NC 0mW/0mW";
        let l = parse_line(s).unwrap();
        assert_eq!(l.epoch, Some((1750866197, 0.2428074)));
        assert!(l.stamp.is_some());
        assert_eq!(l.placeholder_rails, 2);
        assert_eq!(l.rails.len(), 4);
        assert_eq!(l.cpu_load_pct, vec![Some(0.0), None]);
        assert!(l.temps_c.contains(&("CV0".to_string(), None)));
    }

    #[test]
    fn triple_values_negative_readings_and_legacy_format() {
        let jp7 = "07-25-2026 09:08:28 RAM 20642/62817MB (lfb 1x2MB) CPU [23%@2201] GR3D_FREQ 12%@[1300,1300] cpu@52.968C/52.968C VDD_GPU_SOC 5139mW/5139mW/5139mW VDD_CPU_CV 3268mW/3268mW/3268mW";
        let l = parse_line(jp7).unwrap();
        assert_eq!(l.rails.len(), 2);
        assert_eq!(l.rails[0].cur_mw, 5139.0);
        assert_eq!(l.temps_c[0], ("cpu".to_string(), Some(52.968)));
        let neg = "RAM 1/2MB CPU [0%@1728] GR3D_FREQ 0% VDD_CPU_CV -398mW/-398mW";
        let l = parse_line(neg).unwrap();
        assert_eq!(l.rails[0].cur_mw, -398.0);
        assert_eq!(l.gpu_load_pct, Some(0.0));
        assert_eq!(l.gpu_mhz, None);
        let tx1 = "RAM 3691/3983MB (lfb 3x2MB) SWAP 2780/8192MB (cached 284MB) cpu [17%,13%,29%,5%]@408 EMC 1%@408 APE 25 GR3D 3%@76";
        let l = parse_line(tx1).unwrap();
        assert_eq!(l.cpu_load_pct.len(), 4);
        assert_eq!(l.gpu_load_pct, Some(3.0));
        assert!(l.rails.is_empty());
    }

    #[test]
    fn garbage_lines_are_not_data() {
        for g in [
            "nvidia@linux:~$ sudo /usr/bin/tegrastats ",
            "[sudo] password for nvidia: ",
            "Tue Jan 26 18:22:31 UTC 2021",
            "1750866128.6576266::Unknown command: --readall. Please try again or see --help",
            "^C",
            "Script done on 2022-05-14 14:06:54+0200",
            "RAM",
            "pon, 6 maj 2024, 09:23:06 UTC",
            "\u{0}\u{0}garbage@@@ //// 12/",
        ] {
            assert_eq!(parse_line(g), Err(LineKind::Garbage), "{g}");
        }
        assert_eq!(parse_line("   "), Err(LineKind::Blank));
    }

    #[test]
    fn odd_tokens_never_panic() {
        for s in [
            "RAM x",
            "RAM 1/2MB CPU [",
            "RAM 1/2MB GR3D_FREQ @",
            "RAM 1/2MB A -/-",
            "RAM 1/2MB X 1/2/3/4",
            "RAM 1/2MB T@C",
            "99999999999999999999::RAM 1/1MB",
        ] {
            let _ = parse_line(s);
        }
        let line = format!(
            "RAM 1e306/2GB GR3D_FREQ @0 X {}/1 T@1e400C",
            "9".repeat(400)
        );
        let l = parse_line(&line).unwrap();
        assert_eq!(l.ram_used_mb, None, "case 5: scaled past f64");
        assert!(l.rails.is_empty() && l.temps_c.is_empty(), "{l:?}");
        assert_eq!(l.gpu_load_pct, None);
        assert_eq!(l.gpu_mhz, Some(0.0));
    }
}
