//! Wrapping the user's own training command: run it as a child (argument vector,
//! no shell), copy its stdout and stderr to a log file, turn protocol lines on
//! its stdout into training events (see [`super::protocol`]), and make its exit
//! status the run's status.
//!
//! The child gets its own process group, so the terminal's Ctrl-C reaches only
//! trainwatt, which cancels the run: SIGTERM to the group, then SIGKILL after
//! [`TERM_GRACE`]. On Linux the child also gets SIGKILL when trainwatt dies
//! (`PR_SET_PDEATHSIG`), even from `kill -9`.
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, LineWriter, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::protocol::{parse_line, DoneMsg, ProtocolMsg, ProtocolState};
use crate::model::event::{Event, RunStatus, TrainConfig, TrainEvent};

/// How long a cancelled command has between SIGTERM and SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(5);
/// How often the supervising thread looks at the child and the cancel flag.
const POLL: Duration = Duration::from_millis(20);

type SharedLog = Option<Arc<Mutex<LineWriter<File>>>>;

/// Start `argv` and a thread that supervises it. Output goes to `log` (created
/// or truncated) when given and is discarded otherwise: the terminal belongs to
/// the TUI. Events are stamped with seconds since `origin`. Setting `cancel`
/// stops the command. The thread returns the run's status after sending RunEnd.
///
/// Errors: an empty `argv`, a log file that cannot be created, or a command
/// that cannot be started (then no event is sent).
pub fn spawn_external(
    argv: Vec<OsString>,
    log: Option<PathBuf>,
    origin: Instant,
    tx: Sender<Event>,
    cancel: Arc<AtomicBool>,
) -> io::Result<JoinHandle<RunStatus>> {
    if argv.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no training command given: put it after `--`, e.g. `trainwatt watch -- python train.py`",
        ));
    }
    let log: SharedLog = match log {
        Some(p) => {
            let f = File::create(&p).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot create the log file {}: {e}", p.display()),
                )
            })?;
            Some(Arc::new(Mutex::new(LineWriter::new(f))))
        }
        None => None,
    };
    // The child is started from the supervising thread: PR_SET_PDEATHSIG fires
    // when the thread that forked it ends, so that thread must live as long as
    // the child. It reports whether the start worked before anything else.
    let (ready_tx, ready_rx) = mpsc::sync_channel::<io::Result<()>>(1);
    let handle = thread::Builder::new()
        .name("external-trainer".into())
        .spawn(move || supervise(argv, log, origin, tx, cancel, ready_tx))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.join();
            Err(io::Error::other(
                "the external-trainer thread ended before starting the command",
            ))
        }
    }
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

fn build_command(argv: &[OsString]) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // Python block-buffers a piped stdout: progress lines would arrive in 8 KiB
    // bursts. Ask for line buffering unless the user chose otherwise.
    if std::env::var_os("PYTHONUNBUFFERED").is_none() {
        cmd.env("PYTHONUNBUFFERED", "1");
    }
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between
        // fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // trainwatt died between fork and prctl: nobody would kill us later.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    cmd
}

fn supervise(
    argv: Vec<OsString>,
    log: SharedLog,
    origin: Instant,
    tx: Sender<Event>,
    cancel: Arc<AtomicBool>,
    ready: mpsc::SyncSender<io::Result<()>>,
) -> RunStatus {
    let cmdline = display_command(&argv);
    let mut child = match build_command(&argv).spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(io::Error::new(
                e.kind(),
                format!("cannot start `{}`: {e}", argv[0].to_string_lossy()),
            )));
            return RunStatus::Error;
        }
    };
    let _ = ready.send(Ok(()));
    let t = |now: Instant| now.saturating_duration_since(origin).as_secs_f64();
    let base = TrainConfig {
        model: cmdline.clone(),
        dataset: "external".into(),
        ..Default::default()
    };
    let _ = tx.send(Event::Train(TrainEvent::RunStart {
        t_s: t(Instant::now()),
        config: base.clone(),
    }));

    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let out_reader = {
        let (tx, log) = (tx.clone(), log.clone());
        thread::Builder::new()
            .name("external-stdout".into())
            .spawn(move || read_stdout(stdout, log, base, origin, tx))
    };
    let err_reader = {
        let log = log.clone();
        thread::Builder::new()
            .name("external-stderr".into())
            .spawn(move || read_stderr(stderr, log))
    };

    let (exit, cancelled) = wait_or_cancel(&mut child, &cancel);
    // Whatever is left of the group (workers the command started) would keep
    // the pipes open and outlive the run.
    kill_group(child.id(), libc::SIGKILL);
    let done = out_reader.ok().and_then(|h| h.join().ok()).flatten();
    let saw_oom = err_reader.ok().and_then(|h| h.join().ok()).unwrap_or(false);
    if let Some(l) = &log {
        if let Ok(mut w) = l.lock() {
            let _ = w.flush();
        }
    }
    let (status, message) = decide_status(&cmdline, exit, cancelled, done.as_ref(), saw_oom);
    let _ = tx.send(Event::Train(TrainEvent::RunEnd {
        t_s: t(Instant::now()),
        status: status.clone(),
        message,
    }));
    status
}

/// Wait for the child, stopping it when `cancel` is set. Returns its exit status
/// (None if waiting failed) and whether it was cancelled.
fn wait_or_cancel(child: &mut Child, cancel: &AtomicBool) -> (Option<ExitStatus>, bool) {
    let mut term_sent: Option<Instant> = None;
    let mut killed = false;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return (Some(st), term_sent.is_some()),
            Ok(None) => {}
            Err(_) => {
                kill_group(child.id(), libc::SIGKILL);
                return (child.wait().ok(), term_sent.is_some());
            }
        }
        if term_sent.is_none() && cancel.load(Ordering::Relaxed) {
            kill_group(child.id(), libc::SIGTERM);
            term_sent = Some(Instant::now());
        }
        if let Some(at) = term_sent {
            if !killed && at.elapsed() >= TERM_GRACE {
                kill_group(child.id(), libc::SIGKILL);
                killed = true;
            }
        }
        thread::sleep(POLL);
    }
}

fn kill_group(pid: u32, signal: libc::c_int) {
    // SAFETY: plain syscall; the child leads its own group (process_group(0)).
    unsafe {
        libc::kill(-(pid as libc::pid_t), signal);
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

/// Copy stderr to the log; true if it mentioned running out of memory (how
/// PyTorch reports `CUDA out of memory` and CPU allocation failures).
fn read_stderr(err: impl Read, log: SharedLog) -> bool {
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

fn decide_status(
    cmdline: &str,
    exit: Option<ExitStatus>,
    cancelled: bool,
    done: Option<&DoneMsg>,
    saw_oom: bool,
) -> (RunStatus, Option<String>) {
    let claimed = done.and_then(DoneMsg::claimed_status);
    let done_msg = done.and_then(|d| d.message.clone());
    if cancelled {
        return (
            RunStatus::Cancelled,
            Some(format!("cancelled: `{cmdline}` was stopped")),
        );
    }
    let Some(exit) = exit else {
        return (
            RunStatus::Error,
            Some(format!("lost track of `{cmdline}`: waiting for it failed")),
        );
    };
    if let Some(code) = exit.code() {
        if code == 0 {
            return match claimed {
                Some(RunStatus::Completed) | Some(RunStatus::Cancelled) | None => {
                    (RunStatus::Completed, None)
                }
                Some(s) => (
                    s,
                    Some(done_msg.unwrap_or_else(|| format!("`{cmdline}` reported it"))),
                ),
            };
        }
        if saw_oom || claimed == Some(RunStatus::OutOfMemory) {
            return (
                RunStatus::OutOfMemory,
                Some(format!(
                    "`{cmdline}` ran out of memory (exited with status {code})"
                )),
            );
        }
        let detail = done_msg.map(|m| format!(": {m}")).unwrap_or_default();
        return (
            RunStatus::Error,
            Some(format!("`{cmdline}` exited with status {code}{detail}")),
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
            "`{cmdline}` was killed by signal {sig} ({}){hint}",
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
        let killed = ExitStatus::from_raw(libc::SIGKILL);
        assert_eq!(
            decide_status("c", Some(ok), false, None, false).0,
            RunStatus::Completed
        );
        let (s, m) = decide_status("c", Some(three), false, None, false);
        assert_eq!(s, RunStatus::Error);
        assert_eq!(m.unwrap(), "`c` exited with status 3");
        assert_eq!(
            decide_status("c", Some(three), false, None, true).0,
            RunStatus::OutOfMemory
        );
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
