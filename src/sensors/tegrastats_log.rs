//! From parsed tegrastats lines to session columns, and a whole tegrastats
//! log to a session (`trainwatt import tegrastats`).
//!
//! Timing: `<epoch>::` prefixes are the truth where present (sub-second);
//! otherwise `MM-DD-YYYY HH:MM:SS` stamps are: they have one-second
//! resolution, so the lines that share a stamp are spread evenly over their
//! second. Logs with neither use the interval from the given start.
use super::jetson_rails::{rail_channels, sum_of_rails, total_rule, TotalRule};
use super::tegrastats_parse::{parse_line, LineKind, TegraLine};
use crate::model::energy::EnergyLedger;
use crate::model::event::{Event, SessionEnd};
use crate::model::sample::{Channel, Sample, Unit};
use crate::record::format::format_utc;
use crate::record::Header;

pub use super::import_report::{cut, ImportReport, Imported};

/// The columns a tegrastats stream fills: rails (and their sum where the
/// board has no total rail), then GPU load and clock, CPU loads, RAM, temperatures.
#[derive(Clone, Debug, PartialEq)]
pub struct TegraLayout {
    pub rails: Vec<String>,
    pub rule: TotalRule,
    pub has_sum: bool,
    pub cpus: usize,
    pub temps: Vec<String>,
    pub channels: Vec<Channel>,
}

impl TegraLayout {
    /// The layout for a set of lines: rails and temperature sensors in the
    /// order they first appear, the widest CPU list.
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a TegraLine>, source: &str) -> Self {
        let mut rails: Vec<String> = Vec::new();
        let mut temps: Vec<String> = Vec::new();
        let mut cpus = 0;
        for l in lines {
            for r in &l.rails {
                if !rails.contains(&r.name) {
                    rails.push(r.name.clone());
                }
            }
            for (t, _) in &l.temps_c {
                if !temps.contains(t) {
                    temps.push(t.clone());
                }
            }
            cpus = cpus.max(l.cpu_load_pct.len());
        }
        let rule = total_rule(&rails);
        let (mut channels, has_sum) = rail_channels(&rails, &rule, source);
        channels.push(Channel::metric("gpu_load", Unit::Percent, source));
        channels.push(Channel::metric("gpu_freq", Unit::MHz, source));
        channels.push(Channel::metric("cpu_load", Unit::Percent, source));
        for k in 0..cpus {
            channels.push(Channel::metric(
                format!("cpu{k}_load"),
                Unit::Percent,
                source,
            ));
        }
        channels.push(Channel::metric("ram_used", Unit::MiB, source));
        for t in &temps {
            channels.push(Channel::metric(format!("temp_{t}"), Unit::C, source));
        }
        TegraLayout {
            rails,
            rule,
            has_sum,
            cpus,
            temps,
            channels,
        }
    }

    /// One row of values for `l`, in watts for the rails; `None` for anything
    /// the line lacks.
    pub fn values(&self, l: &TegraLine) -> Vec<Option<f64>> {
        let mut out = Vec::with_capacity(self.channels.len());
        for name in &self.rails {
            out.push(
                l.rails
                    .iter()
                    .find(|r| &r.name == name)
                    .map(|r| r.cur_mw / 1e3),
            );
        }
        if self.has_sum {
            let s = sum_of_rails(&out);
            out.push(s);
        }
        out.push(l.gpu_load_pct);
        out.push(l.gpu_mhz);
        let online: Vec<f64> = l.cpu_load_pct.iter().flatten().copied().collect();
        out.push((!online.is_empty()).then(|| online.iter().sum::<f64>() / online.len() as f64));
        for k in 0..self.cpus {
            out.push(l.cpu_load_pct.get(k).copied().flatten());
        }
        out.push(l.ram_used_mb);
        for t in &self.temps {
            out.push(l.temps_c.iter().find(|(n, _)| n == t).and_then(|(_, c)| *c));
        }
        out
    }
}

/// How an import is timed when the log has no usable prefixes.
#[derive(Clone, Debug, Default)]
pub struct TegraImportOptions {
    /// The `--interval` tegrastats ran with, in ms.
    pub interval_ms: Option<f64>,
    /// Start of an unstamped log (UTC); the caller defaults it to the file's
    /// modification time.
    pub start: Option<time::OffsetDateTime>,
    /// What the data came from, for the header notes.
    pub origin: String,
}

/// Why a log could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{origin}: no tegrastats data lines in {lines} lines (first line: `{first}`): is this a tegrastats log?")]
    NoData {
        origin: String,
        lines: u64,
        first: String,
    },
    #[error("{origin}: {data_lines} tegrastats lines but no power rails: {hint}")]
    NoRails {
        origin: String,
        data_lines: u64,
        hint: String,
    },
    #[error("{0}")]
    Other(String),
}

/// Convert a tegrastats log's text.
pub fn import_tegrastats(text: &str, opts: &TegraImportOptions) -> Result<Imported, ImportError> {
    let mut rep = ImportReport::default();
    let mut parsed: Vec<TegraLine> = Vec::new();
    let mut first_line = None;
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if first_line.is_none() && !raw.trim().is_empty() {
            first_line = Some(cut(raw.trim(), 80));
        }
        match parse_line(raw) {
            Ok(l) => {
                rep.data_lines += 1;
                rep.placeholder_rails += l.placeholder_rails as u64;
                rep.negative_readings += l.rails.iter().filter(|r| r.cur_mw < 0.0).count() as u64;
                parsed.push(l);
            }
            Err(LineKind::Blank) => rep.blank_lines += 1,
            Err(LineKind::Garbage) => {
                rep.skipped_lines += 1;
                if rep.skipped_examples.len() < 5 {
                    rep.skipped_examples
                        .push((i as u64 + 1, cut(raw.trim(), 80)));
                }
            }
        }
    }
    // A split on '\n' yields one empty piece after a final newline: not a line.
    rep.lines = text.split('\n').count() as u64;
    if text.ends_with('\n') || text.is_empty() {
        rep.lines -= 1;
        rep.blank_lines = rep.blank_lines.saturating_sub(1);
    }
    if parsed.is_empty() {
        return Err(ImportError::NoData {
            origin: opts.origin.clone(),
            lines: rep.lines,
            first: first_line.unwrap_or_default(),
        });
    }
    let layout = TegraLayout::from_lines(&parsed, "tegrastats");
    if layout.rails.is_empty() {
        return Err(ImportError::NoRails {
            origin: opts.origin.clone(),
            data_lines: rep.data_lines,
            hint: "tegrastats prints power rails only when run as root on JetPack 4 and 5 (sudo tegrastats); this log has none, so it holds no energy".into(),
        });
    }
    let (times, start, timing, effective_ms) = timing(&parsed, opts);
    rep.timing = timing;
    let interval_ms = match opts.interval_ms {
        Some(n) if effective_ms.is_none_or(|e| e <= 1.5 * n) => n,
        Some(n) => {
            let e = effective_ms.unwrap_or(n);
            rep.timing.push_str(&format!(
                "; tegrastats was asked for {n} ms but lines are {e:.0} ms apart on average: the session's interval is set to {e:.0} ms so the integrator does not take every interval for a gap"
            ));
            e
        }
        None => effective_ms.unwrap_or(1000.0),
    };
    let mut header = Header::new(layout.channels.clone(), interval_ms);
    header.start_utc = format_utc(start);
    header.host = "unknown (imported)".into();
    rep.rails = layout.rails.clone();
    rep.channels = layout.channels.iter().map(|c| c.name.clone()).collect();
    rep.total_channel = layout
        .channels
        .iter()
        .find(|c| c.role == crate::model::sample::Role::Total)
        .map(|c| c.name.clone());
    rep.total_reason = layout.rule.explain();
    let mut events = Vec::with_capacity(parsed.len() + 1);
    let mut ledger = EnergyLedger::new(&layout.channels, interval_ms);
    for (l, t) in parsed.iter().zip(&times) {
        let s = Sample {
            t_s: *t,
            values: layout.values(l),
        };
        ledger.push_sample(&s);
        events.push(Event::Sample(s));
    }
    rep.samples = events.len() as u64;
    rep.duration_s = ledger.span_s();
    rep.energy_j = ledger.total_joules();
    rep.uncovered_s = ledger.total_uncovered_s();
    rep.channel_energy_j = ledger
        .channel_energies()
        .into_iter()
        .filter(|e| {
            layout
                .channels
                .iter()
                .any(|c| c.name == e.name && c.is_power())
        })
        .map(|e| (e.name, e.joules))
        .collect();
    header.notes = vec![
        format!(
            "imported from tegrastats log {}: {} data lines kept, {} non-tegrastats lines skipped, {} blank",
            opts.origin, rep.data_lines, rep.skipped_lines, rep.blank_lines
        ),
        format!("timing: {}", rep.timing),
        format!("total: {}", rep.total_reason),
        "rail readings are tegrastats' current (first) value in mW; the running average is not used".into(),
    ];
    if rep.placeholder_rails > 0 {
        header.notes.push(format!(
            "{} placeholder NC rail readings skipped",
            rep.placeholder_rails
        ));
    }
    if rep.negative_readings > 0 {
        header.notes.push(format!(
            "{} negative rail readings kept as printed in their rail (the integrator rejects them; the sum includes them)",
            rep.negative_readings
        ));
    }
    let last_t = times.last().copied().unwrap_or(0.0);
    events.push(Event::End(SessionEnd {
        t_s: last_t,
        samples: rep.samples,
        energy_j: ledger.energy_map(),
        sources: vec![crate::model::event::SourceStats {
            source: "tegrastats (imported)".into(),
            nominal_interval_ms: interval_ms,
            effective_hz: (rep.duration_s > 0.0)
                .then(|| (rep.samples.saturating_sub(1)) as f64 / rep.duration_s),
            samples: rep.samples,
            missed: 0,
        }],
    }));
    Ok(Imported {
        header,
        events,
        report: rep,
    })
}

/// Seconds since the first line for every line, the start instant, a
/// description of the method, and the mean spacing in ms.
fn timing(
    lines: &[TegraLine],
    opts: &TegraImportOptions,
) -> (Vec<f64>, time::OffsetDateTime, String, Option<f64>) {
    let n = lines.len();
    // Rounded to 1 µs so a header shows 100, not 100.00002.
    let mean_ms = |ts: &[f64]| {
        (ts.len() > 1)
            .then(|| ((ts[ts.len() - 1] - ts[0]) / (ts.len() - 1) as f64 * 1e6).round() / 1e3)
            .filter(|m| *m > 0.0)
    };
    if let Some(e0) = lines
        .iter()
        .map(|l| l.epoch)
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.first().copied())
    {
        let ts: Vec<f64> = lines
            .iter()
            .map(|l| l.epoch.map_or(0.0, |e| (e.0 - e0.0) as f64 + (e.1 - e0.1)))
            .collect();
        let start = time::OffsetDateTime::from_unix_timestamp_nanos(
            e0.0 as i128 * 1_000_000_000 + (e0.1 * 1e9) as i128,
        )
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let m = mean_ms(&ts);
        return (
            ts,
            start,
            "from the <epoch>:: prefix of each line (UTC, sub-second)".into(),
            m,
        );
    }
    let stamped = lines
        .iter()
        .filter(|l| l.stamp.and_then(|s| s.as_if_utc_s()).is_some())
        .count();
    if stamped * 2 > n {
        // Runs of lines sharing a stamp; an unstamped line joins the run before it.
        let mut secs: Vec<i64> = Vec::with_capacity(n);
        let mut prev: Option<i64> = None;
        for l in lines {
            let s = l.stamp.and_then(|s| s.as_if_utc_s()).or(prev).unwrap_or(0);
            secs.push(s);
            prev = Some(s);
        }
        let s0 = secs[0];
        let mut ts = vec![0.0; n];
        let mut i = 0;
        let mut groups = 0;
        let mut widest = 0;
        while i < n {
            let mut j = i;
            while j < n && secs[j] == secs[i] {
                j += 1;
            }
            let k = j - i;
            for (m, t) in ts[i..j].iter_mut().enumerate() {
                *t = (secs[i] - s0) as f64 + m as f64 / k as f64;
            }
            groups += 1;
            widest = widest.max(k);
            i = j;
        }
        let start = time::OffsetDateTime::from_unix_timestamp(s0)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let m = mean_ms(&ts);
        return (
            ts,
            start,
            format!(
                "from the MM-DD-YYYY HH:MM:SS stamps (device local time, zone unknown, written as if UTC); {groups} distinct seconds, up to {widest} lines per second, spread evenly over their second"
            ),
            m,
        );
    }
    let iv = opts.interval_ms.unwrap_or(1000.0);
    let ts: Vec<f64> = (0..n).map(|i| i as f64 * iv / 1e3).collect();
    let start = opts.start.unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    (
        ts,
        start,
        format!(
            "no timestamps in the log: one line every {iv} ms (--interval{}) from {} (--start, default the file's modification time)",
            if opts.interval_ms.is_some() { "" } else { " not given: tegrastats' default 1000 ms" },
            format_utc(start)
        ),
        Some(iv),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample::{Role, Scope};

    #[test]
    fn stamped_lines_sharing_a_second_are_spread_over_it() {
        let mut text = String::new();
        for sec in 0..3 {
            for _ in 0..4 {
                text.push_str(&format!("01-02-2025 10:00:0{sec} RAM 1/2MB CPU [1%@1] GR3D_FREQ 5%@[300] VDD_IN 5000mW/5000mW VDD_SOC 1000mW/1000mW\n"));
            }
        }
        let imp = import_tegrastats(
            &text,
            &TegraImportOptions {
                interval_ms: Some(250.0),
                ..Default::default()
            },
        )
        .unwrap();
        let ts: Vec<f64> = imp
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Sample(s) => Some(s.t_s),
                _ => None,
            })
            .collect();
        assert_eq!(
            ts,
            [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75]
        );
        assert_eq!(imp.header.start_utc, "2025-01-02T10:00:00.000Z");
        assert_eq!(imp.report.total_channel.as_deref(), Some("VDD_IN"));
        assert!((imp.report.energy_j - 5.0 * 2.75).abs() < 1e-9);
        assert_eq!(imp.header.channels[0].scope, Scope::BoardInput);
        assert_eq!(imp.header.channels[1].role, Role::Part);
    }

    #[test]
    fn unstamped_log_uses_interval_and_start() {
        let text = "RAM 1/2MB GPU 1000/1000 CPU 2000/2000\nRAM 1/2MB GPU 1000/1000 CPU 2000/2000\nRAM 1/2MB GPU 1000/1000 CPU 2000/2000\n";
        let start = time::macros::datetime!(2024-01-01 0:00 UTC);
        let imp = import_tegrastats(
            text,
            &TegraImportOptions {
                interval_ms: Some(500.0),
                start: Some(start),
                origin: "x".into(),
            },
        )
        .unwrap();
        assert_eq!(
            imp.report.total_channel.as_deref(),
            Some("module_rails_sum")
        );
        assert!(
            (imp.report.energy_j - 3.0).abs() < 1e-9,
            "{}",
            imp.report.energy_j
        );
        assert_eq!(imp.header.interval_ms, 500.0);
        assert_eq!(imp.header.start_utc, "2024-01-01T00:00:00.000Z");
    }

    #[test]
    fn refusals_are_clear() {
        let e = import_tegrastats("hello\nworld\n", &TegraImportOptions::default()).unwrap_err();
        assert!(e.to_string().contains("no tegrastats data lines"), "{e}");
        let e = import_tegrastats(
            "RAM 1/2MB CPU [1%@1] GR3D_FREQ 0%\n",
            &TegraImportOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("root"), "{e}");
    }
}
