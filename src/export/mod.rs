//! Reports as plain functions of the same data the rest of trainwatt shows:
//! session summaries (markdown, JSON, CSV), the sweep report and its SVG plots.
//! Rendering returns strings; only [`write_output`] and the plots touch files.
use std::path::{Path, PathBuf};

pub mod csv_rows;
pub mod pareto;
pub mod plots;
pub mod report;
pub mod report_cost;
pub mod summary;

/// Output formats of `summary` and `report`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown tables, for reading and for READMEs.
    Md,
    /// Versioned JSON (see the README's "File formats").
    Json,
    /// One row per session (summary) or per device and configuration (report).
    Csv,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot draw {path}: {msg}")]
    Plot { path: PathBuf, msg: String },
    #[error(transparent)]
    Stdout(#[from] crate::stdout::StdoutError),
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Write `text` to `path`, or to standard output when `path` is `None`.
pub fn write_output(path: Option<&Path>, text: &str) -> Result<(), ExportError> {
    match path {
        Some(p) => {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| ExportError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            std::fs::write(p, text).map_err(|source| ExportError::Io {
                path: p.to_path_buf(),
                source,
            })
        }
        None => Ok(crate::stdout::print(text)?),
    }
}

/// A number with `prec` decimals, or "-" for no value.
pub(crate) fn num(v: Option<f64>, prec: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.prec$}"),
        _ => "-".to_string(),
    }
}

/// Escape the characters that would break a markdown table cell.
pub(crate) fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Seconds as `1h02m03s`, `4m05.2s` or `12.34 s`.
pub(crate) fn duration(s: Option<f64>) -> String {
    let Some(s) = s.filter(|s| s.is_finite()) else {
        return "-".into();
    };
    if s >= 3600.0 {
        let t = s.round() as u64;
        format!("{}h{:02}m{:02}s", t / 3600, t % 3600 / 60, t % 60)
    } else if s >= 60.0 {
        format!("{}m{:04.1}s", (s / 60.0).floor() as u64, s % 60.0)
    } else {
        format!("{s:.2} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_helpers() {
        assert_eq!(num(None, 2), "-");
        assert_eq!(num(Some(1.2345), 2), "1.23");
        assert_eq!(md_cell("a|b"), "a\\|b");
        assert_eq!(duration(Some(3723.0)), "1h02m03s");
        assert_eq!(duration(Some(65.3)), "1m05.3s");
        assert_eq!(duration(Some(2.5)), "2.50 s");
    }
}
