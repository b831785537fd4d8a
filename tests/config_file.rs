//! The defaults file through the real binary: its values are the flags'
//! defaults, a flag on the command line wins, and a bad file stops the
//! program with its file and line. Each test has its own XDG_CONFIG_HOME.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use trainwatt::record::{ReadOptions, SessionReader};

const DEFAULT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/recordings/default.jsonl");

/// A config home holding `text` as trainwatt/config.toml.
fn home(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trainwatt").join("config.toml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

fn trainwatt(config_home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trainwatt"));
    c.env("XDG_CONFIG_HOME", config_home)
        .env_remove("TRAINWATT_CONFIG");
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn record(config_home: &Path, out: &Path, extra: &[&str]) -> Output {
    trainwatt(config_home)
        .args(["record", "--no-train", "--duration", "1s", "--quiet", "-o"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn header(path: &Path) -> trainwatt::record::Header {
    SessionReader::open(path, ReadOptions::default())
        .unwrap()
        .header()
        .clone()
}

#[test]
fn the_files_values_are_the_defaults_and_flags_win() {
    let (dir, _) = home("source = \"estimate\"\ninterval_ms = 50\nlabel = \"lab-nano-3\"\n");
    let a = dir.path().join("a.jsonl");
    let o = record(dir.path(), &a, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let h = header(&a);
    assert_eq!(h.label.as_deref(), Some("lab-nano-3"));
    assert_eq!(h.interval_ms, 50.0);
    assert!(
        h.channels.iter().all(|c| c.source == "cpu_estimate"),
        "{:?}",
        h.channels
    );

    let b = dir.path().join("b.jsonl");
    let o = record(dir.path(), &b, &["--interval-ms", "25", "--label", "mine"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let h = header(&b);
    assert_eq!(h.interval_ms, 25.0, "the flag wins");
    assert_eq!(h.label.as_deref(), Some("mine"));
}

#[test]
fn carbon_and_price_from_the_file_and_from_a_flag() {
    let (dir, _) = home("carbon_intensity = 400\nprice = 0.25\ncurrency = \"EUR\"\n");
    let json = |extra: &[&str]| -> serde_json::Value {
        let o = trainwatt(dir.path())
            .args(["summary", DEFAULT, "--format", "json"])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let doc = json(&[]);
    assert_eq!(doc["cost_factors"]["carbon_g_per_kwh"], 400.0);
    assert_eq!(doc["cost_factors"]["currency"], "EUR");
    let j = doc["sessions"][0]["energy_j"].as_f64().unwrap();
    let g = doc["sessions"][0]["co2e_g"].as_f64().unwrap();
    assert!((g - j / 3.6e6 * 400.0).abs() < 1e-9, "{g} vs {j}");
    let doc = json(&["--carbon-intensity", "100"]);
    assert_eq!(
        doc["cost_factors"]["carbon_g_per_kwh"], 100.0,
        "the flag wins"
    );
    assert_eq!(
        doc["cost_factors"]["price_per_kwh"], 0.25,
        "the rest still from the file"
    );
}

#[test]
fn help_shows_the_default_in_effect() {
    let (dir, _) = home("theme = \"light\"\n");
    let o = trainwatt(dir.path())
        .args(["replay", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("[default: light]"), "{text}");
}

#[test]
fn a_bad_value_names_the_file_and_line_and_what_the_flag_takes() {
    let (dir, file) = home("# defaults\ntheme = \"dark\"\ninterval_ms = \"fast\"\n");
    let o = record(dir.path(), &dir.path().join("x.jsonl"), &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    let want = format!("{}:3: interval_ms = ", file.display());
    assert!(e.contains(&want), "{e}");
    assert!(e.contains("fast"), "{e}");
    assert!(!dir.path().join("x.jsonl").exists(), "nothing ran");

    std::fs::write(&file, "trainer = \"tensorflow\"\n").unwrap();
    let o = record(dir.path(), &dir.path().join("x.jsonl"), &[]);
    let e = stderr(&o);
    assert!(e.contains(":1: trainer = "), "{e}");
    assert!(
        e.contains("tch") && e.contains("python"),
        "names the choices: {e}"
    );

    std::fs::write(&file, "\n\ntheme = \"solarised\"\n").unwrap();
    let o = record(dir.path(), &dir.path().join("x.jsonl"), &[]);
    let e = stderr(&o);
    assert!(e.contains(":3: theme = "), "{e}");
    assert!(e.contains("built in: dark"), "{e}");
}

#[test]
fn an_unknown_key_names_the_file_and_line() {
    let (dir, file) = home("price = 0.25\n\nprise = 0.3\n");
    let o = trainwatt(dir.path())
        .args(["summary", DEFAULT])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains(&format!("{}:3:", file.display())), "{e}");
    assert!(e.contains("prise"), "{e}");
}

#[test]
fn an_explicit_file_wins_and_must_exist() {
    let (dir, _) = home("currency = \"EUR\"\nprice = 1\n");
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "currency = \"USD\"\nprice = 2\n").unwrap();
    let o = trainwatt(dir.path())
        .args(["summary", DEFAULT, "--format", "json", "--config"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["cost_factors"]["currency"], "USD");
    let o = trainwatt(dir.path())
        .args(["summary", DEFAULT, "--config", "/nonexistent/tw.toml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/nonexistent/tw.toml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn config_shows_the_file_and_the_example_is_a_valid_file() {
    let (dir, file) = home("label = \"lab\"\n");
    let o = trainwatt(dir.path()).arg("config").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("label = \"lab\""), "{text}");

    let o = trainwatt(dir.path())
        .args(["config", "--example"])
        .output()
        .unwrap();
    let example = String::from_utf8_lossy(&o.stdout).into_owned();
    // Uncommented, every key of the example is accepted by the real parser.
    let uncommented: String = example
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| l.contains(" = "))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&file, uncommented).unwrap();
    let o = trainwatt(dir.path()).arg("config").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("carbon_intensity = \"400\""), "{text}");
}
