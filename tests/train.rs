//! The built-in trainer on the CPU, seconds per test: both ResNet18 variants
//! learn on synthetic data, the CIFAR-10 and image-folder readers on files the
//! tests write in those exact formats, an injected out-of-memory error,
//! cancellation mid-epoch, and the headless `trainwatt train` command.
#![cfg(feature = "train")]

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use tch::{Device, Tensor};
use trainwatt::model::event::{Event, RunStatus, TrainEvent};
use trainwatt::train::data::{Dataset, Rng, CIFAR_RECORD};
use trainwatt::train::{spawn_builtin, DataSpec, DeviceSpec, ModelKind, TrainArgs};

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

fn run_to_end(args: TrainArgs) -> (RunStatus, Vec<TrainEvent>) {
    let (tx, rx) = mpsc::channel();
    let h = spawn_builtin(args, Instant::now(), tx, Arc::new(AtomicBool::new(false))).unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    for model in [ModelKind::Resnet18Cifar, ModelKind::Resnet18] {
        let save = dir.path().join(format!("{}.ot", model.name()));
        let args = TrainArgs {
            model: Some(model),
            epochs: 4,
            save_model: Some(save.clone()),
            ..quick_args("synthetic:40")
        };
        let (status, evs) = run_to_end(args);
        assert_eq!(status, RunStatus::Completed, "{model:?}: {evs:?}");
        let TrainEvent::RunStart { config, .. } = &evs[0] else {
            panic!("{evs:?}")
        };
        assert_eq!(config.model, model.name());
        assert_eq!(config.train_images, Some(32));
        assert_eq!(config.val_images, Some(8));
        assert_eq!(config.steps_per_epoch, Some(4));
        assert_eq!(config.device.as_deref(), Some("cpu"));
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
    let mut bytes = Vec::with_capacity(n * CIFAR_RECORD);
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
fn cifar10_binary_files_are_read_and_trained_on() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar(&dir.path().join("data_batch_1.bin"), 20);
    write_cifar(&dir.path().join("data_batch_2.bin"), 6);
    write_cifar(&dir.path().join("test_batch.bin"), 10);
    let spec = DataSpec::Cifar10 {
        dir: dir.path().to_path_buf(),
    };
    let ds = Dataset::load(&spec, 32, 0.2, 1).unwrap();
    assert_eq!(ds.classes, 10);
    assert_eq!(ds.train.len(), 26);
    assert_eq!(ds.val.len(), 10, "test_batch.bin is the validation set");
    // Labels and planes survive: image i of the test file has label i % 10 and
    // its green plane holds label * 20 + 1.
    assert_eq!(ds.val.labels.int64_value(&[3]), 3);
    assert_eq!(ds.val.images.int64_value(&[3, 1, 5, 7]), 61);
    let idx = Tensor::from_slice(&[0i64, 1, 2, 3]);
    let (x, y) = ds
        .batch(&ds.train, &idx, Device::Cpu, Some(&mut Rng::new(1)))
        .unwrap();
    assert_eq!(x.size(), vec![4, 3, 32, 32]);
    assert_eq!(y.size(), vec![4]);

    let (status, evs) = run_to_end(TrainArgs {
        steps_per_epoch: Some(2),
        augment: true,
        ..quick_args(&format!("cifar10:{}", dir.path().display()))
    });
    assert_eq!(status, RunStatus::Completed, "{evs:?}");
}

#[test]
fn malformed_or_missing_cifar10_says_which_file_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let spec = DataSpec::Cifar10 {
        dir: dir.path().to_path_buf(),
    };
    let e = Dataset::load(&spec, 32, 0.2, 1).unwrap_err().to_string();
    assert!(e.contains("data_batch_1.bin: not found"), "{e}");
    std::fs::write(dir.path().join("data_batch_1.bin"), vec![0u8; 5000]).unwrap();
    let e = Dataset::load(&spec, 32, 0.2, 1).unwrap_err().to_string();
    assert!(
        e.contains("data_batch_1.bin: 5000 bytes is not a whole number of 3073-byte"),
        "{e}"
    );

    // The run reports it as an error; `trainwatt train` exits non-zero with it.
    let (status, evs) = run_to_end(quick_args(&format!("cifar10:{}", dir.path().display())));
    assert_eq!(status, RunStatus::Error);
    assert!(
        matches!(evs.as_slice(), [TrainEvent::RunEnd { message: Some(m), .. }] if m.contains("5000 bytes"))
    );
    let out = Command::new(env!("CARGO_BIN_EXE_trainwatt"))
        .args(["train", "--device", "cpu", "--data"])
        .arg(format!("cifar10:{}", dir.path().display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("data_batch_1.bin: 5000 bytes"), "{err}");
}

#[test]
fn image_folders_are_read_one_class_per_subfolder() {
    let dir = tempfile::tempdir().unwrap();
    for (class, color) in [("cat", [200u8, 30, 30]), ("dog", [30u8, 30, 200])] {
        let cdir = dir.path().join(class);
        std::fs::create_dir(&cdir).unwrap();
        for i in 0..4u8 {
            let img = image::RgbImage::from_fn(20, 12, |x, _| {
                image::Rgb([color[0], color[1].wrapping_add(x as u8 * i), color[2]])
            });
            let ext = if i == 3 { "jpg" } else { "png" };
            img.save(cdir.join(format!("{i}.{ext}"))).unwrap();
        }
        std::fs::write(cdir.join("notes.txt"), "not an image").unwrap();
    }
    let spec = DataSpec::Folder {
        dir: dir.path().to_path_buf(),
    };
    let ds = Dataset::load(&spec, 16, 0.25, 1).unwrap();
    assert_eq!(ds.classes, 2);
    assert_eq!(ds.train.len() + ds.val.len(), 8);
    assert_eq!(ds.val.len(), 2);
    assert_eq!(ds.train.images.size(), vec![6, 3, 16, 16]);
    let (status, evs) = run_to_end(TrainArgs {
        batch_size: 2,
        image_size: Some(16),
        ..quick_args(&format!("folder:{}", dir.path().display()))
    });
    assert_eq!(status, RunStatus::Completed, "{evs:?}");

    std::fs::write(dir.path().join("dog").join("broken.png"), b"not a png").unwrap();
    let e = Dataset::load(&spec, 16, 0.25, 1).unwrap_err().to_string();
    assert!(e.contains("broken.png: cannot decode the image"), "{e}");
}

#[test]
fn an_out_of_memory_error_is_a_run_status_with_the_batch_size() {
    let (status, evs) = run_to_end(TrainArgs {
        batch_size: 16,
        inject_oom_above: Some(8),
        ..quick_args("synthetic:64")
    });
    assert_eq!(status, RunStatus::OutOfMemory);
    let Some(TrainEvent::RunEnd {
        message: Some(m), ..
    }) = evs.last()
    else {
        panic!("{evs:?}")
    };
    assert!(m.starts_with("out of memory at batch size 16"), "{m}");
    // Below the limit the same run completes.
    let (status, _) = run_to_end(TrainArgs {
        batch_size: 8,
        inject_oom_above: Some(8),
        steps_per_epoch: Some(1),
        ..quick_args("synthetic:64")
    });
    assert_eq!(status, RunStatus::Completed);
}

#[test]
fn cancelling_stops_mid_epoch() {
    let (tx, rx) = mpsc::channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let args = TrainArgs {
        batch_size: 2,
        ..quick_args("synthetic:2000")
    };
    let h = spawn_builtin(args, Instant::now(), tx, cancel.clone()).unwrap();
    let mut steps_seen = Vec::new();
    let mut end = None;
    while let Ok(ev) = rx.recv_timeout(Duration::from_secs(120)) {
        match ev {
            Event::Train(TrainEvent::Step { step, .. }) => {
                steps_seen.push(step);
                cancel.store(true, Ordering::Relaxed);
            }
            Event::Train(TrainEvent::RunEnd { status, .. }) => {
                end = Some(status);
                break;
            }
            _ => {}
        }
    }
    assert_eq!(end, Some(RunStatus::Cancelled));
    assert_eq!(h.join().unwrap(), RunStatus::Cancelled);
    // 800 steps per epoch; the run stopped right after the first report.
    assert!(steps_seen.iter().all(|&s| s < 10), "{steps_seen:?}");
}

#[test]
fn the_train_command_prints_epochs_and_exits_by_status() {
    let out = Command::new(env!("CARGO_BIN_EXE_trainwatt"))
        .args([
            "train",
            "--data",
            "synthetic:48",
            "--epochs",
            "2",
            "--batch-size",
            "8",
            "--steps-per-epoch",
            "2",
            "--threads",
            "2",
            "--device",
            "cpu",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["start", "epoch", "epoch", "end"]);
    assert!(lines[2]["images_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[2]["images"], 32);
    assert_eq!(lines[3]["status"], "completed");

    let out = Command::new(env!("CARGO_BIN_EXE_trainwatt"))
        .args([
            "train",
            "--data",
            "synthetic:48",
            "--batch-size",
            "16",
            "--inject-oom-above",
            "8",
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("out of memory at batch size 16"));
}
