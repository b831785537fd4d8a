//! `trainwatt inspect FILE`: the format and the integrator, usable on their own.
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::model::energy::{gap_threshold_s, EnergyLedger};
use crate::model::event::{Event, TrainEvent};
use crate::model::sample::{total_is_estimate, total_scope_label, Unit};
use crate::record::{ReadOptions, ReadStats, SessionReader};

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
    let mut r = SessionReader::open(
        &a.file,
        ReadOptions {
            lenient: a.lenient,
            ..Default::default()
        },
    )?;
    let h = r.header().clone();
    let mut ledger = EnergyLedger::new(&h.channels, h.interval_ms);
    let mut train_events = 0u64;
    let mut markers = 0u64;
    let mut last_status = None;
    let mut last_t = 0.0f64;
    while let Some(ev) = r.next_event()? {
        last_t = last_t.max(ev.t_s());
        match &ev {
            Event::Sample(s) => ledger.push_sample(s),
            Event::Train(t) => {
                train_events += 1;
                if let TrainEvent::RunEnd { status, .. } = t {
                    last_status = Some(status.label());
                }
            }
            Event::Marker(_) => markers += 1,
            Event::End(_) => {}
        }
    }
    crate::stdout::print(&render(
        &a.file.display().to_string(),
        &h,
        &ledger,
        &r.stats,
        train_events,
        markers,
        last_status,
        last_t,
    ))?;
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::too_many_arguments)]
fn render(
    name: &str,
    h: &crate::record::Header,
    ledger: &EnergyLedger,
    stats: &ReadStats,
    train_events: u64,
    markers: u64,
    status: Option<&str>,
    last_t: f64,
) -> String {
    let mut o = String::new();
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
    let est = if total_is_estimate(&h.channels) {
        " (estimate)"
    } else {
        ""
    };
    let _ = writeln!(o, "total       {}{est}", total_scope_label(&h.channels));
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
    let _ = writeln!(
        o,
        "samples     {} over {:.1} s ({} training events, {} markers)",
        ledger.samples,
        ledger.span_s().max(last_t),
        train_events,
        markers
    );
    if let Some(s) = status {
        let _ = writeln!(o, "run status  {s}");
    }
    let _ = writeln!(o, "channels");
    let energies = ledger.channel_energies();
    for c in &h.channels {
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
    let _ = writeln!(
        o,
        "total       {:.1} J ({:.4} Wh){est}, {:.1} s uncovered",
        ledger.total_joules(),
        ledger.total_joules() / 3600.0,
        ledger.total_uncovered_s()
    );
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
    o
}
