//! Carbon and cost in `trainwatt report`: the mean training energy of each
//! device and configuration turned into grams of CO2e and money at the user's
//! factors. A configuration with no completed run has no figure (null, "–").
use std::fmt::Write as _;

use serde::Serialize;

use super::md_cell;
use crate::model::cost::{format_grams, format_money, CostFactors};
use crate::model::study::DeviceStudy;

/// One device and configuration's carbon and cost (JSON `costs`, CSV columns).
#[derive(Clone, Debug, Serialize)]
pub struct CostRow<'a> {
    pub device: &'a str,
    pub batch_size: Option<u32>,
    pub epochs: Option<u32>,
    /// Grams of CO2e of the mean training energy.
    pub co2e_g_mean: Option<f64>,
    /// Money of the mean training energy, in the factors' currency.
    pub cost_mean: Option<f64>,
}

/// Every device's configurations, in report order.
pub fn cost_rows<'a>(devices: &'a [DeviceStudy], k: &CostFactors) -> Vec<CostRow<'a>> {
    devices
        .iter()
        .flat_map(|d| {
            d.configs.iter().map(move |c| {
                let j = c.energy_j.as_ref().map(|e| e.mean);
                CostRow {
                    device: &d.device,
                    batch_size: c.key.batch_size,
                    epochs: c.key.epochs,
                    co2e_g_mean: k.grams_co2e(j),
                    cost_mean: k.money(j),
                }
            })
        })
        .collect()
}

fn part(v: Option<u32>) -> String {
    v.map(|x| x.to_string()).unwrap_or("?".into())
}

/// The markdown section (empty without a factor).
pub fn cost_md(o: &mut String, devices: &[DeviceStudy], k: &CostFactors) {
    if !k.any() {
        return;
    }
    let labels: Vec<String> = [k.carbon_label(), k.price_label()]
        .into_iter()
        .flatten()
        .collect();
    let _ = writeln!(
        o,
        "\n## Carbon and cost of the mean training energy\n\n{}.\n\n| device | batch size | epochs | CO2e | cost |\n|---|---:|---:|---:|---:|",
        labels.join("; ")
    );
    for d in devices {
        let est = if d.estimate { " (estimate)" } else { "" };
        for r in cost_rows(std::slice::from_ref(d), k) {
            let g = format_grams(r.co2e_g_mean);
            let m = format_money(r.cost_mean, &k.currency);
            let _ = writeln!(
                o,
                "| {} | {} | {} | {g}{} | {m}{} |",
                md_cell(r.device),
                part(r.batch_size),
                part(r.epochs),
                if r.co2e_g_mean.is_some() { est } else { "" },
                if r.cost_mean.is_some() { est } else { "" },
            );
        }
    }
}
