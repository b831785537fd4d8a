//! A recording survives `kill -9`: the file loads, missing at most the last
//! second, and the torn tail (if any) is reported, not an error.
#[path = "support/isolated.rs"]
mod isolated;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use trainwatt::model::event::Event;
use trainwatt::record::{ReadOptions, SessionReader};

/// The `t` of the first sample row in `path`, if one is there yet.
fn first_sample_t(path: &Path) -> Option<f64> {
    let f = std::fs::File::open(path).ok()?;
    for line in std::io::BufReader::new(f).lines() {
        let line = line.ok()?;
        if let Some(rest) = line.strip_prefix('[') {
            return rest.split(',').next()?.parse().ok();
        }
    }
    None
}

#[test]
fn sigkill_leaves_a_readable_session_missing_at_most_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.jsonl");
    let mut child = isolated::trainwatt()
        .args([
            "record",
            "--no-train",
            "--source",
            "estimate",
            "--interval-ms",
            "20",
            "--quiet",
            "-o",
        ])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The header and the first sample are flushed at start; wait for them.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (t0_line, seen_at) = loop {
        if let Some(t) = first_sample_t(&path) {
            break (t, Instant::now());
        }
        assert!(Instant::now() < deadline, "no sample written within 60 s");
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            panic!("record exited early with {status}: {err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Let it record for a while, then kill it without warning.
    while seen_at.elapsed() < Duration::from_millis(2500) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let ran_s = seen_at.elapsed().as_secs_f64();
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();

    let mut r = SessionReader::open(&path, ReadOptions::default()).expect("killed session loads");
    let events = r.collect_events().expect("no error in a killed session");
    assert!(!r.stats.clean_end, "no closing line after kill -9");
    let last_t = events
        .iter()
        .filter_map(|e| match e {
            Event::Sample(s) => Some(s.t_s),
            _ => None,
        })
        .fold(0.0, f64::max);
    // At the kill the recorder's clock read at least t0_line + ran_s; the file
    // is flushed at least once a second (plus scheduling slack on a busy machine).
    assert!(
        last_t >= t0_line + ran_s - 1.0 - 0.5,
        "last sample at {last_t:.3} s, kill at ≥ {:.3} s: more than a second lost",
        t0_line + ran_s
    );
    // `inspect` reads it too and says it did not end cleanly.
    let out = isolated::trainwatt()
        .arg("inspect")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("did not end cleanly"), "{text}");
}

/// `record` onto a disk that fills up: the error names the file, and what
/// was written before still loads. Runs in its own user and mount namespace
/// (`unshare -rm`) on a 64 KiB tmpfs with one 4 KiB page left.
#[test]
fn a_full_disk_names_the_file_and_what_was_written_loads() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let copy = dir.path().join("copy.jsonl");
    let script = r#"mount -t tmpfs -o size=64k tmpfs "$1" || exit 200
head -c 61440 /dev/zero > "$1/fill"
"$2" record --no-train --source estimate --interval-ms 20 --duration 8s --quiet -o "$1/s.jsonl"
rc=$?
cp "$1/s.jsonl" "$3"
exit $rc"#;
    let mut unshare = Command::new("unshare");
    let out = isolated::isolate(&mut unshare)
        .args(["-rm", "sh", "-c", script, "sh"])
        .arg(&mnt)
        .arg(env!("CARGO_BIN_EXE_trainwatt"))
        .arg(&copy)
        .output();
    let out = match out {
        Ok(o) if o.status.code() != Some(200) && o.status.code() != Some(1) || copy.exists() => o,
        other => {
            println!("skipped: cannot mount a small tmpfs in a user namespace here ({other:?})");
            assert!(
                std::env::var("TRAINWATT_REQUIRE_ALL").is_err(),
                "unshare -rm and tmpfs are required"
            );
            return;
        }
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "record must fail on a full disk: {err}"
    );
    assert!(
        err.contains("s.jsonl") && err.contains("No space left"),
        "the error names the file: {err}"
    );
    let mut r = SessionReader::open(&copy, ReadOptions::default()).expect("the file loads");
    let events = r.collect_events().expect("no error before the torn tail");
    assert!(
        events.iter().any(|e| matches!(e, Event::Sample(_))),
        "samples written before the disk filled are there"
    );
}
