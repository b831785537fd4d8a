//! `trainwatt train`: a built-in trainer, headless, as a child process under
//! the same supervisor as every run (see `train::child`). Prints one line per
//! epoch (loss, accuracy, images/s), or with `--json` one JSON object per line
//! for scripts and benchmarks; the trainer's own messages go to stderr. Ctrl-C
//! cancels at the next step.
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use anyhow::Context;

use crate::model::event::{Event, RunStatus, TrainConfig, TrainEvent};
use crate::train::{spawn_child, trainer, ChildOutput, ShapeArgs, TrainArgs, TrainerArgs};

/// Exit status of a run that ran out of memory (a result, not a crash).
pub const EXIT_OUT_OF_MEMORY: u8 = crate::train::child::EXIT_OUT_OF_MEMORY as u8;
/// Exit status of a run cancelled with Ctrl-C.
pub const EXIT_CANCELLED: u8 = 130;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 completed, 1 error, 3 out of memory, 130 cancelled.\n\n\
Examples:\n  trainwatt train --data synthetic --epochs 2 --batch-size 16\n  \
trainwatt train --data cifar10:~/data/cifar-10-batches-bin --batch-size 32 --augment --epochs 60\n  \
trainwatt train --data folder:~/data/plants --model resnet18 --image-size 224 --json"
)]
pub struct TrainCmdArgs {
    #[command(flatten)]
    pub shape: ShapeArgs,
    #[command(flatten)]
    pub train: TrainArgs,
    #[command(flatten)]
    pub trainer: TrainerArgs,
    /// One JSON object per line: `start`, one `epoch` per epoch, then `end`
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: TrainCmdArgs) -> anyhow::Result<ExitCode> {
    let cancel = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, cancel.clone())
            .context("installing the Ctrl-C handler")?;
    }
    let resolved = trainer::resolve(&a.trainer).map_err(anyhow::Error::msg)?;
    crate::stdout::note(&format!("trainwatt: trainer {}", resolved.note));
    let spec = resolved.child(&a.shape.apply(a.train.clone()), ChildOutput::Stderr);
    let (tx, rx) = mpsc::channel();
    let handle = spawn_child(spec, Instant::now(), tx, cancel.clone())
        .with_context(|| format!("starting the {} trainer", resolved.name()))?;
    let mut p = Printer::new(a.json);
    let mut end = None;
    for ev in rx {
        if let Event::Train(te) = ev {
            if let TrainEvent::RunEnd {
                status, message, ..
            } = &te
            {
                end = Some((status.clone(), message.clone()));
            }
            p.on(&te);
            if p.failed.is_some() {
                cancel.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }
    let _ = handle.join();
    if let Some(e) = p.failed {
        return Err(e.into());
    }
    match end {
        Some((RunStatus::Completed, _)) => Ok(ExitCode::SUCCESS),
        Some((RunStatus::Cancelled, _)) => Ok(ExitCode::from(EXIT_CANCELLED)),
        Some((RunStatus::OutOfMemory, m)) => {
            crate::stdout::note(&format!(
                "trainwatt: {}",
                m.unwrap_or_else(|| "out of memory".into())
            ));
            Ok(ExitCode::from(EXIT_OUT_OF_MEMORY))
        }
        Some((RunStatus::Error, m)) => {
            anyhow::bail!(m.unwrap_or_else(|| "training failed".into()))
        }
        None => anyhow::bail!("the trainer stopped without reporting how the run ended"),
    }
}

/// Turns training events into terminal lines.
struct Printer {
    json: bool,
    /// Live step line on stderr (only when it is a terminal and not `--json`).
    live: bool,
    epochs: Option<u32>,
    /// Images/s of the last step of the epoch: the epoch's training throughput.
    last_rate: Option<f64>,
    last_epoch_t: f64,
    /// RunStarts seen: the first is the supervisor's (the options as given),
    /// the trainer's `start` line follows with the dataset's real figures.
    starts: u32,
    /// The first failed write to standard output (a closed pipe, a full disk):
    /// training is then cancelled and the command ends with it.
    failed: Option<crate::stdout::StdoutError>,
}

impl Printer {
    fn new(json: bool) -> Printer {
        Printer {
            json,
            live: !json && std::io::stderr().is_terminal(),
            epochs: None,
            last_rate: None,
            last_epoch_t: 0.0,
            starts: 0,
            failed: None,
        }
    }

    fn emit(&mut self, line: String) {
        if self.failed.is_none() {
            if let Err(e) = crate::stdout::print(&(line + "\n")) {
                self.failed = Some(e);
            }
        }
    }

    fn on(&mut self, ev: &TrainEvent) {
        match ev {
            TrainEvent::RunStart { t_s, config } => self.on_start(*t_s, config),
            TrainEvent::Step {
                epoch,
                step,
                steps_per_epoch,
                loss,
                images_per_s,
                ..
            } => {
                self.last_rate = *images_per_s;
                if self.live {
                    live_step(*epoch, *step, *steps_per_epoch, *loss, *images_per_s);
                }
            }
            TrainEvent::EpochEnd {
                t_s,
                epoch,
                train_loss,
                train_acc,
                val_acc,
                images,
            } => {
                let epoch_s = t_s - self.last_epoch_t;
                self.last_epoch_t = *t_s;
                if self.live {
                    eprint!("\r\x1b[2K");
                }
                if self.json {
                    self.emit(format!(
                        "{}",
                        serde_json::json!({
                            "kind": "epoch", "epoch": epoch, "epochs": self.epochs,
                            "train_loss": train_loss, "train_acc": train_acc, "val_acc": val_acc,
                            "images_per_s": self.last_rate, "images": images,
                            "t_s": t_s, "epoch_s": epoch_s,
                        })
                    ));
                } else {
                    let line = self.epoch_line(*epoch, *train_loss, *train_acc, *val_acc, epoch_s);
                    self.emit(line);
                }
            }
            TrainEvent::RunEnd {
                t_s,
                status,
                message,
            } => self.on_end(*t_s, status, message.as_deref()),
        }
    }

    /// The supervisor's RunStart only sets the epoch count; the trainer's
    /// (with the dataset's real figures) is printed.
    fn on_start(&mut self, t_s: f64, config: &TrainConfig) {
        self.starts += 1;
        self.epochs = config.epochs;
        if self.starts == 1 {
            return;
        }
        self.last_epoch_t = t_s;
        if self.json {
            self.emit(format!(
                "{}",
                serde_json::json!({"kind": "start", "t_s": t_s, "config": config})
            ));
        } else {
            self.emit(describe(config));
        }
    }

    /// `epoch 2/5  loss 1.2345  train acc 56.7%  val acc 54.3%  123.4 images/s  12.3 s`.
    fn epoch_line(
        &self,
        epoch: u32,
        train_loss: Option<f64>,
        train_acc: Option<f64>,
        val_acc: Option<f64>,
        epoch_s: f64,
    ) -> String {
        let pct = |a: Option<f64>| a.map_or("-".into(), |a| format!("{:.1}%", a * 100.0));
        format!(
            "epoch {epoch}/{}  loss {}  train acc {}  val acc {}  {}  {epoch_s:.1} s",
            self.epochs.map_or("?".into(), |e| e.to_string()),
            train_loss.map_or("-".into(), |l| format!("{l:.4}")),
            pct(train_acc),
            pct(val_acc),
            self.last_rate
                .map_or("- images/s".into(), |r| format!("{r:.1} images/s")),
        )
    }

    /// The run's last line: the outcome in JSON; in text a completed or
    /// cancelled run (an error or out of memory is the command's error).
    fn on_end(&mut self, t_s: f64, status: &RunStatus, message: Option<&str>) {
        if self.live {
            eprint!("\r\x1b[2K");
        }
        if self.json {
            self.emit(format!(
                "{}",
                serde_json::json!({"kind": "end", "t_s": t_s, "status": status, "message": message})
            ));
        } else if *status == RunStatus::Completed {
            self.emit(format!(
                "{} in {t_s:.1} s{}",
                status.label(),
                message.map_or(String::new(), |m| format!(" ({m})"))
            ));
        } else if *status == RunStatus::Cancelled {
            self.emit(message.unwrap_or("cancelled").to_string());
        }
    }
}

/// The live step line on stderr, redrawn in place.
fn live_step(
    epoch: u32,
    step: u32,
    steps_per_epoch: Option<u32>,
    loss: Option<f64>,
    images_per_s: Option<f64>,
) {
    eprint!(
        "\r\x1b[2K  epoch {epoch} step {step}/{}  loss {}  {}",
        steps_per_epoch.map_or("?".into(), |s| s.to_string()),
        loss.map_or("-".into(), |l| format!("{l:.4}")),
        images_per_s.map_or("".into(), |r| format!("{r:.1} images/s")),
    );
    let _ = std::io::stderr().flush();
}

fn describe(c: &TrainConfig) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "?".into());
    format!(
        "training {} on {} ({} train / {} validation images), batch {}, {} steps/epoch, {} epochs, lr {}, {}, {} threads",
        c.model,
        c.dataset,
        opt(c.train_images.map(|n| n.to_string())),
        opt(c.val_images.map(|n| n.to_string())),
        opt(c.batch_size.map(|n| n.to_string())),
        opt(c.steps_per_epoch.map(|n| n.to_string())),
        opt(c.epochs.map(|n| n.to_string())),
        opt(c.lr.map(|n| n.to_string())),
        opt(c.device.clone()),
        opt(c.threads.map(|n| n.to_string())),
    )
}
