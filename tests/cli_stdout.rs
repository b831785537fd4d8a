//! Case 10 of the robustness issue: every subcommand with its standard output
//! on `/dev/full` and on a pipe whose reader has already exited (`| true`)
//! ends without a panic, with a non-zero status: quietly (status 141) for the
//! closed pipe, with a message naming standard output for the full device.
//! `replay` and `watch` say that they need a terminal.
#[path = "support/isolated.rs"]
mod isolated;
mod support;

use std::fs::File;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn bin() -> Command {
    isolated::trainwatt()
}

/// A pipe whose read end is already closed: the reader "has exited".
fn closed_pipe() -> Stdio {
    let mut fds = [0i32; 2];
    // SAFETY: pipe() fills two descriptors that we then own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just created and are owned here only.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}

struct Fixtures {
    _dir: tempfile::TempDir,
    session: PathBuf,
    sweep: PathBuf,
    tegra: PathBuf,
    smi: PathBuf,
    out: PathBuf,
    proc_root: PathBuf,
}

fn fixtures() -> Fixtures {
    let dir = tempfile::tempdir().unwrap();
    let sweep = dir.path().join("sweep");
    std::fs::create_dir_all(&sweep).unwrap();
    let session = sweep.join("nano.jsonl");
    let (h, evs) = support::session(&support::Spec::nano());
    support::write(&session, &h, &evs);
    let tegra = dir.path().join("tegra.log");
    std::fs::write(
        &tegra,
        "RAM 1/2MB POM_5V_IN 2000/2000 POM_5V_GPU 100/100\nRAM 1/2MB POM_5V_IN 3000/2500 POM_5V_GPU 100/100\n",
    )
    .unwrap();
    let smi = dir.path().join("gpu.csv");
    std::fs::write(
        &smi,
        "timestamp, index, power.draw [W]\n2024/10/30 18:42:33.000, 0, 100.00 W\n2024/10/30 18:42:34.000, 0, 100.00 W\n",
    )
    .unwrap();
    let proc_root = dir.path().join("proc");
    std::fs::create_dir_all(&proc_root).unwrap();
    std::fs::write(proc_root.join("stat"), "cpu  100 0 100 800 0 0 0 0 0 0\n").unwrap();
    Fixtures {
        out: dir.path().join("out"),
        _dir: dir,
        session,
        sweep,
        tegra,
        smi,
        proc_root,
    }
}

/// One invocation per subcommand that writes to standard output.
fn cases(f: &Fixtures) -> Vec<(&'static str, Vec<String>)> {
    let p = |p: &Path| p.display().to_string();
    let out = |name: &str| p(&f.out.join(name));
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut v = vec![
        ("inspect", s(&["inspect", &p(&f.session)])),
        ("summary", s(&["summary", &p(&f.session)])),
        (
            "summary",
            s(&["summary", &p(&f.session), "--format", "csv"]),
        ),
        ("report", s(&["report", &p(&f.sweep)])),
        ("report", s(&["report", &p(&f.sweep), "--format", "json"])),
        ("completions", s(&["completions", "bash"])),
        ("man", s(&["man"])),
        ("config", s(&["config", "--example"])),
        ("config", s(&["config"])),
        (
            "sources",
            s(&[
                "sources",
                "--sysfs-root",
                "/nonexistent",
                "--proc-root",
                &p(&f.proc_root),
            ]),
        ),
        (
            "import",
            s(&[
                "import",
                "tegrastats",
                &p(&f.tegra),
                "--interval",
                "1000",
                "--force",
                "-o",
                &out("t.jsonl"),
            ]),
        ),
        (
            "import",
            s(&[
                "import",
                "nvidia-smi",
                &p(&f.smi),
                "--force",
                "-o",
                &out("n.jsonl"),
            ]),
        ),
        (
            "record",
            s(&[
                "record",
                "--no-train",
                "--source",
                "estimate",
                "--proc-root",
                &p(&f.proc_root),
                "--duration",
                "1s",
                "-o",
                "-",
            ]),
        ),
        (
            "record",
            s(&[
                "record",
                "--no-train",
                "--source",
                "estimate",
                "--proc-root",
                &p(&f.proc_root),
                "--duration",
                "1s",
                "--stdout",
            ]),
        ),
        (
            "replay",
            s(&["replay", &p(&f.session), "--log", "/dev/null"]),
        ),
        (
            "watch",
            s(&[
                "watch",
                "--no-train",
                "--no-record",
                "--source",
                "estimate",
                "--proc-root",
                &p(&f.proc_root),
                "--compare",
                &p(&f.session),
                "--log",
                "/dev/null",
            ]),
        ),
        ("help", s(&["--help"])),
        ("help", s(&["inspect", "--help"])),
    ];
    // The trainer's commands print their help here; their work needs a trainer and data.
    v.push(("train", s(&["train", "--help"])));
    v.push(("sweep", s(&["sweep", "--help"])));
    v
}

fn check(name: &str, args: &[String], stdout: Stdio, how: &str) -> (i32, String) {
    let o = bin()
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let code = o.status.code().unwrap_or(-1);
    assert!(
        !err.contains("panicked"),
        "{name} {args:?} {how}: panicked:\n{err}"
    );
    assert_ne!(code, 0, "{name} {args:?} {how}: exit 0, stderr:\n{err}");
    assert_ne!(
        code, 101,
        "{name} {args:?} {how}: exit 101 (a panic), stderr:\n{err}"
    );
    (code, err)
}

#[test]
fn case10_every_subcommand_survives_a_full_or_closed_stdout() {
    let f = fixtures();
    for (name, args) in cases(&f) {
        let (code, err) = check(
            name,
            &args,
            Stdio::from(File::create("/dev/full").unwrap()),
            "> /dev/full",
        );
        let (pcode, perr) = check(name, &args, closed_pipe(), "| true");
        if matches!(name, "replay" | "watch") {
            for e in [&err, &perr] {
                assert!(e.contains("needs a terminal"), "{name}: {e}");
            }
            continue;
        }
        assert_eq!(code, 1, "{name} {args:?} > /dev/full: {err}");
        assert!(
            err.contains("standard output") && err.contains("No space left"),
            "{name} > /dev/full: {err}"
        );
        assert_eq!(pcode, 141, "{name} {args:?} | true: {perr}");
        assert!(
            perr.trim().is_empty() || name == "record",
            "{name} | true is quiet: {perr}"
        );
    }
}

/// Every subcommand `--help` lists has a case above, so a new one cannot be missed.
#[test]
fn case10_covers_every_subcommand() {
    let o = bin().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout).into_owned();
    let listed: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // Wrapped descriptions continue on deeper-indented lines.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(listed.len() >= 8, "{help}");
    let f = fixtures();
    let covered: Vec<&str> = cases(&f).iter().map(|c| c.0).collect();
    for c in &listed {
        assert!(
            covered.contains(&c.as_str()),
            "subcommand `{c}` has no stdout case"
        );
    }
}
