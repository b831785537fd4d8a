//! The rows of an nvidia-smi CSV log: which column is which (from the
//! header or `--columns`), the data rows, and the lines that are not data
//! (blank, foreign, a truncated last row), counted for the report.
use super::nvidia_smi::{CsvError, CsvImportOptions};
use super::nvidia_smi_csv::{
    column_kind, is_header, parse_timestamp, parse_value, split_row, ColumnKind,
};
use super::report::{cut, ImportReport};

/// Which column is which.
pub(crate) struct Columns {
    pub names: Vec<String>,
    pub header_at: Option<usize>,
    pub power: usize,
    pub ts: Option<usize>,
    /// `index`, else `uuid` / `pci.bus_id`.
    pub ident: Option<usize>,
    pub name: Option<usize>,
    pub metrics: Vec<(usize, ColumnKind)>,
}

pub(crate) struct Row {
    /// Index into the log's lines.
    pub line: usize,
    pub t: Option<(i64, f64)>,
    pub gpu: Option<String>,
    pub fields: Vec<Option<f64>>,
    pub name: Option<String>,
}

/// The header (or `--columns`) and the columns it names.
pub(crate) fn find_columns(lines: &[&str], opts: &CsvImportOptions) -> Result<Columns, CsvError> {
    let origin = opts.origin.clone();
    let (names, header_at): (Vec<String>, Option<usize>) = match &opts.columns {
        Some(c) => (split_row(c).into_iter().map(String::from).collect(), None),
        None => match lines.iter().position(|l| is_header(l)) {
            Some(i) => (
                split_row(lines[i]).into_iter().map(String::from).collect(),
                Some(i),
            ),
            None => {
                return Err(CsvError::NoHeader {
                    origin,
                    hint: no_header_hint(lines),
                })
            }
        },
    };
    if names.is_empty() || names.iter().any(|c| c.is_empty()) {
        return Err(CsvError::Usage {
            origin,
            msg: "--columns: empty column name".into(),
        });
    }
    let kinds: Vec<ColumnKind> = names.iter().map(|c| column_kind(c)).collect();
    let power = ["power.draw.instant", "power.draw", "power.draw.average"]
        .iter()
        .find_map(|want| {
            names
                .iter()
                .position(|c| c.split(" [").next().unwrap_or(c).trim() == *want)
        });
    let Some(power) = power else {
        return Err(CsvError::NoPower {
            origin,
            at: header_at.map_or_else(
                || "--columns".to_string(),
                |i| format!("header on line {}", i + 1),
            ),
            columns: names.join(", "),
        });
    };
    let pos = |k: ColumnKind| kinds.iter().position(|x| *x == k);
    let metrics = [
        ColumnKind::Util,
        ColumnKind::MemUsed,
        ColumnKind::Temp,
        ColumnKind::SmClock,
    ]
    .into_iter()
    .filter_map(|k| pos(k).map(|i| (i, k)))
    .collect();
    Ok(Columns {
        header_at,
        power,
        ts: pos(ColumnKind::Timestamp),
        ident: pos(ColumnKind::Index).or(pos(ColumnKind::Ident)),
        name: pos(ColumnKind::Name),
        metrics,
        names,
    })
}

/// Why no header was found, where the log says.
fn no_header_hint(lines: &[&str]) -> String {
    let first_field = |l: &str| l.split(',').next().unwrap_or("").to_string();
    if lines.iter().any(|l| l.trim_start().starts_with("# gpu")) {
        " (this looks like `nvidia-smi dmon` output, which is not --query-gpu CSV)".to_string()
    } else if lines.first().is_some_and(|l| {
        parse_value(&first_field(l)).is_some() || parse_timestamp(&first_field(l)).is_some()
    }) {
        " (the log looks header-less: written with --format=csv,noheader)".to_string()
    } else {
        String::new()
    }
}

/// The data rows; blank, foreign and truncated lines counted.
pub(crate) fn collect_rows(lines: &[&str], cols: &Columns, rep: &mut ImportReport) -> Vec<Row> {
    let last_nonblank = lines.iter().rposition(|l| !l.trim().is_empty());
    let first_data = cols.header_at.map_or(0, |i| i + 1);
    let n = cols.names.len();
    let mut rows = Vec::new();
    let skip = |rep: &mut ImportReport, i: usize, raw: &str| {
        rep.skipped_lines += 1;
        if rep.skipped_examples.len() < 5 {
            rep.skipped_examples
                .push((i as u64 + 1, cut(raw.trim(), 80)));
        }
    };
    for (i, raw) in lines.iter().enumerate() {
        if raw.trim().is_empty() {
            rep.blank_lines += 1;
            continue;
        }
        if Some(i) == cols.header_at || i < first_data || is_header(raw) {
            if i < first_data && Some(i) != cols.header_at {
                skip(rep, i, raw);
            }
            continue;
        }
        let f = split_row(raw);
        let ts_ok = cols
            .ts
            .is_none_or(|c| f.get(c).and_then(|s| parse_timestamp(s)).is_some());
        if f.len() != n || !ts_ok {
            if Some(i) == last_nonblank && f.len() < n && ts_ok_prefix(&f, cols.ts) {
                rep.truncated_lines += 1;
            } else {
                skip(rep, i, raw);
            }
            continue;
        }
        rep.data_lines += 1;
        rows.push(Row {
            line: i,
            t: cols.ts.and_then(|c| parse_timestamp(f[c])),
            gpu: cols.ident.map(|c| f[c].to_string()),
            fields: f.iter().map(|x| parse_value(x)).collect(),
            name: cols.name.map(|c| f[c].to_string()),
        });
    }
    rows
}

pub(crate) fn check_rows(
    rows: &[Row],
    cols: &Columns,
    opts: &CsvImportOptions,
) -> Result<(), CsvError> {
    if rows.is_empty() {
        return Err(CsvError::NoRows {
            origin: opts.origin.clone(),
            line: cols.header_at.map_or(0, |i| i + 1) as u64,
        });
    }
    if rows.iter().all(|r| r.fields[cols.power].is_none()) {
        return Err(CsvError::NoPowerReadings {
            origin: opts.origin.clone(),
            rows: rows.len() as u64,
        });
    }
    Ok(())
}

fn ts_ok_prefix(f: &[&str], ts_col: Option<usize>) -> bool {
    match ts_col {
        Some(c) if c < f.len() => parse_timestamp(f[c]).is_some(),
        _ => true,
    }
}
