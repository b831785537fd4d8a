//! The study as a command, end to end: a tiny sweep with the estimate source
//! and the tch trainer child, interrupted with kill -9, resumed, and reported
//! (tables and SVG figures). Batch size 4 is an injected out-of-memory error
//! (the trainer's `test-util` hook, through the environment).
#[path = "support/isolated.rs"]
mod isolated;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn trainwatt() -> Command {
    let mut c = isolated::trainwatt();
    c.env("TRAINWATT_INJECT_OOM_ABOVE", "2");
    c
}

/// Whether the trainer binary with its test hooks was built; otherwise say
/// why the test skips (a failure under TRAINWATT_REQUIRE_ALL=1).
fn have_trainer() -> bool {
    // Cargo names the path even when the `train` feature is off (the binary
    // is then not built, or left over from another build).
    let built = option_env!("CARGO_BIN_EXE_trainwatt-train")
        .is_some_and(|p| cfg!(feature = "train") && Path::new(p).exists());
    let why = if !built {
        "the trainwatt-train binary is not built (it needs the `train` feature)"
    } else if !cfg!(feature = "test-util") {
        "the injected out-of-memory error needs `--features test-util`"
    } else {
        return true;
    };
    if std::env::var("TRAINWATT_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("TRAINWATT_REQUIRE_ALL=1 but this test cannot run: {why}");
    }
    eprintln!("skipping: {why}");
    false
}

const SWEEP: &[&str] = &[
    "sweep",
    "--batch-sizes",
    "2,4",
    "--epochs",
    "1",
    "--repeats",
    "2",
    "--data",
    "synthetic:40",
    "--steps-per-epoch",
    "2",
    "--threads",
    "1",
    "--source",
    "estimate",
    "--trainer",
    "tch",
    "--image-size",
    "16",
];

fn finished(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.contains("\"ev\":\"run_end\""))
}

#[test]
fn sweep_interrupted_resumed_and_reported() {
    if !have_trainer() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let first = out.join("bs2-ep1-r1.jsonl");

    // 1. Start, and kill -9 as soon as the first run has finished.
    let mut child = trainwatt()
        .args(SWEEP)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !finished(&first) {
        assert!(
            Instant::now() < deadline,
            "first run did not finish in 300 s"
        );
        if let Some(s) = child.try_wait().unwrap() {
            panic!("sweep exited early: {s}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let first_before = std::fs::read(&first).unwrap();

    // 2. Without --resume the directory is refused.
    let refused = trainwatt()
        .args(SWEEP)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--resume"));

    // 3. Resuming with other options is refused (the report would mix two
    //    experiments); `--resume --out` alone takes the plan's options.
    let mixed = trainwatt()
        .args([
            "sweep",
            "--resume",
            "--batch-sizes",
            "8",
            "--epochs",
            "1",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!mixed.status.success());
    assert!(
        String::from_utf8_lossy(&mixed.stderr).contains("options the sweep started with"),
        "{}",
        String::from_utf8_lossy(&mixed.stderr)
    );
    let resumed = trainwatt()
        .args(["sweep", "--resume", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{err}");
    assert!(err.contains("already finished"), "{err}");
    assert!(err.contains("run 4 of 4"), "{err}");
    assert!(err.contains("bs4-ep1-r2.jsonl → out of memory"), "{err}");
    // The saved options were used: the data, the steps and the image size.
    let redone = std::fs::read_to_string(out.join("bs2-ep1-r2.jsonl")).unwrap();
    let header: serde_json::Value = serde_json::from_str(redone.lines().next().unwrap()).unwrap();
    assert_eq!(header["train"]["dataset"], "synthetic:40", "{header}");
    assert_eq!(header["train"]["steps_per_epoch"], 2, "{header}");
    assert_eq!(header["train"]["extra"]["image_size"], 16, "{header}");
    assert_eq!(header["train"]["extra"]["trainer"], "tch", "{header}");
    assert_eq!(
        std::fs::read(&first).unwrap(),
        first_before,
        "finished run redone"
    );
    for name in ["bs2-ep1-r1", "bs4-ep1-r1", "bs2-ep1-r2", "bs4-ep1-r2"] {
        assert!(
            finished(&out.join(format!("{name}.jsonl"))),
            "{name} not finished"
        );
    }

    // 4. Report: batch 2 has n=2 completed runs, batch 4 is OOM (a row, not a gap).
    let plots = dir.path().join("figures");
    let rep = trainwatt()
        .arg("report")
        .arg(&out)
        .arg("--plots")
        .arg(&plots)
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&rep.stdout);
    assert!(
        rep.status.success(),
        "{}",
        String::from_utf8_lossy(&rep.stderr)
    );
    let row = |bs: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("| {bs} |")))
            .unwrap_or_else(|| panic!("no row for batch size {bs} in\n{md}"))
            .to_string()
    };
    assert!(row("2").contains("| 2 |"), "{md}");
    assert!(row("4").contains("OOM"), "{md}");
    assert!(md.contains("estimate"), "{md}");
    let svgs: Vec<_> = std::fs::read_dir(&plots)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .collect();
    assert!(!svgs.is_empty());
    for f in svgs {
        let text = std::fs::read_to_string(&f).unwrap();
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}
