//! The built-in trainer as a child process (the `trainwatt-train` binary) on
//! the CPU, seconds per test: both ResNet18 variants learn on synthetic data,
//! the CIFAR-10 and image-folder readers on files the tests write in those
//! exact formats, an injected out-of-memory error (in `train`, `record` and the
//! session file), cancelling a running session, and the headless
//! `trainwatt train` command. The readers' own checks are unit tests of the
//! trainer binary.
//!
//! Without the trainer binary (`--no-default-features`) or the `test-util`
//! feature the tests that need them print why they skip, and fail when
//! TRAINWATT_REQUIRE_ALL=1.
#[path = "support/isolated.rs"]
mod isolated;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use clap::Parser;
use trainwatt::model::event::{Event, RunStatus, TrainEvent};
use trainwatt::session::live::Output;
use trainwatt::session::local::{LocalRun, RunArgs};
use trainwatt::train::trainer::{Resolved, TrainerKind};
use trainwatt::train::{spawn_child, ChildOutput, DeviceSpec, ModelKind, TrainArgs};

/// One trainer at a time in this file: on a 2-core machine parallel trainers
/// would slow each other's steps, and the cancel test times a step.
static ONE_TRAINER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_trainer() -> std::sync::MutexGuard<'static, ()> {
    ONE_TRAINER.lock().unwrap_or_else(|p| p.into_inner())
}

fn skip(why: &str) {
    if std::env::var("TRAINWATT_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("TRAINWATT_REQUIRE_ALL=1 but this test cannot run: {why}");
    }
    eprintln!("skipping: {why}");
}

/// The trainer binary cargo built for these tests, if it did.
fn trainer_bin() -> Option<PathBuf> {
    // Cargo names the path even when the binary's `train` feature is off (it
    // is then not built, or left over from another build).
    let p = option_env!("CARGO_BIN_EXE_trainwatt-train")
        .map(PathBuf::from)
        .filter(|p| cfg!(feature = "train") && p.exists());
    if p.is_none() {
        skip("the trainwatt-train binary is not built (it needs the `train` feature)");
    }
    p
}

/// The trainer binary, built with the test hooks (the injected out-of-memory error).
fn trainer_with_hooks() -> Option<PathBuf> {
    let bin = trainer_bin()?;
    if !cfg!(feature = "test-util") {
        skip("the injected out-of-memory error needs `--features test-util`");
        return None;
    }
    Some(bin)
}

fn quick_args(data: &str) -> TrainArgs {
    TrainArgs {
        data: data.parse().unwrap(),
        batch_size: 8,
        epochs: 1,
        threads: Some(2),
        device: DeviceSpec::Cpu,
        // A quarter of the work of 32x32 images: tests stay quick on 2 cores.
        image_size: Some(16),
        ..TrainArgs::default()
    }
}

fn tch(bin: &Path) -> Resolved {
    Resolved {
        kind: TrainerKind::Tch,
        prefix: vec![bin.as_os_str().to_owned()],
        note: String::new(),
    }
}

/// Run the trainer child to its end; every training event it caused.
fn run_to_end(bin: &Path, args: TrainArgs, env: &[(&str, &str)]) -> (RunStatus, Vec<TrainEvent>) {
    let mut spec = tch(bin).child(&args, ChildOutput::Discard);
    spec.env = env
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect();
    let (tx, rx) = mpsc::channel();
    let h = spawn_child(spec, Instant::now(), tx, Arc::new(AtomicBool::new(false))).unwrap();
    let evs: Vec<TrainEvent> = rx
        .iter()
        .filter_map(|e| match e {
            Event::Train(t) => Some(t),
            _ => None,
        })
        .collect();
    (h.join().unwrap(), evs)
}

fn epoch_losses(evs: &[TrainEvent]) -> Vec<f64> {
    evs.iter()
        .filter_map(|e| match e {
            TrainEvent::EpochEnd { train_loss, .. } => *train_loss,
            _ => None,
        })
        .collect()
}

#[test]
fn both_variants_learn_synthetic_data_with_a_fixed_seed() {
    let Some(bin) = trainer_bin() else { return };
    let _one = one_trainer();
    let dir = tempfile::tempdir().unwrap();
    for model in [ModelKind::Resnet18Cifar, ModelKind::Resnet18] {
        let save = dir.path().join(format!("{}.ot", model.name()));
        let args = TrainArgs {
            model: Some(model),
            epochs: 4,
            save_model: Some(save.clone()),
            ..quick_args("synthetic:40")
        };
        let (status, evs) = run_to_end(&bin, args, &[]);
        assert_eq!(status, RunStatus::Completed, "{model:?}: {evs:?}");
        // The supervisor's RunStart (the options), then the trainer's.
        let TrainEvent::RunStart { config, .. } = &evs[1] else {
            panic!("{evs:?}")
        };
        assert_eq!(config.model, model.name());
        assert_eq!(config.train_images, Some(32));
        assert_eq!(config.val_images, Some(8));
        assert_eq!(config.steps_per_epoch, Some(4));
        assert_eq!(config.device.as_deref(), Some("cpu"));
        assert_eq!(config.extra["classes"], 10);
        assert!(!config.extra.contains_key("command"), "{config:?}");
        let losses = epoch_losses(&evs);
        assert_eq!(losses.len(), 4);
        eprintln!("{model:?}: training loss per epoch {losses:?}");
        assert!(
            losses[3] < losses[0],
            "{model:?}: loss did not decrease: {losses:?}"
        );
        // The last step of each epoch is always reported, with cumulative images.
        assert!(evs.iter().any(|e| matches!(
            e,
            TrainEvent::Step { epoch: 4, step: 4, images: Some(128), images_per_s: Some(r), .. } if *r > 0.0
        )));
        assert!(save.exists(), "weights not saved for {model:?}");
    }
}

/// Write `n` CIFAR-10 records: label `i % 10`, then the red, green and blue planes.
fn write_cifar(path: &Path, n: usize) {
    let mut bytes = Vec::with_capacity(n * (1 + 3 * 1024));
    for i in 0..n {
        let label = (i % 10) as u8;
        bytes.push(label);
        for plane in 0..3u8 {
            bytes.extend(std::iter::repeat_n(label * 20 + plane, 1024));
        }
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn cifar10_files_are_trained_on_and_a_bad_one_is_an_error() {
    let Some(bin) = trainer_bin() else { return };
    let _one = one_trainer();
    let dir = tempfile::tempdir().unwrap();
    write_cifar(&dir.path().join("data_batch_1.bin"), 20);
    write_cifar(&dir.path().join("test_batch.bin"), 10);
    let spec = format!("cifar10:{}", dir.path().display());
    let (status, evs) = run_to_end(
        &bin,
        TrainArgs {
            steps_per_epoch: Some(2),
            augment: true,
            ..quick_args(&spec)
        },
        &[],
    );
    assert_eq!(status, RunStatus::Completed, "{evs:?}");
    assert!(evs.iter().any(|e| matches!(
        e,
        TrainEvent::RunStart { config, .. } if config.train_images == Some(20) && config.val_images == Some(10)
    )));

    std::fs::write(dir.path().join("data_batch_1.bin"), vec![0u8; 5000]).unwrap();
    let (status, evs) = run_to_end(&bin, quick_args(&spec), &[]);
    assert_eq!(status, RunStatus::Error);
    assert!(
        matches!(evs.last(), Some(TrainEvent::RunEnd { message: Some(m), .. }) if m.contains("5000 bytes")),
        "{evs:?}"
    );
    let out = isolated::trainwatt()
        .args([
            "train",
            "--trainer",
            "tch",
            "--device",
            "cpu",
            "--data",
            &spec,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("data_batch_1.bin: 5000 bytes"), "{err}");
}

#[test]
fn image_folders_are_trained_on() {
    let Some(bin) = trainer_bin() else { return };
    let _one = one_trainer();
    let dir = tempfile::tempdir().unwrap();
    for (class, color) in [("cat", [200u8, 30, 30]), ("dog", [30u8, 30, 200])] {
        let cdir = dir.path().join(class);
        std::fs::create_dir(&cdir).unwrap();
        for i in 0..4u8 {
            let img = image::RgbImage::from_fn(20, 12, |x, _| {
                image::Rgb([color[0], color[1].wrapping_add(x as u8 * i), color[2]])
            });
            img.save(cdir.join(format!("{i}.png"))).unwrap();
        }
    }
    let (status, evs) = run_to_end(
        &bin,
        TrainArgs {
            batch_size: 2,
            val_fraction: 0.25,
            ..quick_args(&format!("folder:{}", dir.path().display()))
        },
        &[],
    );
    assert_eq!(status, RunStatus::Completed, "{evs:?}");
    assert!(evs.iter().any(|e| matches!(
        e,
        TrainEvent::RunStart { config, .. } if config.train_images == Some(6) && config.extra.get("classes") == Some(&2.into())
    )));
}

#[test]
fn an_out_of_memory_error_is_a_run_status_with_the_batch_size() {
    let Some(bin) = trainer_with_hooks() else {
        return;
    };
    let _one = one_trainer();
    let oom = [("TRAINWATT_INJECT_OOM_ABOVE", "8")];
    let (status, evs) = run_to_end(
        &bin,
        TrainArgs {
            batch_size: 16,
            ..quick_args("synthetic:64")
        },
        &oom,
    );
    assert_eq!(status, RunStatus::OutOfMemory);
    let Some(TrainEvent::RunEnd {
        message: Some(m), ..
    }) = evs.last()
    else {
        panic!("{evs:?}")
    };
    assert!(m.starts_with("out of memory at batch size 16"), "{m}");
    // Below the limit the same run completes.
    let (status, _) = run_to_end(
        &bin,
        TrainArgs {
            batch_size: 8,
            steps_per_epoch: Some(1),
            ..quick_args("synthetic:64")
        },
        &oom,
    );
    assert_eq!(status, RunStatus::Completed);
}

/// The pid of a running process whose command line contains `marker`.
fn pid_with(marker: &str) -> Vec<u32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        // A zombie's command line is empty: it no longer runs.
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            if String::from_utf8_lossy(&c).contains(marker) {
                v.push(pid);
            }
        }
    }
    v
}

#[derive(Parser)]
struct RunWrap {
    #[command(flatten)]
    run: RunArgs,
}

#[test]
fn cancelling_a_session_stops_the_trainer_within_a_second() {
    if trainer_bin().is_none() {
        return;
    }
    let _one = one_trainer();
    let dir = tempfile::tempdir().unwrap();
    // The trainer's command line carries this path: how the test finds it.
    let marker = dir.path().join("never-written.ot");
    let run = RunWrap::parse_from(["x", "--source", "estimate", "--trainer", "tch"]).run;
    // Steps of a few tens of milliseconds even on a busy machine: the stop
    // comes at the next step.
    let train = TrainArgs {
        batch_size: 2,
        image_size: Some(8),
        threads: Some(1),
        save_model: Some(marker.clone()),
        ..quick_args("synthetic:2000")
    };
    let file = dir.path().join("s.jsonl");
    let (local, rx) = LocalRun::start(&run, &train, Output::File(file.clone()), true).unwrap();
    let rx = rx.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(Event::Train(TrainEvent::Step { .. })) => break,
            Ok(Event::Train(TrainEvent::RunEnd { message, .. })) => panic!("ended: {message:?}"),
            _ => assert!(Instant::now() < deadline, "no step in 120 s"),
        }
    }
    let pids = pid_with(&marker.to_string_lossy());
    assert_eq!(pids.len(), 1, "the trainer process: {pids:?}");
    let cancelled_at = Instant::now();
    local.cancel();
    // Within a second: the trainer process is gone and the recorded run
    // ended as cancelled (closing the file afterwards is the recorder's).
    let limit = cancelled_at + Duration::from_secs(1);
    let (mut child_gone, mut run_end) = (None, None);
    while child_gone.is_none() || run_end.is_none() {
        if child_gone.is_none() && pid_with(&marker.to_string_lossy()).is_empty() {
            child_gone = Some(cancelled_at.elapsed());
        }
        while let Ok(ev) = rx.try_recv() {
            if let Event::Train(TrainEvent::RunEnd { status, .. }) = ev {
                run_end = Some((status, cancelled_at.elapsed()));
            }
        }
        assert!(
            Instant::now() < limit,
            "1 s after the cancel: trainer gone after {child_gone:?}, run end {run_end:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("after the cancel: trainer gone in {child_gone:?}, run end {run_end:?}");
    assert_eq!(run_end.map(|r| r.0), Some(RunStatus::Cancelled));
    let result = local.wait().unwrap();
    assert_eq!(result.status, Some(RunStatus::Cancelled));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(r#""status":"cancelled""#), "{text}");
    assert!(!marker.exists());
}

fn trainwatt() -> Command {
    isolated::trainwatt()
}

const QUICK: &[&str] = &[
    "--trainer",
    "tch",
    "--data",
    "synthetic:64",
    "--steps-per-epoch",
    "2",
    "--image-size",
    "16",
    "--threads",
    "2",
    "--device",
    "cpu",
];

#[test]
fn the_train_command_prints_epochs_and_exits_by_status() {
    if trainer_bin().is_none() {
        return;
    }
    let _one = one_trainer();
    let out = trainwatt()
        .arg("train")
        .args(QUICK)
        .args(["--epochs", "2", "--batch-size", "8", "--json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("trainwatt: trainer tch: "), "{err}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["start", "epoch", "epoch", "end"]);
    assert_eq!(lines[0]["config"]["train_images"], 51);
    assert!(lines[2]["images_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[2]["images"], 32);
    assert_eq!(lines[3]["status"], "completed");

    // A per-epoch line without --json.
    let out = trainwatt()
        .arg("train")
        .args(QUICK)
        .args(["--batch-size", "4", "--epochs", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.lines().any(|l| l.starts_with("epoch 1/1  loss ")),
        "{text}"
    );
}

#[test]
fn an_injected_oom_ends_train_and_record_as_out_of_memory() {
    if trainer_with_hooks().is_none() {
        return;
    }
    let _one = one_trainer();
    let out = trainwatt()
        .arg("train")
        .args(QUICK)
        .args(["--batch-size", "16"])
        .env("TRAINWATT_INJECT_OOM_ABOVE", "8")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("out of memory at batch size 16"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oom.jsonl");
    let out = trainwatt()
        .args(["record", "--quiet", "--source", "estimate", "-o"])
        .arg(&file)
        .args(QUICK)
        .args(["--batch-size", "16"])
        .env("TRAINWATT_INJECT_OOM_ABOVE", "8")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let end = text
        .lines()
        .find(|l| l.contains(r#""ev":"run_end""#))
        .unwrap_or_else(|| panic!("no run_end in\n{text}"));
    assert!(end.contains(r#""status":"out_of_memory""#), "{end}");
    assert!(end.contains("batch size 16"), "{end}");
    // The trainer's stderr is in the log beside the session.
    let log = std::fs::read_to_string(file.with_extension("log")).unwrap();
    assert!(log.contains("out of memory at batch size 16"), "{log}");
}
