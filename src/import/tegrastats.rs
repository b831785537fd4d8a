//! A whole tegrastats log to a session (`trainwatt import tegrastats`).
//!
//! Timing: `<epoch>::` prefixes are the truth where present (sub-second);
//! otherwise `MM-DD-YYYY HH:MM:SS` stamps are: they have one-second
//! resolution, so the lines that share a stamp are spread evenly over their
//! second. Logs with neither use the interval from the given start. A stamp
//! that goes back (a daylight-saving fall-back) is a clock step: the
//! timeline continues and a marker says where ([`super::timeline`]).
use super::checks::{plausible_watts, short_number};
use super::report::{cut, ImportReport, Imported};
use super::session::{check_interval_ms, finish, Body};
use super::tegrastats_timing::{timing, Timing};
use super::timeline::continue_monotonic;
use crate::model::event::Marker;
use crate::model::sample::Sample;
use crate::record::format::format_utc;
use crate::record::Header;
use crate::sensors::tegrastats_layout::TegraLayout;
use crate::sensors::tegrastats_parse::{parse_line, LineKind, TegraLine};

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
    #[error("{origin}: {msg}")]
    Invalid { origin: String, msg: String },
}

/// A data line and where it was in the log.
pub(crate) struct Parsed {
    pub line: u64,
    pub text: String,
    pub data: TegraLine,
}

/// Convert a tegrastats log's text.
pub fn import_tegrastats(text: &str, opts: &TegraImportOptions) -> Result<Imported, ImportError> {
    let invalid = |msg: String| ImportError::Invalid {
        origin: opts.origin.clone(),
        msg,
    };
    let mut rep = ImportReport::default();
    let parsed = read_lines(text, opts, &mut rep)?;
    let layout = TegraLayout::from_lines(parsed.iter().map(|p| &p.data), "tegrastats");
    if layout.rails.is_empty() {
        return Err(ImportError::NoRails {
            origin: opts.origin.clone(),
            data_lines: rep.data_lines,
            hint: "tegrastats prints power rails only when run as root on JetPack 4 and 5 (sudo tegrastats); this log has none, so it holds no energy".into(),
        });
    }
    if let Some(ms) = opts.interval_ms {
        check_interval_ms(ms).map_err(|e| invalid(format!("--interval: {e}")))?;
    }
    let t = timing(&parsed, opts);
    rep.timing = t.method.clone();
    let start = t.start;
    let interval_ms = session_interval(&t, opts, &mut rep);
    check_interval_ms(interval_ms).map_err(invalid)?;
    let (samples, markers) = place_samples(&parsed, t, &layout, interval_ms, &mut rep);
    rep.rails = layout.rails.clone();
    rep.total_reason = layout.rule.explain();
    rep.renamed_channels = layout.renamed.clone();
    let mut header = Header::new(layout.channels.clone(), interval_ms);
    let events = finish(
        Body {
            channels: &layout.channels,
            interval_ms,
            source: "tegrastats (imported)",
            samples,
            markers,
        },
        &mut rep,
    )
    .map_err(invalid)?;
    describe(&mut header, &rep, opts, start);
    name_board(&mut header, &parsed, &layout);
    Ok(Imported {
        header,
        events,
        report: rep,
    })
}

/// Parse every line, counting blank and foreign ones.
fn read_lines(
    text: &str,
    opts: &TegraImportOptions,
    rep: &mut ImportReport,
) -> Result<Vec<Parsed>, ImportError> {
    let mut parsed = Vec::new();
    let mut first_line = None;
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if first_line.is_none() && !raw.trim().is_empty() {
            first_line = Some(cut(raw.trim(), 80));
        }
        match parse_line(raw) {
            Ok(l) => {
                rep.data_lines += 1;
                rep.placeholder_rails += u64::from(l.placeholder_rails);
                rep.negative_readings += l.rails.iter().filter(|r| r.cur_mw < 0.0).count() as u64;
                parsed.push(Parsed {
                    line: i as u64 + 1,
                    text: cut(raw.trim(), 80),
                    data: l,
                });
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
    Ok(parsed)
}

/// The session's nominal interval: `--interval`, unless the lines are much
/// further apart than that.
fn session_interval(t: &Timing, opts: &TegraImportOptions, rep: &mut ImportReport) -> f64 {
    match opts.interval_ms {
        Some(n) if t.mean_ms.is_none_or(|e| e <= 1.5 * n) => n,
        Some(n) => {
            let e = t.mean_ms.unwrap_or(n);
            rep.timing.push_str(&format!(
                "; tegrastats was asked for {n} ms but lines are {e:.0} ms apart on average: the session's interval is set to {e:.0} ms so the integrator does not take every interval for a gap"
            ));
            e
        }
        None => t.mean_ms.unwrap_or(1000.0),
    }
}

/// Samples on a monotonic timeline, with a marker at every clock step; lines
/// without a time are counted, implausible rails left out and flagged.
fn place_samples(
    parsed: &[Parsed],
    t: Timing,
    layout: &TegraLayout,
    interval_ms: f64,
    rep: &mut ImportReport,
) -> (Vec<Sample>, Vec<Marker>) {
    let placed: Vec<(&Parsed, f64)> = parsed
        .iter()
        .zip(t.times)
        .filter_map(|(p, t)| t.map(|t| (p, t)))
        .collect();
    rep.unplaced_readings = (parsed.len() - placed.len()) as u64;
    let mut times: Vec<f64> = placed.iter().map(|(_, t)| *t).collect();
    let steps = continue_monotonic(&mut times, interval_ms / 1e3, |i| {
        (placed[i].0.line, placed[i].0.text.clone())
    });
    let markers = steps.iter().map(|s| s.marker()).collect();
    rep.clock_steps = steps;
    let samples = placed
        .iter()
        .zip(times)
        .map(|((p, _), t_s)| {
            for r in &p.data.rails {
                if !plausible_watts(r.cur_mw / 1e3) {
                    rep.implausible(
                        p.line,
                        format!("rail {} reads {} mW", r.name, short_number(r.cur_mw)),
                    );
                }
            }
            Sample {
                t_s,
                values: layout.values_with(&p.data, plausible_watts),
            }
        })
        .collect();
    (samples, markers)
}

/// The header's start, host and notes.
fn describe(
    header: &mut Header,
    rep: &ImportReport,
    opts: &TegraImportOptions,
    start: time::OffsetDateTime,
) {
    header.start_utc = format_utc(start);
    header.host = "unknown (imported)".into();
    header.skipped_readings = rep.unplaced_readings + rep.implausible_readings;
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
    super::report::check_notes(header, rep);
}

/// The board, inferred from the rails, RAM total and CPU count where that is
/// unambiguous; the notes say it was inferred (or why it was not).
fn name_board(header: &mut Header, parsed: &[Parsed], layout: &TegraLayout) {
    use crate::sensors::jetson_boards::{infer_board, BoardGuess};
    let ram = parsed
        .iter()
        .filter_map(|p| p.data.ram_total_mb)
        .reduce(f64::max);
    match infer_board(&layout.rails, ram, layout.cpus) {
        BoardGuess::Named(model) => {
            header.notes.push(format!(
                "device model inferred from the rails ({}), the RAM total ({} MB) and {} CPU cores: {model}",
                layout.rails.join(", "),
                ram.map_or("?".into(), |m| format!("{m:.0}")),
                layout.cpus
            ));
            header.device.model = Some(model);
        }
        BoardGuess::Ambiguous(why) => {
            header
                .notes
                .push(format!("device model not inferred: {why}"));
        }
        BoardGuess::Unknown => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::Event;
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
        assert!((imp.report.energy_j.unwrap_or(f64::NAN) - 5.0 * 2.75).abs() < 1e-9);
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
            (imp.report.energy_j.unwrap_or(f64::NAN) - 3.0).abs() < 1e-9,
            "{}",
            imp.report.energy_j.unwrap_or(f64::NAN)
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

    #[test]
    fn a_nano_log_with_4gb_ram_names_the_board_and_says_inferred() {
        let line = "RAM 936/3964MB (lfb 366x4MB) SWAP 0/4096MB (cached 0MB) CPU [10%@102,3%@102,0%@102,0%@102] EMC_FREQ 0%@204 GR3D_FREQ 42%@76 POM_5V_IN 2793/1750 POM_5V_GPU 76/25 POM_5V_CPU 1222/604\n";
        let imp = import_tegrastats(
            &line.repeat(3),
            &TegraImportOptions {
                interval_ms: Some(1000.0),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            imp.header.device.model.as_deref(),
            Some("NVIDIA Jetson Nano 4GB")
        );
        assert!(
            imp.header
                .notes
                .iter()
                .any(|n| n.contains("inferred") && n.contains("3964 MB")),
            "{:?}",
            imp.header.notes
        );
    }
}
