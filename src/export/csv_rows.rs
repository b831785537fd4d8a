//! CSV output of `summary` and `report`, written by the `csv` crate from
//! `Serialize` row structs: one row struct per table, its field names the
//! column names (checked against the published column lists by a test).
//!
//! Cells: a figure that cannot be computed is an empty cell; numbers are
//! written at full precision in Rust's shortest round-trip form (`12.5`, `3`),
//! text is quoted only where it holds a separator, a quote or a line break.
use serde::{Serialize, Serializer};

use crate::model::cost::CostFactors;
use crate::model::stats::MeanCi;
use crate::model::study::DeviceStudy;
use crate::model::summary::{ratios, SessionSummary};

/// A number cell: empty for no value or a non-finite one.
#[derive(Clone, Copy, Debug)]
struct Num(Option<f64>);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            // `Display` gives `3` for 3.0 and never an exponent, as before.
            Some(x) if x.is_finite() => s.collect_str(&x),
            _ => s.serialize_none(),
        }
    }
}

/// `columns` as the header (written even with no rows), then one line per row.
fn write_rows<R: Serialize>(columns: &[&str], rows: impl IntoIterator<Item = R>) -> String {
    let mut w = ::csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing plain cells (text, numbers, booleans, empty) to memory cannot
    // fail; the row types hold nothing else. Should it ever, the row is left
    // out rather than the program stopped.
    let _ = w.write_record(columns);
    for r in rows {
        if let Err(e) = w.serialize(r) {
            tracing::error!("a CSV row could not be written: {e}");
        }
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// One `summary` row (columns: `summary::CSV_COLUMNS`).
#[derive(Serialize)]
struct SummaryRow<'a> {
    file: &'a str,
    device: &'a str,
    host: &'a str,
    sources: String,
    scope: &'a str,
    estimate: bool,
    status: &'a str,
    batch_size: Option<u32>,
    epochs_planned: Option<u32>,
    duration_s: Num,
    training_time_s: Num,
    energy_j: Num,
    training_energy_j: Num,
    counter_energy_j: Num,
    counter_vs_integrated: Num,
    uncovered_s: Num,
    training_uncovered_s: Num,
    session_avg_power_w: Num,
    avg_power_w: Num,
    peak_power_w: Num,
    epochs: u32,
    steps: Option<u64>,
    images: Option<u64>,
    images_per_s: Num,
    j_per_image: Num,
    j_per_epoch: Num,
    final_val_acc: Num,
    target_acc: Num,
    target_epoch: Option<u32>,
    target_time_s: Num,
    target_energy_j: Num,
    idle_floor_w: Num,
    static_j: Num,
    dynamic_j: Num,
    time_ratio: Num,
    energy_ratio: Num,
    avg_power_ratio: Num,
    j_per_image_ratio: Num,
    co2e_g: Num,
    training_co2e_g: Num,
    cost: Num,
    training_cost: Num,
    carbon_g_per_kwh: Num,
    price_per_kwh: Num,
    currency: Option<&'a str>,
}

impl<'a> SummaryRow<'a> {
    fn new(s: &'a SessionSummary, baseline: Option<&SessionSummary>, k: &'a CostFactors) -> Self {
        let tj = s.training.as_ref().and_then(|w| w.energy_j);
        let r = baseline.map(|b| ratios(s, b));
        let r = r.as_ref();
        let w = s.training.as_ref();
        let t = s.target.as_ref();
        let i = s.idle.as_ref();
        SummaryRow {
            file: &s.file,
            device: &s.device,
            host: &s.host,
            sources: s.sources.join("+"),
            scope: &s.scope,
            estimate: s.estimate,
            status: s.status.label(),
            batch_size: s.batch_size(),
            epochs_planned: s.planned_epochs(),
            duration_s: Num(Some(s.duration_s)),
            training_time_s: Num(w.map(|w| w.time_s)),
            energy_j: Num(s.energy_j),
            training_energy_j: Num(w.and_then(|w| w.energy_j)),
            counter_energy_j: Num(s.counter_energy_j),
            counter_vs_integrated: Num(s.counter_vs_integrated),
            uncovered_s: Num(Some(s.uncovered_s)),
            training_uncovered_s: Num(w.map(|w| w.uncovered_s)),
            session_avg_power_w: Num(s.avg_power_w),
            avg_power_w: Num(w.and_then(|w| w.avg_power_w)),
            peak_power_w: Num(s.peak_power_w),
            epochs: s.epochs,
            steps: s.steps,
            images: s.images,
            images_per_s: Num(s.images_per_s),
            j_per_image: Num(s.j_per_image),
            j_per_epoch: Num(s.j_per_epoch),
            final_val_acc: Num(s.final_val_acc),
            target_acc: Num(t.map(|t| t.target_acc)),
            target_epoch: t.and_then(|t| t.epoch),
            target_time_s: Num(t.and_then(|t| t.time_s)),
            target_energy_j: Num(t.and_then(|t| t.energy_j)),
            idle_floor_w: Num(i.map(|i| i.floor_w)),
            static_j: Num(i.map(|i| i.static_j)),
            dynamic_j: Num(i.map(|i| i.dynamic_j)),
            time_ratio: Num(r.and_then(|r| r.time)),
            energy_ratio: Num(r.and_then(|r| r.energy)),
            avg_power_ratio: Num(r.and_then(|r| r.avg_power)),
            j_per_image_ratio: Num(r.and_then(|r| r.j_per_image)),
            co2e_g: Num(k.grams_co2e(s.energy_j)),
            training_co2e_g: Num(k.grams_co2e(tj)),
            cost: Num(k.money(s.energy_j)),
            training_cost: Num(k.money(tj)),
            carbon_g_per_kwh: Num(k.carbon_g_per_kwh),
            price_per_kwh: Num(k.price_per_kwh),
            currency: k.price_per_kwh.map(|_| k.currency.as_str()),
        }
    }
}

/// `summary --format csv`: ratios against the first session when there are several.
pub fn summary(sessions: &[SessionSummary], k: &CostFactors) -> String {
    let baseline = sessions.first().filter(|_| sessions.len() >= 2);
    write_rows(
        super::summary::CSV_COLUMNS,
        sessions.iter().map(|s| SummaryRow::new(s, baseline, k)),
    )
}

/// One `report` row (columns: `report::CSV_COLUMNS`).
#[derive(Serialize)]
struct ReportRow<'a> {
    device: &'a str,
    scope: &'a str,
    estimate: bool,
    batch_size: Option<u32>,
    epochs: Option<u32>,
    runs: usize,
    completed: usize,
    out_of_memory: usize,
    failed: usize,
    cancelled: usize,
    incomplete: usize,
    status: &'a str,
    time_s_mean: Num,
    time_s_ci95_half: Num,
    energy_j_mean: Num,
    energy_j_ci95_half: Num,
    avg_power_w_mean: Num,
    avg_power_w_ci95_half: Num,
    j_per_image_mean: Num,
    j_per_image_ci95_half: Num,
    static_j_mean: Num,
    dynamic_j_mean: Num,
    time_ratio: Num,
    energy_ratio: Num,
    avg_power_ratio: Num,
    co2e_g_mean: Num,
    cost_mean: Num,
    carbon_g_per_kwh: Num,
    price_per_kwh: Num,
    currency: Option<&'a str>,
}

/// `report --format csv`: one row per device and configuration, ratios
/// against the first device.
pub fn report<'a>(devices: &'a [DeviceStudy], cost: &'a CostFactors) -> String {
    let comps = super::report::comparisons(devices);
    let mean = |v: &Option<MeanCi>| Num(v.as_ref().map(|v| v.mean));
    let half = |v: &Option<MeanCi>| Num(v.as_ref().and_then(|v| v.half_width));
    let rows = devices.iter().enumerate().flat_map(|(k, d)| {
        let comps = &comps;
        d.configs.iter().map(move |c| {
            let r = k
                .checked_sub(1)
                .and_then(|i| comps[i].configs.iter().find(|r| r.key == c.key));
            ReportRow {
                device: &d.device,
                scope: &d.scope,
                estimate: d.estimate,
                batch_size: c.key.batch_size,
                epochs: c.key.epochs,
                runs: c.runs,
                completed: c.completed,
                out_of_memory: c.out_of_memory,
                failed: c.failed,
                cancelled: c.cancelled,
                incomplete: c.incomplete,
                status: c.no_result_label().unwrap_or("ok"),
                time_s_mean: mean(&c.time_s),
                time_s_ci95_half: half(&c.time_s),
                energy_j_mean: mean(&c.energy_j),
                energy_j_ci95_half: half(&c.energy_j),
                avg_power_w_mean: mean(&c.avg_power_w),
                avg_power_w_ci95_half: half(&c.avg_power_w),
                j_per_image_mean: mean(&c.j_per_image),
                j_per_image_ci95_half: half(&c.j_per_image),
                static_j_mean: mean(&c.static_j),
                dynamic_j_mean: mean(&c.dynamic_j),
                time_ratio: Num(r.and_then(|r| r.time)),
                energy_ratio: Num(r.and_then(|r| r.energy)),
                avg_power_ratio: Num(r.and_then(|r| r.avg_power)),
                co2e_g_mean: Num(cost.grams_co2e(c.energy_j.as_ref().map(|e| e.mean))),
                cost_mean: Num(cost.money(c.energy_j.as_ref().map(|e| e.mean))),
                carbon_g_per_kwh: Num(cost.carbon_g_per_kwh),
                price_per_kwh: Num(cost.price_per_kwh),
                currency: cost.price_per_kwh.map(|_| cost.currency.as_str()),
            }
        })
    });
    write_rows(super::report::CSV_COLUMNS, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header the row struct would write itself, from its field names.
    fn derived_header<R: Serialize>(row: R) -> String {
        let mut w = ::csv::Writer::from_writer(Vec::new());
        w.serialize(row).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        text.lines().next().unwrap().to_string()
    }

    fn summary_fixture() -> SessionSummary {
        let h = crate::record::Header::new(Vec::new(), 100.0);
        let fold = crate::model::fold::SessionFold::new(&h);
        crate::model::summary::summarize(&fold, "a, \"b\".jsonl")
    }

    #[test]
    fn row_fields_are_the_published_columns() {
        let s = summary_fixture();
        assert_eq!(
            derived_header(SummaryRow::new(&s, None, &CostFactors::default())),
            super::super::summary::CSV_COLUMNS.join(",")
        );
        let study = crate::model::study::device_study("d", &[]);
        let cols = super::super::report::CSV_COLUMNS.join(",");
        // No configuration: the header alone, still written.
        assert_eq!(
            report(std::slice::from_ref(&study), &CostFactors::default()),
            format!("{cols}\n")
        );
    }

    #[test]
    fn cells_are_quoted_empty_or_shortest_numbers() {
        let s = summary_fixture();
        let text = summary(std::slice::from_ref(&s), &CostFactors::default());
        let row = text.lines().nth(1).unwrap();
        assert!(row.starts_with("\"a, \"\"b\"\".jsonl\","), "{row}");
        let cell = |v: Option<f64>| {
            let mut w = ::csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(Vec::new());
            w.serialize((Num(v), 1)).unwrap();
            String::from_utf8(w.into_inner().unwrap()).unwrap()
        };
        assert_eq!(cell(Some(3.0)), "3,1\n");
        assert_eq!(cell(Some(0.1)), "0.1,1\n");
        assert_eq!(cell(Some(1e20)), "100000000000000000000,1\n");
        assert_eq!(cell(None), ",1\n");
        assert_eq!(cell(Some(f64::NAN)), ",1\n");
        assert_eq!(cell(Some(f64::INFINITY)), ",1\n");
    }
}
