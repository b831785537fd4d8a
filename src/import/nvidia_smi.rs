//! An `nvidia-smi --query-gpu` CSV log converted to a session
//! (`trainwatt import nvidia-smi`).
//!
//! Handles: units in the header and/or the values, any column order, header-
//! less logs (`--columns`), logs without a timestamp (`--interval`), `[N/A]`
//! and `[Not Supported]`, several GPUs (by `index`, `uuid` or `pci.bus_id`
//! column, else `--gpus`, else the repeating timestamp pattern:
//! [`super::nvidia_smi_gpus`]), a truncated last row, NUL bytes and stray
//! non-CSV lines (an `nvidia-smi` table printed first, shell noise): skipped
//! and counted. Stamps that go back are clock steps ([`super::timeline`]).
//! A log without a power column is refused with the reason.
use super::checks::{plausible_watts, short_number};
use super::nvidia_smi_csv::{ColumnKind, NAME};
use super::nvidia_smi_gpus::{by_identity, by_row_order, infer_count, Grouping, MAX_GPUS};
use super::nvidia_smi_rows::{check_rows, collect_rows, find_columns, Columns, Row};
use super::report::{check_notes, cut, ImportReport, Imported};
use super::session::{check_interval_ms, finish, Body};
use super::timeline::continue_monotonic;
use crate::model::event::Marker;
use crate::model::sample::{Channel, Role, Sample, Scope, Unit};
use crate::record::format::format_utc;
use crate::record::Header;
use crate::sensors::channel_names::make_unique;
use crate::sensors::jetson_rails::sum_of_rails;

#[derive(Clone, Debug, Default)]
pub struct CsvImportOptions {
    /// The `--query-gpu` list of a header-less log.
    pub columns: Option<String>,
    /// Sampling interval of a log without a timestamp column, in ms.
    pub interval_ms: Option<f64>,
    /// Number of GPUs when rows carry no index/uuid (row order identifies them).
    pub gpus: Option<usize>,
    /// Start of a log without timestamps (UTC); the caller defaults it to the file's mtime.
    pub start: Option<time::OffsetDateTime>,
    pub origin: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("{origin}: no --query-gpu header line found{hint}; pass --columns with the --query-gpu list you ran (for example --columns timestamp,index,power.draw)")]
    NoHeader { origin: String, hint: String },
    #[error("{origin}: {at}: no power column in the query ({columns}): this log holds no energy. Log power with: nvidia-smi --query-gpu=timestamp,index,power.draw,utilization.gpu --format=csv -lms 100")]
    NoPower {
        origin: String,
        at: String,
        columns: String,
    },
    #[error("{origin}: {rows} rows but no power reading in any of them (every power.draw is [N/A] or [Not Supported]): this GPU or driver does not report power")]
    NoPowerReadings { origin: String, rows: u64 },
    #[error("{origin}: no data rows after the header (line {line})")]
    NoRows { origin: String, line: u64 },
    #[error("{origin}: {msg}")]
    Usage { origin: String, msg: String },
}

/// The session's columns: one power channel per GPU that reports power (and
/// their sum), then each GPU's metrics.
struct SmiLayout {
    channels: Vec<Channel>,
    /// GPU slots with a power channel, in channel order.
    pslots: Vec<usize>,
    multi: bool,
    /// Generated names moved aside for a GPU's own: (wanted, given).
    renames: Vec<(String, String)>,
}

/// When each cycle was taken.
struct SmiTiming {
    times: Vec<f64>,
    start: time::OffsetDateTime,
    interval_ms: f64,
}

/// Convert an nvidia-smi CSV log's text.
pub fn import_nvidia_smi(text: &str, opts: &CsvImportOptions) -> Result<Imported, CsvError> {
    let usage = |msg: String| CsvError::Usage {
        origin: opts.origin.clone(),
        msg,
    };
    let mut rep = ImportReport {
        nul_bytes: text.bytes().filter(|b| *b == 0).count() as u64,
        ..ImportReport::default()
    };
    let clean: String = text.chars().filter(|c| *c != '\0').collect();
    let lines = split_lines(&clean, &mut rep);
    let cols = find_columns(&lines, opts)?;
    let rows = collect_rows(&lines, &cols, &mut rep);
    check_rows(&rows, &cols, opts)?;
    let mut notes = Vec::new();
    let grouping = group_rows(&rows, &cols, opts).map_err(usage)?;
    rep.gpus = grouping.how.clone();
    let layout = build_layout(&rows, &grouping, &cols, &mut notes);
    rep.renamed_channels = layout.renames.clone();
    let timing = cycle_times(&rows, &grouping, &cols, opts, &mut rep).map_err(usage)?;
    let (samples, markers) =
        build_samples(&rows, &grouping, &cols, &layout, &timing, &lines, &mut rep);
    rep.total_reason = if layout.multi {
        format!("{} GPUs: each GPU's power.draw is a part, their sum is the total (GPU only: the host is not measured)", layout.pslots.len())
    } else {
        "one GPU: its power.draw is the total (GPU only: the host is not measured)".into()
    };
    let events = finish(
        Body {
            channels: &layout.channels,
            interval_ms: timing.interval_ms,
            source: "nvidia-smi (imported)",
            samples,
            markers,
        },
        &mut rep,
    )
    .map_err(usage)?;
    let mut header = Header::new(layout.channels.clone(), timing.interval_ms);
    describe(&mut header, &rows, &cols, &rep, opts, timing.start, notes);
    Ok(Imported {
        header,
        events,
        report: rep,
    })
}

/// The log's lines (CR stripped), counting them.
fn split_lines<'a>(clean: &'a str, rep: &mut ImportReport) -> Vec<&'a str> {
    let mut lines: Vec<&str> = clean
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    if clean.ends_with('\n') {
        lines.pop();
    }
    rep.lines = lines.len() as u64;
    lines
}

/// Which GPU each row is and which rows form a cycle.
fn group_rows(rows: &[Row], cols: &Columns, opts: &CsvImportOptions) -> Result<Grouping, String> {
    if let Some(c) = cols.ident {
        let ids: Vec<String> = rows
            .iter()
            .map(|r| r.gpu.clone().unwrap_or_default())
            .collect();
        return Ok(by_identity(&ids, &cols.names[c]));
    }
    match opts.gpus {
        Some(0) => Err("--gpus must be at least 1".into()),
        Some(g) if g > MAX_GPUS => Err(format!(
            "--gpus {g} is more GPUs than any machine holds (at most {MAX_GPUS})"
        )),
        Some(g) => Ok(by_row_order(
            rows.len(),
            g,
            format!("no index column: GPUs by row order, {g} GPUs (--gpus)"),
        )),
        None => {
            let t0 = rows.iter().find_map(|r| r.t);
            let times: Vec<Option<f64>> = rows.iter().map(|r| Some(rel_s(r.t?, t0?))).collect();
            let whole = rows.iter().all(|r| r.t.is_none_or(|t| t.1 == 0.0));
            let (g, how) = if cols.ts.is_some() {
                infer_count(&times, whole)
            } else {
                (1, "no index column and no timestamps: one GPU assumed (pass --gpus N for a log of N GPUs in row order)".to_string())
            };
            Ok(by_row_order(rows.len(), g, how))
        }
    }
}

/// Channels for the GPUs: a GPU that never reports power (`[Not Supported]`
/// on every row) gets no power channel, so it cannot hold the others' sum at
/// "no reading". The GPUs' own names (`gpu<index>`) keep their names; the
/// generated ones (`gpu_sum`, `gpu<index>_util`) step aside if taken.
fn build_layout(rows: &[Row], g: &Grouping, cols: &Columns, notes: &mut Vec<String>) -> SmiLayout {
    let ng = g.gpu_ids.len();
    let mut has_power = vec![false; ng];
    for (slot, ri) in g.groups.iter().flatten() {
        has_power[*slot] |= rows[*ri].fields[cols.power].is_some();
    }
    let pslots: Vec<usize> = (0..ng).filter(|s| has_power[*s]).collect();
    for s in (0..ng).filter(|s| !has_power[*s]) {
        notes.push(format!(
            "GPU {} reports no power on any row: left out of the total",
            g.gpu_ids[s]
        ));
    }
    let multi = pslots.len() > 1;
    let role = if multi { Role::Part } else { Role::Total };
    let mut channels: Vec<Channel> = pslots
        .iter()
        .map(|s| Channel::power(format!("gpu{}", g.gpu_ids[*s]), Scope::GpuOnly, role, NAME))
        .collect();
    if multi {
        channels.push(Channel::power("gpu_sum", Scope::GpuOnly, Role::Total, NAME));
    }
    for id in &g.gpu_ids {
        for (_, k) in &cols.metrics {
            let (suffix, unit) = match k {
                ColumnKind::Util => ("util", Unit::Percent),
                ColumnKind::MemUsed => ("mem_used", Unit::MiB),
                ColumnKind::Temp => ("temp", Unit::C),
                _ => ("sm_clock", Unit::MHz),
            };
            channels.push(Channel::metric(format!("gpu{id}_{suffix}"), unit, NAME));
        }
    }
    let renames = make_unique(&mut channels, pslots.len());
    SmiLayout {
        channels,
        pslots,
        multi,
        renames,
    }
}

/// Each cycle's time (seconds since the first), the start and the interval:
/// from the timestamp column, else `--interval` from `--start`.
fn cycle_times(
    rows: &[Row],
    g: &Grouping,
    cols: &Columns,
    opts: &CsvImportOptions,
    rep: &mut ImportReport,
) -> Result<SmiTiming, String> {
    if let Some(ms) = opts.interval_ms {
        check_interval_ms(ms).map_err(|e| format!("--interval: {e}"))?;
    }
    let t0 = rows.iter().find_map(|r| r.t);
    let (Some(_), Some(t0)) = (cols.ts, t0) else {
        let Some(iv) = opts.interval_ms else {
            return Err("the log has no timestamp column: pass --interval MS (the -lms / -l interval nvidia-smi ran with)".into());
        };
        let start = opts.start.unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        rep.timing = format!("no timestamp column: one sample every {iv} ms (--interval) from {} (--start, default the file's modification time)", format_utc(start));
        return Ok(SmiTiming {
            times: (0..g.groups.len()).map(|i| i as f64 * iv / 1e3).collect(),
            start,
            interval_ms: iv,
        });
    };
    let times: Vec<f64> = g
        .groups
        .iter()
        .map(|grp| {
            grp.iter()
                .find_map(|(_, ri)| rows[*ri].t)
                .map_or(f64::NAN, |t| rel_s(t, t0))
        })
        .collect();
    let mut d: Vec<f64> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    d.sort_by(f64::total_cmp);
    // Rounded to 1 µs so the header shows 50, not 50.00000000000004.
    let median = d.get(d.len() / 2).map(|x| (x * 1e6).round() / 1e3);
    let iv = opts.interval_ms.or(median).unwrap_or(1000.0);
    check_interval_ms(iv)?;
    rep.timing = format!(
        "from the timestamp column (local time of the logging machine, zone unknown, written as if UTC); interval {iv:.0} ms ({})",
        if opts.interval_ms.is_some() { "--interval" } else { "median spacing" }
    );
    let start = time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(t0.0) * 1_000_000_000 + (t0.1 * 1e9) as i128,
    )
    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Ok(SmiTiming {
        times,
        start,
        interval_ms: iv,
    })
}

/// One sample per cycle on a monotonic timeline, a marker at each clock
/// step; implausible power readings left out and flagged with their line.
fn build_samples(
    rows: &[Row],
    g: &Grouping,
    cols: &Columns,
    layout: &SmiLayout,
    timing: &SmiTiming,
    lines: &[&str],
    rep: &mut ImportReport,
) -> (Vec<Sample>, Vec<Marker>) {
    let placed: Vec<(&Vec<(usize, usize)>, f64)> = g
        .groups
        .iter()
        .zip(&timing.times)
        .filter(|(_, t)| t.is_finite())
        .map(|(grp, t)| (grp, *t))
        .collect();
    rep.unplaced_readings = (g.groups.len() - placed.len()) as u64;
    let mut times: Vec<f64> = placed.iter().map(|(_, t)| *t).collect();
    let steps = continue_monotonic(&mut times, timing.interval_ms / 1e3, |i| {
        let line = placed[i].0.first().map_or(0, |(_, ri)| rows[*ri].line);
        (line as u64 + 1, cut(lines[line].trim(), 80))
    });
    let markers = steps.iter().map(|s| s.marker()).collect();
    rep.clock_steps = steps;
    let samples = placed
        .iter()
        .zip(times)
        .map(|((grp, _), t_s)| Sample {
            t_s,
            values: cycle_values(grp, rows, cols, layout, rep),
        })
        .collect();
    (samples, markers)
}

/// The values of one cycle: power per GPU (and their sum), then metrics.
fn cycle_values(
    grp: &[(usize, usize)],
    rows: &[Row],
    cols: &Columns,
    layout: &SmiLayout,
    rep: &mut ImportReport,
) -> Vec<Option<f64>> {
    let np = layout.pslots.len();
    let mut values = vec![None; layout.channels.len()];
    for (slot, ri) in grp {
        let r = &rows[*ri];
        if let Some(k) = layout.pslots.iter().position(|s| s == slot) {
            values[k] = r.fields[cols.power].filter(|w| {
                let ok = plausible_watts(*w);
                if !ok {
                    rep.implausible(
                        r.line as u64 + 1,
                        format!("{} reads {} W", cols.names[cols.power], short_number(*w)),
                    );
                }
                ok
            });
        }
        let base = np + usize::from(layout.multi) + slot * cols.metrics.len();
        for (m, (col, _)) in cols.metrics.iter().enumerate() {
            values[base + m] = r.fields[*col];
        }
    }
    if layout.multi {
        values[np] = sum_of_rails(&values[..np]);
    }
    values
}

/// The header's start, host, GPU names and notes.
fn describe(
    header: &mut Header,
    rows: &[Row],
    cols: &Columns,
    rep: &ImportReport,
    opts: &CsvImportOptions,
    start: time::OffsetDateTime,
    notes: Vec<String>,
) {
    header.start_utc = format_utc(start);
    header.host = "unknown (imported)".into();
    header.skipped_readings = rep.unplaced_readings + rep.implausible_readings;
    let mut names: Vec<String> = Vec::new();
    for n in rows.iter().filter_map(|r| r.name.as_ref()) {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    header.device.gpus = names;
    let na = rows
        .iter()
        .filter(|r| r.fields[cols.power].is_none())
        .count();
    header.notes = vec![
        format!(
            "imported from nvidia-smi CSV {}: {} rows kept, {} non-CSV lines skipped, {} truncated last line, {} NUL bytes removed",
            opts.origin, rep.data_lines, rep.skipped_lines, rep.truncated_lines, rep.nul_bytes
        ),
        format!("power column `{}`; {na} rows without a power reading ([N/A], [Not Supported]) kept as no reading", cols.names[cols.power]),
        format!("timing: {}", rep.timing),
        format!("GPUs: {}", rep.gpus),
        format!("total: {}", rep.total_reason),
    ];
    header.notes.extend(notes);
    check_notes(header, rep);
}

/// Seconds from `t0` to `t`, both (whole seconds, fraction).
fn rel_s(t: (i64, f64), t0: (i64, f64)) -> f64 {
    t.0.saturating_sub(t0.0) as f64 + (t.1 - t0.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> CsvImportOptions {
        CsvImportOptions {
            origin: "test".into(),
            ..Default::default()
        }
    }

    #[test]
    fn any_column_order_with_units_and_a_truncated_last_row() {
        let text = "name, power.draw [W], timestamp, utilization.gpu [%]\nA100, 100.00 W, 2024/01/01 00:00:00.000, 50 %\nA100, 100.00 W, 2024/01/01 00:00:00.100, 50 %\nA100, 100.00 W, 2024/01/01 00:00:00.200, 50 %\nA100, 100.0";
        let imp = import_nvidia_smi(text, &opts()).unwrap();
        assert_eq!(imp.report.samples, 3);
        assert_eq!(imp.report.truncated_lines, 1);
        assert!(
            (imp.report.energy_j.unwrap_or(f64::NAN) - 20.0).abs() < 1e-6,
            "{}",
            imp.report.energy_j.unwrap_or(f64::NAN)
        );
        assert_eq!(imp.header.interval_ms.round(), 100.0);
        assert_eq!(imp.header.device.gpus, ["A100"]);
    }

    #[test]
    fn several_gpus_by_index_and_by_row_order() {
        let text = "timestamp, index, power.draw [W]\n2024/01/01 00:00:00.000, 0, 100 W\n2024/01/01 00:00:00.001, 1, 50 W\n2024/01/01 00:00:01.000, 0, 100 W\n2024/01/01 00:00:01.001, 1, 50 W\n";
        let imp = import_nvidia_smi(text, &opts()).unwrap();
        assert_eq!(imp.report.channels[..3], ["gpu0", "gpu1", "gpu_sum"]);
        assert_eq!(imp.report.total_channel.as_deref(), Some("gpu_sum"));
        assert!((imp.report.energy_j.unwrap_or(f64::NAN) - 150.0).abs() < 1e-6);
        // Header-less, no timestamps, row order with --gpus.
        let o = CsvImportOptions {
            columns: Some("power.draw".into()),
            gpus: Some(3),
            interval_ms: Some(1000.0),
            ..opts()
        };
        let imp =
            import_nvidia_smi("133.91\n189.84\n104.34\n133.91\n189.84\n104.34\n", &o).unwrap();
        assert_eq!(imp.report.samples, 2);
        assert!(
            (imp.report.energy_j.unwrap_or(f64::NAN) - (133.91 + 189.84 + 104.34)).abs() < 1e-6
        );
    }

    #[test]
    fn refusals_na_nul_and_strays() {
        let e = import_nvidia_smi("index, name, memory.used [MiB]\n0, V100, 10 MiB\n", &opts())
            .unwrap_err();
        assert!(e.to_string().contains("no power column"), "{e}");
        let e = import_nvidia_smi("1.0, 2.0\n", &opts()).unwrap_err();
        assert!(e.to_string().contains("--columns"), "{e}");
        let o = CsvImportOptions {
            columns: Some("name,power.draw".into()),
            interval_ms: Some(100.0),
            ..opts()
        };
        let e = import_nvidia_smi("GTX, [Not Supported]\n", &o).unwrap_err();
        assert!(e.to_string().contains("does not report power"), "{e}");
        let text = "timestamp, power.draw [W]\n\0\0\0+----+\n2024/01/01 00:00:00.000, 10 W\n| junk |\n2024/01/01 00:00:01.000, [N/A]\n2024/01/01 00:00:02.000, 10 W\n";
        let imp = import_nvidia_smi(text, &opts()).unwrap();
        assert_eq!(imp.report.nul_bytes, 3);
        assert_eq!(imp.report.skipped_lines, 2);
        assert_eq!(imp.report.samples, 3);
        // The [N/A] row is no reading, not zero: 10 W over the 2 s bridged interval.
        assert!(
            (imp.report.energy_j.unwrap_or(f64::NAN) - 20.0).abs() < 1e-6,
            "{}",
            imp.report.energy_j.unwrap_or(f64::NAN)
        );
        let e = import_nvidia_smi("power.draw\n10\n", &opts()).unwrap_err();
        assert!(e.to_string().contains("--interval"), "{e}");
    }
}
