//! Replays every saved fuzz crash (`fuzz/regressions/<target>/`) and every
//! seed (`fuzz/seeds/<target>/`) through the invariants the fuzz targets
//! check (`tests/support/fuzz_checks.rs`), on stable, so a fixed crash
//! stays fixed without `cargo fuzz`.
#[path = "support/fuzz_checks.rs"]
mod fuzz_checks;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

const TARGETS: [&str; 5] = [
    "session_reader",
    "tegrastats",
    "nvidia_smi",
    "protocol",
    "theme",
];

/// Run every file under `root/<target>/`; returns (files run, failures).
fn replay(root: &Path) -> (usize, Vec<String>) {
    let mut n = 0;
    let mut failures = Vec::new();
    for target in TARGETS {
        let check = fuzz_checks::by_target(target).expect("known target");
        let Ok(dir) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        let mut files: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files.iter().filter(|f| f.is_file()) {
            let data = std::fs::read(f).expect("read corpus file");
            n += 1;
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| check(&data))) {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}: {msg}", f.display()));
            }
        }
    }
    (n, failures)
}

#[test]
fn saved_fuzz_crashes_stay_fixed() {
    let (n, failures) = replay(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions"));
    assert!(
        failures.is_empty(),
        "{} of {n} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn seed_corpora_hold_the_invariants() {
    let (n, failures) = replay(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds"));
    assert!(
        n >= TARGETS.len(),
        "only {n} seed files found under fuzz/seeds"
    );
    assert!(
        failures.is_empty(),
        "{} of {n} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
