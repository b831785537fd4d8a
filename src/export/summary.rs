//! `trainwatt summary` output: markdown, JSON (`trainwatt-summary/1`, see
//! the README's "File formats") and CSV (one row per session, units in the header).
use std::fmt::Write as _;

use serde::Serialize;

use super::{duration, md_cell, num, ExportError};
use crate::model::cost::{format_grams, format_money, CostFactors};
use crate::model::summary::{ratios, Ratios, SessionSummary};

/// The JSON schema name and version written in every summary document.
pub const SUMMARY_SCHEMA: &str = "trainwatt-summary/1";

#[derive(Serialize)]
struct SummaryDoc<'a> {
    schema: &'static str,
    trainwatt: &'static str,
    sessions: Vec<SessionDoc<'a>>,
    /// The carbon and cost factors the user gave (null where not given).
    cost_factors: &'a CostFactors,
    /// Ratios of every session against the first (absent with one session).
    #[serde(skip_serializing_if = "Option::is_none")]
    comparison: Option<ComparisonDoc<'a>>,
}

/// A session's figures plus its carbon and cost (null without a factor or energy).
#[derive(Serialize)]
struct SessionDoc<'a> {
    #[serde(flatten)]
    summary: &'a SessionSummary,
    co2e_g: Option<f64>,
    training_co2e_g: Option<f64>,
    cost: Option<f64>,
    training_cost: Option<f64>,
}

#[derive(Serialize)]
struct ComparisonDoc<'a> {
    baseline: &'a str,
    sessions: Vec<RatioRow<'a>>,
}

#[derive(Serialize)]
struct RatioRow<'a> {
    file: &'a str,
    #[serde(flatten)]
    ratios: Ratios,
}

fn est(s: &SessionSummary) -> &'static str {
    if s.estimate {
        " (estimate)"
    } else {
        ""
    }
}

/// The JSON document for `sessions`.
pub fn to_json(sessions: &[SessionSummary]) -> Result<String, ExportError> {
    to_json_at(sessions, &CostFactors::default())
}

/// The JSON document for `sessions`, carbon and cost at `k`.
pub fn to_json_at(sessions: &[SessionSummary], k: &CostFactors) -> Result<String, ExportError> {
    let comparison = (sessions.len() >= 2).then(|| ComparisonDoc {
        baseline: &sessions[0].file,
        sessions: sessions[1..]
            .iter()
            .map(|s| RatioRow {
                file: &s.file,
                ratios: ratios(s, &sessions[0]),
            })
            .collect(),
    });
    let doc = SummaryDoc {
        schema: SUMMARY_SCHEMA,
        trainwatt: env!("CARGO_PKG_VERSION"),
        sessions: sessions
            .iter()
            .map(|s| {
                let tj = s.training.as_ref().and_then(|w| w.energy_j);
                SessionDoc {
                    summary: s,
                    co2e_g: k.grams_co2e(s.energy_j),
                    training_co2e_g: k.grams_co2e(tj),
                    cost: k.money(s.energy_j),
                    training_cost: k.money(tj),
                }
            })
            .collect(),
        cost_factors: k,
        comparison,
    };
    let mut s = serde_json::to_string_pretty(&doc)?;
    s.push('\n');
    Ok(s)
}

/// CSV columns, units in the names.
pub const CSV_COLUMNS: &[&str] = &[
    "file",
    "device",
    "host",
    "sources",
    "scope",
    "estimate",
    "status",
    "batch_size",
    "epochs_planned",
    "duration_s",
    "training_time_s",
    "energy_j",
    "training_energy_j",
    "counter_energy_j",
    "counter_vs_integrated",
    "uncovered_s",
    "training_uncovered_s",
    "session_avg_power_w",
    "avg_power_w",
    "peak_power_w",
    "epochs",
    "steps",
    "images",
    "images_per_s",
    "j_per_image",
    "j_per_epoch",
    "final_val_acc",
    "target_acc",
    "target_epoch",
    "target_time_s",
    "target_energy_j",
    "idle_floor_w",
    "static_j",
    "dynamic_j",
    "time_ratio",
    "energy_ratio",
    "avg_power_ratio",
    "j_per_image_ratio",
    "co2e_g",
    "training_co2e_g",
    "cost",
    "training_cost",
    "carbon_g_per_kwh",
    "price_per_kwh",
    "currency",
];

/// One header line, then one row per session (see [`super::csv_rows`]).
pub fn to_csv(sessions: &[SessionSummary]) -> String {
    super::csv_rows::summary(sessions, &CostFactors::default())
}

/// CSV with carbon and cost at `k`.
pub fn to_csv_at(sessions: &[SessionSummary], k: &CostFactors) -> String {
    super::csv_rows::summary(sessions, k)
}

/// Markdown: one section per session, then the comparison table.
pub fn to_markdown(sessions: &[SessionSummary]) -> String {
    to_markdown_at(sessions, &CostFactors::default())
}

/// Markdown with carbon and cost rows at `k` (none without a factor).
pub fn to_markdown_at(sessions: &[SessionSummary], cost: &CostFactors) -> String {
    let mut o = String::from("# trainwatt summary\n");
    for (k, s) in sessions.iter().enumerate() {
        session_md(&mut o, k + 1, s, cost);
    }
    if sessions.len() >= 2 {
        comparison_md(&mut o, sessions);
    }
    o
}

/// Carbon and cost rows appended to a session's table, each naming its factor.
fn cost_md(o: &mut String, s: &SessionSummary, k: &CostFactors) {
    let e = est(s);
    let tj = s.training.as_ref().and_then(|w| w.energy_j);
    if let Some(label) = k.carbon_label() {
        row(
            o,
            "session carbon",
            format!("{}{e} {label}", format_grams(k.grams_co2e(s.energy_j))),
        );
        if s.training.is_some() {
            row(
                o,
                "training carbon",
                format!("{}{e} {label}", format_grams(k.grams_co2e(tj))),
            );
        }
    }
    if let Some(label) = k.price_label() {
        row(
            o,
            "session cost",
            format!(
                "{}{e} {label}",
                format_money(k.money(s.energy_j), &k.currency)
            ),
        );
        if s.training.is_some() {
            row(
                o,
                "training cost",
                format!("{}{e} {label}", format_money(k.money(tj), &k.currency)),
            );
        }
    }
}

fn row(o: &mut String, name: &str, value: impl AsRef<str>) {
    let _ = writeln!(o, "| {name} | {} |", md_cell(value.as_ref()));
}

/// One session's section: who and what, then energy, training, cost,
/// progress, the idle split and the channel table.
fn session_md(o: &mut String, k: usize, s: &SessionSummary, cost: &CostFactors) {
    let _ = writeln!(o, "\n## {k}. {}\n", md_cell(&s.file));
    let _ = writeln!(o, "| | |\n|---|---|");
    identity_rows(o, s);
    energy_rows(o, s);
    training_rows(o, s);
    cost_md(o, s, cost);
    progress_rows(o, s);
    idle_rows(o, s);
    channel_table(o, s);
}

/// Device, host, power mode, configuration.
fn identity_rows(o: &mut String, s: &SessionSummary) {
    let e = est(s);
    let mut dev = s.device.clone();
    if s.device_model.as_deref().is_some_and(|m| m != s.device) {
        let _ = write!(dev, " ({})", s.device_model.as_deref().unwrap_or_default());
    }
    row(o, "device", &dev);
    row(o, "host", &s.host);
    if let Some(p) = &s.power_mode {
        row(o, "power mode", p);
    }
    row(
        o,
        "source",
        format!(
            "{}; total: {}{e}",
            if s.sources.is_empty() {
                "none".to_string()
            } else {
                s.sources.join(", ")
            },
            s.scope
        ),
    );
    if let Some(c) = &s.config {
        let mut t = format!("{} on {}", c.model, c.dataset);
        if let Some(b) = c.batch_size {
            let _ = write!(t, ", batch {b}");
        }
        if let Some(ep) = c.epochs {
            let _ = write!(t, ", {ep} epochs planned");
        }
        row(o, "training", t);
    }
}

/// Run status, duration, session energy, counter, gaps, power.
fn energy_rows(o: &mut String, s: &SessionSummary) {
    let e = est(s);
    let mut status = s.status.label().to_string();
    if let Some(m) = &s.status_message {
        let _ = write!(status, ": {m}");
    }
    if !s.clean_end {
        status.push_str(" (session did not end cleanly)");
    }
    row(o, "run status", status);
    row(o, "session duration", duration(Some(s.duration_s)));
    row(
        o,
        "session energy",
        format!(
            "{} J ({} Wh){e}",
            num(s.energy_j, 1),
            num(s.energy_j.map(|j| j / 3600.0), 4)
        ),
    );
    if let Some(c) = s.counter_energy_j {
        row(
            o,
            "session energy from counter",
            format!(
                "{} J{e}; integrated − counter difference {}",
                num(Some(c), 1),
                s.counter_vs_integrated
                    .map(|d| format!("{:+.2}% of the counter", -d * 100.0))
                    .unwrap_or("-".into())
            ),
        );
    }
    row(o, "uncovered (gaps)", duration(Some(s.uncovered_s)));
    if s.skipped_readings > 0 {
        row(
            o,
            "skipped readings",
            format!("{} (not in the file; see `inspect`)", s.skipped_readings),
        );
    }
    if s.problem_count > 0 {
        row(
            o,
            "events not folded",
            format!("{}: {}", s.problem_count, s.problems.join("; ")),
        );
    }
    row(
        o,
        "session power",
        format!(
            "average {} W{e}, peak {} W{e}",
            num(s.avg_power_w, 2),
            num(s.peak_power_w, 2)
        ),
    );
}

/// The training window: time, energy, average power, gaps.
fn training_rows(o: &mut String, s: &SessionSummary) {
    let e = est(s);
    if let Some(w) = &s.training {
        row(o, "training time", duration(Some(w.time_s)));
        row(
            o,
            "training energy",
            format!(
                "{} J ({} Wh){e}",
                num(w.energy_j, 1),
                num(w.energy_j.map(|j| j / 3600.0), 4)
            ),
        );
        row(
            o,
            "training average power",
            format!("{} W{e}", num(w.avg_power_w, 2)),
        );
        if w.uncovered_s > 0.0 {
            row(o, "training uncovered", duration(Some(w.uncovered_s)));
        }
    }
}

/// Epochs, steps, images, throughput, J per image, accuracy, target.
fn progress_rows(o: &mut String, s: &SessionSummary) {
    let e = est(s);
    row(o, "epochs", s.epochs.to_string());
    row(
        o,
        "steps",
        s.steps.map(|x| x.to_string()).unwrap_or("-".into()),
    );
    row(
        o,
        "images",
        s.images.map(|x| x.to_string()).unwrap_or("-".into()),
    );
    row(o, "images/s", num(s.images_per_s, 1));
    row(
        o,
        "J per image",
        format!(
            "{}{}",
            num(s.j_per_image, 4),
            if s.j_per_image.is_some() { e } else { "" }
        ),
    );
    row(
        o,
        "J per epoch",
        format!(
            "{}{}",
            num(s.j_per_epoch, 1),
            if s.j_per_epoch.is_some() { e } else { "" }
        ),
    );
    row(o, "final validation accuracy", num(s.final_val_acc, 4));
    if let Some(t) = &s.target {
        let v = match (t.epoch, t.time_s) {
            (Some(ep), Some(ts)) => format!(
                "reached at epoch {ep}: {}, {} J{e}",
                duration(Some(ts)),
                num(t.energy_j, 1)
            ),
            _ => "not reached".to_string(),
        };
        row(
            o,
            &format!("to reach accuracy {}", num(Some(t.target_acc), 3)),
            v,
        );
    }
}

/// The idle floor and the static/dynamic split.
fn idle_rows(o: &mut String, s: &SessionSummary) {
    let e = est(s);
    if let Some(i) = &s.idle {
        row(
            o,
            "idle floor",
            format!(
                "{} W{e} ({}{})",
                num(Some(i.floor_w), 2),
                if i.floor_from == "marker" {
                    "idle calibration"
                } else {
                    "measured between idle markers"
                },
                i.calibration_s
                    .map(|c| format!(", {}", duration(Some(c))))
                    .unwrap_or_default()
            ),
        );
        row(
            o,
            "static energy (floor × training time)",
            format!(
                "{} J{e}{}",
                num(Some(i.static_j), 1),
                i.static_fraction
                    .map(|f| format!(" ({:.1}% of training energy)", f * 100.0))
                    .unwrap_or_default()
            ),
        );
        row(
            o,
            "dynamic energy (the rest)",
            format!("{} J{e}", num(Some(i.dynamic_j), 1)),
        );
    }
}

/// Energy per channel, counters beside the channel they pair with.
fn channel_table(o: &mut String, s: &SessionSummary) {
    if !s.channels.is_empty() {
        let _ = writeln!(
            o,
            "\n| channel | scope | role | source | energy (J) | mean (W) | peak (W) | uncovered | gaps | counter vs integrated |\n|---|---|---|---|---:|---:|---:|---:|---:|---|"
        );
        for c in &s.channels {
            let ce = if c.scope == "estimate" {
                " (estimate)"
            } else {
                ""
            };
            let vs = match (&c.paired_channel, c.paired_integrated_j) {
                (Some(p), Some(j)) => format!(
                    "{} J integrated from {p}{}",
                    num(Some(j), 1),
                    c.counter_vs_integrated
                        .map(|d| format!(" (counter {:+.2}%)", d * 100.0))
                        .unwrap_or_default()
                ),
                _ => String::new(),
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {}{ce} | {} | {} | {} | {} | {} |",
                md_cell(&c.name),
                c.scope,
                c.role,
                md_cell(&c.source),
                num(Some(c.energy_j), 1),
                num(c.mean_w, 2),
                num(c.peak_w, 2),
                if c.unit == "J" {
                    "-".into()
                } else {
                    duration(Some(c.uncovered_s))
                },
                c.gaps,
                md_cell(&vs)
            );
        }
    }
}

fn comparison_md(o: &mut String, sessions: &[SessionSummary]) {
    let base = &sessions[0];
    let _ = writeln!(
        o,
        "\n## Comparison against 1. {}\n\nRatios of training figures (session / session 1); whole-session figures where a session has no training run.\n",
        md_cell(&base.file)
    );
    let _ = writeln!(
        o,
        "| session | device | scope | time | energy | average power | J per image |\n|---|---|---|---:|---:|---:|---:|"
    );
    for (k, s) in sessions.iter().enumerate() {
        let r = ratios(s, base);
        let x = |v: Option<f64>| v.map(|v| format!("{v:.3}×")).unwrap_or("-".into());
        let _ = writeln!(
            o,
            "| {}. {} | {} | {}{} | {} | {} | {} | {} |",
            k + 1,
            md_cell(&s.file),
            md_cell(&s.device),
            s.scope,
            est(s),
            x(r.time),
            x(r.energy),
            x(r.avg_power),
            x(r.j_per_image)
        );
    }
    if sessions.iter().any(|s| s.scope != base.scope) {
        let _ = writeln!(
            o,
            "\nThe sessions measure different scopes: a whole board and a GPU alone are not the same thing; compare with care."
        );
    }
}
