//! `sweep --power-modes` against a fake `nvpmodel` on PATH (a shell script
//! that logs its calls and keeps the mode in a state file, printing `-q` like
//! JetPack's): the modes are set in order, each session records the mode read
//! back (and `report` tables and plots them per mode), and the mode found (2) is restored after a normal end, after SIGINT
//! mid-sweep (and `--resume` keeps the modes), and after a failing run and a
//! mode nvpmodel refuses. Without nvpmodel or root the sweep does not start.
#[path = "support/isolated.rs"]
mod isolated;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Whether the trainer binary with its test hooks was built; otherwise say
/// why the test skips (a failure under TRAINWATT_REQUIRE_ALL=1).
fn have_trainer() -> bool {
    let built = option_env!("CARGO_BIN_EXE_trainwatt-train")
        .is_some_and(|p| cfg!(feature = "train") && Path::new(p).exists());
    let why = if !built {
        "the trainwatt-train binary is not built (it needs the `train` feature)"
    } else if !cfg!(feature = "test-util") {
        "the injected root check and out-of-memory error need `--features test-util`"
    } else {
        return true;
    };
    if std::env::var("TRAINWATT_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("TRAINWATT_REQUIRE_ALL=1 but this test cannot run: {why}");
    }
    eprintln!("skipping: {why}");
    false
}

const FAKE_NVPMODEL: &str = r#"#!/bin/sh
dir=$(dirname "$0")
echo "$*" >> "$dir/calls.log"
case "$1" in
  -q) m=$(cat "$dir/mode"); echo "NV Fan Mode:quiet"; echo "NV Power Mode: MODE_$m"; echo "$m" ;;
  -m) if [ "$2" = 9 ]; then echo "NVPM ERROR: invalid mode 9" >&2; exit 1; fi
      echo "$2" > "$dir/mode" ;;
  *) exit 2 ;;
esac
"#;

/// A tempdir with `bin/nvpmodel` in mode 2.
struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let prog = bin.join("nvpmodel");
        std::fs::write(&prog, FAKE_NVPMODEL).unwrap();
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(bin.join("mode"), "2\n").unwrap();
        Fake { dir }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("sweep")
    }

    /// The modes set with `-m`, in order.
    fn sets(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("bin/calls.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("-m ").map(str::to_string))
            .collect()
    }

    fn mode(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("bin/mode"))
            .unwrap()
            .trim()
            .to_string()
    }

    fn sweep(&self, args: &[&str]) -> Command {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.dir.path().join("bin")];
        dirs.extend(std::env::split_paths(&path));
        let mut c = isolated::trainwatt();
        c.env("PATH", std::env::join_paths(dirs).unwrap())
            .env("TRAINWATT_TEST_ASSUME_ROOT", "1")
            .env("TRAINWATT_INJECT_OOM_ABOVE", "2")
            .arg("sweep")
            .args(args)
            .arg("--out")
            .arg(self.out());
        c
    }
}

const TINY: &[&str] = &[
    "--epochs",
    "1",
    "--repeats",
    "1",
    "--mode-settle",
    "0s",
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

fn args<'a>(modes: &'a str, batch_sizes: &'a str) -> Vec<&'a str> {
    let mut v = vec!["--power-modes", modes, "--batch-sizes", batch_sizes];
    v.extend_from_slice(TINY);
    v
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn header(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

#[test]
fn modes_are_set_in_order_recorded_and_restored() {
    if !have_trainer() {
        return;
    }
    let f = Fake::new();
    let o = f.sweep(&args("0,1", "2")).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(f.sets(), ["0", "1", "2"], "{}", stderr(&o));
    assert_eq!(f.mode(), "2");
    assert!(stderr(&o).contains("power mode restored to MODE_2 (nvpmodel mode 2)"));
    for m in ["0", "1"] {
        let h = header(&f.out().join(format!("pm{m}-bs2-ep1-r1.jsonl")));
        assert_eq!(
            h["device"]["power_mode"],
            format!("MODE_{m} (nvpmodel mode {m})"),
            "{h}"
        );
    }
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.out().join("sweep.json")).unwrap())
            .unwrap();
    assert_eq!(plan["power_modes"], serde_json::json!([0, 1]));

    // The report: tables per mode, the by-power-mode table, the figure.
    let figs = f.dir.path().join("figures");
    let rep = isolated::trainwatt()
        .arg("report")
        .arg(f.out())
        .arg("--plots")
        .arg(&figs)
        .output()
        .unwrap();
    assert!(rep.status.success(), "{}", stderr(&rep));
    let md = String::from_utf8_lossy(&rep.stdout);
    for m in ["0", "1"] {
        let mode = format!("MODE_{m} (nvpmodel mode {m})");
        assert!(
            md.contains(&format!(" @ {mode}\n")),
            "no section for {mode}:\n{md}"
        );
        let row = format!("| 2 | 1 | {mode} | 1 |");
        assert!(md.contains(&row), "no by-power-mode row {row}:\n{md}");
    }
    assert_eq!(md.matches("### By batch size").count(), 2, "{md}");
    assert!(md.contains("## By power mode ("), "{md}");
    let svg = std::fs::read_to_string(figs.join("energy_vs_time_by_power_mode.svg")).unwrap();
    roxmltree::Document::parse(&svg).unwrap();
    assert!(
        svg.contains("MODE_1 (nvpmodel mode 1)"),
        "legend names the modes"
    );
}

#[test]
fn sigint_mid_sweep_restores_and_resume_keeps_the_modes() {
    if !have_trainer() {
        return;
    }
    let f = Fake::new();
    let mut child = f
        .sweep(&args("0,1", "2"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = f.out().join("pm0-bs2-ep1-r1.jsonl");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !first.exists() {
        assert!(Instant::now() < deadline, "the first run did not start");
        assert!(child.try_wait().unwrap().is_none(), "sweep exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert_eq!(f.sets(), ["0", "2"], "{}", stderr(&o));
    assert_eq!(f.mode(), "2");
    assert!(!f.out().join("pm1-bs2-ep1-r1.jsonl").exists());

    // `--resume --out` alone: the saved plan's modes, then the restore.
    let mut c = f.sweep(&["--resume"]);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(f.sets(), ["0", "2", "0", "1", "2"], "{}", stderr(&o));
    assert_eq!(f.mode(), "2");
    assert!(f.out().join("pm1-bs2-ep1-r1.jsonl").exists());
}

#[test]
fn a_failing_run_and_a_refused_mode_still_restore() {
    if !have_trainer() {
        return;
    }
    let f = Fake::new();
    // Batch size 4 is an injected out-of-memory error; mode 9 is refused.
    let o = f.sweep(&args("0,9", "4")).output().unwrap();
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("pm0-bs4-ep1-r1.jsonl → out of memory"),
        "{err}"
    );
    assert!(err.contains("-m 9` failed"), "{err}");
    assert!(err.contains("invalid mode 9"), "{err}");
    assert_eq!(f.sets(), ["0", "9", "2"], "{err}");
    assert_eq!(f.mode(), "2");
}

#[test]
fn without_nvpmodel_or_root_nothing_starts() {
    if !have_trainer() {
        return;
    }
    let f = Fake::new();
    let o = f
        .sweep(&args("0,1", "2"))
        .env("TRAINWATT_TEST_ASSUME_ROOT", "0")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("needs root"), "{}", stderr(&o));
    assert!(stderr(&o).contains("sudo"), "{}", stderr(&o));
    assert!(!f.out().exists(), "nothing is written before the checks");
    assert!(f.sets().is_empty());

    std::fs::remove_file(f.dir.path().join("bin/nvpmodel")).unwrap();
    if Path::new("/usr/sbin/nvpmodel").exists() || Path::new("/usr/bin/nvpmodel").exists() {
        eprintln!("this machine has a real nvpmodel: the missing-nvpmodel case is not checked");
        return;
    }
    let o = f.sweep(&args("0,1", "2")).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("needs nvpmodel"), "{}", stderr(&o));
    assert!(!f.out().exists());
}

#[test]
fn a_sweep_killed_with_sigkill_restores_the_first_mode_found_on_resume() {
    if !have_trainer() {
        return;
    }
    let f = Fake::new();
    let mut child = f
        .sweep(&args("0,1", "2"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = f.out().join("pm0-bs2-ep1-r1.jsonl");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !first.exists() {
        assert!(Instant::now() < deadline, "the first run did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert_eq!(f.mode(), "0", "nothing restores after SIGKILL");
    let o = f.sweep(&["--resume"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(f.mode(), "2", "the mode found by the first start");
    assert!(stderr(&o).contains("restored to MODE_2"), "{}", stderr(&o));
    assert!(!f.out().join("power-mode-found.txt").exists());
}
