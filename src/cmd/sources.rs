//! `trainwatt sources`: every power source tried on this machine, with its
//! channels and scope, or the reason it is not available, and which ones the
//! default (`--source auto`) would use.
use std::fmt::Write as _;
use std::process::ExitCode;

use crate::model::sample::{Role, Scope};
use crate::sensors::{detect, SourceArgs, SourceKind, SourceReport};

#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  trainwatt sources\n  trainwatt sources --cpu-tdp-w 95")]
pub struct SourcesArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
}

pub fn run(a: SourcesArgs) -> anyhow::Result<ExitCode> {
    let reports = detect(&a.sources);
    crate::stdout::print(&render(&reports))?;
    Ok(ExitCode::SUCCESS)
}

/// The sources auto-detection picks from a set of reports.
pub fn auto_pick(reports: &[SourceReport]) -> Vec<SourceKind> {
    let ok = |k: SourceKind| reports.iter().any(|r| r.kind == k && r.status.is_ok());
    match SourceKind::PREFERENCE.into_iter().find(|k| ok(*k)) {
        Some(SourceKind::Nvml) if ok(SourceKind::Rapl) => vec![SourceKind::Nvml, SourceKind::Rapl],
        Some(k) => vec![k],
        None => vec![],
    }
}

pub fn render(reports: &[SourceReport]) -> String {
    let mut o = String::new();
    for r in reports {
        match &r.status {
            Ok(chans) => {
                let _ = writeln!(o, "{:<11} available", r.kind.name());
                for c in chans {
                    let role = match c.role {
                        Role::Total => "total",
                        Role::Part => "part",
                        Role::Counter => "counter",
                        Role::Metric => "metric",
                    };
                    let est = if c.scope == Scope::Estimate {
                        "  (an estimate, not a measurement)"
                    } else {
                        ""
                    };
                    let _ = writeln!(
                        o,
                        "    {:<20} {:<4} {:<20} {role}{est}",
                        c.name,
                        c.unit.symbol(),
                        c.scope.label()
                    );
                }
                if let Some(d) = &r.detail {
                    let _ = writeln!(o, "    {d}");
                }
            }
            Err(why) => {
                let _ = writeln!(o, "{:<11} not available: {why}", r.kind.name());
            }
        }
    }
    let pick = auto_pick(reports);
    if pick.is_empty() {
        let _ = writeln!(o, "auto        no power source works here");
    } else {
        let names: Vec<&str> = pick.iter().map(|k| k.name()).collect();
        let only_estimate = pick == [SourceKind::Estimate];
        let _ = writeln!(
            o,
            "auto        uses {}{}",
            names.join(" + "),
            if only_estimate {
                ": the only source here, so power figures are estimates"
            } else {
                ""
            }
        );
    }
    o
}
