//! `trainwatt record` end to end with the estimate source (no libtorch needed).
#[path = "support/isolated.rs"]
mod isolated;

use trainwatt::model::event::{Event, MarkerKind, RunStatus, TrainEvent};
use trainwatt::record::{ReadOptions, SessionReader};

fn events(path: &std::path::Path) -> (Vec<Event>, bool) {
    let mut r = SessionReader::open(path, ReadOptions::default()).unwrap();
    let evs = r.collect_events().unwrap();
    (evs, r.stats.clean_end)
}

#[test]
fn a_command_that_cannot_start_is_an_error_run_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.jsonl");
    let out = isolated::trainwatt()
        .args(["record", "--source", "estimate", "--quiet", "-o"])
        .arg(&path)
        .args(["--", "/nonexistent/trainer", "--epochs", "1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (evs, clean) = events(&path);
    assert!(clean);
    let end = evs.iter().find_map(|e| match e {
        Event::Train(TrainEvent::RunEnd {
            status, message, ..
        }) => Some((status.clone(), message.clone())),
        _ => None,
    });
    let (status, message) = end.expect("a run_end line");
    assert_eq!(status, RunStatus::Error);
    assert!(message.unwrap().contains("could not start"));
}

#[test]
fn duration_bounds_the_session_including_idle_calibration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idle.jsonl");
    let out = isolated::trainwatt()
        .args([
            "record",
            "--no-train",
            "--source",
            "estimate",
            "--quiet",
            "--idle-calibration",
            "1s",
            "--duration",
            "2s",
            "-o",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (evs, clean) = events(&path);
    assert!(clean);
    let last_sample = evs
        .iter()
        .filter_map(|e| match e {
            Event::Sample(s) => Some(s.t_s),
            _ => None,
        })
        .fold(0.0, f64::max);
    assert!(
        (1.8..2.6).contains(&last_sample),
        "last sample at {last_sample} s"
    );
    let floor = evs.iter().find_map(|e| match e {
        Event::Marker(m) if m.kind == MarkerKind::IdleEnd => m.value,
        _ => None,
    });
    // The estimate's idle floor: between its idle (10 W) and TDP (65 W) figures.
    let floor = floor.expect("idle floor filled in by the recorder");
    // (A mean of readings all at 65 W may round a hair above 65.)
    assert!((10.0 - 1e-9..=65.0 + 1e-9).contains(&floor), "{floor}");
}
