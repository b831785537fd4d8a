//! `trainwatt record`: the headless twin of `watch`, for servers and CI. Same
//! options; a one-line progress display on stderr; the session file as output.
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
}

pub fn run(a: RecordArgs) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    // A hang-up (the ssh session dropped) finalises the file like SIGTERM and
    // SIGINT: training stops, the closing line is written, the exit status is
    // the run's (0 for --no-train, 130 for a cancelled training run).
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
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
    let result = record_one(&a.run, &train, output.clone(), !a.quiet, &stop)?;
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
pub fn record_one(
    run: &RunArgs,
    train: &TrainArgs,
    output: Output,
    progress: bool,
    stop: &AtomicBool,
) -> anyhow::Result<Option<RunStatus>> {
    let (local, rx) = LocalRun::start(run, train, output, true)?;
    if let (true, Some(note)) = (progress, &local.trainer_note) {
        eprintln!("trainwatt: trainer {note}");
    }
    let rx = rx.expect("forwarding requested");
    let mut pane = SessionFold::new(&local.header);
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(10)
    };
    let mut last_print = Instant::now();
    let mut cancelled = false;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(ev) => pane.apply(&ev),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if stop.load(Ordering::SeqCst) && !cancelled {
            local.cancel();
            cancelled = true;
        }
        if progress && last_print.elapsed() >= every {
            last_print = Instant::now();
            let line = status_line(&pane);
            let mut err = std::io::stderr().lock();
            if tty {
                let _ = write!(err, "\r\x1b[K{line}");
            } else {
                let _ = writeln!(err, "{line}");
            }
        }
    }
    // The recorder may have stopped on its own (a full disk, a closed pipe):
    // stop the trainer too rather than train on, unrecorded and unstoppable.
    local.cancel();
    let result = local.wait()?;
    if progress {
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r\x1b[K");
        }
        let _ = writeln!(err, "{}", status_line(&pane));
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
