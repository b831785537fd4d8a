//! `trainwatt sweep`: the study's experiment on this machine. Every batch size
//! × epochs configuration, `--repeats` times, each run recorded to its own
//! session file; OOM and failed runs are results, and an interrupted sweep
//! resumes where it stopped.
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::model::event::{Event, TrainEvent};
use crate::record::{ReadOptions, SessionReader};
use crate::session::live::Output;
use crate::session::local::{parse_duration, RunArgs};
use crate::train::TrainArgs;
use crate::ui::format;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  trainwatt sweep --batch-sizes 2,4,8,16,32 --epochs 1,5 --repeats 5 --out sweep-here --cooldown 30s
  trainwatt sweep --resume --out sweep-here   # continue: same options, finished runs kept
  sudo -E trainwatt sweep --batch-sizes 8,32 --epochs 1 --power-modes 0,1 --out modes   # Jetson power modes
  trainwatt report sweep-here --plots figures")]
pub struct SweepArgs {
    /// Batch sizes to run (comma list)
    #[arg(
        long,
        value_delimiter = ',',
        required_unless_present = "resume",
        value_name = "LIST"
    )]
    pub batch_sizes: Vec<u32>,
    /// Epoch counts to run (comma list)
    #[arg(
        long,
        value_delimiter = ',',
        required_unless_present = "resume",
        value_name = "LIST"
    )]
    pub epochs: Vec<u32>,
    /// Runs per configuration (the study used 5)
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeats: u32,
    /// Jetson nvpmodel modes to run every configuration in (comma list; needs root and nvpmodel). The mode found is restored when the sweep ends, fails or is interrupted
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub power_modes: Vec<u32>,
    /// After setting a power mode, wait this long for clocks and power to settle
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub mode_settle: Duration,
    /// Directory for the session files (one per run) and sweep.json (the plan)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Wait this long between runs so the device cools down (power depends on temperature)
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub cooldown: Option<Duration>,
    /// Continue the sweep in --out with the options it started with (saved in sweep.json): finished runs are kept, interrupted ones are redone
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub train: TrainArgs,
}

/// The plan written to `DIR/sweep.json`, checked on `--resume`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPlan {
    pub format: String,
    pub batch_sizes: Vec<u32>,
    pub epochs: Vec<u32>,
    pub repeats: u32,
    /// nvpmodel modes (empty: the sweep leaves the mode alone). Plans
    /// written before power modes have none.
    #[serde(default)]
    pub power_modes: Vec<u32>,
    /// The options every run shares (sources, trainer, model, data, ...), as
    /// parsed: a resumed sweep runs with exactly these.
    pub options: SweepOptions,
}

/// The plan's format: version 2 stores the parsed options (version 1 stored
/// the command line).
pub const PLAN_FORMAT: &str = "trainwatt-sweep/2";

/// What every run of a sweep shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepOptions {
    pub cooldown: Option<Duration>,
    #[serde(default = "default_mode_settle")]
    pub mode_settle: Duration,
    pub run: RunArgs,
    pub train: TrainArgs,
}

fn default_mode_settle() -> Duration {
    Duration::from_secs(10)
}

impl SweepArgs {
    fn options(&self) -> SweepOptions {
        SweepOptions {
            cooldown: self.cooldown,
            mode_settle: self.mode_settle,
            run: self.run.clone(),
            train: self.train.clone(),
        }
    }

    /// Whether nothing but `--resume --out DIR` was given.
    fn only_resume(&self) -> bool {
        let bare =
            <SavedSweep as clap::Parser>::try_parse_from(["sweep", "--resume", "--out", "x"]);
        bare.is_ok_and(|b| {
            let b = b.args;
            b.batch_sizes == self.batch_sizes
                && b.epochs == self.epochs
                && b.repeats == self.repeats
                && b.power_modes == self.power_modes
                && b.options() == self.options()
        })
    }
}

/// One run of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunSlot {
    /// The nvpmodel mode, when the sweep sets modes.
    pub power_mode: Option<u32>,
    pub batch_size: u32,
    pub epochs: u32,
    pub repeat: u32,
}

impl RunSlot {
    pub fn file_name(&self) -> String {
        let mode = self
            .power_mode
            .map(|m| format!("pm{m}-"))
            .unwrap_or_default();
        format!(
            "{mode}bs{}-ep{}-r{}.jsonl",
            self.batch_size, self.epochs, self.repeat
        )
    }
}

/// Runs in the order they are made: repeat by repeat, so slow drift (heat,
/// background load) spreads over every configuration instead of biasing one.
/// Within a repeat, power modes change least often (mode, then batch size,
/// then epochs).
pub fn plan_order(plan: &SweepPlan) -> Vec<RunSlot> {
    let modes: Vec<Option<u32>> = if plan.power_modes.is_empty() {
        vec![None]
    } else {
        plan.power_modes.iter().copied().map(Some).collect()
    };
    let mut v = Vec::new();
    for repeat in 1..=plan.repeats {
        for &power_mode in &modes {
            for &batch_size in &plan.batch_sizes {
                for &epochs in &plan.epochs {
                    v.push(RunSlot {
                        power_mode,
                        batch_size,
                        epochs,
                        repeat,
                    });
                }
            }
        }
    }
    v
}

/// A run is done when its file holds a training outcome other than
/// "cancelled" (completed, out of memory, error). Anything else is redone.
pub fn run_is_done(path: &Path) -> bool {
    let Ok(mut r) = SessionReader::open(
        path,
        ReadOptions {
            lenient: true,
            ..Default::default()
        },
    ) else {
        return false;
    };
    let mut done = false;
    while let Ok(Some(ev)) = r.next_event() {
        if let Event::Train(TrainEvent::RunEnd { status, .. }) = ev {
            done = status != crate::model::event::RunStatus::Cancelled;
        }
    }
    done
}

/// The defaults of a bare `sweep --resume`, to tell which options were given.
#[derive(clap::Parser)]
#[command(name = "sweep")]
struct SavedSweep {
    #[command(flatten)]
    args: SweepArgs,
}

pub fn run(a: SweepArgs) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let plan_path = a.out.join("sweep.json");
    let (plan, a) = if a.resume {
        let saved = read_plan(&plan_path)?;
        // Every run of a sweep must share its options, or the report mixes
        // two experiments: a resumed sweep takes the plan's, not today's.
        let same = a.batch_sizes == saved.batch_sizes
            && a.epochs == saved.epochs
            && a.repeats == saved.repeats
            && a.power_modes == saved.power_modes
            && a.options() == saved.options;
        if !a.only_resume() && !same {
            bail!(
                "--resume continues with the options the sweep started with \
                 (batch sizes {:?}, epochs {:?}, {} repeats, power modes {:?}, as saved in {}):\n  \
                 give only `--resume --out {}` (or exactly those options), or start a new sweep in another --out",
                saved.batch_sizes,
                saved.epochs,
                saved.repeats,
                saved.power_modes,
                plan_path.display(),
                a.out.display()
            );
        }
        let resumed = SweepArgs {
            batch_sizes: saved.batch_sizes.clone(),
            epochs: saved.epochs.clone(),
            repeats: saved.repeats,
            power_modes: saved.power_modes.clone(),
            mode_settle: saved.options.mode_settle,
            out: a.out.clone(),
            cooldown: saved.options.cooldown,
            resume: true,
            run: saved.options.run.clone(),
            train: saved.options.train.clone(),
        };
        (saved, resumed)
    } else {
        if plan_path.exists() {
            bail!(
                "{} already holds a sweep: add --resume to continue it, or choose another --out",
                a.out.display()
            );
        }
        let plan = SweepPlan {
            format: PLAN_FORMAT.into(),
            batch_sizes: a.batch_sizes.clone(),
            epochs: a.epochs.clone(),
            repeats: a.repeats,
            power_modes: a.power_modes.clone(),
            options: a.options(),
        };
        (plan, a)
    };
    if !a.run.command.is_empty() || a.run.no_train {
        bail!("a sweep runs the built-in trainer: drop --no-train and the command after `--`");
    }
    // Opened before anything is written (a missing nvpmodel or root stops the
    // sweep before it starts) and dropped last: its Drop restores the mode.
    let modes = match &plan.power_modes[..] {
        [] => None,
        m => Some(super::power_mode::ModeControl::open(
            m,
            super::power_mode::found_file(&a.out),
        )?),
    };
    if !plan_path.exists() {
        std::fs::create_dir_all(&a.out)
            .with_context(|| format!("cannot create {}", a.out.display()))?;
        std::fs::write(&plan_path, serde_json::to_string_pretty(&plan)? + "\n")
            .with_context(|| format!("cannot write {}", plan_path.display()))?;
    }
    if let Some(ctl) = &modes {
        ctl.save()?;
    }
    let slots = plan_order(&plan);
    let total = slots.len();
    let todo: Vec<(usize, RunSlot)> = slots
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, s)| !run_is_done(&a.out.join(s.file_name())))
        .collect();
    if todo.len() < total {
        eprintln!(
            "trainwatt sweep: {} of {total} runs already finished in {}, {} to go",
            total - todo.len(),
            a.out.display(),
            todo.len()
        );
    }
    let mut current_mode: Option<u32> = None;
    let started = Instant::now();
    for (n, (k, slot)) in todo.iter().enumerate() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if n > 0 {
            if let Some(c) = a.cooldown {
                eprintln!(
                    "trainwatt sweep: cooling down for {}",
                    format::duration(c.as_secs_f64())
                );
                if !wait_unless_stopped(c, &stop) {
                    break;
                }
            }
        }
        if let (Some(ctl), Some(mode)) = (&modes, slot.power_mode) {
            if current_mode != Some(mode) {
                let now = ctl.set(mode)?;
                current_mode = Some(mode);
                eprintln!(
                    "trainwatt sweep: power mode {}; settling for {}",
                    now.describe(),
                    format::duration(a.mode_settle.as_secs_f64())
                );
                if !wait_unless_stopped(a.mode_settle, &stop) {
                    break;
                }
            }
        }
        let path = a.out.join(slot.file_name());
        if path.exists() {
            // An interrupted or cancelled run: keep it aside, redo it.
            let aside = path.with_extension(format!("jsonl.interrupted-{}", unix_time()));
            std::fs::rename(&path, &aside)?;
        }
        let eta = if n > 0 {
            let per = started.elapsed().as_secs_f64() / n as f64;
            format!(", ETA {}", format::duration(per * (todo.len() - n) as f64))
        } else {
            String::new()
        };
        let mode = slot
            .power_mode
            .map(|m| format!("power mode {m}, "))
            .unwrap_or_default();
        eprintln!(
            "trainwatt sweep: run {} of {total}: {mode}batch size {}, {} epochs, repeat {}{eta}",
            k + 1,
            slot.batch_size,
            slot.epochs,
            slot.repeat
        );
        let mut train = a.train.clone();
        train.batch_size = slot.batch_size;
        train.epochs = slot.epochs;
        let status =
            super::record::record_one(&a.run, &train, Output::File(path.clone()), true, &stop)?;
        if let Some(s) = status {
            eprintln!("trainwatt sweep: {} → {}", slot.file_name(), s.label());
        }
    }
    drop(modes);
    if stop.load(Ordering::SeqCst) {
        eprintln!(
            "trainwatt sweep: stopped; continue with `trainwatt sweep --resume --out {}`",
            a.out.display()
        );
        return Ok(ExitCode::from(130));
    }
    eprintln!(
        "trainwatt sweep: done, {total} runs in {}; tables and figures: trainwatt report {} --plots {}",
        a.out.display(),
        a.out.display(),
        a.out.join("figures").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The saved plan, or why it cannot be resumed.
fn read_plan(plan_path: &Path) -> anyhow::Result<SweepPlan> {
    let text = std::fs::read_to_string(plan_path).with_context(|| {
        format!(
            "--resume: cannot read {} (start the sweep without --resume first)",
            plan_path.display()
        )
    })?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a trainwatt sweep plan", plan_path.display()))?;
    if v["format"] != PLAN_FORMAT {
        bail!(
            "{}: a sweep plan of format {} (this trainwatt resumes {PLAN_FORMAT}): \
             finish it with the trainwatt that started it, or start a new sweep in another --out",
            plan_path.display(),
            v["format"]
        );
    }
    serde_json::from_value(v)
        .with_context(|| format!("{}: not a trainwatt sweep plan", plan_path.display()))
}

/// Sleep for `d` in short steps; false when the stop flag was raised.
fn wait_unless_stopped(d: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(
            Duration::from_millis(100).min(end.saturating_duration_since(Instant::now())),
        );
    }
    !stop.load(Ordering::SeqCst)
}

fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_reads_back_as_written() {
        let a = <SavedSweep as clap::Parser>::parse_from([
            "sweep",
            "--batch-sizes",
            "2,4",
            "--epochs",
            "1",
            "--out",
            "x",
            "--source",
            "estimate",
            "--data",
            "synthetic:40",
            "--lr",
            "0.3",
            "--cooldown",
            "1.5s",
            "--trainer",
            "tch",
        ])
        .args;
        assert!(!a.only_resume());
        let plan = SweepPlan {
            format: PLAN_FORMAT.into(),
            batch_sizes: a.batch_sizes.clone(),
            epochs: a.epochs.clone(),
            repeats: a.repeats,
            power_modes: a.power_modes.clone(),
            options: a.options(),
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sweep.json");
        std::fs::write(&p, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
        assert_eq!(read_plan(&p).unwrap(), plan);
        std::fs::write(&p, r#"{"format":"trainwatt-sweep/1","options":["--x"]}"#).unwrap();
        let e = read_plan(&p).unwrap_err().to_string();
        assert!(e.contains("format \"trainwatt-sweep/1\""), "{e}");
    }

    #[test]
    fn modes_change_least_often_and_old_plans_have_none() {
        let a = <SavedSweep as clap::Parser>::parse_from(["sweep", "--resume", "--out", "x"]).args;
        let mut plan = SweepPlan {
            format: PLAN_FORMAT.into(),
            batch_sizes: vec![2, 4],
            epochs: vec![1],
            repeats: 2,
            power_modes: vec![1, 0],
            options: a.options(),
        };
        let names: Vec<String> = plan_order(&plan).iter().map(|s| s.file_name()).collect();
        assert_eq!(
            names[..5],
            [
                "pm1-bs2-ep1-r1.jsonl",
                "pm1-bs4-ep1-r1.jsonl",
                "pm0-bs2-ep1-r1.jsonl",
                "pm0-bs4-ep1-r1.jsonl",
                "pm1-bs2-ep1-r2.jsonl",
            ]
        );
        // A plan saved before power modes existed loads with none and the
        // default settle time.
        let mut v = serde_json::to_value(&plan).unwrap();
        v.as_object_mut().unwrap().remove("power_modes");
        v["options"].as_object_mut().unwrap().remove("mode_settle");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sweep.json");
        std::fs::write(&p, v.to_string()).unwrap();
        plan.power_modes.clear();
        assert_eq!(read_plan(&p).unwrap(), plan);
        assert_eq!(plan.options.mode_settle, Duration::from_secs(10));
    }

    #[test]
    fn plan_interleaves_repeats() {
        let a = <SavedSweep as clap::Parser>::parse_from(["sweep", "--resume", "--out", "x"]).args;
        let plan = SweepPlan {
            format: PLAN_FORMAT.into(),
            batch_sizes: vec![2, 4],
            epochs: vec![1],
            repeats: 2,
            power_modes: vec![],
            options: a.options(),
        };
        let names: Vec<String> = plan_order(&plan).iter().map(|s| s.file_name()).collect();
        assert_eq!(
            names,
            [
                "bs2-ep1-r1.jsonl",
                "bs4-ep1-r1.jsonl",
                "bs2-ep1-r2.jsonl",
                "bs4-ep1-r2.jsonl"
            ]
        );
    }
}
