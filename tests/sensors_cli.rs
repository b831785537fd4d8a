//! `trainwatt sources` and `trainwatt import` from the command line, and the
//! sampler driving real sources over fake sysfs/proc trees.
#[path = "support/isolated.rs"]
mod isolated;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use trainwatt::model::event::Event;
#[path = "../src/sensors/fake_tree.rs"]
mod fake_tree;
use trainwatt::sensors::{open_sources, Sampler, SourceArgs};

fn bin() -> Command {
    isolated::trainwatt()
}

fn own(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn fake_proc(dir: &Path) -> PathBuf {
    let p = dir.join("proc");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("stat"), "cpu  100 0 100 800 0 0 0 0 0 0\n").unwrap();
    p
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let o = cmd.output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn sources_without_sensors_lists_the_estimate_and_why_the_others_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("sys");
    std::fs::create_dir_all(&sys).unwrap();
    let proc_root = fake_proc(dir.path());
    let (ok, out, err) = run(bin()
        .args(["sources", "--sysfs-root"])
        .arg(&sys)
        .arg("--proc-root")
        .arg(&proc_root)
        .args(["--tegrastats-bin", "/nonexistent/tegrastats"]));
    assert!(ok, "{err}");
    assert!(out.contains("ina3221     not available: no "), "{out}");
    assert!(
        out.contains("tegrastats  not available: no tegrastats program"),
        "{out}"
    );
    assert!(out.contains("rapl        not available: no "), "{out}");
    assert!(out.lines().any(|l| l.starts_with("nvml")), "{out}");
    assert!(out.contains("estimate    available"), "{out}");
    assert!(out.contains("cpu_estimate         W    estimate"), "{out}");
    assert!(out.contains("10 W idle to 65 W"), "{out}");
    if out.contains("nvml        not available") {
        assert!(
            out.contains(
                "auto        uses estimate: the only source here, so power figures are estimates"
            ),
            "{out}"
        );
    }
}

#[test]
fn sources_finds_ina3221_and_rapl_on_fake_trees() {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("sys");
    fake_tree::iio(
        &sys,
        "6-0040",
        &[
            ("POM_5V_IN", 4000),
            ("POM_5V_GPU", 1000),
            ("POM_5V_CPU", 800),
        ],
    );
    fake_tree::write_fake_zone(
        &sys,
        "intel-rapl:0",
        "package-0",
        1_000_000,
        262_143_999_999,
    );
    let (ok, out, err) = run(bin()
        .args(["sources", "--cpu-tdp-w", "95", "--sysfs-root"])
        .arg(&sys)
        .arg("--proc-root")
        .arg(fake_proc(dir.path())));
    assert!(ok, "{err}");
    assert!(out.contains("ina3221     available"), "{out}");
    assert!(
        out.contains("POM_5V_IN            W    board input          total"),
        "{out}"
    );
    assert!(
        out.contains("POM_5V_GPU           W    rail                 part"),
        "{out}"
    );
    assert!(
        out.contains("package-0            W    CPU package          total"),
        "{out}"
    );
    assert!(out.contains("10 W idle to 95 W"), "{out}");
    if out.contains("nvml        not available") {
        assert!(out.contains("auto        uses ina3221\n"), "{out}");
    }
}

#[test]
fn import_tegrastats_writes_a_session_inspect_reads() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("nano.jsonl");
    let (ok, out, err) = run(bin()
        .args(["import", "tegrastats"])
        .arg(own("tegrastats/nano_jp4_unitless_prompt.log"))
        .args([
            "--interval",
            "1000",
            "--start",
            "2024-01-01T00:00:00Z",
            "--label",
            "nano test",
            "-o",
        ])
        .arg(&out_path));
    assert!(ok, "{err}");
    assert!(
        out.contains("lines       7 read: 4 data, 2 skipped, 1 blank"),
        "{out}"
    );
    assert!(
        out.contains("skipped line 1: user@nano:~$ sudo tegrastats"),
        "{out}"
    );
    assert!(
        out.contains("total       POM_5V_IN: POM_5V_IN is the board's input rail"),
        "{out}"
    );
    assert!(out.contains("energy      8.0 J"), "{out}");
    let (ok, insp, err) = run(bin().arg("inspect").arg(&out_path));
    assert!(ok, "{err}");
    assert!(
        insp.contains("start       2024-01-01T00:00:00.000Z"),
        "{insp}"
    );
    assert!(insp.contains("total       board input"), "{insp}");
    assert!(
        insp.contains("note        imported from tegrastats log"),
        "{insp}"
    );
    assert!(insp.contains("total       8.0 J"), "{insp}");
    assert!(insp.contains("end         clean"), "{insp}");
}

#[test]
fn import_nvidia_smi_and_its_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("gpu.jsonl");
    let (ok, out, err) = run(bin()
        .args(["import", "nvidia-smi"])
        .arg(own("nvidia-smi/noheader_nounits_2gpu_row_order.csv"))
        .args(["--columns", "timestamp,power.draw,temperature.gpu", "-o"])
        .arg(&out_path));
    assert!(ok, "{err}");
    assert!(out.contains("total       gpu_sum: 2 GPUs"), "{out}");
    assert!(out.contains("energy      300.0 J"), "{out}");
    let (ok, _, err) = run(bin()
        .args(["import", "nvidia-smi"])
        .arg(own("nvidia-smi/table_then_csv_no_power.csv"))
        .arg("-o")
        .arg(&out_path));
    assert!(!ok);
    assert!(err.contains("header on line 5: no power column"), "{err}");
    assert!(
        err.contains("--query-gpu=timestamp,index,power.draw"),
        "{err}"
    );
    let (ok, _, err) = run(bin()
        .args(["import", "tegrastats", "/nonexistent.log", "-o"])
        .arg(&out_path));
    assert!(!ok);
    assert!(err.contains("cannot read /nonexistent.log"), "{err}");
    let (ok, _, err) = run(bin()
        .args(["import", "tegrastats"])
        .arg(own("tegrastats/tx1_legacy_no_rails.log"))
        .arg("-o")
        .arg(&out_path));
    assert!(!ok);
    assert!(
        err.contains("no power rails") && err.contains("sudo tegrastats"),
        "{err}"
    );
}

#[test]
fn sampler_runs_sysfs_sources_and_the_estimate_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("sys");
    fake_tree::hwmon(
        &sys,
        "1-0040",
        "hwmon1",
        &[("VDD_IN", 5000, 1000), ("VDD_SOC", 5000, 200)],
    );
    fake_tree::write_fake_zone(
        &sys,
        "intel-rapl:0",
        "package-0",
        1_000_000,
        262_143_999_999,
    );
    let args = SourceArgs {
        // The estimate cannot go below its 10 ms /proc/stat tick (refused at 5 ms).
        source: "ina3221,rapl@2,estimate@10".into(),
        interval_ms: 5.0,
        sysfs_root: sys,
        proc_root: fake_proc(dir.path()),
        ..Default::default()
    };
    let sources = open_sources(&args).unwrap();
    let (tx, rx) = mpsc::channel();
    let origin = Instant::now();
    let h = Sampler::spawn(sources, Duration::from_millis(5), origin, tx).unwrap();
    let names: Vec<&str> = h.channels().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "VDD_IN",
            "VDD_SOC",
            "package-0",
            "package-0_energy",
            "cpu_estimate",
            "cpu_util"
        ]
    );
    let (mut ina, mut rapl_rows) = (0, 0);
    let mut last_t = 0.0;
    while ina < 3 || rapl_rows < 3 {
        if let Event::Sample(s) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("samples arrive")
        {
            assert_eq!(s.values.len(), 6);
            if s.values[0].is_some() {
                assert_eq!(s.values[0], Some(5.0));
                assert!(s.values[2..].iter().all(Option::is_none));
                ina += 1;
            }
            if s.values[3].is_some() {
                rapl_rows += 1;
            }
            last_t = s.t_s;
        }
    }
    assert!(last_t > 0.0);
    let stats = h.stop();
    let by: Vec<(&str, f64)> = stats
        .iter()
        .map(|s| (s.source.as_str(), s.nominal_interval_ms))
        .collect();
    assert_eq!(
        by,
        [("ina3221", 5.0), ("rapl", 2.0), ("cpu_estimate", 10.0)]
    );
}
