//! Carbon and cost through the real binary: figures equal the hand-computed
//! energy × factor / 3.6 MJ, and unknown energy stays unknown (null, "–").
#[path = "support/isolated.rs"]
mod isolated;
use std::process::Command;

fn bin() -> Command {
    isolated::trainwatt()
}

const DEFAULT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/recordings/default.jsonl");

fn summary_json(file: &str, extra: &[&str]) -> serde_json::Value {
    let o = bin()
        .args(["summary", file, "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn summary_json_carbon_and_cost_match_hand_computed() {
    let doc = summary_json(
        DEFAULT,
        &[
            "--carbon-intensity",
            "400",
            "--price",
            "0.25",
            "--currency",
            "EUR",
        ],
    );
    let s = &doc["sessions"][0];
    let j = s["energy_j"].as_f64().unwrap();
    let g = s["co2e_g"].as_f64().unwrap();
    let m = s["cost"].as_f64().unwrap();
    assert!((g - j / 3.6e6 * 400.0).abs() < 1e-9, "{g} vs {j}");
    assert!((m - j / 3.6e6 * 0.25).abs() < 1e-12, "{m} vs {j}");
    assert_eq!(doc["cost_factors"]["carbon_g_per_kwh"], 400.0);
    assert_eq!(doc["cost_factors"]["currency"], "EUR");
}

#[test]
fn without_factors_the_figures_are_null() {
    let doc = summary_json(DEFAULT, &[]);
    assert!(doc["sessions"][0]["co2e_g"].is_null());
    assert!(doc["sessions"][0]["cost"].is_null());
}

#[test]
fn unknown_energy_is_null_and_dash_not_zero() {
    // The header alone: no power reading, so no energy.
    let text = std::fs::read_to_string(DEFAULT).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("header-only.jsonl");
    std::fs::write(&f, format!("{}\n", text.lines().next().unwrap())).unwrap();
    let f = f.display().to_string();
    let doc = summary_json(&f, &["--carbon-intensity", "400", "--price", "0.25"]);
    let s = &doc["sessions"][0];
    assert!(s["energy_j"].is_null(), "{s}");
    assert!(s["co2e_g"].is_null() && s["cost"].is_null(), "{s}");
    let o = bin()
        .args([
            "summary",
            &f,
            "--carbon-intensity",
            "400",
            "--price",
            "0.25",
        ])
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&o.stdout);
    let line = md
        .lines()
        .find(|l| l.contains("session carbon"))
        .expect(&md);
    assert!(
        line.contains("–") && line.contains("at 400 gCO2e/kWh"),
        "{line}"
    );
    let line = md.lines().find(|l| l.contains("session cost")).expect(&md);
    assert!(
        line.contains("– ") && line.contains("currency units/kWh"),
        "{line}"
    );
}

#[test]
fn summary_csv_has_the_columns_and_values() {
    let o = bin()
        .args([
            "summary",
            DEFAULT,
            "--format",
            "csv",
            "--price",
            "0.5",
            "--currency",
            "USD",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h = r.headers().unwrap().clone();
    let row = r.records().next().unwrap().unwrap();
    let col = |n: &str| {
        row.get(h.iter().position(|x| x == n).unwrap())
            .unwrap()
            .to_string()
    };
    let j: f64 = col("energy_j").parse().unwrap();
    let m: f64 = col("cost").parse().unwrap();
    assert!((m - j / 3.6e6 * 0.5).abs() < 1e-12);
    assert_eq!(col("co2e_g"), "");
    assert_eq!(col("currency"), "USD");
}

#[test]
fn negative_factor_is_refused_with_an_example() {
    let o = bin()
        .args(["summary", DEFAULT, "--carbon-intensity=-5"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("--carbon-intensity -5") && e.contains("400"),
        "{e}"
    );
}

#[test]
fn config_file_sets_factors_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "carbon_intensity = 100\nprice = 0.5\ncurrency = \"GBP\"\n",
    )
    .unwrap();
    let cfg_s = cfg.display().to_string();
    let doc = summary_json(DEFAULT, &["--config", &cfg_s, "--price", "0.25"]);
    assert_eq!(doc["cost_factors"]["carbon_g_per_kwh"], 100.0);
    assert_eq!(doc["cost_factors"]["price_per_kwh"], 0.25);
    assert_eq!(doc["cost_factors"]["currency"], "GBP");
    // The environment variable finds it too.
    let o = bin()
        .args(["summary", DEFAULT, "--format", "json"])
        .env("TRAINWATT_CONFIG", &cfg)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["cost_factors"]["price_per_kwh"], 0.5);
}

#[test]
fn config_unknown_key_is_an_error_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "price = 0.5\nprise = 1\n").unwrap();
    let o = bin()
        .args(["summary", DEFAULT, "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains(&format!("{}:2:", cfg.display())) && e.contains("prise"),
        "{e}"
    );
}
