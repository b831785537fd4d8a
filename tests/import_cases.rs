//! Issue 10's importer and session-file cases, one test per case number:
//! each failed on the main branch before the importers moved to `import/`.
#[path = "support/isolated.rs"]
mod isolated;
use std::path::Path;

use trainwatt::import::nvidia_smi::{import_nvidia_smi, CsvImportOptions};
use trainwatt::import::tegrastats::{import_tegrastats, TegraImportOptions};
use trainwatt::import::Imported;
use trainwatt::model::event::{Event, MarkerKind};
use trainwatt::model::fold::SessionFold;
use trainwatt::record::{ReadOptions, SessionReader, SessionWriter};

fn smi(text: &str, f: impl FnOnce(&mut CsvImportOptions)) -> Result<Imported, String> {
    let mut o = CsvImportOptions {
        origin: "gpu.csv".into(),
        ..Default::default()
    };
    f(&mut o);
    import_nvidia_smi(text, &o).map_err(|e| e.to_string())
}

fn teg(text: &str) -> Result<Imported, String> {
    let o = TegraImportOptions {
        origin: "teg.log".into(),
        ..Default::default()
    };
    import_tegrastats(text, &o).map_err(|e| e.to_string())
}

/// Write the import as `trainwatt import` does, read it back and fold it:
/// the events read back and the total energy the fold finds.
fn round_trip(imp: &Imported) -> (Vec<Event>, f64) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.jsonl");
    let mut w = SessionWriter::create_new(&p, &imp.header, false).unwrap();
    let mut end = None;
    for ev in &imp.events {
        match ev {
            Event::End(e) => end = Some(e.clone()),
            other => w.write_event(other).unwrap(),
        }
    }
    w.finish(end.as_ref()).unwrap();
    let mut r = SessionReader::open(&p, ReadOptions::default()).unwrap();
    assert_eq!(r.header(), &imp.header);
    let evs = r.collect_events().unwrap();
    let mut fold = SessionFold::new(r.header());
    evs.iter().for_each(|e| fold.apply(e));
    (evs, fold.joules().unwrap_or(0.0))
}

fn within(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs()
}

/// `2024/10/30 HH:MM:SS.mmm` for a time of day in milliseconds.
fn smi_stamp(ms: u64) -> String {
    let (h, m, s, f) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("2024/10/30 {h:02}:{m:02}:{s:02}.{f:03}")
}

#[test]
fn case01_one_gpu_at_10_ms_is_one_gpu_with_499_j() {
    let start = (18 * 3600 + 42 * 60 + 33) * 1000 + 10;
    let rows = |n: u64| {
        let mut t = String::from("timestamp, power.draw [W]\n");
        for i in 0..n {
            t.push_str(&format!("{}, 100.00 W\n", smi_stamp(start + 10 * i)));
        }
        t
    };
    let imp = smi(&rows(500), |_| {}).unwrap();
    assert_eq!(imp.report.channels, ["gpu0"]);
    assert_eq!(imp.report.samples, 500);
    assert!(
        within(imp.report.energy_j.unwrap_or(f64::NAN), 499.0, 0.01),
        "{}",
        imp.report.energy_j.unwrap_or(f64::NAN)
    );
    assert!(
        imp.report.gpus.contains("no repeating timestamp pattern"),
        "{}",
        imp.report.gpus
    );
    assert!(imp
        .report
        .render("x")
        .contains("GPUs        no index column"));
    let (_, folded) = round_trip(&imp);
    assert!(within(folded, 499.0, 0.01), "{folded}");
    // 60,000 rows stay one GPU, and the header stays small.
    let imp = smi(&rows(60_000), |_| {}).unwrap();
    assert_eq!(imp.header.channels.len(), 1);
    assert!(
        within(imp.report.energy_j.unwrap_or(f64::NAN), 59_999.0, 0.01),
        "{}",
        imp.report.energy_j.unwrap_or(f64::NAN)
    );
    // Two GPUs without an index column, stamped together: two GPUs.
    let mut two = String::from("timestamp, power.draw [W]\n");
    for i in 0..10 {
        two.push_str(&format!("{}, 100 W\n", smi_stamp(start + 100 * i)));
        two.push_str(&format!("{}, 50 W\n", smi_stamp(start + 100 * i)));
    }
    let imp = smi(&two, |_| {}).unwrap();
    assert_eq!(imp.report.channels, ["gpu0", "gpu1", "gpu_sum"]);
    assert!(imp
        .report
        .gpus
        .contains("2 GPUs inferred from the repeating timestamp pattern"));
}

/// 2 h at 100 W, one reading a second, local time falling back an hour at
/// 02:00 (00:30:00 .. 01:59:59, then 01:00:00 .. 01:29:59 again).
fn fall_back_seconds() -> Vec<u64> {
    (1800..7200).chain(3600..5400).collect()
}

fn check_clock_step(imp: &Imported, step_line: u64) {
    assert!(
        within(imp.report.energy_j.unwrap_or(f64::NAN), 720_000.0, 0.01),
        "{}",
        imp.report.energy_j.unwrap_or(f64::NAN)
    );
    assert_eq!(
        imp.report.clock_steps.len(),
        1,
        "{:?}",
        imp.report.clock_steps
    );
    let step = &imp.report.clock_steps[0];
    assert_eq!(step.line, step_line);
    assert!(within(-step.step_s, 3599.0, 0.001), "{}", step.step_s);
    let text = imp.report.render("out.jsonl");
    assert!(
        text.contains(&format!(
            "clock step  line {step_line}: the time went back 3599.0 s"
        )),
        "{text}"
    );
    let (evs, folded) = round_trip(imp);
    assert!(within(folded, 720_000.0, 0.01), "{folded}");
    let marker = evs.iter().find_map(|e| match e {
        Event::Marker(m) if m.kind == MarkerKind::Note && m.text.starts_with("clock step") => {
            Some(m)
        }
        _ => None,
    });
    let m = marker.expect("a clock-step marker in the session");
    assert!(m.text.contains(&format!("line {step_line}")), "{}", m.text);
    assert!(within(-m.value.unwrap(), 3599.0, 0.001));
    let ts: Vec<f64> = evs.iter().map(Event::t_s).collect();
    let back = ts.windows(2).position(|w| w[1] < w[0]);
    assert_eq!(
        back.map(|i| (ts[i], ts[i + 1], &evs[i], &evs[i + 1])),
        None,
        "the timeline is monotonic"
    );
}

#[test]
fn case02_timestamps_that_step_back_continue_the_timeline() {
    let mut csv = String::from("timestamp, power.draw [W]\n");
    for s in fall_back_seconds() {
        csv.push_str(&format!("{}, 100.00 W\n", smi_stamp(s * 1000)));
    }
    let imp = smi(&csv, |_| {}).unwrap();
    check_clock_step(&imp, 5402);
    let mut log = String::new();
    for s in fall_back_seconds() {
        let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
        log.push_str(&format!(
            "10-27-2024 {h:02}:{m:02}:{sec:02} RAM 1/2MB CPU [1%@1] VDD_IN 100000mW/100000mW\n"
        ));
    }
    check_clock_step(&teg(&log).unwrap(), 5401);
    // A line without a time where the others have one cannot be placed:
    // counted, in the header for inspect and summary, never integrated.
    let log = "100.0::RAM 1/2MB VDD_IN 5000mW/5000mW\nRAM 1/2MB VDD_IN 5000mW/5000mW\n101.0::RAM 1/2MB VDD_IN 5000mW/5000mW\n102.0::RAM 1/2MB VDD_IN 5000mW/5000mW\n";
    let imp = teg(log).unwrap();
    assert_eq!(imp.report.unplaced_readings, 1);
    assert_eq!(imp.header.skipped_readings, 1);
    assert!(within(imp.report.energy_j.unwrap_or(f64::NAN), 10.0, 1e-9));
    assert!(imp.report.render("x").contains("skipped     1 readings"));
    round_trip(&imp);
}

#[test]
fn case05_huge_finite_values_are_written_finite() {
    let imp =
        teg("RAM 1e306/2MB VDD_IN 5000mW/5000mW\nRAM 1e306/2GB VDD_IN 5000mW/5000mW\n").unwrap();
    let (evs, _) = round_trip(&imp);
    let ram = imp
        .header
        .channels
        .iter()
        .position(|c| c.name == "ram_used")
        .unwrap();
    let vals: Vec<Option<f64>> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Sample(s) => Some(s.values[ram]),
            _ => None,
        })
        .collect();
    // 1e306 MB is written as such; 1e306 GB overflows in MB: no reading.
    assert_eq!(vals, [Some(1e306), None]);
    let csv = "timestamp, power.draw [W], temperature.gpu\n2024/01/01 00:00:00.000, 10 W, 1e306\n2024/01/01 00:00:01.000, 10 W, 40\n";
    round_trip(&smi(csv, |_| {}).unwrap());
}

#[test]
fn case06_energy_never_overflows_into_the_closing_line() {
    // An exponent in the seconds is not a time: the row is skipped.
    let csv = "timestamp, power.draw [W]\n2024/01/01 00:00:00.000, 10 W\n2024/01/01 00:00:01.000, 10 W\n2024/01/01 00:00:02.1e306, 10 W\n";
    let imp = smi(csv, |_| {}).unwrap();
    assert_eq!(imp.report.skipped_lines, 1);
    let (evs, _) = round_trip(&imp);
    let Some(Event::End(end)) = evs.last() else {
        panic!("no closing line")
    };
    assert!(end.energy_j.values().all(|j| j.is_finite()));
    // One hour per row at the largest plausible power stays finite.
    let imp = smi("1e5\n1e5\n1e308\n", |o| {
        o.columns = Some("power.draw".into());
        o.interval_ms = Some(3_600_000.0);
    })
    .unwrap();
    assert_eq!(imp.report.implausible_readings, 1);
    round_trip(&imp);
    // An interval no header may hold is refused with the reason.
    let e = smi("10\n10\n", |o| {
        o.columns = Some("power.draw".into());
        o.interval_ms = Some(1e300);
    })
    .unwrap_err();
    assert!(e.contains("out of range"), "{e}");
}

#[test]
fn case07_generated_names_never_collide_with_the_log_names() {
    let imp =
        teg("RAM 1/2MB GR3D_FREQ 5%@[300] gpu_load 100mW/100mW VDD_IN 9000mW/9000mW\n").unwrap();
    assert!(imp.report.channels.contains(&"gpu_load_2".to_string()));
    assert!(imp
        .report
        .render("x")
        .contains("generated channel `gpu_load` is `gpu_load_2`"));
    round_trip(&imp);
    let csv = "timestamp, index, power.draw [W], utilization.gpu [%]\n2024/01/01 00:00:00.000, _sum, 10 W, 5 %\n2024/01/01 00:00:00.000, 1, 10 W, 5 %\n2024/01/01 00:00:00.000, 1_util, 10 W, 5 %\n2024/01/01 00:00:01.000, _sum, 10 W, 5 %\n2024/01/01 00:00:01.000, 1, 10 W, 5 %\n2024/01/01 00:00:01.000, 1_util, 10 W, 5 %\n";
    let imp = smi(csv, |_| {}).unwrap();
    assert_eq!(
        imp.report.channels,
        [
            "gpu_sum",
            "gpu1",
            "gpu1_util",
            "gpu_sum_2",
            "gpu_sum_util",
            "gpu1_util_2",
            "gpu1_util_util"
        ]
    );
    let (_, j) = round_trip(&imp);
    assert!(within(j, 30.0, 1e-9), "{j}");
}

#[test]
fn case11_a_huge_gpu_count_is_refused_not_a_panic() {
    let e = smi("10\n10\n", |o| {
        o.columns = Some("power.draw".into());
        o.interval_ms = Some(100.0);
        o.gpus = Some(usize::MAX);
    })
    .unwrap_err();
    assert!(e.contains("at most 1024"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("gpu.csv");
    std::fs::write(&log, "10\n10\n").unwrap();
    let out = isolated::trainwatt()
        .args([
            "import",
            "nvidia-smi",
            "--columns",
            "power.draw",
            "--interval",
            "100",
        ])
        .args(["--gpus", "18446744073709551615", "-o"])
        .arg(dir.path().join("s.jsonl"))
        .arg(&log)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("at most 1024") && !err.contains("panicked"),
        "{err}"
    );
}

fn trainwatt(args: &[&str], paths: &[&Path]) -> (Option<i32>, String) {
    let out = isolated::trainwatt()
        .args(args)
        .args(paths)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn case13_a_session_being_written_is_locked_and_never_overwritten_silently() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("same.jsonl");
    let imp = teg("RAM 1/2MB VDD_IN 5000mW/5000mW\nRAM 1/2MB VDD_IN 5000mW/5000mW\n").unwrap();
    let w = SessionWriter::create_new(&p, &imp.header, false).unwrap();
    let e = SessionWriter::create_new(&p, &imp.header, true)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("same.jsonl is being written by"), "{e}");
    if Path::new("/proc/locks").exists() {
        assert!(
            e.contains(&format!("process {}", std::process::id())),
            "{e}"
        );
    }
    // `record` refuses before it starts anything, naming the holder.
    let (code, err) = trainwatt(
        &[
            "record",
            "--no-train",
            "--source",
            "estimate",
            "--quiet",
            "--force",
            "-o",
        ],
        &[&p],
    );
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("is being written by"), "{err}");
    drop(w);
    // Finished, the file exists: refused without --force, for record and import.
    let (code, err) = trainwatt(
        &[
            "record",
            "--no-train",
            "--source",
            "estimate",
            "--quiet",
            "-o",
        ],
        &[&p],
    );
    assert_ne!(code, Some(0), "{err}");
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    let log = dir.path().join("teg.log");
    std::fs::write(
        &log,
        "RAM 1/2MB VDD_IN 5000mW/5000mW\nRAM 1/2MB VDD_IN 5000mW/5000mW\n",
    )
    .unwrap();
    let (code, err) = trainwatt(&["import", "tegrastats", "-o"], &[&p, &log]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--force"), "{err}");
    let (code, err) = trainwatt(&["import", "tegrastats", "--force", "-o"], &[&p, &log]);
    assert_eq!(code, Some(0), "{err}");
    // Case 12 for import: the output may not be the log itself.
    let (code, err) = trainwatt(&["import", "tegrastats", "--force", "-o"], &[&log, &log]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("it is the input"), "{err}");
}

#[test]
fn implausible_power_is_flagged_with_its_line_and_never_integrated() {
    let csv = "timestamp, power.draw [W]\n2024/01/01 00:00:00.000, 10 W\n2024/01/01 00:00:01.000, 1e308 W\n2024/01/01 00:00:02.000, 10 W\n";
    let imp = smi(csv, |_| {}).unwrap();
    assert_eq!(imp.report.implausible_readings, 1);
    assert_eq!(imp.report.implausible_examples[0].0, 3);
    assert_eq!(imp.header.skipped_readings, 1);
    assert!(
        imp.report.energy_j.unwrap_or(f64::NAN) < 100.0,
        "{}",
        imp.report.energy_j.unwrap_or(f64::NAN)
    );
    let text = imp.report.render("x");
    assert!(
        text.contains("line 3: power.draw [W] reads 1e308 W"),
        "{text}"
    );
    round_trip(&imp);
    let imp = teg("RAM 1/2MB VDD_IN 5000mW/5000mW\nRAM 1/2MB VDD_IN 290000000000mW/5000mW\nRAM 1/2MB VDD_IN 5000mW/5000mW\n").unwrap();
    assert_eq!(
        imp.report.implausible_examples,
        [(2, "rail VDD_IN reads 290000000000 mW".to_string())]
    );
    assert!(
        imp.report.energy_j.unwrap_or(f64::NAN) < 20.0,
        "{}",
        imp.report.energy_j.unwrap_or(f64::NAN)
    );
    assert!(imp
        .header
        .notes
        .iter()
        .any(|n| n.contains("line 2: rail VDD_IN")));
    round_trip(&imp);
}
