//! `trainwatt record`: the headless twin of `watch`, for servers and CI. Same
//! options; a one-line progress display on stderr; the session file as output.
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::model::event::RunStatus;
use crate::model::fold::{SessionFold, SessionStatus};
use crate::model::sample::total_is_estimate;
use crate::session::live::Output;
use crate::session::local::{default_session_path, LocalRun, RunArgs};
use crate::train::{ShapeArgs, TrainArgs};
use crate::ui::format;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  trainwatt record -o bs32.jsonl --batch-size 32 --epochs 3
  trainwatt record --no-train --duration 60s -o idle.jsonl        # an idle baseline
  trainwatt record -o mine.jsonl -- python train.py --epochs 10   # your own training command
  ssh gpu-server trainwatt record --stdout | trainwatt watch --compare -")]
pub struct RecordArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub shape: ShapeArgs,
    #[command(flatten)]
    pub train: TrainArgs,
    /// Session file to write (.jsonl, or .jsonl.zst compressed; `-` is standard output) [default: a new file under the user's data directory]
    #[arg(short, long, value_name = "FILE", conflicts_with = "stdout")]
    pub output: Option<PathBuf>,
    /// Stream the session to standard output instead of a file
    #[arg(long)]
    pub stdout: bool,
    /// No progress line on stderr
    #[arg(short, long)]
    pub quiet: bool,
    /// Overwrite the output file if it exists
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub serve: crate::serve::ServeArgs,
}

pub fn run(a: RecordArgs) -> anyhow::Result<ExitCode> {
    // A hang-up (the ssh session dropped) finalises the file like SIGTERM and
    // SIGINT: training stops, the closing line is written, the exit status is
    // the run's (0 for --no-train, 130 for a cancelled training run).
    let stop = Arc::new(AtomicBool::new(false));
    let to_stdout = a.stdout || a.output.as_deref() == Some(std::path::Path::new("-"));
    let output = if to_stdout {
        Output::Stdout
    } else {
        Output::File(a.output.clone().unwrap_or_else(default_session_path))
    };
    if let Output::File(p) = &output {
        crate::record::writer::check_output(p, a.force)?;
    }
    let train = a.shape.apply(a.train.clone());
    let server = crate::serve::Server::start(&a.serve, &output)?;
    if let Some(s) = &server {
        crate::stdout::note(&format!(
            "trainwatt: serving http://{}/metrics and /session",
            s.addr()
        ));
    }
    let observer = server.as_ref().map(|s| s.observer());
    let result = record_observed(&a.run, &train, output.clone(), !a.quiet, &stop, observer)?;
    drop(server);
    if let Output::File(p) = &output {
        crate::stdout::note(&format!("trainwatt: session written to {}", p.display()));
    }
    Ok(exit_code(result.as_ref()))
}

/// The exit status for a run's outcome, the same as `trainwatt train`'s:
/// 0 completed (or no training), 1 error, 3 out of memory, 130 cancelled.
pub fn exit_code(status: Option<&RunStatus>) -> ExitCode {
    match status {
        Some(RunStatus::Error) => ExitCode::from(1),
        Some(RunStatus::OutOfMemory) => ExitCode::from(3),
        Some(RunStatus::Cancelled) => ExitCode::from(130),
        Some(RunStatus::Completed) | None => ExitCode::SUCCESS,
    }
}

/// Record one local session until it ends or `stop` is set, printing a
/// progress line to stderr (shared with `sweep`). Returns the run status.
///
/// The main thread sleeps until the run finishes, a signal arrives or the
/// next progress line is due (every 10 s, or 0.5 s on a terminal; never
/// without a progress line): it reads the recorder's own fold then, so
/// nothing is forwarded to it.
pub fn record_one(
    run: &RunArgs,
    train: &TrainArgs,
    output: Output,
    progress: bool,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Option<RunStatus>> {
    record_observed(run, train, output, progress, stop, None)
}

/// [`record_one`] with an observer of the recorder's fold (`--listen`).
pub fn record_observed(
    run: &RunArgs,
    train: &TrainArgs,
    output: Output,
    progress: bool,
    stop: &Arc<AtomicBool>,
    observer: Option<crate::session::live::FoldObserver>,
) -> anyhow::Result<Option<RunStatus>> {
    let (local, _) = LocalRun::start_observed(run, train, output, false, observer)?;
    if let (true, Some(note)) = (progress, &local.trainer_note) {
        crate::stdout::note(&format!("trainwatt: trainer {note}"));
    }
    let signals = local.signals();
    let fold = local.fold.clone();
    // SIGINT, SIGTERM and SIGHUP (a dropped ssh session) cancel the run: the
    // trainer stops, the closing line is written.
    let mut sigs = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let sig_handle = sigs.handle();
    let (sig_run, sig_stop) = (signals.clone(), stop.clone());
    let sig_thread = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if sigs.forever().next().is_some() {
                sig_stop.store(true, Ordering::SeqCst);
                sig_run.cancel();
            }
        })?;
    if stop.load(Ordering::SeqCst) {
        signals.cancel();
    }
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(10)
    };
    loop {
        let st = signals.wait(progress.then(|| Instant::now() + every), |s| s.finished);
        if st.finished {
            break;
        }
        if progress {
            let line = status_line(&fold.lock().unwrap_or_else(|e| e.into_inner()));
            let mut err = std::io::stderr().lock();
            if tty {
                let _ = write!(err, "\r\x1b[K{line}");
            } else {
                let _ = writeln!(err, "{line}");
            }
        }
    }
    sig_handle.close();
    let _ = sig_thread.join();
    let result = local.wait()?;
    if progress {
        let line = status_line(&fold.lock().unwrap_or_else(|e| e.into_inner()));
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r\x1b[K");
        }
        let _ = writeln!(err, "{line}");
    }
    Ok(result.status)
}

/// One line: time, progress, power, energy, throughput, loss, accuracy.
pub fn status_line(p: &SessionFold) -> String {
    let est = if total_is_estimate(p.channels()) {
        " estimate"
    } else {
        ""
    };
    let status = match p.status() {
        SessionStatus::Running => "LIVE",
        SessionStatus::Finished => "FINISHED",
        SessionStatus::OutOfMemory => "OOM",
        SessionStatus::Error => "ERROR",
        SessionStatus::Cancelled => "CANCELLED",
        SessionStatus::Ended => "ENDED",
    };
    let mut s = format!("{status} {}", format::duration(p.elapsed_s()));
    if p.has_training() {
        let (e, es) = p.epoch();
        let (st, sts) = p.step();
        s += &format!(
            "  epoch {e}/{}  step {st}/{}",
            es.map(|x| x.to_string()).unwrap_or("?".into()),
            sts.map(|x| x.to_string()).unwrap_or("?".into())
        );
    }
    s += &format!(
        "  {}{est}  {}{est}",
        p.current_w()
            .map(format::watts)
            .unwrap_or_else(|| "– W".into()),
        p.joules()
            .map(format::joules)
            .unwrap_or_else(|| "– J".into())
    );
    if let Some(ips) = p.images_per_s() {
        s += &format!("  {ips:.0} img/s");
    }
    if let Some(l) = p.loss() {
        s += &format!("  loss {l:.3}");
    }
    if let Some(a) = p.val_acc() {
        s += &format!("  val acc {:.1}%", a * 100.0);
    }
    if let Some(eta) = p.eta_s() {
        s += &format!("  ETA {}", format::duration(eta));
    }
    s
}
