//! The Python trainer (trainer/python/trainwatt_train.py) with a real PyTorch:
//! `TRAINWATT_PYTHON` names the interpreter (`.ci/run` sets it from
//! scripts/python_venv.sh); without it, `python3` when it imports torch. Each
//! run is seconds: 64 synthetic 16x16 images, two steps.
//!
//! Runs through `trainwatt record -- PYTHON -u SCRIPT …` (the wrapped-command
//! path) check the session file; direct runs check the protocol lines, exit
//! codes and the dataset readers' error messages.
#[path = "support/isolated.rs"]
mod isolated;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use trainwatt::model::event::{Event, RunStatus, TrainConfig, TrainEvent};
use trainwatt::record::{ReadOptions, SessionReader};

const QUICK: [&str; 10] = [
    "--data",
    "synthetic:64",
    "--epochs",
    "1",
    "--batch-size",
    "8",
    "--image-size",
    "16",
    "--threads",
    "1",
];
/// The reader tests need torch but not torchvision (the seconds its import takes).
const NO_TV: [(&str, &str); 1] = [("TRAINWATT_NO_TORCHVISION", "1")];

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("trainer/python/trainwatt_train.py")
}

/// Print why a test skips, or fail when CI asked for every test to run.
fn skip(why: &str) {
    assert!(
        std::env::var("TRAINWATT_REQUIRE_ALL").as_deref() != Ok("1"),
        "TRAINWATT_REQUIRE_ALL=1 but {why}"
    );
    eprintln!("skipping: {why}");
}

fn imports_torch(py: &str) -> bool {
    Command::new(py)
        .args(["-c", "import torch"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The interpreter with PyTorch, or None after saying why the test skips.
fn python() -> Option<String> {
    static PY: OnceLock<Result<String, String>> = OnceLock::new();
    let found = PY.get_or_init(|| match std::env::var("TRAINWATT_PYTHON") {
        Ok(py) if imports_torch(&py) => Ok(py),
        Ok(py) => Err(format!("TRAINWATT_PYTHON={py} cannot `import torch`")),
        Err(_) if imports_torch("python3") => Ok("python3".into()),
        Err(_) => Err("no PyTorch: set TRAINWATT_PYTHON (scripts/python_venv.sh makes one)".into()),
    });
    match found {
        Ok(py) => Some(py.clone()),
        Err(why) => {
            skip(why);
            None
        }
    }
}

/// A direct run of the script: exit code, protocol lines, stderr.
struct Direct {
    code: Option<i32>,
    lines: Vec<Value>,
    stderr: String,
}

impl Direct {
    fn of(&self, kind: &str) -> Vec<&Value> {
        self.lines
            .iter()
            .filter(|v| v["trainwatt"] == kind)
            .collect()
    }

    fn done(&self) -> &Value {
        let d = self.of("done");
        assert_eq!(d.len(), 1, "one done line; stderr:\n{}", self.stderr);
        d[0]
    }
}

fn protocol_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("trainwatt").is_some())
        .collect()
}

fn run_direct(py: &str, args: &[&str], env: &[(&str, &str)]) -> Direct {
    let out = Command::new(py)
        .arg("-u")
        .arg(script())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    Direct {
        code: out.status.code(),
        lines: protocol_lines(&out.stdout),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn record_command(py: &str, session: &Path, args: &[&str]) -> Command {
    let mut c = isolated::trainwatt();
    c.args(["record", "--source", "estimate", "--quiet", "-o"])
        .arg(session)
        .args(["--", py, "-u"])
        .arg(script())
        .args(args);
    c
}

fn session_events(path: &Path) -> Vec<TrainEvent> {
    let mut r = SessionReader::open(path, ReadOptions::default()).unwrap();
    let evs = r.collect_events().unwrap();
    evs.into_iter()
        .filter_map(|e| match e {
            Event::Train(t) => Some(t),
            _ => None,
        })
        .collect()
}

fn run_end(evs: &[TrainEvent]) -> (RunStatus, Option<String>) {
    evs.iter()
        .find_map(|e| match e {
            TrainEvent::RunEnd {
                status, message, ..
            } => Some((status.clone(), message.clone())),
            _ => None,
        })
        .expect("a run_end event")
}

/// The last RunStart's config (the wrapper's own first, then the script's start line merged in).
fn last_config(evs: &[TrainEvent]) -> TrainConfig {
    evs.iter()
        .rev()
        .find_map(|e| match e {
            TrainEvent::RunStart { config, .. } => Some(config.clone()),
            _ => None,
        })
        .expect("a run_start event")
}

#[test]
fn the_script_keeps_to_python_3_6() {
    let vermin = std::env::var("TRAINWATT_PYTHON")
        .ok()
        .map(|py| Path::new(&py).with_file_name("vermin"))
        .filter(|p| p.exists())
        .map(|p| p.into_os_string())
        .unwrap_or_else(|| "vermin".into());
    let out = match Command::new(&vermin)
        .args(["--target=3.6-", "--no-tips", "--violations"])
        .arg(script())
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            return skip(&format!(
                "vermin is not available ({e}); `pip install vermin` or run scripts/python_venv.sh"
            ))
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "vermin: {text}");
    assert!(
        !text.contains("not met") && !text.contains(" require "),
        "{text}"
    );
}

#[test]
fn record_wraps_a_short_synthetic_run() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("s.jsonl");
    let out = record_command(&py, &session, &QUICK)
        .args(["--steps-per-epoch", "2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let evs = session_events(&session);
    let c = last_config(&evs);
    assert_eq!(c.model, "resnet18-cifar");
    assert_eq!(c.dataset, "synthetic:64");
    assert_eq!(
        (c.batch_size, c.epochs, c.steps_per_epoch),
        (Some(8), Some(1), Some(2))
    );
    assert_eq!((c.train_images, c.val_images), (Some(51), Some(13)));
    assert_eq!(c.device.as_deref(), Some("cpu"));
    let steps: Vec<(u32, Option<f64>)> = evs
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Step { step, loss, .. } => Some((*step, *loss)),
            _ => None,
        })
        .collect();
    assert_eq!(steps.last().map(|s| s.0), Some(2), "{steps:?}");
    assert!(
        steps.iter().all(|s| s.1.is_some_and(|l| l > 0.0)),
        "{steps:?}"
    );
    let val = evs.iter().find_map(|e| match e {
        TrainEvent::EpochEnd {
            epoch: 1, val_acc, ..
        } => Some(*val_acc),
        _ => None,
    });
    let val = val.expect("an epoch_end").expect("a validation accuracy");
    assert!((0.0..=1.0).contains(&val), "{val}");
    assert_eq!(run_end(&evs).0, RunStatus::Completed);
}

#[test]
fn an_injected_oom_is_an_out_of_memory_run() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("oom.jsonl");
    let out = record_command(&py, &session, &QUICK)
        .env("TRAINWATT_TEST_INJECT_OOM_ABOVE", "4")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(run_end(&session_events(&session)).0, RunStatus::OutOfMemory);
    let log = std::fs::read_to_string(session.with_extension("log")).unwrap();
    let d = protocol_lines(log.as_bytes())
        .into_iter()
        .find(|v| v["trainwatt"] == "done")
        .expect("the script's done line in the log");
    assert_eq!(d["status"], "out_of_memory");
    let m = d["message"].as_str().unwrap();
    assert!(m.starts_with("out of memory at batch size 8"), "{m}");
    assert!(m.contains("can't allocate memory"), "{m}");
    // At the limit the hook stays quiet.
    let r = run_direct(
        &py,
        &[
            &QUICK[..],
            &["--steps-per-epoch", "1", "--val-fraction", "0"],
        ]
        .concat(),
        &[("TRAINWATT_TEST_INJECT_OOM_ABOVE", "8")],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

/// Wait (up to a minute) until `path` holds a line containing `needle`.
fn wait_for_line(path: &Path, needle: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::fs::read_to_string(path).is_ok_and(|s| s.contains(needle)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn sigterm_cancels_the_run_after_the_current_step() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("c.jsonl");
    let log = session.with_extension("log");
    let mut child = record_command(&py, &session, &QUICK)
        .args(["--epochs", "100", "--data", "synthetic:4000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = wait_for_line(&log, "\"step\"");
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(started, "no step line within a minute");
    assert_eq!(status.code(), Some(130));
    assert_eq!(run_end(&session_events(&session)).0, RunStatus::Cancelled);
    let lines = protocol_lines(std::fs::read_to_string(&log).unwrap().as_bytes());
    let d = lines.iter().find(|v| v["trainwatt"] == "done");
    let d = d.expect("the script said done before it was killed");
    assert_eq!(d["status"], "cancelled");
    assert!(d["message"]
        .as_str()
        .unwrap()
        .starts_with("cancelled at epoch 1, step"));
}

#[test]
fn the_same_seed_gives_the_same_first_loss_with_either_resnet() {
    let Some(py) = python() else { return };
    let args = [
        &QUICK[..],
        &["--steps-per-epoch", "1", "--val-fraction", "0"],
    ]
    .concat();
    let first_loss = |seed: &str, env: &[(&str, &str)]| {
        let r = run_direct(&py, &[&args[..], &["--seed", seed]].concat(), env);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        let start = r.of("start")[0].clone();
        (
            r.of("step")[0]["loss"].as_f64().unwrap(),
            start["resnet"].clone(),
        )
    };
    let (a, impl_a) = first_loss("5", &[]);
    let (b, impl_b) = first_loss("5", &[("TRAINWATT_NO_TORCHVISION", "1")]);
    let (c, _) = first_loss("6", &[]);
    assert_eq!(impl_b, "trainwatt_train.py");
    eprintln!("resnet18 from {impl_a} and {impl_b}");
    // Same data and weights; one CPU thread, so the kernels sum in one order.
    assert!(
        (a - b).abs() <= 1e-6 * a.abs(),
        "same seed: {a} with {impl_a}, {b} with {impl_b}"
    );
    assert!((a - c).abs() > 1e-3, "another seed, the same loss {a}");
}

fn cifar_records(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n * 3073);
    for i in 0..n {
        v.push((i % 10) as u8);
        v.extend((0..3072).map(|p| ((p * 7 + i * 13) % 256) as u8));
    }
    v
}

#[test]
fn cifar10_binaries_are_read_and_bad_files_named() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("data_batch_1.bin"), cifar_records(12)).unwrap();
    std::fs::write(d.join("data_batch_2.bin"), cifar_records(8)).unwrap();
    std::fs::write(d.join("test_batch.bin"), cifar_records(6)).unwrap();
    let weights = dir.path().join("w.pt");
    let spec = format!("cifar10:{}", dir.path().display());
    let base = [
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--steps-per-epoch",
        "2",
        "--threads",
        "1",
    ];
    let ok = run_direct(
        &py,
        &[
            &base[..],
            &["--data", &spec, "--augment", "--save-model"],
            &[weights.to_str().unwrap()],
        ]
        .concat(),
        &NO_TV,
    );
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    let start = ok.of("start")[0];
    assert_eq!(
        (start["train_images"].as_u64(), start["val_images"].as_u64()),
        (Some(20), Some(6))
    );
    assert_eq!(start["classes"], 10);
    assert!(
        std::fs::metadata(&weights).unwrap().len() > 40_000_000,
        "ResNet18 weights"
    );
    assert_eq!(
        ok.done()["message"],
        format!("weights saved to {}", weights.display())
    );

    let fails = |contents: Vec<u8>, expect: &str| {
        std::fs::write(d.join("data_batch_2.bin"), contents).unwrap();
        let r = run_direct(&py, &[&base[..], &["--data", &spec]].concat(), &[]);
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        let m = r.done()["message"].as_str().unwrap().to_string();
        let file = d.join("data_batch_2.bin");
        assert!(
            m.starts_with(&format!("dataset {spec}: {}: ", file.display())),
            "{m}"
        );
        assert!(m.contains(expect), "{m}");
    };
    let mut truncated = cifar_records(3);
    truncated.truncate(3073 * 2 + 100);
    fails(
        truncated,
        "6246 bytes is not a whole number of 3073-byte CIFAR-10 records",
    );
    let mut bad_label = cifar_records(3);
    bad_label[3073] = 12;
    fails(
        bad_label,
        "record 2 (byte 3073): label 12 is not a CIFAR-10 class",
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let r = run_direct(
        &py,
        &[
            &base[..],
            &["--data", &format!("cifar10:{}", empty.display())],
        ]
        .concat(),
        &[],
    );
    assert_eq!(r.code, Some(1));
    let m = r.done()["message"].as_str().unwrap();
    assert!(
        m.contains(&format!(
            "{}: not found",
            empty.join("data_batch_1.bin").display()
        )),
        "{m}"
    );
}

fn write_png(path: &Path, shade: u8) {
    let img = image::RgbImage::from_fn(8, 6, |x, y| {
        image::Rgb([shade, (x * 30) as u8, (y * 40) as u8])
    });
    img.save(path).unwrap();
}

#[test]
fn image_folders_are_read_and_bad_images_named() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (class, shade) in [("cat", 30u8), ("dog", 220)] {
        let c = dir.path().join(class);
        std::fs::create_dir(&c).unwrap();
        for i in 0..4 {
            write_png(&c.join(format!("{i}.png")), shade);
        }
    }
    std::fs::write(dir.path().join("cat/notes.txt"), "not an image").unwrap();
    let spec = format!("folder:{}", dir.path().display());
    let base = [
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--steps-per-epoch",
        "2",
        "--image-size",
        "16",
        "--threads",
        "1",
    ];
    let ok = run_direct(
        &py,
        &[&base[..], &["--data", &spec, "--augment"]].concat(),
        &NO_TV,
    );
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    let start = ok.of("start")[0];
    assert_eq!(
        (start["train_images"].as_u64(), start["val_images"].as_u64()),
        (Some(6), Some(2))
    );
    assert_eq!(start["classes"], 2);
    let acc = ok.of("epoch_end")[0]["val_acc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc), "{acc}");

    let broken = dir.path().join("dog/broken.png");
    std::fs::File::create(&broken)
        .unwrap()
        .write_all(b"\x89PNG not really")
        .unwrap();
    let r = run_direct(&py, &[&base[..], &["--data", &spec]].concat(), &[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let m = r.done()["message"].as_str().unwrap();
    assert!(
        m.contains(&format!("{}: cannot decode the image", broken.display())),
        "{m}"
    );

    let missing = dir.path().join("nowhere");
    let r = run_direct(
        &py,
        &[
            &base[..],
            &["--data", &format!("folder:{}", missing.display())],
        ]
        .concat(),
        &[],
    );
    assert_eq!(r.code, Some(1));
    let m = r.done()["message"].as_str().unwrap();
    assert!(
        m.contains(&format!(
            "{}: not found; expected a directory",
            missing.display()
        )),
        "{m}"
    );
}

#[test]
fn bad_options_say_so_in_a_done_line() {
    let Some(py) = python() else { return };
    let r = run_direct(&py, &["--data", "imagenet:/x"], &[]);
    assert_eq!(r.code, Some(2));
    let m = r.done()["message"].as_str().unwrap();
    assert!(
        m.contains("expected `synthetic`, `synthetic:N`, `cifar10:DIR` or `folder:DIR`"),
        "{m}"
    );
    let r = run_direct(&py, &[&QUICK[..], &["--batch-size", "64"]].concat(), &[]);
    assert_eq!(r.code, Some(1));
    let m = r.done()["message"].as_str().unwrap();
    assert!(
        m.contains("--batch-size 64 is larger than the 51 training images"),
        "{m}"
    );
}
