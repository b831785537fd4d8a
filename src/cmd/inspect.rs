//! `trainwatt inspect FILE`: the format and the integrator, usable on their own.
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use super::summary::fold_file;
use crate::model::energy::gap_threshold_s;
use crate::model::fold::SessionFold;
use crate::model::header::Header;
use crate::model::sample::Unit;
use crate::record::ReadStats;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  trainwatt inspect recordings/cpu-estimate-resnet18-cifar-bs16.jsonl"
)]
pub struct InspectArgs {
    /// Session file (.jsonl, or .jsonl.zst)
    pub file: PathBuf,
    /// Skip and count malformed lines instead of stopping at the first
    #[arg(long)]
    pub lenient: bool,
}

pub fn run(a: InspectArgs) -> anyhow::Result<ExitCode> {
    let (fold, stats) = fold_file(&a.file, None, a.lenient)?;
    crate::stdout::print(&render(&a.file.display().to_string(), &fold, &stats))?;
    Ok(ExitCode::SUCCESS)
}

/// The whole report: what the file says, what the fold makes of it, and how
/// the file ended.
fn render(name: &str, fold: &SessionFold, stats: &ReadStats) -> String {
    let mut o = String::new();
    header_lines(&mut o, name, fold.header());
    session_lines(&mut o, fold);
    channel_lines(&mut o, fold);
    total_lines(&mut o, fold);
    end_lines(&mut o, stats);
    o
}

fn header_lines(o: &mut String, name: &str, h: &Header) {
    let _ = writeln!(o, "file        {name}");
    let _ = writeln!(
        o,
        "schema      {} (written by trainwatt {})",
        h.schema, h.trainwatt
    );
    let _ = writeln!(o, "start       {}", h.start_utc);
    let _ = writeln!(o, "host        {}", h.host);
    if let Some(m) = &h.device.model {
        let _ = writeln!(o, "device      {m}");
    }
    if let Some(m) = &h.device.power_mode {
        let _ = writeln!(o, "power mode  {m}");
    }
    if let Some(l) = &h.label {
        let _ = writeln!(o, "label       {l}");
    }
}

fn estimate_tag(fold: &SessionFold) -> &'static str {
    if fold.estimate {
        " (estimate)"
    } else {
        ""
    }
}

fn session_lines(o: &mut String, fold: &SessionFold) {
    let h = fold.header();
    let est = estimate_tag(fold);
    let _ = writeln!(o, "total       {}{est}", fold.scope_label);
    let _ = writeln!(
        o,
        "sampling    every {} ms nominal; gaps are intervals over {:.3} s",
        h.interval_ms,
        gap_threshold_s(h.interval_ms)
    );
    if let Some(t) = &h.train {
        let _ = writeln!(
            o,
            "training    {} on {}{}{}",
            t.model,
            t.dataset,
            t.batch_size
                .map(|b| format!(", batch {b}"))
                .unwrap_or_default(),
            t.epochs
                .map(|e| format!(", {e} epochs"))
                .unwrap_or_default()
        );
    }
    for n in &h.notes {
        let _ = writeln!(o, "note        {n}");
    }
    if h.skipped_readings > 0 {
        let _ = writeln!(
            o,
            "skipped     {} readings of the input are not in the file (the notes say which)",
            h.skipped_readings
        );
    }
    let (train_events, markers) = fold.event_counts();
    let _ = writeln!(
        o,
        "samples     {} over {:.1} s ({} training events, {} markers)",
        fold.samples(),
        fold.elapsed_s(),
        train_events,
        markers
    );
    if let Some(s) = &fold.run().status {
        let _ = writeln!(o, "run status  {}", s.label());
    }
    if let Some(w) = fold.training() {
        let _ = writeln!(
            o,
            "training    {:.1} s from {:.1} s, {}, avg {}",
            w.time_s(),
            w.start_s,
            w.joules()
                .map(|j| format!("{j:.1} J"))
                .unwrap_or_else(|| "– J".into()),
            w.avg_w()
                .map(|p| format!("{p:.2} W"))
                .unwrap_or_else(|| "– W".into())
        );
    }
    let (problems, n) = fold.problems();
    if n > 0 {
        let _ = writeln!(o, "problems    {n} events not folded:");
        for p in problems {
            let _ = writeln!(o, "  {p}");
        }
    }
}

fn channel_lines(o: &mut String, fold: &SessionFold) {
    let _ = writeln!(o, "channels");
    let energies = fold.ledger().channel_energies();
    for c in fold.channels() {
        let e = energies.iter().find(|e| e.name == c.name);
        let tag = if c.scope == crate::model::sample::Scope::Estimate {
            " estimate"
        } else {
            ""
        };
        let mut line = format!(
            "  {:<18} {:<4} {:<20} {:<6} {:<13}",
            c.name,
            c.unit.symbol(),
            c.scope.label(),
            format!("{:?}", c.role).to_lowercase(),
            c.source
        );
        if let Some(e) = e {
            if c.unit == Unit::W {
                let _ = write!(
                    line,
                    " {:>12.1} J{tag}  mean {}  peak {}",
                    e.joules,
                    e.mean_w.map(|w| format!("{w:.2} W")).unwrap_or("-".into()),
                    e.peak_w.map(|w| format!("{w:.2} W")).unwrap_or("-".into()),
                );
                if e.gaps > 0 {
                    let _ = write!(line, "  {} gaps, {:.1} s uncovered", e.gaps, e.uncovered_s);
                }
                if e.rejected > 0 {
                    let _ = write!(line, "  {} rejected readings", e.rejected);
                }
            } else {
                let _ = write!(line, " {:>12.1} J from counter", e.joules);
                if let Some((p, j, d)) = &e.paired {
                    let _ = write!(
                        line,
                        "  vs {j:.1} J integrated from {p}{}",
                        d.map(|d| format!(" ({:+.1}%)", d * 100.0))
                            .unwrap_or_default()
                    );
                }
                if e.wraps > 0 || e.resets > 0 {
                    let _ = write!(line, "  {} wraps, {} resets", e.wraps, e.resets);
                }
            }
        }
        let _ = writeln!(o, "{}", line.trim_end());
    }
}

fn total_lines(o: &mut String, fold: &SessionFold) {
    let est = estimate_tag(fold);
    match fold.cum() {
        Some(c) => {
            let _ = writeln!(
                o,
                "total       {:.1} J ({:.4} Wh){est}, {:.1} s covered, {:.1} s uncovered, avg {}, peak {}",
                c.joules,
                c.joules / 3600.0,
                c.covered_s,
                c.uncovered_s,
                c.avg_w()
                    .map(|w| format!("{w:.2} W"))
                    .unwrap_or_else(|| "– W".into()),
                fold.peak_w()
                    .map(|w| format!("{w:.2} W"))
                    .unwrap_or_else(|| "– W".into()),
            );
        }
        None => {
            let _ = writeln!(o, "total       – J: no reading of every total channel");
        }
    }
}

fn end_lines(o: &mut String, stats: &ReadStats) {
    match stats.torn_tail {
        Some((line, bytes)) => {
            let _ = writeln!(o, "torn line   line {line} ({bytes} bytes) cut short, skipped: the session did not end cleanly");
        }
        None if !stats.clean_end => {
            let _ = writeln!(
                o,
                "end         no closing line: the session did not end cleanly"
            );
        }
        None => {
            let _ = writeln!(o, "end         clean");
        }
    }
    if stats.skipped_count > 0 {
        let _ = writeln!(
            o,
            "skipped     {} malformed lines (--lenient)",
            stats.skipped_count
        );
        for (l, m) in &stats.skipped {
            let _ = writeln!(o, "  line {l}: {m}");
        }
    }
}
