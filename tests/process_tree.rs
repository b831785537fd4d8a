//! Killing trainwatt with SIGKILL ends the wrapped command's whole process
//! tree, a forked grandchild included (a data-loader worker must not keep a
//! GPU busy after the monitor died).
#[path = "support/isolated.rs"]
mod isolated;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn skip(why: &str) {
    if std::env::var("TRAINWATT_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("TRAINWATT_REQUIRE_ALL=1 but this test cannot run: {why}");
    }
    eprintln!("skipping: {why}");
}

/// Running python processes whose command line contains `marker` (a
/// zombie's is empty; trainwatt's and its watchdog's hold the marker too).
fn pids_with(marker: &str) -> Vec<u32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let c = String::from_utf8_lossy(&c);
            let argv0 = c.split('\0').next().unwrap_or("");
            let python = Path::new(argv0)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("python"));
            if python && c.contains(marker) {
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

/// Kills trainwatt if the test fails before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
    let trainwatt = isolated::trainwatt()
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
    let mut trainwatt = KillOnDrop(trainwatt);
    wait_for(
        "the command and its fork start",
        Duration::from_secs(30),
        || pids_with(&marker).len() == 2,
    );
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(trainwatt.0.id() as i32, libc::SIGKILL) };
    trainwatt.0.wait().unwrap();
    let killed = Instant::now();
    wait_for(
        "both python processes end after trainwatt is killed",
        Duration::from_secs(2),
        || pids_with(&marker).is_empty(),
    );
    eprintln!("tree gone {:?} after SIGKILL", killed.elapsed());
}
