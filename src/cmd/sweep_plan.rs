//! A sweep's plan: what `DIR/sweep.json` holds (the configurations, the
//! repeats, the options every run shares), the order the runs are made in,
//! and which of them a resumed sweep can keep.
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::model::event::{Event, RunStatus, TrainEvent};
use crate::record::{ReadOptions, SessionReader};
use crate::session::local::RunArgs;
use crate::train::TrainArgs;

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

/// The file in a sweep's directory that holds its plan.
pub fn plan_file(out: &Path) -> PathBuf {
    out.join("sweep.json")
}

/// The saved plan, or why it cannot be resumed.
pub fn read_plan(plan_path: &Path) -> anyhow::Result<SweepPlan> {
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

/// Write the plan into `out` (created if need be), unless it is there
/// already: a resumed sweep keeps the file it started with.
pub fn write_plan_once(plan: &SweepPlan, out: &Path) -> anyhow::Result<()> {
    let plan_path = plan_file(out);
    if plan_path.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(&plan_path, serde_json::to_string_pretty(plan)? + "\n")
        .with_context(|| format!("cannot write {}", plan_path.display()))
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
            done = status != RunStatus::Cancelled;
        }
    }
    done
}

/// The runs of `slots` not done yet in `out`, each with its place in the
/// plan (from 0).
pub fn runs_to_do(slots: &[RunSlot], out: &Path) -> Vec<(usize, RunSlot)> {
    slots
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, s)| !run_is_done(&out.join(s.file_name())))
        .collect()
}
