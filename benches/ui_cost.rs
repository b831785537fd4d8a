//! The UI's own cost, on a 6-hour session sampled at 10 Hz written to a
//! temporary file (synthetic power, 60 epochs of training events):
//! - opening it (the one streaming pass that builds the replay index),
//! - time to render one frame at 200×50 (ratatui TestBackend, diff included),
//! - seeking forward 3 h and back 10 s,
//! - CPU time per second of the event loop replaying it at 1× and 64×
//!   (TestBackend, real clock), and of the real `trainwatt replay` binary in
//!   a 200×50 tmux terminal when tmux is installed.
//!
//! Run: `cargo bench --no-default-features --bench ui_cost`
//! (`TW_BENCH_SECONDS=N` sets how long each CPU measurement runs, default 10).
#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use support::{session, Spec};
use trainwatt::app::{run_loop, Action, App, AppOptions, Input, LoopConfig, Msg, PaneFeed};
use trainwatt::model::event::RunStatus;
use trainwatt::ui;

fn cpu_time_s() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// No keys: the loop only waits, like a terminal nobody touches.
struct Idle {
    until: Instant,
}

impl Input for Idle {
    fn next(&mut self, timeout: Option<Duration>) -> std::io::Result<Option<Msg>> {
        if Instant::now() >= self.until {
            return Ok(Some(Msg::Key(Action::Quit)));
        }
        let left = self.until - Instant::now();
        std::thread::sleep(timeout.map_or(left, |t| t.min(left)));
        Ok(None)
    }
}

/// CPU time of this thread: immune to being preempted on a busy machine.
fn thread_cpu_s() -> f64 {
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: clock_gettime fills the struct we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    // `cargo test --all-targets` runs benches without `--bench`: only check
    // that they start, the measurement is for `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("bench: run with `cargo bench` to measure");
        return;
    }
    let secs: u64 = std::env::var("TW_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("six-hours.jsonl");
    let t0 = Instant::now();
    let spec = Spec {
        epochs: 60,
        steps_per_epoch: 125,
        step_s: 2.88,
        end: Some(RunStatus::Completed),
        ..Spec::nano()
    };
    let (h, evs) = session(&spec);
    let n_events = evs.len();
    support::write(&path, &h, &evs);
    drop(evs);
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "session: {n_events} events, {:.1} MB, written in {:.1} s",
        size as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );

    // Opening: the indexing pass plus the playback reader.
    let t = Instant::now();
    let feeds = || {
        vec![PaneFeed::Replay {
            path: path.clone(),
            lenient: false,
        }]
    };
    let (tx, _rx) = std::sync::mpsc::channel();
    let mut app = App::new(feeds(), &AppOptions::default(), 0.0, &tx).unwrap();
    println!(
        "open + index (one streaming pass): {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    // Seek forward 3 h: fold 108k events.
    app.handle(Msg::Tick { now_s: 0.0 });
    app.handle(Msg::Key(Action::TogglePause));
    let t = Instant::now();
    app.handle(Msg::Key(Action::Seek(3.0 * 3600.0)));
    app.pump();
    println!(
        "seek +3 h (fold {} events): {:.0} ms",
        app.state.panes[0].pane.events(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    app.handle(Msg::Key(Action::Seek(-10.0)));
    app.pump();
    println!(
        "seek -10 s at 3 h (reopen and refold from the start): {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    // Frame time at 200×50: each frame after one more second of replay, so
    // the sparkline, figures and gauges all change.
    let mut term = Terminal::new(TestBackend::new(200, 50)).unwrap();
    app.handle(Msg::Resize {
        width: 200,
        height: 50,
    });
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..600 {
        app.handle(Msg::Key(Action::Seek(1.0)));
        app.pump();
        let t = Instant::now();
        let c = thread_cpu_s();
        term.draw(|f| ui::render(f, &app.state, app.theme()))
            .unwrap();
        cpu.push((thread_cpu_s() - c) * 1e3);
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    for (what, v) in [("wall", &mut times), ("thread CPU", &mut cpu)] {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        println!(
            "frame 200×50 (render + diff, TestBackend), {what}: mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            mean,
            percentile(&mut v.clone(), 0.5),
            percentile(&mut v.clone(), 0.99),
            percentile(v, 1.0)
        );
    }
    // Render alone into a buffer.
    let area = ratatui::layout::Rect::new(0, 0, 200, 50);
    let mut buf = ratatui::buffer::Buffer::empty(area);
    let t = Instant::now();
    for _ in 0..1000 {
        buf.reset();
        ui::render_buffer(&mut buf, area, &app.state, app.theme());
    }
    println!(
        "render only 200×50: {:.3} ms per frame",
        t.elapsed().as_secs_f64() * 1e3 / 1000.0
    );

    // The event loop replaying at 1× and 64× on a 200×50 TestBackend.
    for speed in [1.0, 64.0] {
        let opts = AppOptions {
            speed,
            ..AppOptions::default()
        };
        let start = Instant::now();
        let mut app = App::new(feeds(), &opts, 0.0, &tx).unwrap();
        // Start an hour in, so the sparkline history is full.
        app.handle(Msg::Key(Action::Seek(3600.0)));
        app.pump();
        let mut term = Terminal::new(TestBackend::new(200, 50)).unwrap();
        let mut input = Idle {
            until: Instant::now() + Duration::from_secs(secs),
        };
        let loop_start = Instant::now();
        let mut now = move || start.elapsed().as_secs_f64();
        let c0 = cpu_time_s();
        let stats = run_loop(
            &mut term,
            &mut app,
            &mut input,
            &mut now,
            LoopConfig::default(),
        )
        .unwrap();
        let cpu = cpu_time_s() - c0;
        let wall = loop_start.elapsed().as_secs_f64();
        println!(
            "event loop at {speed}× for {wall:.1} s, 200×50 TestBackend: {:.3}% of one core ({:.1} ms CPU per s), {} frames, {} loop iterations",
            cpu / wall * 100.0,
            cpu / wall * 1e3,
            stats.frames,
            stats.iterations
        );
    }

    real_binary_in_tmux(&path, secs);
}

fn proc_cpu_s(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz)
}

fn real_binary_in_tmux(path: &std::path::Path, secs: u64) {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("real binary in tmux: skipped (tmux not installed)");
        return;
    }
    let sock = format!("trainwatt-bench-{}", std::process::id());
    let tmux = |args: &[&str]| {
        let o = Command::new("tmux")
            .args(["-L", &sock, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    tmux(&["new-session", "-d", "-s", "b", "-x", "200", "-y", "50"]);
    let cmd = format!(
        "exec '{}' replay '{}' --log /dev/null",
        env!("CARGO_BIN_EXE_trainwatt"),
        path.display()
    );
    tmux(&["respawn-pane", "-k", "-t", "b", &cmd]);
    let pid = tmux(&["display-message", "-p", "-t", "b", "#{pane_pid}"]);
    // Wait until the screen is up (the index is built before it).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !tmux(&["capture-pane", "-p", "-t", "b"]).contains("q quit") {
        if Instant::now() > deadline {
            println!("real binary in tmux: the screen did not come up");
            tmux(&["kill-server"]);
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let startup = proc_cpu_s(&pid).unwrap_or(f64::NAN);
    // Skip an hour ahead (3600 s = 60 × shift+right), so history is full.
    for _ in 0..60 {
        tmux(&["send-keys", "-t", "b", "S-Right"]);
    }
    std::thread::sleep(Duration::from_secs(2));
    let c0 = proc_cpu_s(&pid).unwrap_or(f64::NAN);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs.max(5)));
    let c1 = proc_cpu_s(&pid).unwrap_or(f64::NAN);
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "real `trainwatt replay` in a 200×50 tmux pane at 1×, {wall:.1} s: {:.3}% of one core ({:.1} ms CPU per s; start-up incl. index {:.2} s CPU; /proc ticks are 10 ms, so ±{:.3}%)",
        (c1 - c0) / wall * 100.0,
        (c1 - c0) / wall * 1e3,
        startup,
        1.0 / wall
    );
    tmux(&["send-keys", "-t", "b", "q"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux(&["kill-server"]);
}
