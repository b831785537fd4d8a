//! Summaries and sweep reports on session files written here with
//! `record::SessionWriter` (fixed timestamps, known energies), through the
//! library and through the `trainwatt` binary.
#[path = "support/isolated.rs"]
mod isolated;
use std::path::{Path, PathBuf};
use std::process::Command;

use trainwatt::cmd::report::studies;
use trainwatt::cmd::summary::summarize_file;
use trainwatt::export;
use trainwatt::model::event::{
    Event, Marker, MarkerKind, RunStatus, SessionEnd, TrainConfig, TrainEvent,
};
use trainwatt::model::sample::{Channel, Role, Sample, Scope};
use trainwatt::model::summary::RunOutcome;
use trainwatt::record::{Header, SessionWriter};

/// What one synthetic session holds.
struct Spec {
    label: &'static str,
    scope: Scope,
    batch: u32,
    epochs: u32,
    /// Training power (W), constant.
    watts: f64,
    /// Training time (s).
    time_s: f64,
    status: RunStatus,
    /// Idle calibration before training: (duration s, floor W).
    idle: Option<(f64, f64)>,
    /// A counter channel reading this factor × the true energy.
    counter: Option<f64>,
    /// No samples strictly inside this interval (relative to run start).
    gap: Option<(f64, f64)>,
    /// Write RunEnd and the closing line (false: killed).
    finished: bool,
}

impl Spec {
    fn new(label: &'static str, batch: u32, watts: f64, time_s: f64) -> Self {
        Spec {
            label,
            scope: Scope::GpuOnly,
            batch,
            epochs: 1,
            watts,
            time_s,
            status: RunStatus::Completed,
            idle: None,
            counter: None,
            gap: None,
            finished: true,
        }
    }
}

fn write_session(path: &Path, s: &Spec) {
    let source = if s.scope == Scope::Estimate {
        "cpu_estimate"
    } else {
        "nvml"
    };
    let mut channels = vec![Channel::power("p", s.scope, Role::Total, source)];
    if s.counter.is_some() {
        channels.push(Channel::counter("p_energy", s.scope, source, "p", None));
    }
    let cfg = TrainConfig {
        model: "resnet18".into(),
        dataset: "synthetic:64".into(),
        batch_size: Some(s.batch),
        epochs: Some(s.epochs),
        steps_per_epoch: Some(4),
        ..Default::default()
    };
    let mut h = Header::new(channels, 100.0);
    h.label = Some(s.label.into());
    h.host = "testhost".into();
    h.train = Some(cfg.clone());
    let mut w = SessionWriter::create(path, &h).unwrap();
    let (idle_s, floor) = s.idle.unwrap_or((0.0, 0.0));
    let start = idle_s;
    let end = start + s.time_s;
    let n = (end / 0.1).round() as usize;
    let mut counter = 1000.0;
    let mut last: Option<(f64, f64)> = None;
    if s.idle.is_some() {
        ev(
            &mut w,
            Event::Marker(marker(0.0, MarkerKind::IdleStart, None)),
        );
    }
    for i in 0..=n {
        let t = i as f64 * 0.1;
        if let Some((a, b)) = s.gap {
            if t > start + a + 1e-9 && t < start + b - 1e-9 {
                continue;
            }
        }
        let watts = if t < start - 1e-9 { floor } else { s.watts };
        if let (Some(k), Some((t0, w0))) = (s.counter, last) {
            counter += k * 0.5 * (w0 + watts) * (t - t0);
        }
        last = Some((t, watts));
        let mut values = vec![Some(watts)];
        if s.counter.is_some() {
            values.push(Some(counter));
        }
        ev(&mut w, Event::Sample(Sample { t_s: t, values }));
        if s.idle.is_some() && (t - start).abs() < 1e-9 {
            ev(
                &mut w,
                Event::Marker(marker(t, MarkerKind::IdleEnd, Some(floor))),
            );
        }
        if (t - start).abs() < 1e-9 {
            ev(
                &mut w,
                Event::Train(TrainEvent::RunStart {
                    t_s: start,
                    config: cfg.clone(),
                }),
            );
        }
    }
    if s.finished {
        if s.status == RunStatus::Completed {
            ev(
                &mut w,
                Event::Train(TrainEvent::EpochEnd {
                    t_s: end,
                    epoch: 1,
                    train_loss: Some(1.0),
                    train_acc: Some(0.5),
                    val_acc: Some(0.6),
                    images: Some(64),
                }),
            );
        }
        ev(
            &mut w,
            Event::Train(TrainEvent::RunEnd {
                t_s: end,
                status: s.status.clone(),
                message: (s.status == RunStatus::OutOfMemory)
                    .then(|| format!("out of memory at batch size {}", s.batch)),
            }),
        );
        w.finish(Some(&SessionEnd {
            t_s: end,
            samples: n as u64 + 1,
            ..Default::default()
        }))
        .unwrap();
    } else {
        drop(w);
    }
}

fn marker(t: f64, kind: MarkerKind, value: Option<f64>) -> Marker {
    Marker {
        t_s: t,
        kind,
        text: String::new(),
        value,
    }
}

fn ev(w: &mut SessionWriter, e: Event) {
    w.write_event(&e).unwrap();
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6 * b.abs().max(1.0)
}

#[test]
fn summary_numbers_idle_split_counter_and_gap() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    let mut spec = Spec::new("server", 8, 10.0, 10.0);
    spec.idle = Some((2.0, 3.0));
    spec.counter = Some(1.05);
    write_session(&a, &spec);
    let s = summarize_file(&a, Some(0.5), false).unwrap();
    assert_eq!(s.status, RunOutcome::Completed);
    assert_eq!(s.device, "server");
    let w = s.training.as_ref().unwrap();
    assert!(close(w.time_s, 10.0), "{}", w.time_s);
    // Training window only: 10 W × 10 s, the idle calibration excluded.
    assert!(close(w.energy_j.unwrap(), 100.0), "{:?}", w.energy_j);
    assert!(close(w.avg_power_w.unwrap(), 10.0));
    // Whole session: 3 W × 1.9 s, the 1.9–2.0 s ramp (0.65 J), 100 J.
    assert!(close(s.energy_j.unwrap(), 106.35), "{:?}", s.energy_j);
    let c = s.counter_energy_j.unwrap();
    // The file keeps counters to 1 mJ.
    assert!((c - 1.05 * 106.35).abs() < 2e-3, "{c}");
    assert!((s.counter_vs_integrated.unwrap() - 0.05 / 1.05).abs() < 1e-4);
    let idle = s.idle.as_ref().unwrap();
    assert!(close(idle.floor_w, 3.0));
    assert!(close(idle.static_j, 30.0));
    assert!(close(idle.dynamic_j, 70.0));
    assert_eq!(s.images, Some(64));
    assert!(close(s.j_per_image.unwrap(), 100.0 / 64.0));
    assert!(close(s.images_per_s.unwrap(), 6.4));
    let tg = s.target.as_ref().unwrap();
    assert_eq!(tg.epoch, Some(1));
    assert!(close(tg.energy_j.unwrap(), 100.0));
    assert!(s.clean_end);

    // A gap of 2 s inside the run: not bridged, reported as uncovered.
    let b = dir.path().join("b.jsonl");
    let mut spec = Spec::new("server", 8, 20.0, 10.0);
    spec.gap = Some((4.0, 6.0));
    write_session(&b, &spec);
    let g = summarize_file(&b, None, false).unwrap();
    let w = g.training.as_ref().unwrap();
    assert!(close(w.energy_j.unwrap(), 160.0), "{:?}", w.energy_j);
    assert!(close(w.uncovered_s, 2.0), "{}", w.uncovered_s);
    assert!(close(g.uncovered_s, 2.0));

    // Ratios against the first, in every format.
    let sums = vec![s, g];
    let md = export::summary::to_markdown(&sums);
    assert!(md.contains("## Comparison against 1."), "{md}");
    assert!(
        md.contains(
            "| static energy (floor × training time) | 30.0 J (30.0% of training energy) |"
        ),
        "{md}"
    );
    assert!(md.contains("| 2. "), "{md}");
    assert!(md.contains("1.600×"), "{md}"); // energy 160 / 100
    let json: serde_json::Value =
        serde_json::from_str(&export::summary::to_json(&sums).unwrap()).unwrap();
    assert_eq!(json["schema"], "trainwatt-summary/1");
    assert!(close(
        json["comparison"]["sessions"][0]["energy"]
            .as_f64()
            .unwrap(),
        1.6
    ));
    // Average power is over the time the sensor covered: 160 J / 8 s = 20 W
    // against 10 W (the 2 s gap is unknown, not 0 W).
    assert!(close(
        json["comparison"]["sessions"][0]["avg_power"]
            .as_f64()
            .unwrap(),
        2.0
    ));
    assert_eq!(json["sessions"][0]["estimate"], false);
    let csv = export::summary::to_csv(&sums);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3);
    let cols: Vec<&str> = lines[0].split(',').collect();
    let row: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(cols.len(), row.len());
    let at = |name: &str| row[cols.iter().position(|c| *c == name).unwrap()];
    assert!(close(at("training_energy_j").parse().unwrap(), 160.0));
    assert!(close(at("energy_ratio").parse().unwrap(), 1.6));
    assert_eq!(at("status"), "completed");
}

#[test]
fn estimate_is_labelled_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("est.jsonl");
    let mut spec = Spec::new("laptop", 4, 15.0, 2.0);
    spec.scope = Scope::Estimate;
    write_session(&p, &spec);
    let s = vec![summarize_file(&p, None, false).unwrap()];
    let md = export::summary::to_markdown(&s);
    for line in md.lines().filter(|l| l.contains(" J") || l.contains(" W")) {
        if line.contains("J per") || line.starts_with("| channel") || line.contains("|---") {
            continue;
        }
        assert!(line.contains("estimate"), "unlabelled figure: {line}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&export::summary::to_json(&s).unwrap()).unwrap();
    assert_eq!(json["sessions"][0]["estimate"], true);
    assert_eq!(json["sessions"][0]["scope"], "estimate");
    assert!(export::summary::to_csv(&s)
        .lines()
        .nth(1)
        .unwrap()
        .contains(",estimate,true,"));
}

/// Two devices; device 1 has an OOM at its largest batch size, a killed run
/// and two epoch counts.
fn write_sweeps(root: &Path) -> (PathBuf, PathBuf) {
    let nano = root.join("nano");
    let server = root.join("server");
    let mut k = 0;
    let mut put = |dir: &Path, spec: Spec| {
        k += 1;
        write_session(&dir.join(format!("s{k:02}.jsonl")), &spec);
    };
    for (t, w) in [(10.0, 5.0), (12.0, 5.0)] {
        let mut s = Spec::new("nano", 8, w, t);
        s.scope = Scope::BoardInput;
        s.idle = Some((1.0, 2.0));
        put(&nano, s);
    }
    for t in [6.0, 6.0] {
        let mut s = Spec::new("nano", 16, 6.0, t);
        s.scope = Scope::BoardInput;
        put(&nano, s);
    }
    let mut s = Spec::new("nano", 16, 6.0, 20.0);
    s.scope = Scope::BoardInput;
    s.epochs = 2;
    put(&nano, s);
    for _ in 0..2 {
        let mut s = Spec::new("nano", 32, 6.0, 0.5);
        s.scope = Scope::BoardInput;
        s.status = RunStatus::OutOfMemory;
        put(&nano, s);
    }
    let mut s = Spec::new("nano", 8, 5.0, 3.0);
    s.scope = Scope::BoardInput;
    s.finished = false;
    put(&nano, s);
    for (b, t) in [
        (8, 1.0),
        (8, 1.2),
        (16, 0.5),
        (16, 0.7),
        (32, 0.4),
        (32, 0.4),
    ] {
        put(&server, Spec::new("server", b, 200.0, t));
    }
    let mut s = Spec::new("server", 16, 200.0, 1.0);
    s.epochs = 2;
    put(&server, s);
    (nano, server)
}

#[test]
fn report_tables_ci_oom_and_ratios() {
    let dir = tempfile::tempdir().unwrap();
    let (nano, server) = write_sweeps(dir.path());
    let devices = studies(&[nano, server], false).unwrap();
    assert_eq!(devices.len(), 2);
    let n = &devices[0];
    assert_eq!(n.device, "nano");
    assert_eq!(n.scope, "board input");
    let bs8 = n
        .configs
        .iter()
        .find(|c| c.key.batch_size == Some(8))
        .unwrap();
    assert_eq!((bs8.runs, bs8.completed, bs8.incomplete), (3, 2, 1));
    let t = bs8.time_s.unwrap();
    // Times 10 and 12 s: mean 11, half width t(0.975,1)·√2/√2 = 12.7062.
    assert!(close(t.mean, 11.0));
    assert!(close(t.half_width.unwrap(), 12.706_204_736));
    let e = bs8.energy_j.unwrap();
    assert!(close(e.mean, 55.0), "{}", e.mean);
    assert!(close(bs8.static_j.unwrap().mean, 22.0));
    let oom = n
        .configs
        .iter()
        .find(|c| c.key.batch_size == Some(32))
        .unwrap();
    assert_eq!((oom.runs, oom.completed, oom.out_of_memory), (2, 0, 2));
    assert_eq!(oom.no_result_label(), Some("OOM"));
    assert!(oom.time_s.is_none());

    let md = export::report::to_markdown(&devices);
    assert!(md.contains("### By batch size (epochs = 1)"), "{md}");
    assert!(md.contains("### By epochs (batch size = 16)"), "{md}");
    assert!(md.contains("| 32 | 0 (2 OOM) | OOM | OOM | OOM |"), "{md}");
    assert!(
        md.contains("| 8 | 2 (1 incomplete) | 11.00 ± 12.71 |"),
        "{md}"
    );
    assert!(md.contains("| 2 | 1 | 20.00 (n=1, no interval) |"), "{md}");
    assert!(md.contains("## Side by side"), "{md}");
    // Server / nano at batch 8: time 1.1 / 11 = 0.1.
    assert!(
        md.contains("| 8 | 1 | 11.00 ± 12.71 (n=2) | 1.10 ± 1.27 (n=2) | 0.100× |"),
        "{md}"
    );
    assert!(
        md.contains("| 32 | 1 | OOM | 0.40 (n=1, no interval)")
            || md.contains("| 32 | 1 | OOM | 0.40 ± 0.00 (n=2)"),
        "{md}"
    );
    assert!(md.contains("different scopes"), "{md}");

    let json: serde_json::Value =
        serde_json::from_str(&export::report::to_json(&devices).unwrap()).unwrap();
    assert_eq!(json["schema"], "trainwatt-report/1");
    let cfgs = json["devices"][0]["configs"].as_array().unwrap();
    let j32 = cfgs.iter().find(|c| c["batch_size"] == 32).unwrap();
    assert_eq!(j32["out_of_memory"], 2);
    assert!(j32["time_s"].is_null());
    let r8 = &json["comparisons"][0]["configs"][0];
    assert_eq!(r8["batch_size"], 8);
    assert!(close(r8["time"].as_f64().unwrap(), 0.1));

    let csv = export::report::to_csv(&devices);
    let oom_row = csv
        .lines()
        .find(|l| l.starts_with("nano,board input,false,32,1,"))
        .unwrap();
    assert!(oom_row.contains(",OOM,"), "{oom_row}");

    let plots = dir.path().join("plots");
    let files = export::plots::write_plots(&plots, &devices).unwrap();
    // 2 epoch counts × 3 metrics + 3 batch sizes × 2 metrics.
    assert_eq!(files.len(), 12, "{files:?}");
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let doc = roxmltree::Document::parse(&text)
            .unwrap_or_else(|e| panic!("{} is not valid XML: {e}", f.display()));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
    }
    let energy = std::fs::read_to_string(plots.join("energy_by_batch_ep1.svg")).unwrap();
    assert!(energy.contains("energy (J)"));
}

fn bin() -> Command {
    isolated::trainwatt()
}

#[test]
fn cli_summary_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let (nano, server) = write_sweeps(dir.path());
    let first = nano.join("s01.jsonl");
    let out = bin()
        .args(["summary", first.to_str().unwrap(), "--target-acc", "50"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.contains("| run status | completed |"), "{md}");
    assert!(
        md.contains("| to reach accuracy 0.500 | reached at epoch 1"),
        "{md}"
    );

    let csv_path = dir.path().join("out/summary.csv");
    let oom = nano.join("s06.jsonl");
    let out = bin()
        .args(["summary", first.to_str().unwrap(), oom.to_str().unwrap()])
        .args(["--format", "csv", "-o", csv_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(csv.lines().nth(2).unwrap().contains(",OOM,"), "{csv}");

    let plots = dir.path().join("figs");
    let out = bin()
        .args(["report", nano.to_str().unwrap(), server.to_str().unwrap()])
        .args(["--format", "json", "--plots", plots.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["devices"].as_array().unwrap().len(), 2);
    assert!(plots.join("time_by_batch_ep1.svg").exists());
    assert!(plots.join("energy_by_epochs_bs16.svg").exists());
}

#[test]
fn cli_errors_say_what_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["report", dir.path().join("nope").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read the sweep directory"), "{err}");

    let bad = dir.path().join("bad.jsonl");
    let mut spec = Spec::new("x", 8, 1.0, 1.0);
    spec.counter = None;
    write_session(&bad, &spec);
    let mut text = std::fs::read_to_string(&bad).unwrap();
    text.insert_str(text.find('\n').unwrap() + 1, "[0.05,oops]\n");
    std::fs::write(&bad, text).unwrap();
    let out = bin()
        .args(["summary", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:2"), "{err}");
    assert!(err.contains("--lenient"), "{err}");
    let out = bin()
        .args(["summary", bad.to_str().unwrap(), "--lenient"])
        .output()
        .unwrap();
    assert!(out.status.success());

    let out = bin()
        .args(["summary", bad.to_str().unwrap(), "--target-acc", "150"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--target-acc"));
}
