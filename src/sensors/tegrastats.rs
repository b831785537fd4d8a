//! Jetson power through the `tegrastats` tool: a child process printing one
//! line per interval. The child is started at open (its first line tells the
//! rails), streamed by a reader thread, and killed on stop, on drop and on
//! panic (the guard's `Drop`), and by the kernel if trainwatt itself dies
//! (`PR_SET_PDEATHSIG`), so no orphan keeps running.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::tegrastats_layout::TegraLayout;
use super::tegrastats_parse::{parse_line, TegraLine};
use super::{Delivery, PowerSource, SensorError, StopHandle};
use crate::model::sample::Channel;

pub const NAME: &str = "tegrastats";
/// How long to wait for the first line at open.
pub const FIRST_LINE_TIMEOUT: Duration = Duration::from_secs(5);

/// Kills and reaps the child when dropped.
struct ChildGuard(Arc<Mutex<Option<Child>>>);

fn kill(child: &Arc<Mutex<Option<Child>>>) {
    let mut g = match child.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if let Some(mut c) = g.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        kill(&self.0);
    }
}

/// Find the tegrastats program: the given path, `tegrastats` on PATH, `/usr/bin/tegrastats`.
pub fn find_binary(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = given {
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("tegrastats"))
        .chain([PathBuf::from("/usr/bin/tegrastats")])
        .find(|p| p.is_file())
}

pub struct TegrastatsSource {
    layout: TegraLayout,
    lines: Receiver<String>,
    child: Arc<Mutex<Option<Child>>>,
    _guard: ChildGuard,
    interval: Duration,
    /// Lines that were not tegrastats data (skipped).
    pub skipped_lines: u64,
    pending: Option<String>,
}

impl TegrastatsSource {
    /// Start `tegrastats --interval N` and read its first line for the rails.
    /// The child gets `PR_SET_PDEATHSIG`, which fires when the *thread* that
    /// spawned it exits: call this from a thread that lives as long as the
    /// session (the main thread), not from a short-lived helper thread.
    pub fn open(bin: Option<&Path>, interval: Option<Duration>) -> Result<Self, SensorError> {
        let interval = interval.unwrap_or(Duration::from_millis(100));
        let bin = find_binary(bin).ok_or_else(|| {
            SensorError::unavailable(
                NAME,
                "no tegrastats program on PATH or in /usr/bin (not a Jetson)",
            )
        })?;
        let (child, stdout) = spawn(&bin, interval)?;
        let child = Arc::new(Mutex::new(Some(child)));
        // From here on an error kills the child.
        let guard = ChildGuard(child.clone());
        let rx = spawn_reader(stdout)?;
        let (first_raw, first, skipped) = first_data_line(&rx, &bin)?;
        let layout = TegraLayout::from_lines([&first], NAME);
        if layout.rails.is_empty() {
            return Err(SensorError::unavailable(
                NAME,
                "tegrastats prints no power rails for this user (JetPack 4/5 print rails only as root: run with sudo)",
            ));
        }
        Ok(TegrastatsSource {
            layout,
            lines: rx,
            child,
            _guard: guard,
            interval,
            skipped_lines: skipped,
            pending: Some(first_raw),
        })
    }

    pub fn layout(&self) -> &TegraLayout {
        &self.layout
    }
}

/// Start `bin --interval N` with its stdout piped, killed with its parent
/// thread (see [`TegrastatsSource::open`]).
fn spawn(bin: &Path, interval: Duration) -> Result<(Child, ChildStdout), SensorError> {
    let ms = interval.as_millis().max(1);
    let mut cmd = Command::new(bin);
    cmd.arg("--interval")
        .arg(ms.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    crate::sys::calls::kill_child_with_parent(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| {
        SensorError::unavailable(NAME, format!("cannot start {}: {e}", bin.display()))
    })?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| SensorError::unavailable(NAME, "no stdout from tegrastats"))?;
    Ok((child, stdout))
}

/// A thread that sends each line of `stdout` until it ends or nobody listens.
fn spawn_reader(stdout: ChildStdout) -> Result<Receiver<String>, SensorError> {
    let (tx, rx) = mpsc::sync_channel::<String>(1024);
    std::thread::Builder::new()
        .name("tegrastats-reader".into())
        .spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::with_capacity(1024);
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                            return;
                        }
                    }
                }
            }
        })
        .map_err(SensorError::Thread)?;
    Ok(rx)
}

/// The first data line (which tells the rails this board prints), as read
/// and parsed, and how many lines before it were not data; waits at most
/// [`FIRST_LINE_TIMEOUT`].
fn first_data_line(
    rx: &Receiver<String>,
    bin: &Path,
) -> Result<(String, TegraLine, u64), SensorError> {
    let deadline = std::time::Instant::now() + FIRST_LINE_TIMEOUT;
    let mut skipped = 0;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(raw) => match parse_line(&raw) {
                Ok(l) => return Ok((raw, l, skipped)),
                Err(_) => skipped += 1,
            },
            Err(RecvTimeoutError::Timeout) => {
                return Err(SensorError::unavailable(
                    NAME,
                    format!(
                        "{} printed no data line within {} s",
                        bin.display(),
                        FIRST_LINE_TIMEOUT.as_secs()
                    ),
                ))
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(SensorError::unavailable(
                    NAME,
                    format!("{} exited before printing a data line", bin.display()),
                ))
            }
        }
    }
}

impl PowerSource for TegrastatsSource {
    fn name(&self) -> &str {
        NAME
    }
    fn channels(&self) -> &[Channel] {
        &self.layout.channels
    }
    fn delivery(&self) -> Delivery {
        Delivery::Streaming
    }
    fn interval_override(&self) -> Option<Duration> {
        Some(self.interval)
    }
    fn resolution(&self) -> super::Resolution {
        super::Resolution {
            min_interval: Duration::from_millis(1),
            why: "tegrastats takes its --interval in whole milliseconds",
        }
    }
    fn start(&mut self, _interval: Duration) -> Result<Option<StopHandle>, SensorError> {
        // The first line was read at open; it is stale by now.
        self.pending = None;
        let child = self.child.clone();
        Ok(Some(Box::new(move || kill(&child))))
    }
    fn read(&mut self) -> Result<Vec<Option<f64>>, SensorError> {
        loop {
            let raw = match self.pending.take() {
                Some(r) => r,
                None => self.lines.recv().map_err(|_| SensorError::Ended {
                    source_name: NAME.into(),
                    detail: "tegrastats stopped printing (the child exited)".into(),
                })?,
            };
            match parse_line(&raw) {
                Ok(l) => return Ok(self.layout.values(&l)),
                Err(_) => self.skipped_lines += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fake tegrastats (test only): a shell script printing a garbage line
    /// then Nano lines forever, and writing its pid.
    fn fake_tegrastats(dir: &Path) -> PathBuf {
        let p = dir.join("tegrastats");
        let pidfile = dir.join("pid");
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\necho $$ > {}\necho 'garbage'\nwhile true; do echo 'RAM 936/3964MB CPU [10%@102,3%@102] GR3D_FREQ 42%@76 CPU@27.5C POM_5V_IN 2793/1750 POM_5V_GPU 76/25 POM_5V_CPU 1222/604'; sleep 0.01; done\n",
                pidfile.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn alive(pid: i32) -> bool {
        // Reaped children are gone; a zombie would still answer kill(0).
        crate::sys::calls::process_exists(pid)
    }

    #[test]
    fn streams_lines_and_kills_the_child_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_tegrastats(dir.path());
        let mut s = TegrastatsSource::open(Some(&bin), Some(Duration::from_millis(10))).unwrap();
        assert_eq!(s.skipped_lines, 1);
        assert_eq!(s.layout().rails, ["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"]);
        s.start(Duration::from_millis(10)).unwrap();
        let v = s.read().unwrap();
        assert_eq!(v[0], Some(2.793));
        let pid: i32 = std::fs::read_to_string(dir.path().join("pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(alive(pid));
        drop(s);
        assert!(!alive(pid), "tegrastats child {pid} survived the source");
    }

    #[test]
    fn stop_handle_unblocks_read() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_tegrastats(dir.path());
        let mut s = TegrastatsSource::open(Some(&bin), None).unwrap();
        let stop = s.start(Duration::from_millis(10)).unwrap().unwrap();
        stop();
        // Lines already buffered drain, then the stream ends.
        let mut n = 0;
        while s.read().is_ok() {
            n += 1;
            assert!(n < 2000);
        }
    }

    #[test]
    fn missing_binary_is_unavailable() {
        let e = TegrastatsSource::open(Some(Path::new("/nonexistent/tegrastats")), None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("not a Jetson"), "{e}");
    }
}
