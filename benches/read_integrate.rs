//! Reading plus integrating a 6-hour, 10 Hz, 4-channel session (216,000
//! samples) from a session file: the cost of `inspect`, `summary` and of
//! seeking in a replay. Then the session reader's number parser against
//! `fast-float2` and `lexical-core` on the same rows' fields, in the same run
//! (issue 9: keep our own only where it wins).
//!
//!     cargo bench --bench read_integrate
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use trainwatt::model::event::Event;
use trainwatt::model::fold::SessionFold;
use trainwatt::model::sample::{Channel, Role, Sample, Scope};
use trainwatt::record::format::parse_number;
use trainwatt::record::{Header, ReadOptions, SessionReader, SessionWriter};

const SAMPLES: usize = 216_000;

fn write_session(path: &Path) {
    let channels = vec![
        Channel::power("POM_5V_IN", Scope::BoardInput, Role::Total, "tegrastats"),
        Channel::power("POM_5V_GPU", Scope::Rail, Role::Part, "tegrastats"),
        Channel::power("POM_5V_CPU", Scope::Rail, Role::Part, "tegrastats"),
        Channel::counter("gpu_energy", Scope::GpuOnly, "bench", "POM_5V_GPU", None),
    ];
    let header = Header::new(channels, 100.0);
    let mut w = SessionWriter::create(path, &header).unwrap();
    let mut counter = 0.0;
    for i in 0..SAMPLES {
        let t = i as f64 * 0.1;
        let gpu = 1.5 + (i % 37) as f64 * 0.041;
        let cpu = 0.9 + (i % 11) as f64 * 0.013;
        counter += gpu * 0.1;
        w.write_event(&Event::Sample(Sample {
            t_s: t + (i % 3) as f64 * 0.0007,
            values: vec![Some(2.1 + gpu + cpu), Some(gpu), Some(cpu), Some(counter)],
        }))
        .unwrap();
    }
    w.finish(None).unwrap();
}

fn read_and_integrate(path: &Path) -> f64 {
    let mut r = SessionReader::open(path, ReadOptions::default()).unwrap();
    // The one session fold: what inspect, summary and replay run.
    let mut fold = SessionFold::new(r.header());
    while let Some(ev) = r.next_event().unwrap() {
        fold.apply(&ev);
    }
    assert_eq!(fold.samples() as usize, SAMPLES);
    fold.joules().unwrap()
}

/// CPU time of this thread (user + system), so the figure holds on a busy machine.
fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Every number field of the session's sample rows, as the reader sees them.
fn number_fields(path: &Path) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix('[')?.strip_suffix(']'))
        .flat_map(|inner| inner.split(','))
        .filter(|f| *f != "null")
        .map(|f| f.as_bytes().to_vec())
        .collect()
}

/// Median seconds of 7 runs of `parse` over `fields`, and the sum parsed.
fn time_parser(fields: &[Vec<u8>], parse: impl Fn(&[u8]) -> Option<f64>) -> (f64, f64) {
    let mut times = Vec::new();
    let mut sum = 0.0;
    for _ in 0..7 {
        let t = Instant::now();
        sum = fields
            .iter()
            .map(|f| parse(black_box(f)).unwrap())
            .sum::<f64>();
        black_box(sum);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], sum)
}

fn compare_parsers(path: &Path) {
    let fields = number_fields(path);
    for f in &fields {
        let ours = parse_number(f);
        assert_eq!(ours, fast_float2::parse::<f64, _>(f).ok(), "{f:?}");
        assert_eq!(ours, lexical_core::parse::<f64>(f).ok(), "{f:?}");
    }
    let (ours, a) = time_parser(&fields, parse_number);
    let (ff, b) = time_parser(&fields, |f| fast_float2::parse::<f64, _>(f).ok());
    let (lx, c) = time_parser(&fields, |f| lexical_core::parse::<f64>(f).ok());
    assert!(a == b && b == c);
    let ns = |s: f64| s * 1e9 / fields.len() as f64;
    println!(
        "number parser: {} fields of the rows above, median of 7: ours {:.4} s ({:.1} ns/field), fast-float2 {:.4} s ({:.1} ns/field), lexical-core {:.4} s ({:.1} ns/field)",
        fields.len(),
        ours,
        ns(ours),
        ff,
        ns(ff),
        lx,
        ns(lx)
    );
}

fn main() {
    // `cargo test --all-targets` runs benches without `--bench`: only check
    // that they start, the measurement is for `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("bench: run with `cargo bench` to measure");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("six-hours.jsonl");
    let t0 = Instant::now();
    write_session(&path);
    let write_s = t0.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path).unwrap().len();
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let c = thread_cpu_s();
        black_box(read_and_integrate(&path));
        cpu.push(thread_cpu_s() - c);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    cpu.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "read_integrate: {SAMPLES} samples x 4 channels, {:.1} MB: read+integrate median {:.4} s wall (min {:.4} s), median {:.4} s CPU; write {:.3} s",
        bytes as f64 / 1e6,
        times[times.len() / 2],
        times[0],
        cpu[cpu.len() / 2],
        write_s
    );
    compare_parsers(&path);
    let zpath = dir.path().join("six-hours.jsonl.zst");
    write_session(&zpath);
    let zbytes = std::fs::metadata(&zpath).unwrap().len();
    let t = Instant::now();
    black_box(read_and_integrate(&zpath));
    println!(
        "read_integrate (zstd): {:.1} MB compressed: read+integrate {:.4} s",
        zbytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
}
