//! `trainwatt report DIR…`: a sweep's sessions grouped by configuration, with
//! mean and 95% confidence intervals per device, side by side across devices,
//! and SVG figures.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cmd::summary::summarize_file;
use crate::export::{self, Format};
use crate::model::study::{mode_studies, DeviceStudy};
use crate::model::summary::{RunOutcome, SessionSummary};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Each DIR holds one device's sweep (session files, any names). Examples:\n  trainwatt report sweeps/nano\n  trainwatt report sweeps/nano sweeps/server --plots figures -o report.md"
)]
pub struct ReportArgs {
    /// Sweep directories, one per device; ratios are against the first
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "md")]
    pub format: Format,
    /// Write to FILE instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write SVG figures into this directory
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Skip and count malformed lines instead of stopping at the first
    #[arg(long)]
    pub lenient: bool,
}

/// Session files directly in `dir` (`*.jsonl`, `*.jsonl.zst`), sorted by name.
pub fn session_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the sweep directory {}: give a directory written by `trainwatt sweep --out DIR`",
            dir.display()
        )
    })?;
    let mut files = Vec::new();
    for e in rd {
        let p = e
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_file() && (name.ends_with(".jsonl") || name.ends_with(".jsonl.zst")) {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// One device per directory (split further when a directory holds sessions
/// of several device labels); names made unique with the directory name.
pub fn studies(dirs: &[PathBuf], lenient: bool) -> anyhow::Result<Vec<DeviceStudy>> {
    let mut groups: Vec<(String, PathBuf, Vec<SessionSummary>)> = Vec::new();
    for dir in dirs {
        let files = session_files(dir)?;
        if files.is_empty() {
            anyhow::bail!(
                "{} holds no session files (*.jsonl, *.jsonl.zst): give a directory written by `trainwatt sweep --out DIR`",
                dir.display()
            );
        }
        let start = groups.len();
        for f in files {
            let s = summarize_file(&f, None, lenient)?;
            if s.status == RunOutcome::NoRun {
                continue;
            }
            match groups[start..].iter_mut().find(|g| g.0 == s.device) {
                Some(g) => g.2.push(s),
                None => groups.push((s.device.clone(), dir.clone(), vec![s])),
            }
        }
        if groups.len() == start {
            anyhow::bail!(
                "{} holds session files but none with a training run: a report needs sessions recorded by `trainwatt sweep` or `trainwatt record` with a trainer",
                dir.display()
            );
        }
    }
    let names: Vec<String> = groups.iter().map(|g| g.0.clone()).collect();
    Ok(groups
        .iter()
        .flat_map(|(name, dir, sums)| {
            let unique = names.iter().filter(|n| *n == name).count() == 1;
            let label = if unique {
                name.clone()
            } else {
                format!("{name} ({})", dir.display())
            };
            mode_studies(&label, sums)
        })
        .collect())
}

pub fn run(a: ReportArgs, cost: &crate::model::cost::CostFactors) -> anyhow::Result<ExitCode> {
    if let Some(out) = &a.output {
        let mut inputs = Vec::new();
        for dir in &a.dirs {
            inputs.extend(session_files(dir)?);
        }
        super::paths::refuse_overwriting_input(out, inputs.iter().map(PathBuf::as_path))?;
    }
    let devices = studies(&a.dirs, a.lenient)?;
    let text = match a.format {
        Format::Md => export::report::to_markdown_at(&devices, cost),
        Format::Json => export::report::to_json_at(&devices, cost)?,
        Format::Csv => export::report::to_csv_at(&devices, cost),
    };
    export::write_output(a.output.as_deref(), &text)?;
    if let Some(dir) = &a.plots {
        let files = export::plots::write_plots(dir, &devices)?;
        crate::stdout::note(&format!(
            "trainwatt: wrote {} figures to {}",
            files.len(),
            dir.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}
