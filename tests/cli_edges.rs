//! Command-line edges of the robustness issue, each named after its case:
//! durations that used to panic (8), outputs that would overwrite their own
//! input (12), a hang-up during `record` (14) and sampling intervals a source
//! cannot deliver (4).
#[path = "support/isolated.rs"]
mod isolated;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    isolated::trainwatt()
}

fn fake_proc(dir: &Path) -> PathBuf {
    let p = dir.join("proc");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("stat"), "cpu  100 0 100 800 0 0 0 0 0 0\n").unwrap();
    p
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let o = cmd.stdin(Stdio::null()).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn case8_huge_durations_are_refused_with_a_message_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let proc_root = fake_proc(dir.path());
    let out = dir.path().join("s.jsonl");
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["record", "--duration", "1e20s"],
        vec!["record", "--duration", "1e19s"],
        vec!["record", "--idle-calibration", "1e16h"],
        vec!["record", "--duration", "18446744073709551615"],
    ];
    if cfg!(feature = "train") {
        cases.push(vec!["sweep", "--cooldown", "1e20s"]);
    }
    for args in cases {
        let (code, _, err) = output(
            bin()
                .args(&args)
                .args(["--no-train", "--source", "estimate", "--proc-root"])
                .arg(&proc_root)
                .arg("-o")
                .arg(&out),
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(code, 2, "{args:?}: a usage error: {err}");
        assert!(
            err.contains("too long") && err.contains("10 years"),
            "{args:?}: {err}"
        );
        assert!(!out.exists(), "{args:?}: nothing recorded");
    }
}

#[test]
fn case8_durations_keep_their_short_forms() {
    let dir = tempfile::tempdir().unwrap();
    let proc_root = fake_proc(dir.path());
    let out = dir.path().join("s.jsonl");
    for d in ["0.3", "0.3s", "300ms", "0.005m"] {
        let (code, _, err) = output(
            bin()
                .args([
                    "record",
                    "-q",
                    "--no-train",
                    "--source",
                    "estimate",
                    "--duration",
                    d,
                ])
                .arg("--proc-root")
                .arg(&proc_root)
                .arg("-o")
                .arg(&out),
        );
        assert_eq!(code, 0, "--duration {d}: {err}");
        std::fs::remove_file(&out).unwrap();
    }
}

#[test]
fn case12_an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.log");
    let log_text = "RAM 1/2MB POM_5V_IN 2000/2000\nRAM 1/2MB POM_5V_IN 3000/2500\n";
    std::fs::write(&log, log_text).unwrap();
    let sweep = dir.path().join("sweep");
    std::fs::create_dir_all(&sweep).unwrap();
    let session = sweep.join("run.jsonl");
    let (h, evs) = support::session(&support::Spec::nano());
    support::write(&session, &h, &evs);
    let session_bytes = std::fs::read(&session).unwrap();
    let csv = dir.path().join("gpu.csv");
    let csv_text = "timestamp, index, power.draw [W]\n2024/10/30 18:42:33.000, 0, 100.00 W\n";
    std::fs::write(&csv, csv_text).unwrap();
    let p = |p: &Path| p.display().to_string();
    // Another spelling of the same file is caught too.
    let dotted = |p: &Path| p.parent().unwrap().join(".").join(p.file_name().unwrap());
    let cases: Vec<(Vec<String>, &Path)> = vec![
        (args(&["import", "tegrastats"], &log, &log), &log),
        (args(&["import", "tegrastats"], &log, &dotted(&log)), &log),
        (args(&["import", "nvidia-smi"], &csv, &csv), &csv),
        (args(&["summary"], &session, &session), &session),
        (
            args(&["summary", "--format", "csv"], &session, &dotted(&session)),
            &session,
        ),
        (args(&["report"], &sweep, &session), &session),
        (
            [
                "watch",
                "--no-train",
                "--source",
                "estimate",
                "--log",
                "/dev/null",
                "--compare",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain([p(&session), "-o".into(), p(&dotted(&session))])
            .collect(),
            &session,
        ),
    ];
    for (a, input) in cases {
        let (code, _, err) = output(bin().args(&a));
        assert_eq!(code, 1, "{a:?}: {err}");
        assert!(
            err.contains("refusing to write") && err.contains("input"),
            "{a:?}: {err}"
        );
        assert!(
            err.contains(input.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
    }
    assert_eq!(std::fs::read_to_string(&log).unwrap(), log_text);
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), csv_text);
    assert_eq!(std::fs::read(&session).unwrap(), session_bytes);
    // A different output still works.
    let (code, _, err) = output(bin().args(args(&["summary"], &session, &dir.path().join("s.md"))));
    assert_eq!(code, 0, "{err}");
}

fn args(cmd: &[&str], input: &Path, out: &Path) -> Vec<String> {
    let mut v: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
    v.push(input.display().to_string());
    v.push("-o".into());
    v.push(out.display().to_string());
    v
}

#[test]
fn case14_sighup_finalises_record_like_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hup.jsonl");
    let mut child = bin()
        .args([
            "record",
            "-q",
            "--no-train",
            "--source",
            "estimate",
            "--interval-ms",
            "20",
            "-o",
        ])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until samples reach the file (flushed at least once a second).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.lines().filter(|l| l.starts_with('[')).count() >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no samples in {}: {text}",
            out.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill() on the pid of the child spawned above.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGHUP) }, 0);
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    // Documented: the run's own status, 0 for --no-train (as after SIGTERM), not 129.
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGHUP: {status:?}: {err}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let last = text.lines().last().unwrap();
    assert!(
        last.contains("\"ev\":\"end\""),
        "closing line written: {last}"
    );
    assert!(err.contains("session written"), "{err}");
}

#[test]
fn case4_intervals_a_source_cannot_deliver_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let proc_root = fake_proc(dir.path());
    let out = dir.path().join("s.jsonl");
    let record = |extra: &[&str]| {
        output(
            bin()
                .args([
                    "record",
                    "-q",
                    "--no-train",
                    "--duration",
                    "0.2s",
                    "--proc-root",
                ])
                .arg(&proc_root)
                .args(extra)
                .arg("-o")
                .arg(&out),
        )
    };
    for extra in [
        &["--source", "estimate", "--interval-ms", "0.1"][..],
        &["--source", "estimate@5"][..],
    ] {
        let (code, _, err) = record(extra);
        assert_eq!(code, 1, "{extra:?}: {err}");
        assert!(err.contains("cannot sample every"), "{extra:?}: {err}");
        assert!(
            err.contains("10 ms") && err.contains("USER_HZ"),
            "the real resolution: {err}"
        );
        assert!(
            !out.exists(),
            "{extra:?}: refused before anything is written"
        );
    }
    for ms in ["0.0001", "86400001", "nan", "inf"] {
        let (code, _, err) = record(&["--source", "estimate", "--interval-ms", ms]);
        assert_eq!(code, 1, "--interval-ms {ms}: {err}");
        assert!(
            err.contains("out of range") || err.contains("not a number"),
            "{ms}: {err}"
        );
    }
    let (code, _, err) = record(&["--source", "estimate", "--interval-ms", "10"]);
    assert_eq!(code, 0, "10 ms is the estimate's resolution: {err}");
}
