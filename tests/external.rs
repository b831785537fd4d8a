//! The external-command wrapper against small Python scripts the tests write:
//! protocol lines among garbage, a run without protocol lines, a non-zero exit,
//! cancellation, and a command that does not exist.
use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use trainwatt::model::event::{Event, RunStatus, TrainEvent};
use trainwatt::train::spawn_external;

#[path = "support/require.rs"]
mod require;

/// Whether `python3` runs here; tests skip with a message when it does not
/// (and fail under `TRAINWATT_REQUIRE_ALL=1`).
fn have_python() -> bool {
    require::require(require::runs("python3", &["-c", "pass"]), "python3")
}

fn argv(script: &Path) -> Vec<OsString> {
    vec!["python3".into(), script.as_os_str().to_owned()]
}

/// Collect every training event until RunEnd (or until a generous deadline,
/// which only a broken wrapper would reach).
fn events_until_end(rx: &mpsc::Receiver<Event>) -> Vec<TrainEvent> {
    let mut v = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(Event::Train(e)) => {
                let end = matches!(e, TrainEvent::RunEnd { .. });
                v.push(e);
                if end {
                    break;
                }
            }
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    v
}

const PROTOCOL_SCRIPT: &str = r#"
import sys, json
print("Loading data...")
print('{"trainwatt": "start", "model": "tinynet", "batch_size": 8, "epochs": 2, "steps": 3}')
print("not json {")
print('{"trainwatt": "step", "epoch": "one"}')
print('{"trainwatt": "unknown_kind", "epoch": 1}')
print('{"trainwatt": "step", "epoch": 1, "step": 1, "loss": 2.5, "images": 8}')
print("warning: something", file=sys.stderr)
print('{"trainwatt": "step", "epoch": 1, "step": 3, "loss": 2.0, "images": 24}')
print('{"trainwatt": "epoch_end", "epoch": 1, "loss": 2.1, "acc": 0.3, "val_acc": 0.25}')
print('{"trainwatt": "step", "step": 1, "loss": 1.5}')
print('{"trainwatt": "done"}')
sys.exit(2)
"#;

#[test]
fn protocol_lines_become_events_and_exit_status_becomes_run_status() {
    if !have_python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("train.py");
    std::fs::write(&script, PROTOCOL_SCRIPT).unwrap();
    let log = dir.path().join("train.log");
    let (tx, rx) = mpsc::channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let h = spawn_external(argv(&script), Some(log.clone()), Instant::now(), tx, cancel).unwrap();
    let evs = events_until_end(&rx);
    let status = h.join().unwrap();
    assert_eq!(status, RunStatus::Error);

    // RunStart from the command line, then the merged `start` configuration.
    let TrainEvent::RunStart { config, .. } = &evs[0] else {
        panic!("{evs:?}")
    };
    assert_eq!(config.dataset, "external");
    assert!(config.model.starts_with("python3 "), "{}", config.model);
    let TrainEvent::RunStart { config, .. } = &evs[1] else {
        panic!("{evs:?}")
    };
    assert_eq!(config.model, "tinynet");
    assert_eq!(config.batch_size, Some(8));
    assert_eq!(config.steps_per_epoch, Some(3));

    let steps: Vec<(u32, u32, Option<f64>)> = evs
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Step {
                epoch, step, loss, ..
            } => Some((*epoch, *step, *loss)),
            _ => None,
        })
        .collect();
    assert_eq!(
        steps,
        vec![(1, 1, Some(2.5)), (1, 3, Some(2.0)), (2, 1, Some(1.5))]
    );
    assert!(evs.iter().any(|e| matches!(
        e,
        TrainEvent::EpochEnd { epoch: 1, train_acc: Some(a), val_acc: Some(v), .. } if *a == 0.3 && *v == 0.25
    )));
    let TrainEvent::RunEnd {
        status, message, ..
    } = evs.last().unwrap()
    else {
        panic!("{evs:?}")
    };
    assert_eq!(*status, RunStatus::Error);
    assert!(
        message
            .as_deref()
            .unwrap()
            .ends_with("exited with status 2"),
        "{message:?}"
    );

    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("Loading data..."));
    assert!(log.contains("not json {"));
    assert!(log.contains("warning: something"));
    assert!(log.contains(r#""trainwatt": "done""#));
}

#[test]
fn a_command_without_protocol_lines_is_still_a_run() {
    if !have_python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("plain.py");
    std::fs::write(
        &script,
        "for i in range(3):\n    print('epoch', i, 'loss', 1.0 / (i + 1))\n",
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    let h = spawn_external(
        argv(&script),
        None,
        Instant::now(),
        tx,
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    let evs = events_until_end(&rx);
    assert_eq!(h.join().unwrap(), RunStatus::Completed);
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert!(matches!(evs[0], TrainEvent::RunStart { .. }));
    assert!(matches!(
        evs[1],
        TrainEvent::RunEnd {
            status: RunStatus::Completed,
            ..
        }
    ));
}

#[test]
fn an_out_of_memory_traceback_is_an_out_of_memory_status() {
    if !have_python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("oom.py");
    std::fs::write(
        &script,
        "import sys\nprint('torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB', file=sys.stderr)\nsys.exit(1)\n",
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    let h = spawn_external(
        argv(&script),
        None,
        Instant::now(),
        tx,
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    let evs = events_until_end(&rx);
    assert_eq!(h.join().unwrap(), RunStatus::OutOfMemory);
    assert!(matches!(
        evs.last(),
        Some(TrainEvent::RunEnd {
            status: RunStatus::OutOfMemory,
            ..
        })
    ));
}

#[test]
fn cancelling_stops_the_command() {
    if !have_python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("slow.py");
    std::fs::write(
        &script,
        "import time\nprint('{\"trainwatt\": \"step\", \"epoch\": 1, \"step\": 1}', flush=True)\ntime.sleep(300)\n",
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let h = spawn_external(argv(&script), None, started, tx, cancel.clone()).unwrap();
    // Wait for the step (the script is then inside its long sleep), then cancel.
    loop {
        match rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a step event")
        {
            Event::Train(TrainEvent::Step { .. }) => break,
            _ => continue,
        }
    }
    cancel.store(true, Ordering::Relaxed);
    let evs = events_until_end(&rx);
    assert_eq!(h.join().unwrap(), RunStatus::Cancelled);
    assert!(matches!(
        evs.last(),
        Some(TrainEvent::RunEnd {
            status: RunStatus::Cancelled,
            ..
        })
    ));
    // SIGTERM ends the sleep at once: far sooner than the script's 300 s.
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_missing_command_is_an_error_and_sends_nothing() {
    let (tx, rx) = mpsc::channel();
    let e = spawn_external(
        vec!["/nonexistent/trainwatt-test-command".into()],
        None,
        Instant::now(),
        tx,
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap_err();
    assert!(e.to_string().contains("cannot start"), "{e}");
    assert!(rx.try_recv().is_err());
    let e = spawn_external(
        vec![],
        None,
        Instant::now(),
        mpsc::channel().0,
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no training command"), "{e}");
}
