//! `trainwatt import tegrastats LOG` and `trainwatt import nvidia-smi CSV`:
//! logs people already have become session files, with a report of what was
//! kept and skipped and the energy, so a user can check it against their own.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::paths::refuse_overwriting_input;
use crate::import::nvidia_smi::{import_nvidia_smi, CsvImportOptions};
use crate::import::tegrastats::{import_tegrastats, TegraImportOptions};
use crate::import::Imported;
use crate::model::event::Event;
use crate::record::SessionWriter;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub kind: ImportKind,
}

#[derive(Debug, clap::Subcommand)]
pub enum ImportKind {
    /// A tegrastats log (any JetPack format) becomes a session file.
    #[command(
        after_help = "Timestamps come from each line's `<epoch>::` or `MM-DD-YYYY HH:MM:SS` prefix; lines sharing a one-second stamp are spread evenly over it. Logs without stamps use --interval from --start.\n\nExample:\n  trainwatt import tegrastats tegrastats.log --interval 1000 -o nano.jsonl"
    )]
    Tegrastats(TegraArgs),
    /// An `nvidia-smi --query-gpu=... --format=csv` log becomes a session file.
    #[command(
        name = "nvidia-smi",
        after_help = "Example:\n  nvidia-smi --query-gpu=timestamp,index,power.draw,utilization.gpu --format=csv -lms 100 > gpu.csv\n  trainwatt import nvidia-smi gpu.csv -o server.jsonl\nA header-less log (csv,noheader) needs --columns with the same list."
    )]
    NvidiaSmi(SmiArgs),
}

#[derive(Debug, clap::Args)]
pub struct TegraArgs {
    /// The tegrastats log
    pub log: PathBuf,
    /// The --interval tegrastats ran with, in ms [default: the lines' own spacing, or 1000]
    #[arg(long)]
    pub interval: Option<f64>,
    /// Start time of a log without timestamps (RFC 3339, e.g. 2024-05-06T09:23:06Z) [default: the file's modification time]
    #[arg(long)]
    pub start: Option<String>,
    /// Output session file (.jsonl or .jsonl.zst)
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// A label for the session ("jetson-nano bs=8")
    #[arg(long)]
    pub label: Option<String>,
    /// Overwrite the output file if it exists
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Args)]
pub struct SmiArgs {
    /// The nvidia-smi CSV log
    pub csv: PathBuf,
    /// The --query-gpu list of a header-less log (csv,noheader), e.g. timestamp,index,power.draw
    #[arg(long)]
    pub columns: Option<String>,
    /// Sampling interval in ms (needed when the log has no timestamp column)
    #[arg(long)]
    pub interval: Option<f64>,
    /// Number of GPUs, for a log without an index column (rows in GPU order)
    /// [default: from the index/uuid/pci.bus_id column, else the repeating timestamp pattern]
    #[arg(long)]
    pub gpus: Option<usize>,
    /// Start time of a log without timestamps (RFC 3339) [default: the file's modification time]
    #[arg(long)]
    pub start: Option<String>,
    /// Output session file (.jsonl or .jsonl.zst)
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// A label for the session ("gpu-server")
    #[arg(long)]
    pub label: Option<String>,
    /// Overwrite the output file if it exists
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: ImportArgs) -> anyhow::Result<ExitCode> {
    match a.kind {
        ImportKind::Tegrastats(t) => {
            refuse_overwriting_input(&t.output, [t.log.as_path()])?;
            let (text, mtime) = read_log(&t.log)?;
            check_interval(t.interval)?;
            let opts = TegraImportOptions {
                interval_ms: t.interval,
                start: Some(parse_start(t.start.as_deref())?.unwrap_or(mtime)),
                origin: t.log.display().to_string(),
            };
            let imp = import_tegrastats(&text, &opts)?;
            finish(imp, &t.output, t.label, t.force)
        }
        ImportKind::NvidiaSmi(s) => {
            refuse_overwriting_input(&s.output, [s.csv.as_path()])?;
            let (text, mtime) = read_log(&s.csv)?;
            check_interval(s.interval)?;
            let opts = CsvImportOptions {
                columns: s.columns,
                interval_ms: s.interval,
                gpus: s.gpus,
                start: Some(parse_start(s.start.as_deref())?.unwrap_or(mtime)),
                origin: s.csv.display().to_string(),
            };
            let imp = import_nvidia_smi(&text, &opts)?;
            finish(imp, &s.output, s.label, s.force)
        }
    }
}

fn check_interval(ms: Option<f64>) -> anyhow::Result<()> {
    if let Some(ms) = ms {
        crate::sensors::interval_from_ms(ms).map_err(|e| anyhow::anyhow!("--interval: {e}"))?;
    }
    Ok(())
}

/// The output must not be the log being read (`-o run.log` would replace it).
fn read_log(p: &Path) -> anyhow::Result<(String, time::OffsetDateTime)> {
    let bytes =
        std::fs::read(p).with_context(|| format!("cannot read {}: check the path", p.display()))?;
    let mtime = std::fs::metadata(p)
        .and_then(|m| m.modified())
        .map(time::OffsetDateTime::from)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Ok((String::from_utf8_lossy(&bytes).into_owned(), mtime))
}

fn parse_start(s: Option<&str>) -> anyhow::Result<Option<time::OffsetDateTime>> {
    s.map(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).with_context(
            || format!("--start `{s}` is not an RFC 3339 time such as 2024-05-06T09:23:06Z"),
        )
    })
    .transpose()
}

fn finish(
    mut imp: Imported,
    out: &Path,
    label: Option<String>,
    force: bool,
) -> anyhow::Result<ExitCode> {
    imp.header.label = label;
    let mut w = SessionWriter::create_new(out, &imp.header, force)
        .with_context(|| format!("cannot write the session {}", out.display()))?;
    let mut end = None;
    for ev in &imp.events {
        match ev {
            Event::End(e) => end = Some(e.clone()),
            other => w
                .write_event(other)
                .with_context(|| format!("writing {}", out.display()))?,
        }
    }
    w.finish(end.as_ref())
        .with_context(|| format!("closing {}", out.display()))?;
    crate::stdout::print(&imp.report.render(&out.display().to_string()))?;
    Ok(ExitCode::SUCCESS)
}
