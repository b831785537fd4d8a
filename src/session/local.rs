//! A training session on this machine: power sources sampled on their own
//! threads, the training child (a built-in trainer, or the user's own command)
//! under one supervisor, an optional idle calibration first, everything
//! recorded by the session's recorder (`live`). `watch`, `record` and `sweep` all start their
//! runs here.
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::live::{FoldObserver, LiveSession, Output, Recording};
use super::signal::RunSignals;
pub use crate::duration::parse_duration;
use crate::model::event::{Event, Marker, MarkerKind, RunStatus, SessionEnd, TrainEvent};
use crate::record::Header;
use crate::sensors::{self, Sampler, SourceArgs};
use crate::train::{self, ChildOutput, ChildSpec, TrainArgs, TrainerArgs};

/// Everything that describes a run on this machine (shared by watch, record, sweep).
#[derive(Debug, Clone, PartialEq, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct RunArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    #[command(flatten)]
    pub trainer: TrainerArgs,
    /// Record power only, no training (an idle baseline, or while something else runs)
    #[arg(long)]
    pub no_train: bool,
    /// Stop after this long (e.g. 90s, 5m, 1h); the default runs until training ends, or until stopped with --no-train
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Option<Duration>,
    /// Measure the idle power floor for this long before training starts (e.g. 30s); summaries then split static and dynamic energy
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub idle_calibration: Option<Duration>,
    /// A label for this device in comparisons and reports (default: the device model, else the host name)
    #[arg(long)]
    pub label: Option<String>,
    /// Where a wrapped command's output goes [default: next to the session file, .log]
    #[arg(long, value_name = "FILE")]
    pub child_log: Option<PathBuf>,
    /// Your own training command, after `--` (argument vector, no shell). It may print progress lines (see the README's protocol)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// A running local session.
pub struct LocalRun {
    /// Every event folded as it was recorded (the recorder's fold).
    pub fold: super::live::SharedFold,
    signals: RunSignals,
    pub header: Header,
    pub output: Output,
    /// Which built-in trainer runs and why (None for a wrapped command or
    /// --no-train), for the user.
    pub trainer_note: Option<String>,
    supervisor: JoinHandle<anyhow::Result<RunResult>>,
}

/// How a local session ended.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// None with --no-train.
    pub status: Option<RunStatus>,
    pub end: SessionEnd,
}

impl LocalRun {
    /// Open the power sources, write the header, start sampling, and start the
    /// trainer (after the idle calibration, if any). With `forward_to_ui`, the
    /// returned receiver sees every event after it has been recorded.
    pub fn start(
        args: &RunArgs,
        train: &TrainArgs,
        output: Output,
        forward_to_ui: bool,
    ) -> anyhow::Result<(LocalRun, Option<Receiver<Event>>)> {
        Self::start_observed(args, train, output, forward_to_ui, None)
    }

    /// [`LocalRun::start`] with an observer of the recorder's fold (the HTTP server).
    pub fn start_observed(
        args: &RunArgs,
        train: &TrainArgs,
        output: Output,
        forward_to_ui: bool,
        observer: Option<FoldObserver>,
    ) -> anyhow::Result<(LocalRun, Option<Receiver<Event>>)> {
        let log = args.child_log.clone().or_else(|| match &output {
            Output::File(p) => Some(p.with_extension("log")),
            _ => None,
        });
        let mut trainer_note = None;
        let trainer = if !args.command.is_empty() {
            Some(ChildSpec::command(args.command.clone(), log))
        } else if args.no_train {
            None
        } else {
            let resolved = train::trainer::resolve(&args.trainer).map_err(anyhow::Error::msg)?;
            trainer_note = Some(resolved.note.clone());
            let output = log.map_or(ChildOutput::Discard, ChildOutput::Log);
            Some(resolved.child(train, output))
        };
        let sources = sensors::open_sources(&args.sources)?;
        let interval =
            sensors::interval_from_ms(args.sources.interval_ms).map_err(anyhow::Error::msg)?;
        let origin = Instant::now();
        let (tx, rx) = mpsc::channel::<Event>();
        let sampler = Sampler::prepare(sources, interval)?;
        let interval_ms = sampler
            .max_interval_ms()
            .unwrap_or(args.sources.interval_ms);
        let mut header = Header::new(sampler.channels().to_vec(), interval_ms);
        let host = sensors::device::host_facts(
            &args.sources.proc_root,
            &args.sources.sysfs_root,
            std::path::Path::new("/"),
            None,
        );
        header.device = sensors::device::merge(host.device, sampler.device());
        header.notes.extend(host.notes);
        header.label = args.label.clone();
        header.train = trainer.as_ref().map(|c| c.config.clone());
        let signals = RunSignals::new();
        let (session, ui_rx) = LiveSession::start(
            header.clone(),
            origin,
            (tx, rx),
            output.clone(),
            recording(&sampler, forward_to_ui),
            Some(signals.clone()),
            observer,
        )
        .with_context(|| format!("cannot start recording to {}", describe(&output)))?;
        let sampler = sampler.start(origin, session.sample_sink())?;
        let fold = session.fold.clone();
        let sig = signals.clone();
        let idle = args.idle_calibration;
        let duration = args.duration;
        let supervisor = std::thread::Builder::new()
            .name("session-supervisor".into())
            .spawn(move || {
                let r = supervise(session, sampler, trainer, idle, duration, &sig);
                sig.finished();
                r
            })?;
        Ok((
            LocalRun {
                fold,
                signals,
                header,
                output,
                trainer_note,
                supervisor,
            },
            ui_rx,
        ))
    }

    /// Ask the run to stop: the trainer stops at its next step, the file is finalised.
    pub fn cancel(&self) {
        self.signals.cancel();
    }

    /// What the run's threads wait on (cancel, finished).
    pub fn signals(&self) -> RunSignals {
        self.signals.clone()
    }

    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.signals.cancel_flag()
    }

    pub fn is_finished(&self) -> bool {
        self.supervisor.is_finished()
    }

    /// Wait until the run has ended and the file is closed.
    pub fn wait(self) -> anyhow::Result<RunResult> {
        self.supervisor
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the session supervisor panicked")))
    }
}

/// Headless, with every source read on a timer: the sources' threads record
/// their own readings (one thread wakes per tick, nothing else). With a UI,
/// or a source that blocks in its read (tegrastats), the tee thread does.
fn recording(sampler: &Sampler, forward_to_ui: bool) -> Recording {
    match sampler.max_interval() {
        Some(visit_every) if !forward_to_ui && sampler.all_polled() => {
            Recording::Inline { visit_every }
        }
        _ => Recording::Tee { forward_to_ui },
    }
}

fn describe(o: &Output) -> String {
    match o {
        Output::File(p) => p.display().to_string(),
        Output::Stdout => "standard output".into(),
        Output::Discard => "nowhere".into(),
    }
}

/// Sleep until `end` (for ever when None) or a cancel, without polling.
/// Returns false when cancelled.
fn wait_or_cancel(end: Option<Instant>, signals: &RunSignals) -> bool {
    !signals.wait(end, |s| s.cancelled).cancelled
}

fn supervise(
    session: LiveSession,
    sampler: sensors::SamplerHandle,
    trainer: Option<ChildSpec>,
    idle: Option<Duration>,
    duration: Option<Duration>,
    signals: &RunSignals,
) -> anyhow::Result<RunResult> {
    let tx: Sender<Event> = session.sender();
    let marker = |kind: MarkerKind, text: &str| {
        Event::Marker(Marker {
            t_s: session.t_s(),
            kind,
            text: text.to_string(),
            value: None,
        })
    };
    // --duration bounds the whole session, idle calibration included.
    let deadline = duration.map(|d| Instant::now() + d);
    let mut go_on = true;
    if let Some(d) = idle {
        let _ = tx.send(marker(
            MarkerKind::IdleStart,
            &format!("idle calibration for {:.0} s", d.as_secs_f64()),
        ));
        let idle_end = Instant::now() + d;
        go_on = wait_or_cancel(
            Some(deadline.map_or(idle_end, |e| e.min(idle_end))),
            signals,
        );
        // The recorder fills in the floor (mean total power over the window).
        let _ = tx.send(marker(MarkerKind::IdleEnd, "idle floor"));
        go_on &= deadline.is_none_or(|end| Instant::now() < end);
    }
    let status = if !go_on {
        None
    } else {
        let handle = trainer.map(|spec| {
            train::spawn_child(spec, session.origin, tx.clone(), signals.cancel_flag())
        });
        match handle {
            Some(Ok(h)) => {
                // A thread that only waits for the child's end and says so,
                // so this one sleeps until the end, a cancel or the deadline.
                let sig = signals.clone();
                let waiter = std::thread::Builder::new()
                    .name("trainer-wait".into())
                    .spawn(move || {
                        let st = h.join().unwrap_or(RunStatus::Error);
                        sig.child_done();
                        st
                    })?;
                let st = signals.wait(deadline, |s| s.child_done);
                if !st.child_done {
                    signals.cancel();
                }
                Some(waiter.join().unwrap_or(RunStatus::Error))
            }
            Some(Err(e)) => {
                // The run's outcome belongs in the file, not only in the exit code.
                let _ = tx.send(Event::Train(TrainEvent::RunEnd {
                    t_s: session.t_s(),
                    status: RunStatus::Error,
                    message: Some(format!("could not start training: {e}")),
                }));
                Some(RunStatus::Error)
            }
            None => {
                // Power alone: until --duration, or until stopped.
                wait_or_cancel(deadline, signals);
                None
            }
        }
    };
    drop(tx);
    let stats = sampler.stop();
    let end = session.finish(stats)?;
    Ok(RunResult { status, end })
}

/// A new session path under the user's data directory:
/// `~/.local/share/trainwatt/sessions/YYYYMMDD-HHMMSS-HOST.jsonl`.
pub fn default_session_path() -> PathBuf {
    let base = directories::ProjectDirs::from("", "", "trainwatt")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."));
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    let stamp = time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_else(|_| "session".into());
    base.join("sessions").join(format!(
        "{stamp}-{}.jsonl",
        crate::record::format::hostname()
    ))
}
