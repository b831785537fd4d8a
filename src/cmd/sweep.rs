//! `trainwatt sweep`: the study's experiment on this machine. Every batch size
//! × epochs configuration, `--repeats` times, each run recorded to its own
//! session file; OOM and failed runs are results, and an interrupted sweep
//! resumes where it stopped. The plan (what `sweep.json` holds, the order of
//! the runs) is [`super::sweep_plan`]'s.
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::power_mode::{self, ModeControl};
use super::sweep_plan::{
    plan_file, plan_order, read_plan, runs_to_do, write_plan_once, RunSlot, SweepOptions,
    SweepPlan, PLAN_FORMAT,
};
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

impl SweepArgs {
    fn options(&self) -> SweepOptions {
        SweepOptions {
            cooldown: self.cooldown,
            mode_settle: self.mode_settle,
            run: self.run.clone(),
            train: self.train.clone(),
        }
    }

    /// The plan these arguments describe.
    fn plan(&self) -> SweepPlan {
        SweepPlan {
            format: PLAN_FORMAT.into(),
            batch_sizes: self.batch_sizes.clone(),
            epochs: self.epochs.clone(),
            repeats: self.repeats,
            power_modes: self.power_modes.clone(),
            options: self.options(),
        }
    }

    /// The arguments that run `saved` in `out`.
    fn from_plan(saved: &SweepPlan, out: PathBuf) -> SweepArgs {
        SweepArgs {
            batch_sizes: saved.batch_sizes.clone(),
            epochs: saved.epochs.clone(),
            repeats: saved.repeats,
            power_modes: saved.power_modes.clone(),
            mode_settle: saved.options.mode_settle,
            out,
            cooldown: saved.options.cooldown,
            resume: true,
            run: saved.options.run.clone(),
            train: saved.options.train.clone(),
        }
    }

    /// Whether nothing but `--resume --out DIR` was given: the options equal
    /// those of a bare `sweep --resume` read the same way (`bare`, with the
    /// config file's defaults), so a config changed since the sweep started
    /// does not make a bare resume look like new options.
    fn only_resume(&self, bare: Option<&SweepArgs>) -> bool {
        bare.is_some_and(|b| b.plan() == self.plan())
    }
}

/// `sweep --resume --out x` as today's command line reads it, the config
/// file's values included.
fn bare_resume(config: &crate::config::Config) -> Option<SweepArgs> {
    let m = crate::cli::command(config)
        .ok()?
        .try_get_matches_from(["trainwatt", "sweep", "--resume", "--out", "x"])
        .ok()?;
    match <crate::cli::Cli as clap::FromArgMatches>::from_arg_matches(&m)
        .ok()?
        .command
    {
        crate::cli::Command::Sweep(a) => Some(a),
        _ => None,
    }
}

/// `sweep` alone, as the tests parse it.
#[cfg(test)]
#[derive(clap::Parser)]
#[command(name = "sweep")]
struct SavedSweep {
    #[command(flatten)]
    args: SweepArgs,
}

pub fn run(a: SweepArgs, config: &crate::config::Config) -> anyhow::Result<ExitCode> {
    let stop = stop_on_signals()?;
    let (plan, a) = if a.resume {
        resume(a, bare_resume(config).as_ref())?
    } else {
        start(a)?
    };
    if !a.run.command.is_empty() || a.run.no_train {
        bail!("a sweep runs the built-in trainer: drop --no-train and the command after `--`");
    }
    // Opened before anything is written (a missing nvpmodel or root stops the
    // sweep before it starts) and dropped last: its Drop restores the mode.
    let modes = open_modes(&plan, &a.out)?;
    write_plan_once(&plan, &a.out)?;
    if let Some(ctl) = &modes {
        ctl.save()?;
    }
    let slots = plan_order(&plan);
    let todo = runs_to_do(&slots, &a.out);
    let total = slots.len();
    if todo.len() < total {
        eprintln!(
            "trainwatt sweep: {} of {total} runs already finished in {}, {} to go",
            total - todo.len(),
            a.out.display(),
            todo.len()
        );
    }
    Sweeper::new(&a, modes.as_ref(), &stop, total).run_all(&todo)?;
    drop(modes);
    Ok(finish(&a.out, total, &stop))
}

/// The flag SIGINT and SIGTERM raise: the sweep stops between runs, and the
/// run under way is cancelled.
fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    Ok(stop)
}

/// `--resume`: the saved plan, and the arguments that run it. Every run of a
/// sweep must share its options, or the report mixes two experiments: a
/// resumed sweep takes the plan's, not today's.
fn resume(a: SweepArgs, bare: Option<&SweepArgs>) -> anyhow::Result<(SweepPlan, SweepArgs)> {
    let plan_path = plan_file(&a.out);
    let saved = read_plan(&plan_path)?;
    // `read_plan` only returns plans of this format, so the formats agree.
    if !a.only_resume(bare) && a.plan() != saved {
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
    let resumed = SweepArgs::from_plan(&saved, a.out);
    Ok((saved, resumed))
}

/// A new sweep: the plan of `a`, in a directory that holds none yet.
fn start(a: SweepArgs) -> anyhow::Result<(SweepPlan, SweepArgs)> {
    if plan_file(&a.out).exists() {
        bail!(
            "{} already holds a sweep: add --resume to continue it, or choose another --out",
            a.out.display()
        );
    }
    Ok((a.plan(), a))
}

/// The power-mode control, when the plan sets modes.
fn open_modes(plan: &SweepPlan, out: &Path) -> anyhow::Result<Option<ModeControl>> {
    match &plan.power_modes[..] {
        [] => Ok(None),
        m => Ok(Some(ModeControl::open(m, power_mode::found_file(out))?)),
    }
}

/// The sweep's loop: one run after another, cooling down between runs and
/// setting each run's power mode, until the runs are done or the stop flag
/// is raised.
struct Sweeper<'a> {
    a: &'a SweepArgs,
    modes: Option<&'a ModeControl>,
    stop: &'a Arc<AtomicBool>,
    /// Runs in the plan, done or not.
    total: usize,
    current_mode: Option<u32>,
    started: Instant,
}

impl<'a> Sweeper<'a> {
    fn new(
        a: &'a SweepArgs,
        modes: Option<&'a ModeControl>,
        stop: &'a Arc<AtomicBool>,
        total: usize,
    ) -> Self {
        Sweeper {
            a,
            modes,
            stop,
            total,
            current_mode: None,
            started: Instant::now(),
        }
    }

    /// Make the runs of `todo` (each with its place in the plan).
    fn run_all(&mut self, todo: &[(usize, RunSlot)]) -> anyhow::Result<()> {
        for (n, &(k, slot)) in todo.iter().enumerate() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            if n > 0 && !self.cool_down() {
                break;
            }
            if !self.enter_mode(slot.power_mode)? {
                break;
            }
            self.record(slot, k, n, todo.len())?;
        }
        Ok(())
    }

    /// Wait `--cooldown` between runs; false when stopped meanwhile.
    fn cool_down(&self) -> bool {
        let Some(c) = self.a.cooldown else {
            return true;
        };
        eprintln!(
            "trainwatt sweep: cooling down for {}",
            format::duration(c.as_secs_f64())
        );
        wait_unless_stopped(c, self.stop)
    }

    /// Set the run's power mode if it is not set yet, and let it settle;
    /// false when stopped meanwhile.
    fn enter_mode(&mut self, mode: Option<u32>) -> anyhow::Result<bool> {
        let (Some(ctl), Some(mode)) = (self.modes, mode) else {
            return Ok(true);
        };
        if self.current_mode == Some(mode) {
            return Ok(true);
        }
        let now = ctl.set(mode)?;
        self.current_mode = Some(mode);
        eprintln!(
            "trainwatt sweep: power mode {}; settling for {}",
            now.describe(),
            format::duration(self.a.mode_settle.as_secs_f64())
        );
        Ok(wait_unless_stopped(self.a.mode_settle, self.stop))
    }

    /// ", ETA 3 min" before the `n`th of `runs` runs (from 0): the time
    /// left at the pace so far.
    fn eta(&self, n: usize, runs: usize) -> String {
        if n == 0 {
            return String::new();
        }
        let per = self.started.elapsed().as_secs_f64() / n as f64;
        format!(", ETA {}", format::duration(per * (runs - n) as f64))
    }

    /// Record `slot` to its file: the `k`th run of the plan, the `n`th of
    /// the `runs` this sweep makes (both from 0). A file already there (an
    /// interrupted or cancelled run) is kept aside.
    fn record(&self, slot: RunSlot, k: usize, n: usize, runs: usize) -> anyhow::Result<()> {
        let path = self.a.out.join(slot.file_name());
        set_aside(&path)?;
        let eta = self.eta(n, runs);
        let mode = slot
            .power_mode
            .map(|m| format!("power mode {m}, "))
            .unwrap_or_default();
        eprintln!(
            "trainwatt sweep: run {} of {}: {mode}batch size {}, {} epochs, repeat {}{eta}",
            k + 1,
            self.total,
            slot.batch_size,
            slot.epochs,
            slot.repeat
        );
        let mut train = self.a.train.clone();
        train.batch_size = slot.batch_size;
        train.epochs = slot.epochs;
        let status =
            super::record::record_one(&self.a.run, &train, Output::File(path), true, self.stop)?;
        if let Some(s) = status {
            eprintln!("trainwatt sweep: {} → {}", slot.file_name(), s.label());
        }
        Ok(())
    }
}

/// Move an interrupted or cancelled run's file out of the way of its redo.
fn set_aside(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        let aside = path.with_extension(format!("jsonl.interrupted-{}", unix_time()));
        std::fs::rename(path, &aside)?;
    }
    Ok(())
}

/// The last line: how to continue a stopped sweep, or where its results are.
fn finish(out: &Path, total: usize, stop: &AtomicBool) -> ExitCode {
    if stop.load(Ordering::SeqCst) {
        eprintln!(
            "trainwatt sweep: stopped; continue with `trainwatt sweep --resume --out {}`",
            out.display()
        );
        return ExitCode::from(130);
    }
    eprintln!(
        "trainwatt sweep: done, {total} runs in {}; tables and figures: trainwatt report {} --plots {}",
        out.display(),
        out.display(),
        out.join("figures").display()
    );
    ExitCode::SUCCESS
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
    fn a_bare_resume_is_told_apart_with_the_config_files_defaults() {
        let config = crate::config::parse(
            std::path::Path::new("/c/config.toml"),
            "source = \"estimate\"\nlabel = \"lab\"\n",
        )
        .unwrap();
        let read = |args: &[&str]| {
            let m = crate::cli::command(&config)
                .unwrap()
                .try_get_matches_from(args)
                .unwrap();
            match <crate::cli::Cli as clap::FromArgMatches>::from_arg_matches(&m)
                .unwrap()
                .command
            {
                crate::cli::Command::Sweep(a) => a,
                _ => unreachable!(),
            }
        };
        let a = read(&["trainwatt", "sweep", "--resume", "--out", "/data/nano"]);
        assert_eq!(a.run.label.as_deref(), Some("lab"));
        assert!(a.only_resume(bare_resume(&config).as_ref()));
        let none = crate::config::Config::default();
        assert!(
            !a.only_resume(bare_resume(&none).as_ref()),
            "the config's defaults count"
        );
        let b = read(&[
            "trainwatt",
            "sweep",
            "--resume",
            "--out",
            "/d",
            "--epochs",
            "3",
        ]);
        assert!(!b.only_resume(bare_resume(&config).as_ref()));
    }

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
        assert!(!a.only_resume(bare_resume(&crate::config::Config::default()).as_ref()));
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
