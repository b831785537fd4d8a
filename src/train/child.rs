//! One supervisor for every training child: the user's own command
//! (`-- python train.py`) and the built-in trainers (`trainwatt-train`, the
//! Python trainer) alike. It runs the argument vector (no shell) under the
//! watchdog of [`crate::sys`] (own process group; the whole tree ends when the
//! run does, or when trainwatt dies, even from SIGKILL), copies its output to a
//! log file, turns protocol lines on its stdout into training events (see
//! [`super::protocol`]), and makes its exit status the run's status.
//!
//! Cancelling sends SIGTERM to the group, then SIGKILL after [`TERM_GRACE`].
//! Out of memory is one of: a `done` line with status `out_of_memory`, exit
//! status 3, or an out-of-memory message on stderr.
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, LineWriter, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::protocol::{parse_line, DoneMsg, ProtocolMsg, ProtocolState};
use crate::model::event::{Event, RunStatus, TrainConfig, TrainEvent};
use crate::sys::{spawn_watched, Watched};

/// How long a cancelled command has between SIGTERM and SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(5);
/// How often the supervising thread looks at the cancel flag while it waits.
const POLL: Duration = Duration::from_millis(50);
/// The exit status that means "out of memory" (`trainwatt train`, `record` and
/// the built-in trainers use it; a wrapped command may too).
pub const EXIT_OUT_OF_MEMORY: i32 = 3;

type SharedLog = Option<Arc<Mutex<LineWriter<File>>>>;

/// Where the child's stderr goes besides the out-of-memory check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildOutput {
    /// Both stdout and stderr into this file (created or truncated).
    Log(PathBuf),
    /// Stderr to our stderr (headless `trainwatt train`); stdout's protocol
    /// lines are read, other stdout lines dropped.
    Stderr,
    /// Nowhere: the terminal belongs to the TUI.
    Discard,
}

/// One training child.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    pub argv: Vec<OsString>,
    /// The run's configuration before the child says anything (sent as the
    /// first RunStart); the child's `start` line merges into it.
    pub config: TrainConfig,
    /// Names the child in messages: the command line, or the trainer.
    pub label: String,
    pub output: ChildOutput,
    /// Environment variables set for the child (on top of ours).
    pub env: Vec<(OsString, OsString)>,
}

impl ChildSpec {
    /// The user's own training command.
    pub fn command(argv: Vec<OsString>, log: Option<PathBuf>) -> ChildSpec {
        let cmdline = display_command(&argv);
        ChildSpec {
            config: TrainConfig {
                model: cmdline.clone(),
                dataset: "external".into(),
                ..Default::default()
            },
            label: format!("`{cmdline}`"),
            argv,
            output: log.map_or(ChildOutput::Discard, ChildOutput::Log),
            env: Vec::new(),
        }
    }
}

/// Start the user's own command `argv` (see [`spawn_child`]); output to `log`
/// when given, discarded otherwise.
pub fn spawn_external(
    argv: Vec<OsString>,
    log: Option<PathBuf>,
    origin: Instant,
    tx: Sender<Event>,
    cancel: Arc<AtomicBool>,
) -> io::Result<JoinHandle<RunStatus>> {
    spawn_child(ChildSpec::command(argv, log), origin, tx, cancel)
}

/// Start the child and a thread that supervises it. Events are stamped with
/// seconds since `origin`. Setting `cancel` stops the child. The thread sends
/// RunStart (the spec's config), the child's events, and RunEnd, and returns
/// the run's status.
///
/// Errors: an empty `argv`, a log file that cannot be created, or a command
/// that cannot be started (then no event is sent).
pub fn spawn_child(
    spec: ChildSpec,
    origin: Instant,
    tx: Sender<Event>,
    cancel: Arc<AtomicBool>,
) -> io::Result<JoinHandle<RunStatus>> {
    if spec.argv.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no training command given: put it after `--`, e.g. `trainwatt watch -- python train.py`",
        ));
    }
    let log: SharedLog = match &spec.output {
        ChildOutput::Log(p) => {
            let f = File::create(p).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot create the log file {}: {e}", p.display()),
                )
            })?;
            Some(Arc::new(Mutex::new(LineWriter::new(f))))
        }
        _ => None,
    };
    let mut env = spec.env.clone();
    // Python block-buffers a piped stdout: progress lines would arrive in 8 KiB
    // bursts. Ask for line buffering unless the user chose otherwise.
    if std::env::var_os("PYTHONUNBUFFERED").is_none() {
        env.push(("PYTHONUNBUFFERED".into(), "1".into()));
    }
    let child = spawn_watched(&spec.argv, &env).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot start `{}`: {e}", spec.argv[0].to_string_lossy()),
        )
    })?;
    thread::Builder::new()
        .name("training-child".into())
        .spawn(move || supervise(spec, child, log, origin, tx, cancel))
}

/// The command line as a user would type it (for labels and messages).
pub fn display_command(argv: &[OsString]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

fn quote(a: &OsStr) -> String {
    let s = a.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn supervise(
    spec: ChildSpec,
    mut child: Watched,
    log: SharedLog,
    origin: Instant,
    tx: Sender<Event>,
    cancel: Arc<AtomicBool>,
) -> RunStatus {
    let t = |now: Instant| now.saturating_duration_since(origin).as_secs_f64();
    let _ = tx.send(Event::Train(TrainEvent::RunStart {
        t_s: t(Instant::now()),
        config: spec.config.clone(),
    }));
    let echo = spec.output == ChildOutput::Stderr;
    let out_reader = child.stdout.take().map(|stdout| {
        let (tx, log, base) = (tx.clone(), log.clone(), spec.config.clone());
        thread::Builder::new()
            .name("child-stdout".into())
            .spawn(move || read_stdout(stdout, log, base, origin, tx))
    });
    let err_reader = child.stderr.take().map(|stderr| {
        let log = log.clone();
        thread::Builder::new()
            .name("child-stderr".into())
            .spawn(move || read_stderr(stderr, log, echo))
    });
    let (exit, cancelled) = wait_or_cancel(&mut child, &cancel);
    drop(child);
    let done = out_reader
        .and_then(Result::ok)
        .and_then(|h| h.join().ok())
        .flatten();
    let saw_oom = err_reader
        .and_then(Result::ok)
        .and_then(|h| h.join().ok())
        .unwrap_or(false);
    if let Some(l) = &log {
        if let Ok(mut w) = l.lock() {
            let _ = w.flush();
        }
    }
    let (status, message) = decide_status(&spec.label, exit, cancelled, done.as_ref(), saw_oom);
    let _ = tx.send(Event::Train(TrainEvent::RunEnd {
        t_s: t(Instant::now()),
        status: status.clone(),
        message,
    }));
    status
}

/// Wait for the child, stopping it when `cancel` is set. Returns its exit status
/// (None if waiting failed) and whether it was cancelled.
fn wait_or_cancel(child: &mut Watched, cancel: &AtomicBool) -> (Option<ExitStatus>, bool) {
    let mut term_sent: Option<Instant> = None;
    let mut killed = false;
    loop {
        match child.wait_timeout(Some(POLL)) {
            Ok(Some(st)) => return (Some(st), term_sent.is_some()),
            Ok(None) => {}
            Err(_) => return (None, term_sent.is_some()),
        }
        if term_sent.is_none() && cancel.load(Ordering::Relaxed) {
            let _ = child.signal(false);
            term_sent = Some(Instant::now());
        }
        if let Some(at) = term_sent {
            if !killed && at.elapsed() >= TERM_GRACE {
                let _ = child.signal(true);
                killed = true;
            }
        }
    }
}

fn write_log(log: &SharedLog, line: &[u8]) {
    if let Some(l) = log {
        if let Ok(mut w) = l.lock() {
            let _ = w.write_all(line);
            if !line.ends_with(b"\n") {
                let _ = w.write_all(b"\n");
            }
        }
    }
}

/// Copy stdout to the log and turn protocol lines into events. Returns the
/// `done` message if one came.
fn read_stdout(
    out: impl Read,
    log: SharedLog,
    base: TrainConfig,
    origin: Instant,
    tx: Sender<Event>,
) -> Option<DoneMsg> {
    let mut r = BufReader::new(out);
    let mut buf = Vec::with_capacity(256);
    let mut state = ProtocolState::new(None);
    let mut done = None;
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return done,
            Ok(_) => {}
        }
        write_log(&log, &buf);
        let line = String::from_utf8_lossy(&buf);
        let Some(msg) = parse_line(&line) else {
            continue;
        };
        let t_s = Instant::now()
            .saturating_duration_since(origin)
            .as_secs_f64();
        match &msg {
            ProtocolMsg::Start(s) => {
                state.to_event(&msg, t_s);
                let _ = tx.send(Event::Train(TrainEvent::RunStart {
                    t_s,
                    config: s.merge_into(base.clone()),
                }));
            }
            ProtocolMsg::Done(d) => done = Some(d.clone()),
            _ => {
                if let Some(ev) = state.to_event(&msg, t_s) {
                    let _ = tx.send(Event::Train(ev));
                }
            }
        }
    }
}

/// Copy stderr to the log (and to our stderr with `echo`); true if it
/// mentioned running out of memory (how PyTorch reports `CUDA out of memory`
/// and CPU allocation failures).
fn read_stderr(err: impl Read, log: SharedLog, echo: bool) -> bool {
    let mut r = BufReader::new(err);
    let mut buf = Vec::with_capacity(256);
    let mut saw_oom = false;
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return saw_oom,
            Ok(_) => {}
        }
        write_log(&log, &buf);
        if echo {
            let _ = io::stderr().write_all(&buf);
        }
        if !saw_oom {
            saw_oom = is_oom_message(&String::from_utf8_lossy(&buf));
        }
    }
}

/// Whether an error message is an out-of-memory failure (libtorch's CPU
/// allocator, CUDA, or Python's MemoryError).
pub fn is_oom_message(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.contains("out of memory")
        || l.contains("can't allocate memory")
        || l.contains("outofmemoryerror")
        || l.contains("memoryerror")
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// The run's status and message from how the child ended. `label` names the
/// child (a quoted command line, or the trainer).
fn decide_status(
    label: &str,
    exit: Option<ExitStatus>,
    cancelled: bool,
    done: Option<&DoneMsg>,
    saw_oom: bool,
) -> (RunStatus, Option<String>) {
    let claimed = done.and_then(DoneMsg::claimed_status);
    let done_msg = done.and_then(|d| d.message.clone());
    if cancelled {
        let msg = done_msg
            .filter(|_| claimed == Some(RunStatus::Cancelled))
            .unwrap_or_else(|| format!("{label} was stopped"));
        return (RunStatus::Cancelled, Some(format!("cancelled: {msg}")));
    }
    let Some(exit) = exit else {
        return (
            RunStatus::Error,
            Some(format!("lost track of {label}: waiting for it failed")),
        );
    };
    if let Some(code) = exit.code() {
        if code == 0 {
            return match claimed {
                Some(RunStatus::Completed) | Some(RunStatus::Cancelled) | None => {
                    (RunStatus::Completed, done_msg)
                }
                Some(s) => (
                    s,
                    Some(done_msg.unwrap_or_else(|| format!("{label} reported it"))),
                ),
            };
        }
        if saw_oom || code == EXIT_OUT_OF_MEMORY || claimed == Some(RunStatus::OutOfMemory) {
            return (
                RunStatus::OutOfMemory,
                Some(done_msg.unwrap_or_else(|| {
                    format!("{label} ran out of memory (exited with status {code})")
                })),
            );
        }
        if claimed == Some(RunStatus::Cancelled) {
            return (RunStatus::Cancelled, done_msg);
        }
        let detail = done_msg.map(|m| format!(": {m}")).unwrap_or_default();
        return (
            RunStatus::Error,
            Some(format!("{label} exited with status {code}{detail}")),
        );
    }
    let sig = exit.signal().unwrap_or(0);
    let hint = if sig == libc::SIGKILL {
        " (the kernel's out-of-memory killer sends this too)"
    } else {
        ""
    };
    (
        RunStatus::Error,
        Some(format!(
            "{label} was killed by signal {sig} ({}){hint}",
            signal_name(sig)
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_quoted_like_a_shell() {
        let argv: Vec<OsString> = ["python3", "train.py", "--name", "my run", "it's"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            display_command(&argv),
            r"python3 train.py --name 'my run' 'it'\''s'"
        );
    }

    #[test]
    fn exit_statuses_become_run_statuses() {
        let ok = ExitStatus::from_raw(0);
        let three = ExitStatus::from_raw(3 << 8);
        let two = ExitStatus::from_raw(2 << 8);
        let killed = ExitStatus::from_raw(libc::SIGKILL);
        assert_eq!(
            decide_status("c", Some(ok), false, None, false).0,
            RunStatus::Completed
        );
        let (s, m) = decide_status("`c`", Some(two), false, None, false);
        assert_eq!(s, RunStatus::Error);
        assert_eq!(m.unwrap(), "`c` exited with status 2");
        assert_eq!(
            decide_status("c", Some(two), false, None, true).0,
            RunStatus::OutOfMemory
        );
        let (s, m) = decide_status("`c`", Some(three), false, None, false);
        assert_eq!(s, RunStatus::OutOfMemory);
        assert_eq!(m.unwrap(), "`c` ran out of memory (exited with status 3)");
        let (s, m) = decide_status("c", Some(killed), false, None, false);
        assert_eq!(s, RunStatus::Error);
        assert!(m.unwrap().contains("signal 9 (SIGKILL)"));
        assert_eq!(
            decide_status("c", Some(killed), true, None, false).0,
            RunStatus::Cancelled
        );
        let oom = DoneMsg {
            status: Some("out_of_memory".into()),
            message: Some("batch 64".into()),
        };
        assert_eq!(
            decide_status("c", Some(ok), false, Some(&oom), false),
            (RunStatus::OutOfMemory, Some("batch 64".into()))
        );
        assert_eq!(
            decide_status("c", Some(three), false, Some(&oom), false),
            (RunStatus::OutOfMemory, Some("batch 64".into()))
        );
    }

    #[test]
    fn oom_messages_are_recognised() {
        assert!(is_oom_message(
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
        ));
        assert!(is_oom_message(
            "RuntimeError: [enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
        ));
        assert!(!is_oom_message("loss 0.3"));
    }
}
