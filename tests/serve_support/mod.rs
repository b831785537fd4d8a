//! Helpers of the serve tests: a `trainwatt record --listen` child, a raw
//! HTTP/1.0 GET, polling with deadlines, skipping when a tool is missing.
#![allow(dead_code)]
#[path = "../support/isolated.rs"]
pub mod isolated;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use trainwatt::model::fold::SessionFold;
use trainwatt::record::{ReadOptions, SessionReader};

/// Skip (printing why) unless TRAINWATT_REQUIRE_ALL=1, where it fails.
pub fn skip_or_fail(why: &str) {
    if std::env::var("TRAINWATT_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("required by TRAINWATT_REQUIRE_ALL=1: {why}");
    }
    eprintln!("SKIPPED: {why}");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Poll `f` every 100 ms until it gives Some, or panic with `what` at the deadline.
pub fn wait_for<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// One request on its own connection (HTTP/1.0, so the body ends at the close).
pub fn request(port: u16, raw: &str) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(raw.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(Response {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

pub fn get(port: u16, path: &str, extra_headers: &str) -> std::io::Result<Response> {
    request(
        port,
        &format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{extra_headers}\r\n"),
    )
}

/// A `trainwatt record --no-train --source estimate --listen` child.
pub struct Recorder {
    pub child: Child,
    pub port: u16,
    pub file: PathBuf,
}

impl Recorder {
    pub fn start(dir: &Path, name: &str, port: u16, extra: &[&str]) -> Recorder {
        let file = dir.join(format!("{name}.jsonl"));
        let child = isolated::trainwatt()
            .args(["record", "--no-train", "--source", "estimate", "-q"])
            .args(["--interval-ms", "100", "--label", name])
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-o")
            .arg(&file)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start trainwatt record");
        let r = Recorder { child, port, file };
        r.wait_healthy(&[]);
        r
    }

    pub fn wait_healthy(&self, headers: &[&str]) {
        let h = headers.concat();
        wait_for(
            "the recorder's /healthz",
            Duration::from_secs(20),
            || match get(self.port, "/healthz", &h) {
                Ok(r) if r.status == 200 || r.status == 401 => Some(()),
                _ => None,
            },
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM (the recorder closes its file) and wait.
    pub fn stop(mut self) -> PathBuf {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
        self.file.clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The session's total energy folded up to (and including) `t_s`; the file
/// keeps times to 0.1 ms, the live fold has them unrounded.
pub fn file_joules_at(path: &Path, t_s: f64) -> Option<f64> {
    let mut r = SessionReader::open(path, ReadOptions::default()).unwrap();
    let mut f = SessionFold::new(r.header());
    while let Some(ev) = r.next_event().unwrap() {
        if ev.t_s() > t_s + 1e-4 {
            break;
        }
        f.apply(&ev);
    }
    f.joules()
}

/// CPU seconds (user + system) of a process.
pub fn proc_cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    trainwatt::serve::metrics::proc_cpu_s(&stat, 100.0).unwrap()
}
