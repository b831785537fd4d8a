//! An `nvidia-smi --query-gpu` CSV log converted to a session
//! (`trainwatt import nvidia-smi`).
//!
//! Handles: units in the header and/or the values, any column order, header-
//! less logs (`--columns`), logs without a timestamp (`--interval`), `[N/A]`
//! and `[Not Supported]`, several GPUs (by `index`, `uuid` or `pci.bus_id`
//! column, else by row order), a truncated last row, NUL bytes and stray
//! non-CSV lines (an `nvidia-smi` table printed first, shell noise): skipped
//! and counted. A log without a power column is refused with the reason.
use std::collections::BTreeMap;

use super::import_report::{cut, ImportReport, Imported};
use super::nvidia_smi_csv::{
    column_kind, is_header, parse_timestamp, parse_value, split_row, ColumnKind, NAME,
};
use crate::model::energy::EnergyLedger;
use crate::model::event::{Event, SessionEnd, SourceStats};
use crate::model::sample::{Channel, Role, Sample, Scope, Unit};
use crate::record::format::format_utc;
use crate::record::Header;

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

struct Row {
    t: Option<(i64, f64)>,
    gpu: Option<String>,
    fields: Vec<Option<f64>>,
    name: Option<String>,
}

/// Convert an nvidia-smi CSV log's text.
pub fn import_nvidia_smi(text: &str, opts: &CsvImportOptions) -> Result<Imported, CsvError> {
    let mut rep = ImportReport::default();
    let origin = opts.origin.clone();
    rep.nul_bytes = text.bytes().filter(|b| *b == 0).count() as u64;
    let clean: String = text.chars().filter(|c| *c != '\0').collect();
    let lines: Vec<&str> = clean
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let n_lines = if clean.ends_with('\n') {
        lines.len() - 1
    } else {
        lines.len()
    };
    rep.lines = n_lines as u64;
    let last_nonblank = (0..n_lines).rev().find(|&i| !lines[i].trim().is_empty());

    let (columns, header_at): (Vec<String>, Option<usize>) = match &opts.columns {
        Some(c) => (split_row(c).into_iter().map(String::from).collect(), None),
        None => match (0..n_lines).find(|&i| is_header(lines[i])) {
            Some(i) => (
                split_row(lines[i]).into_iter().map(String::from).collect(),
                Some(i),
            ),
            None => {
                let dmon = lines.iter().any(|l| l.trim_start().starts_with("# gpu"));
                let hint = if dmon {
                    " (this looks like `nvidia-smi dmon` output, which is not --query-gpu CSV)"
                        .to_string()
                } else if lines.first().is_some_and(|l| {
                    l.split(',').count() > 0
                        && parse_value(l.split(',').next().unwrap_or("")).is_some()
                        || parse_timestamp(l.split(',').next().unwrap_or("")).is_some()
                }) {
                    " (the log looks header-less: written with --format=csv,noheader)".to_string()
                } else {
                    String::new()
                };
                return Err(CsvError::NoHeader { origin, hint });
            }
        },
    };
    if columns.is_empty() || columns.iter().any(|c| c.is_empty()) {
        return Err(CsvError::Usage {
            origin,
            msg: "--columns: empty column name".into(),
        });
    }
    let kinds: Vec<ColumnKind> = columns.iter().map(|c| column_kind(c)).collect();
    let power_col = ["power.draw.instant", "power.draw", "power.draw.average"]
        .iter()
        .find_map(|want| {
            columns
                .iter()
                .position(|c| c.split(" [").next().unwrap_or(c).trim() == *want)
        });
    let Some(power_col) = power_col else {
        return Err(CsvError::NoPower {
            origin,
            at: header_at.map_or_else(
                || "--columns".to_string(),
                |i| format!("header on line {}", i + 1),
            ),
            columns: columns.join(", "),
        });
    };
    let pos = |k: ColumnKind| kinds.iter().position(|x| *x == k);
    let (ts_col, idx_col, name_col) = (
        pos(ColumnKind::Timestamp),
        pos(ColumnKind::Index).or(pos(ColumnKind::Ident)),
        pos(ColumnKind::Name),
    );
    let metric_cols: Vec<(usize, ColumnKind)> = [
        ColumnKind::Util,
        ColumnKind::MemUsed,
        ColumnKind::Temp,
        ColumnKind::SmClock,
    ]
    .into_iter()
    .filter_map(|k| pos(k).map(|i| (i, k)))
    .collect();

    // Rows.
    let mut rows: Vec<Row> = Vec::new();
    let first_data = header_at.map_or(0, |i| i + 1);
    for (i, raw) in lines.iter().enumerate().take(n_lines) {
        if raw.trim().is_empty() {
            rep.blank_lines += 1;
            continue;
        }
        if Some(i) == header_at || i < first_data || is_header(raw) {
            if i < first_data && Some(i) != header_at {
                rep.skipped_lines += 1;
                if rep.skipped_examples.len() < 5 {
                    rep.skipped_examples
                        .push((i as u64 + 1, cut(raw.trim(), 80)));
                }
            }
            continue;
        }
        let f = split_row(raw);
        let ts_ok = ts_col.is_none_or(|c| f.get(c).and_then(|s| parse_timestamp(s)).is_some());
        if f.len() != columns.len() || !ts_ok {
            if Some(i) == last_nonblank && f.len() < columns.len() && ts_ok_prefix(&f, ts_col) {
                rep.truncated_lines += 1;
            } else {
                rep.skipped_lines += 1;
                if rep.skipped_examples.len() < 5 {
                    rep.skipped_examples
                        .push((i as u64 + 1, cut(raw.trim(), 80)));
                }
            }
            continue;
        }
        rep.data_lines += 1;
        rows.push(Row {
            t: ts_col.and_then(|c| parse_timestamp(f[c])),
            gpu: idx_col.map(|c| f[c].to_string()),
            fields: f.iter().map(|x| parse_value(x)).collect(),
            name: name_col.map(|c| f[c].to_string()),
        });
    }
    if rows.is_empty() {
        return Err(CsvError::NoRows {
            origin,
            line: first_data as u64,
        });
    }
    if rows.iter().all(|r| r.fields[power_col].is_none()) {
        return Err(CsvError::NoPowerReadings {
            origin,
            rows: rows.len() as u64,
        });
    }

    // GPU identity and grouping of rows into samples.
    let mut notes = Vec::new();
    let mut gpu_ids: Vec<String> = Vec::new();
    let mut groups: Vec<Vec<(usize, usize)>> = Vec::new(); // (gpu slot, row)
    if idx_col.is_some() {
        for (ri, r) in rows.iter().enumerate() {
            let id = r.gpu.clone().unwrap_or_default();
            let slot = match gpu_ids.iter().position(|g| *g == id) {
                Some(s) => s,
                None => {
                    gpu_ids.push(id);
                    gpu_ids.len() - 1
                }
            };
            let new_group = groups
                .last()
                .is_none_or(|g| g.iter().any(|(s, _)| *s == slot));
            if new_group {
                groups.push(Vec::new());
            }
            if let Some(g) = groups.last_mut() {
                g.push((slot, ri));
            }
        }
        notes.push(format!(
            "GPUs identified by the `{}` column",
            columns[idx_col.unwrap_or(0)]
        ));
    } else {
        let g = match opts.gpus {
            Some(0) => {
                return Err(CsvError::Usage {
                    origin,
                    msg: "--gpus must be at least 1".into(),
                })
            }
            Some(g) => {
                notes.push(format!(
                    "no index column: GPUs by row order, {g} GPUs (--gpus)"
                ));
                g
            }
            None => {
                // Rows of one query cycle are stamped within a few ms of each other.
                let mut g = 1;
                if ts_col.is_some() {
                    while g < rows.len()
                        && matches!((rows[g - 1].t, rows[g].t), (Some(a), Some(b)) if rel_s(b, a).abs() < 0.02)
                    {
                        g += 1;
                    }
                }
                notes.push(if g > 1 {
                    format!("no index column: GPUs by row order, {g} GPUs inferred from rows stamped within 20 ms of each other (--gpus overrides)")
                } else {
                    "no index column: one GPU assumed (pass --gpus N for a log of N GPUs in row order)".to_string()
                });
                g
            }
        };
        gpu_ids = (0..g).map(|k| k.to_string()).collect();
        for (ri, _) in rows.iter().enumerate() {
            if ri % g == 0 {
                groups.push(Vec::new());
            }
            if let Some(grp) = groups.last_mut() {
                grp.push((ri % g, ri));
            }
        }
    }
    let ng = gpu_ids.len();

    // Channels. A GPU that never reports power (`[Not Supported]` on every
    // row) gets no power channel, so it cannot hold the others' sum at "no reading".
    let mut has_power = vec![false; ng];
    for g in &groups {
        for (slot, ri) in g {
            has_power[*slot] |= rows[*ri].fields[power_col].is_some();
        }
    }
    let pslots: Vec<usize> = (0..ng).filter(|s| has_power[*s]).collect();
    for s in (0..ng).filter(|s| !has_power[*s]) {
        notes.push(format!(
            "GPU {} reports no power on any row: left out of the total",
            gpu_ids[s]
        ));
    }
    let np = pslots.len();
    let multi = np > 1;
    let mut channels: Vec<Channel> = pslots
        .iter()
        .map(|s| {
            Channel::power(
                format!("gpu{}", gpu_ids[*s]),
                Scope::GpuOnly,
                if multi { Role::Part } else { Role::Total },
                NAME,
            )
        })
        .collect();
    if multi {
        channels.push(Channel::power("gpu_sum", Scope::GpuOnly, Role::Total, NAME));
    }
    for id in &gpu_ids {
        for (_, k) in &metric_cols {
            let (suffix, unit) = match k {
                ColumnKind::Util => ("util", Unit::Percent),
                ColumnKind::MemUsed => ("mem_used", Unit::MiB),
                ColumnKind::Temp => ("temp", Unit::C),
                _ => ("sm_clock", Unit::MHz),
            };
            channels.push(Channel::metric(format!("gpu{id}_{suffix}"), unit, NAME));
        }
    }

    // Times.
    let t0 = rows.iter().find_map(|r| r.t);
    let group_t: Vec<Option<(i64, f64)>> = groups
        .iter()
        .map(|g| g.iter().find_map(|(_, ri)| rows[*ri].t))
        .collect();
    let (times, start, interval_ms): (Vec<f64>, time::OffsetDateTime, f64) = match (ts_col, t0) {
        (Some(_), Some(t0)) => {
            let ts: Vec<f64> = group_t
                .iter()
                .map(|t| t.map_or(f64::NAN, |t| rel_s(t, t0)))
                .collect();
            let mut d: Vec<f64> = ts
                .windows(2)
                .map(|w| w[1] - w[0])
                .filter(|x| x.is_finite() && *x > 0.0)
                .collect();
            d.sort_by(f64::total_cmp);
            // Rounded to 1 µs so the header shows 50, not 50.00000000000004.
            let median = d.get(d.len() / 2).map(|x| (x * 1e6).round() / 1e3);
            let iv = opts.interval_ms.or(median).unwrap_or(1000.0);
            rep.timing = format!(
                "from the timestamp column (local time of the logging machine, zone unknown, written as if UTC); interval {iv:.0} ms ({})",
                if opts.interval_ms.is_some() { "--interval" } else { "median spacing" }
            );
            let start = time::OffsetDateTime::from_unix_timestamp_nanos(
                t0.0 as i128 * 1_000_000_000 + (t0.1 * 1e9) as i128,
            )
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            (ts, start, iv)
        }
        _ => {
            let Some(iv) = opts.interval_ms else {
                return Err(CsvError::Usage { origin, msg: "the log has no timestamp column: pass --interval MS (the -lms / -l interval nvidia-smi ran with)".into() });
            };
            let start = opts.start.unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            rep.timing = format!("no timestamp column: one sample every {iv} ms (--interval) from {} (--start, default the file's modification time)", format_utc(start));
            (
                (0..groups.len()).map(|i| i as f64 * iv / 1e3).collect(),
                start,
                iv,
            )
        }
    };

    let mut header = Header::new(channels.clone(), interval_ms);
    header.start_utc = format_utc(start);
    header.host = "unknown (imported)".into();
    let mut names: Vec<String> = Vec::new();
    for r in &rows {
        if let Some(n) = &r.name {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    header.device.gpus = names;

    let mut ledger = EnergyLedger::new(&channels, interval_ms);
    let mut events = Vec::with_capacity(groups.len() + 1);
    for (g, t) in groups.iter().zip(&times) {
        if !t.is_finite() {
            continue;
        }
        let mut values = vec![None; channels.len()];
        let mut power = vec![None; np];
        for (slot, ri) in g {
            let r = &rows[*ri];
            if let Some(k) = pslots.iter().position(|s| s == slot) {
                power[k] = r.fields[power_col];
                values[k] = r.fields[power_col];
            }
            let base = np + usize::from(multi) + slot * metric_cols.len();
            for (m, (col, _)) in metric_cols.iter().enumerate() {
                values[base + m] = r.fields[*col];
            }
        }
        if multi {
            values[np] = super::jetson_rails::sum_of_rails(&power);
        }
        let s = Sample { t_s: *t, values };
        ledger.push_sample(&s);
        events.push(Event::Sample(s));
    }
    rep.samples = events.len() as u64;
    rep.channels = channels.iter().map(|c| c.name.clone()).collect();
    rep.total_channel = channels
        .iter()
        .find(|c| c.role == Role::Total)
        .map(|c| c.name.clone());
    rep.total_reason = if multi {
        format!("{np} GPUs: each GPU's power.draw is a part, their sum is the total (GPU only: the host is not measured)")
    } else {
        "one GPU: its power.draw is the total (GPU only: the host is not measured)".into()
    };
    rep.duration_s = ledger.span_s();
    rep.energy_j = ledger.total_joules();
    rep.uncovered_s = ledger.total_uncovered_s();
    rep.channel_energy_j = ledger
        .channel_energies()
        .into_iter()
        .filter(|e| channels.iter().any(|c| c.name == e.name && c.is_power()))
        .map(|e| (e.name, e.joules))
        .collect::<BTreeMap<_, _>>();
    let na = rows
        .iter()
        .filter(|r| r.fields[power_col].is_none())
        .count();
    header.notes = vec![
        format!(
            "imported from nvidia-smi CSV {}: {} rows kept, {} non-CSV lines skipped, {} truncated last line, {} NUL bytes removed",
            opts.origin, rep.data_lines, rep.skipped_lines, rep.truncated_lines, rep.nul_bytes
        ),
        format!("power column `{}`; {na} rows without a power reading ([N/A], [Not Supported]) kept as no reading", columns[power_col]),
        format!("timing: {}", rep.timing),
        format!("total: {}", rep.total_reason),
    ];
    header.notes.extend(notes);
    events.push(Event::End(SessionEnd {
        t_s: times
            .iter()
            .copied()
            .filter(|t| t.is_finite())
            .fold(0.0, f64::max),
        samples: rep.samples,
        energy_j: ledger.energy_map(),
        sources: vec![SourceStats {
            source: "nvidia-smi (imported)".into(),
            nominal_interval_ms: interval_ms,
            effective_hz: (rep.duration_s > 0.0)
                .then(|| rep.samples.saturating_sub(1) as f64 / rep.duration_s),
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

/// Seconds from `t0` to `t`, both (whole seconds, fraction).
fn rel_s(t: (i64, f64), t0: (i64, f64)) -> f64 {
    (t.0 - t0.0) as f64 + (t.1 - t0.1)
}

fn ts_ok_prefix(f: &[&str], ts_col: Option<usize>) -> bool {
    match ts_col {
        Some(c) if c < f.len() => parse_timestamp(f[c]).is_some(),
        _ => true,
    }
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
            (imp.report.energy_j - 20.0).abs() < 1e-6,
            "{}",
            imp.report.energy_j
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
        assert!((imp.report.energy_j - 150.0).abs() < 1e-6);
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
        assert!((imp.report.energy_j - (133.91 + 189.84 + 104.34)).abs() < 1e-6);
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
            (imp.report.energy_j - 20.0).abs() < 1e-6,
            "{}",
            imp.report.energy_j
        );
        let e = import_nvidia_smi("power.draw\n10\n", &opts()).unwrap_err();
        assert!(e.to_string().contains("--interval"), "{e}");
    }
}
