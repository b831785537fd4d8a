//! `trainwatt report` output: the study's tables (by batch size for each
//! epoch count, by epochs for each batch size) per device (per device and
//! power mode when a device ran in several, with a by-power-mode table), and
//! side-by-side tables with ratios when there are several.
use std::fmt::Write as _;

use serde::Serialize;

use super::report_cost::{cost_md, cost_rows, CostRow};
use super::{md_cell, ExportError};
use crate::model::cost::CostFactors;
use crate::model::stats::MeanCi;
use crate::model::study::{compare, Comparison, ConfigKey, ConfigRatio, ConfigStats, DeviceStudy};

/// The JSON schema name and version written in every report document.
pub const REPORT_SCHEMA: &str = "trainwatt-report/1";

#[derive(Serialize)]
struct ReportDoc<'a> {
    schema: &'static str,
    trainwatt: &'static str,
    ci_level: f64,
    devices: &'a [DeviceStudy],
    /// Every device after the first against the first.
    comparisons: Vec<Comparison>,
    /// The carbon and cost factors the user gave (null where not given).
    cost_factors: &'a CostFactors,
    /// Carbon and cost of each configuration's mean training energy.
    costs: Vec<CostRow<'a>>,
}

pub fn comparisons(devices: &[DeviceStudy]) -> Vec<Comparison> {
    devices
        .iter()
        .skip(1)
        .map(|d| compare(d, &devices[0]))
        .collect()
}

pub fn to_json(devices: &[DeviceStudy]) -> Result<String, ExportError> {
    to_json_at(devices, &CostFactors::default())
}

/// The JSON document, carbon and cost at `k`.
pub fn to_json_at(devices: &[DeviceStudy], k: &CostFactors) -> Result<String, ExportError> {
    let doc = ReportDoc {
        cost_factors: k,
        costs: cost_rows(devices, k),
        schema: REPORT_SCHEMA,
        trainwatt: env!("CARGO_PKG_VERSION"),
        ci_level: crate::model::stats::CI_LEVEL,
        devices,
        comparisons: comparisons(devices),
    };
    let mut s = serde_json::to_string_pretty(&doc)?;
    s.push('\n');
    Ok(s)
}

pub const CSV_COLUMNS: &[&str] = &[
    "device",
    "scope",
    "estimate",
    "batch_size",
    "epochs",
    "runs",
    "completed",
    "out_of_memory",
    "failed",
    "cancelled",
    "incomplete",
    "status",
    "time_s_mean",
    "time_s_ci95_half",
    "energy_j_mean",
    "energy_j_ci95_half",
    "avg_power_w_mean",
    "avg_power_w_ci95_half",
    "j_per_image_mean",
    "j_per_image_ci95_half",
    "static_j_mean",
    "dynamic_j_mean",
    "time_ratio",
    "energy_ratio",
    "avg_power_ratio",
    "co2e_g_mean",
    "cost_mean",
    "carbon_g_per_kwh",
    "price_per_kwh",
    "currency",
];

/// One row per device and configuration; ratios against the first device
/// (see [`super::csv_rows`]).
pub fn to_csv(devices: &[DeviceStudy]) -> String {
    super::csv_rows::report(devices, &CostFactors::default())
}

/// CSV with carbon and cost at `k`.
pub fn to_csv_at(devices: &[DeviceStudy], k: &CostFactors) -> String {
    super::csv_rows::report(devices, k)
}

fn key_part(v: Option<u32>) -> String {
    v.map(|x| x.to_string()).unwrap_or("?".into())
}

/// `123.4 ± 5.6`, `123.4 (n=1, no interval)`.
pub fn ci_cell(v: Option<&MeanCi>, prec: usize) -> String {
    match v {
        None => "-".into(),
        Some(c) => match c.half_width {
            Some(h) => format!("{:.prec$} ± {:.prec$}", c.mean, h),
            None => format!("{:.prec$} (n=1, no interval)", c.mean),
        },
    }
}

/// "5", "4 (1 OOM)", "0 (OOM)".
fn n_cell(c: &ConfigStats) -> String {
    let mut notes = Vec::new();
    if c.out_of_memory > 0 {
        notes.push(format!("{} OOM", c.out_of_memory));
    }
    if c.failed > 0 {
        notes.push(format!("{} failed", c.failed));
    }
    if c.cancelled > 0 {
        notes.push(format!("{} cancelled", c.cancelled));
    }
    if c.incomplete > 0 {
        notes.push(format!("{} incomplete", c.incomplete));
    }
    if notes.is_empty() {
        c.completed.to_string()
    } else {
        format!("{} ({})", c.completed, notes.join(", "))
    }
}

fn metric_cells(c: &ConfigStats, est: &str) -> [String; 3] {
    if let Some(label) = c.no_result_label() {
        return [label.into(), label.into(), label.into()];
    }
    [
        ci_cell(c.time_s.as_ref(), 2),
        format!("{}{est}", ci_cell(c.energy_j.as_ref(), 1)),
        format!("{}{est}", ci_cell(c.avg_power_w.as_ref(), 2)),
    ]
}

fn device_md(o: &mut String, d: &DeviceStudy) {
    let est = if d.estimate { " (estimate)" } else { "" };
    let _ = writeln!(
        o,
        "\n## {}\n\nSource: {}; total power: {}{est}. {} sessions. Mean ± 95% confidence interval (Student t, n − 1 degrees of freedom) over the completed runs; n counts completed runs.\n",
        md_cell(&d.device),
        if d.sources.is_empty() { "none".into() } else { d.sources.join(", ") },
        d.scope,
        d.sessions
    );
    for ep in d.epochs_values() {
        metrics_table(
            o,
            &format!("By batch size (epochs = {})", key_part(ep)),
            "batch size",
            d.configs.iter().filter(|c| c.key.epochs == ep),
            |k| k.batch_size,
            est,
        );
    }
    for bs in d.batch_sizes() {
        metrics_table(
            o,
            &format!("By epochs (batch size = {})", key_part(bs)),
            "epochs",
            d.configs.iter().filter(|c| c.key.batch_size == bs),
            |k| k.epochs,
            est,
        );
    }
    if d.configs.iter().any(|c| c.static_j.is_some()) {
        static_dynamic_md(o, d, est);
    }
}

/// One table of a device's configurations: the row's `first_col` (what
/// `first` picks of its key), n, then time, energy and power.
fn metrics_table<'a>(
    o: &mut String,
    title: &str,
    first_col: &str,
    configs: impl Iterator<Item = &'a ConfigStats>,
    first: fn(&ConfigKey) -> Option<u32>,
    est: &str,
) {
    let _ = writeln!(
        o,
        "### {title}\n\n| {first_col} | n | training time (s) | energy (J) | average power (W) |\n|---:|---|---:|---:|---:|"
    );
    for c in configs {
        let [t, e, p] = metric_cells(c, est);
        let _ = writeln!(
            o,
            "| {} | {} | {t} | {e} | {p} |",
            key_part(first(&c.key)),
            n_cell(c)
        );
    }
    o.push('\n');
}

fn static_dynamic_md(o: &mut String, d: &DeviceStudy, est: &str) {
    let _ = writeln!(
        o,
        "### Static and dynamic energy (idle floor × training time, and the rest)\n\n| batch size | epochs | static (J) | dynamic (J) |\n|---:|---:|---:|---:|"
    );
    for c in d.configs.iter().filter(|c| c.static_j.is_some()) {
        let _ = writeln!(
            o,
            "| {} | {} | {}{est} | {}{est} |",
            key_part(c.key.batch_size),
            key_part(c.key.epochs),
            ci_cell(c.static_j.as_ref(), 1),
            ci_cell(c.dynamic_j.as_ref(), 1)
        );
    }
    o.push('\n');
}

/// Every configuration any of `devices` ran, in order.
fn all_keys<'a>(devices: impl IntoIterator<Item = &'a DeviceStudy>) -> Vec<ConfigKey> {
    let mut keys: Vec<ConfigKey> = devices
        .into_iter()
        .flat_map(|d| d.configs.iter().map(|c| c.key))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// A metric of the side-by-side tables: the device's mean and interval, and
/// its ratio against the first device.
struct SideMetric {
    title: &'static str,
    prec: usize,
    /// Whether an estimated power source makes it an estimate.
    energy_like: bool,
    pick: fn(&ConfigStats) -> Option<&MeanCi>,
    ratio: fn(&ConfigRatio) -> Option<f64>,
}

const SIDE_METRICS: [SideMetric; 3] = [
    SideMetric {
        title: "Training time (s)",
        prec: 2,
        energy_like: false,
        pick: |c| c.time_s.as_ref(),
        ratio: |r| r.time,
    },
    SideMetric {
        title: "Energy (J)",
        prec: 1,
        energy_like: true,
        pick: |c| c.energy_j.as_ref(),
        ratio: |r| r.energy,
    },
    SideMetric {
        title: "Average power (W)",
        prec: 2,
        energy_like: true,
        pick: |c| c.avg_power_w.as_ref(),
        ratio: |r| r.avg_power,
    },
];

fn side_by_side_md(o: &mut String, devices: &[DeviceStudy]) {
    let comps = comparisons(devices);
    let keys = all_keys(devices);
    let _ = writeln!(
        o,
        "\n## Side by side\n\nRatios are device / {} of the means.\n",
        md_cell(&devices[0].device)
    );
    for m in &SIDE_METRICS {
        side_by_side_header(o, devices, m);
        for key in &keys {
            let _ = write!(
                o,
                "| {} | {} |",
                key_part(key.batch_size),
                key_part(key.epochs)
            );
            for d in devices {
                let _ = write!(o, " {} |", side_cell(d, *key, m));
            }
            for comp in &comps {
                let r = comp.configs.iter().find(|r| r.key == *key);
                let v = r.and_then(m.ratio);
                let _ = write!(
                    o,
                    " {} |",
                    v.map(|v| format!("{v:.3}×")).unwrap_or("-".into())
                );
            }
            o.push('\n');
        }
        o.push('\n');
    }
    scope_caveat_md(o, devices);
}

/// A side-by-side table's title and header: a column per device, then one
/// per ratio against the first.
fn side_by_side_header(o: &mut String, devices: &[DeviceStudy], m: &SideMetric) {
    let _ = write!(o, "### {}\n\n| batch size | epochs |", m.title);
    for d in devices {
        let est = if d.estimate && m.energy_like {
            " (estimate)"
        } else {
            ""
        };
        let _ = write!(o, " {}{est} |", md_cell(&d.device));
    }
    for d in &devices[1..] {
        let _ = write!(
            o,
            " {} / {} |",
            md_cell(&d.device),
            md_cell(&devices[0].device)
        );
    }
    let _ = write!(o, "\n|---:|---:|");
    for _ in 0..(2 * devices.len() - 1) {
        o.push_str("---:|");
    }
    o.push('\n');
}

/// One device's cell of a side-by-side table: "not run", its no-result
/// label (OOM, ...), or the mean with its interval and n.
fn side_cell(d: &DeviceStudy, key: ConfigKey, m: &SideMetric) -> String {
    match d.get(key) {
        None => "not run".to_string(),
        Some(c) => match c.no_result_label() {
            Some(l) => l.to_string(),
            None => format!("{} (n={})", ci_cell((m.pick)(c), m.prec), c.completed),
        },
    }
}

/// Devices that measure different scopes get the study's caveat.
fn scope_caveat_md(o: &mut String, devices: &[DeviceStudy]) {
    let scopes: Vec<&str> = devices.iter().map(|d| d.scope.as_str()).collect();
    if scopes.iter().any(|s| *s != scopes[0]) {
        let _ = writeln!(
            o,
            "The devices measure different scopes ({}): a whole board against a GPU alone is the study's own caveat; compare with care.\n",
            devices
                .iter()
                .map(|d| format!("{}: {}", d.device, d.scope))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
}

/// Each machine that ran in several power modes: every configuration in
/// every mode, one row each.
fn power_modes_md(o: &mut String, devices: &[DeviceStudy]) {
    let mut machines: Vec<&str> = Vec::new();
    for d in devices {
        if !machines.contains(&d.machine.as_str()) {
            machines.push(&d.machine);
        }
    }
    for m in machines {
        let modes: Vec<&DeviceStudy> = devices.iter().filter(|d| d.machine == m).collect();
        if modes.len() < 2 {
            continue;
        }
        let keys = all_keys(modes.iter().copied());
        let _ = writeln!(
            o,
            "\n## By power mode ({})\n\nMean ± 95% confidence interval over the completed runs of each mode.\n\n\
             | batch size | epochs | power mode | n | training time (s) | energy (J) | average power (W) | J/image |\n\
             |---:|---:|---|---|---:|---:|---:|---:|",
            md_cell(m)
        );
        for key in &keys {
            for d in &modes {
                let Some(c) = d.get(*key) else { continue };
                let est = if d.estimate { " (estimate)" } else { "" };
                let [t, e, p] = metric_cells(c, est);
                let jpi = match c.no_result_label() {
                    Some(l) => l.to_string(),
                    None => format!("{}{est}", ci_cell(c.j_per_image.as_ref(), 4)),
                };
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {t} | {e} | {p} | {jpi} |",
                    key_part(key.batch_size),
                    key_part(key.epochs),
                    md_cell(d.power_mode.as_deref().unwrap_or("unknown")),
                    n_cell(c)
                );
            }
        }
        o.push('\n');
    }
}

/// Markdown report: each device's tables, the power modes, then
/// side-by-side tables.
pub fn to_markdown(devices: &[DeviceStudy]) -> String {
    to_markdown_at(devices, &CostFactors::default())
}

/// Markdown with a carbon and cost section at `k` (none without a factor).
pub fn to_markdown_at(devices: &[DeviceStudy], k: &CostFactors) -> String {
    let mut o = String::from("# trainwatt report\n");
    for d in devices {
        device_md(&mut o, d);
    }
    power_modes_md(&mut o, devices);
    if devices.len() >= 2 {
        side_by_side_md(&mut o, devices);
    }
    cost_md(&mut o, devices, k);
    o
}
