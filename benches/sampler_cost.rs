//! The sampler's own cost: CPU time used per second of sampling, at 10 Hz and
//! 1 kHz, with the CPU estimate (this machine's /proc/stat) and with the
//! INA3221 and RAPL readers on fake sysfs trees in a temporary directory.
//!
//!     cargo bench --no-default-features --bench sampler_cost
//!
//! CPU time is the whole process's (getrusage RUSAGE_SELF: the sampler thread
//! plus the receiving end draining its events) in steady state (after the
//! first sample), divided by the wall time. "missed" counts the ticks the
//! sampler skipped because it woke more than one interval late.
//! `TRAINWATT_BENCH_SECONDS` sets the duration of each run (default 20 s at
//! 10 Hz, where each run holds few samples, and 5 s at 1 kHz).
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use trainwatt::model::event::Event;
#[path = "../src/sensors/fake_tree.rs"]
mod fake_tree;
use trainwatt::sensors::{open_sources, Sampler, SourceArgs};

fn cpu_s() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

struct Row {
    source: String,
    hz: f64,
    wall_s: f64,
    samples: u64,
    effective_hz: f64,
    missed: u64,
    cpu_ms: f64,
}

fn measure(label: &str, args: &SourceArgs, hz: f64, seconds: f64) -> Row {
    let sources = open_sources(args).unwrap_or_else(|e| panic!("{label}: {e}"));
    let (tx, rx) = mpsc::channel();
    let interval = Duration::from_secs_f64(1.0 / hz);
    let origin = Instant::now();
    let h = Sampler::spawn(sources, interval, origin, tx).expect("spawn sampler");
    // Steady state only: thread start-up and the first read are not counted.
    while !matches!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(Event::Sample(_))
    ) {}
    let c0 = cpu_s();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(seconds);
    let mut samples = 0u64;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        if let Ok(Event::Sample(_)) = rx.recv_timeout(left) {
            samples += 1;
        }
    }
    let cpu_ms = (cpu_s() - c0) * 1e3;
    let wall_s = t0.elapsed().as_secs_f64();
    let stats = h.stop();
    let s = &stats[0];
    Row {
        source: label.to_string(),
        hz,
        wall_s,
        samples,
        effective_hz: s.effective_hz.unwrap_or(0.0),
        missed: s.missed,
        cpu_ms,
    }
}

/// CPU time of one `read` alone, without threads or channels (µs).
fn read_only_us(args: &SourceArgs, n: u32) -> f64 {
    let mut sources = open_sources(args).expect("open");
    let s = &mut sources[0];
    let c0 = cpu_s();
    for _ in 0..n {
        let _ = std::hint::black_box(s.read());
    }
    (cpu_s() - c0) / n as f64 * 1e6
}

fn fake_trees(root: &Path) {
    fake_tree::iio(
        root,
        "6-0040",
        &[
            ("POM_5V_IN", 4000),
            ("POM_5V_GPU", 1000),
            ("POM_5V_CPU", 800),
        ],
    );
    fake_tree::write_fake_zone(
        root,
        "intel-rapl:0",
        "package-0",
        1_000_000,
        262_143_999_999,
    );
    fake_tree::write_fake_zone(root, "intel-rapl:0:0", "core", 1_000_000, 262_143_999_999);
    fake_tree::write_fake_zone(root, "intel-rapl:0:1", "dram", 1_000_000, 65_532_610_987);
}

fn main() {
    // `cargo test --all-targets` runs benches without `--bench`: only check
    // that they start, the measurement is for `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("bench: run with `cargo bench` to measure");
        return;
    }
    // `cargo bench` passes `--bench`; nothing else to parse.
    let seconds: Option<f64> = std::env::var("TRAINWATT_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    let dir = tempfile::tempdir().expect("temp dir");
    fake_trees(dir.path());
    let base = SourceArgs {
        sysfs_root: dir.path().to_path_buf(),
        ..Default::default()
    };
    let cases = [
        ("estimate (/proc/stat)", "estimate"),
        ("ina3221 (fake iio, 3 rails)", "ina3221"),
        ("rapl (fake, 3 zones)", "rapl"),
    ];
    for (label, src) in cases {
        let args = SourceArgs {
            source: src.into(),
            ..base.clone()
        };
        println!(
            "{label:<30} one read alone: {:.1} µs CPU",
            read_only_us(&args, 20_000)
        );
    }
    println!(
        "sampler cost in steady state, CPU time of the whole process (sampler thread + receiver)"
    );
    println!(
        "{:<30} {:>7} {:>8} {:>9} {:>10} {:>7} {:>9} {:>14}",
        "source", "target", "wall s", "samples", "achieved", "missed", "CPU ms", "% of one core"
    );
    for hz in [10.0, 1000.0] {
        for (label, src) in cases {
            if src == "estimate" && hz > 100.0 {
                // Refused by the sampler: below the 10 ms /proc/stat tick.
                println!("{label:<30} {hz:>5} Hz refused: faster than the estimate's 10 ms tick");
                continue;
            }
            let args = SourceArgs {
                source: src.into(),
                interval_ms: 1000.0 / hz,
                ..base.clone()
            };
            let secs = seconds.unwrap_or(if hz < 100.0 { 20.0 } else { 5.0 });
            let r = measure(label, &args, hz, secs);
            println!(
                "{:<30} {:>5} Hz {:>8.2} {:>9} {:>7.1} Hz {:>7} {:>9.2} {:>13.4}%",
                r.source,
                r.hz,
                r.wall_s,
                r.samples,
                r.effective_hz,
                r.missed,
                r.cpu_ms,
                r.cpu_ms / 1e3 / r.wall_s * 100.0
            );
        }
    }
}
