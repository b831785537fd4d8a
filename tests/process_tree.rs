//! Killing trainwatt with SIGKILL ends the wrapped command's whole process
//! tree, a forked grandchild included (a data-loader worker must not keep a
//! GPU busy after the monitor died).
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn skip(why: &str) {
    if std::env::var("TRAINWATT_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("TRAINWATT_REQUIRE_ALL=1 but this test cannot run: {why}");
    }
    eprintln!("skipping: {why}");
}

/// Running processes whose command line contains `marker` (a zombie's is empty).
fn pids_with(marker: &str) -> Vec<u32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            if String::from_utf8_lossy(&c).contains(marker) {
                v.push(pid);
            }
        }
    }
    v
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigkill_of_trainwatt_ends_the_forked_grandchild_too() {
    let have_python = Command::new("python3")
        .args(["-c", "pass"])
        .status()
        .is_ok_and(|s| s.success());
    if !have_python {
        skip("python3 is not available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("trainwatt-tree-test-{}", std::process::id());
    let mut trainwatt = Command::new(env!("CARGO_BIN_EXE_trainwatt"))
        .args(["record", "--quiet", "--source", "estimate", "-o"])
        .arg(dir.path().join("s.jsonl"))
        .args([
            "--",
            "python3",
            "-c",
            "import os,time; os.fork() or time.sleep(300); time.sleep(300)",
            &marker,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the command and its fork start", Duration::from_secs(30), || {
        pids_with(&marker).len() == 2
    });
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(trainwatt.id() as i32, libc::SIGKILL) };
    trainwatt.wait().unwrap();
    let killed = Instant::now();
    wait_for(
        "both python processes end after trainwatt is killed",
        Duration::from_secs(2),
        || pids_with(&marker).is_empty(),
    );
    eprintln!("tree gone {:?} after SIGKILL", killed.elapsed());
}
