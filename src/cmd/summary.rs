//! `trainwatt summary SESSION…`: per-session figures (energy, time, images,
//! static/dynamic split, energy to an accuracy) and ratios against the first.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::export::{self, Format};
use crate::model::cost::CostFactors;
use crate::model::fold::SessionFold;
use crate::model::summary::{summarize, SessionSummary};
use crate::record::{ReadOptions, ReadStats, RecordError, SessionReader};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  trainwatt summary recordings/nano-bs8.jsonl recordings/server-bs8.jsonl\n  trainwatt summary run.jsonl --target-acc 0.8 --format json -o run-summary.json\n  trainwatt summary run.jsonl --carbon-intensity 400 --price 0.25 --currency EUR"
)]
pub struct SummaryArgs {
    /// Session files (.jsonl or .jsonl.zst); ratios are against the first
    #[arg(required = true)]
    pub sessions: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "md")]
    pub format: Format,
    /// Write to FILE instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Report the time and energy to first reach this validation accuracy
    /// (a fraction such as 0.8, or a percentage such as 80)
    #[arg(long, value_name = "X")]
    pub target_acc: Option<f64>,
    /// Skip and count malformed lines instead of stopping at the first
    #[arg(long)]
    pub lenient: bool,
}

/// Stream one session file through the session fold (never loads the file
/// whole). `summary`, `report` and `inspect` all start here.
pub fn fold_file(
    path: &Path,
    target_acc: Option<f64>,
    lenient: bool,
) -> Result<(SessionFold, ReadStats), RecordError> {
    let mut r = SessionReader::open(
        path,
        ReadOptions {
            lenient,
            ..Default::default()
        },
    )?;
    let mut fold = SessionFold::new(r.header()).with_target_acc(target_acc);
    while let Some(ev) = r.next_event()? {
        fold.apply(&ev);
    }
    Ok((fold, r.stats.clone()))
}

/// One session file's summary.
pub fn summarize_file(
    path: &Path,
    target_acc: Option<f64>,
    lenient: bool,
) -> Result<SessionSummary, RecordError> {
    let (fold, _) = fold_file(path, target_acc, lenient)?;
    Ok(summarize(&fold, path.display().to_string()))
}

pub fn run(a: SummaryArgs, cost: &CostFactors) -> anyhow::Result<ExitCode> {
    if let Some(t) = a.target_acc {
        if !(t > 0.0 && t <= 100.0) {
            anyhow::bail!(
                "--target-acc {t} is not an accuracy: give a fraction in (0, 1] such as 0.8, or a percentage such as 80"
            );
        }
    }
    if let Some(out) = &a.output {
        super::paths::refuse_overwriting_input(out, a.sessions.iter().map(PathBuf::as_path))?;
    }
    let mut sums = Vec::with_capacity(a.sessions.len());
    for p in &a.sessions {
        sums.push(summarize_file(p, a.target_acc, a.lenient)?);
    }
    let text = match a.format {
        Format::Md => export::summary::to_markdown_at(&sums, cost),
        Format::Json => export::summary::to_json_at(&sums, cost)?,
        Format::Csv => export::summary::to_csv_at(&sums, cost),
    };
    export::write_output(a.output.as_deref(), &text)?;
    Ok(ExitCode::SUCCESS)
}
