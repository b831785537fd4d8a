//! A session's summary: what `summary`, `report` and `/metrics` export,
//! read off the one session fold ([`SessionFold`]) once every event is in.
//! No figure is computed here that the fold does not define (see its module
//! doc): this only arranges them for export.
use serde::Serialize;

use super::event::{RunStatus, TrainConfig};
use super::fold::{SessionFold, Window};
use super::sample::{Role, Unit};

/// How a session's run ended. A session whose trainer never wrote a RunEnd
/// (killed, power lost) is `Incomplete`; one with no run at all is `NoRun`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Completed,
    Cancelled,
    OutOfMemory,
    Error,
    Incomplete,
    NoRun,
}

impl RunOutcome {
    pub fn label(self) -> &'static str {
        match self {
            RunOutcome::Completed => "completed",
            RunOutcome::Cancelled => "cancelled",
            RunOutcome::OutOfMemory => "OOM",
            RunOutcome::Error => "error",
            RunOutcome::Incomplete => "incomplete",
            RunOutcome::NoRun => "no run",
        }
    }

    fn from_status(s: &RunStatus) -> Self {
        match s {
            RunStatus::Completed => RunOutcome::Completed,
            RunStatus::Cancelled => RunOutcome::Cancelled,
            RunStatus::OutOfMemory => RunOutcome::OutOfMemory,
            RunStatus::Error => RunOutcome::Error,
        }
    }
}

/// Energy of one power or counter channel over the whole session.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChannelSummary {
    pub name: String,
    /// `W` for a power channel (energy integrated), `J` for a counter.
    pub unit: String,
    pub scope: String,
    pub role: String,
    pub source: String,
    pub energy_j: f64,
    pub mean_w: Option<f64>,
    pub peak_w: Option<f64>,
    pub uncovered_s: f64,
    pub gaps: u64,
    /// Counter channels: the paired power channel and its integrated energy.
    pub paired_channel: Option<String>,
    pub paired_integrated_j: Option<f64>,
    /// Counter channels: (counter − integrated) / counter.
    pub counter_vs_integrated: Option<f64>,
}

/// The training run's window and what it cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainingWindow {
    pub start_s: f64,
    /// RunEnd.t, or the last event's time for an incomplete run.
    pub end_s: f64,
    pub time_s: f64,
    /// The total integrated over [start_s, end_s]; null without a power channel.
    pub energy_j: Option<f64>,
    /// Time inside the window covered by readings.
    pub covered_s: f64,
    /// Time inside the window not covered by readings (sensor gaps).
    pub uncovered_s: f64,
    /// energy_j over covered_s.
    pub avg_power_w: Option<f64>,
}

/// Energy and time to first reach a validation accuracy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TargetReach {
    /// As a fraction (0.8 for 80%).
    pub target_acc: f64,
    /// The epoch whose validation accuracy first reached the target, if any.
    pub epoch: Option<u32>,
    pub time_s: Option<f64>,
    pub energy_j: Option<f64>,
}

/// Training energy split against an idle floor measured before training.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IdleSplit {
    pub floor_w: f64,
    /// `marker` (the IdleEnd marker's value) or `measured` (mean total power
    /// between IdleStart and IdleEnd, when the marker carried no value).
    pub floor_from: &'static str,
    pub calibration_s: Option<f64>,
    /// floor_w × training time.
    pub static_j: f64,
    /// Training energy − static_j (can be slightly negative when training ran
    /// below the floor measured beforehand: shown as measured).
    pub dynamic_j: f64,
    pub static_fraction: Option<f64>,
}

/// Everything `trainwatt summary` reports about one session.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionSummary {
    /// The file name (set by the caller).
    pub file: String,
    /// Header label, else device model, else host.
    pub device: String,
    pub host: String,
    pub device_model: Option<String>,
    pub power_mode: Option<String>,
    pub start_utc: String,
    /// Distinct sources of the total channels.
    pub sources: Vec<String>,
    /// Scope of the total, e.g. "GPU only + CPU package".
    pub scope: String,
    /// True when a total channel is an estimate.
    pub estimate: bool,
    /// Last event time: seconds from the session's start.
    pub duration_s: f64,
    pub samples: u64,
    pub channels: Vec<ChannelSummary>,
    /// Whole session: the total integrated; null without a power channel.
    pub energy_j: Option<f64>,
    /// Whole session: time covered by readings of every total channel.
    pub covered_s: f64,
    /// Whole session, when every total channel has a paired counter.
    pub counter_energy_j: Option<f64>,
    /// (counter − integrated) / counter over the channels that have one.
    pub counter_vs_integrated: Option<f64>,
    pub uncovered_s: f64,
    pub avg_power_w: Option<f64>,
    /// Peak of the total (sum of the latest reading of each total channel).
    pub peak_power_w: Option<f64>,
    /// Events that could not be folded (implausible, out of order): the
    /// first few, and how many in all.
    pub problems: Vec<String>,
    pub problem_count: u64,
    /// Readings of the input an importer could not place or refused (header).
    pub skipped_readings: u64,
    pub config: Option<TrainConfig>,
    pub status: RunOutcome,
    pub status_message: Option<String>,
    pub training: Option<TrainingWindow>,
    pub epochs: u32,
    pub steps: Option<u64>,
    pub images: Option<u64>,
    pub images_per_s: Option<f64>,
    pub j_per_image: Option<f64>,
    pub j_per_epoch: Option<f64>,
    pub final_val_acc: Option<f64>,
    pub target: Option<TargetReach>,
    pub idle: Option<IdleSplit>,
    /// The closing `end` line was there.
    pub clean_end: bool,
}

impl SessionSummary {
    pub fn batch_size(&self) -> Option<u32> {
        self.config.as_ref().and_then(|c| c.batch_size)
    }

    pub fn planned_epochs(&self) -> Option<u32> {
        self.config.as_ref().and_then(|c| c.epochs)
    }
}

fn outcome(fold: &SessionFold) -> RunOutcome {
    match (&fold.run().status, fold.run().start_t) {
        (Some(s), _) => RunOutcome::from_status(s),
        (None, Some(_)) => RunOutcome::Incomplete,
        (None, None) => RunOutcome::NoRun,
    }
}

fn window_summary(w: Window) -> TrainingWindow {
    TrainingWindow {
        start_s: w.start_s,
        end_s: w.end_s,
        time_s: w.time_s(),
        energy_j: w.joules(),
        covered_s: w.cum.map_or(0.0, |c| c.covered_s),
        uncovered_s: w.cum.map_or(0.0, |c| c.uncovered_s),
        avg_power_w: w.avg_w(),
    }
}

/// Per-channel energy, and the counter energy of the total when every total
/// channel has a paired counter: (channels, counter energy, counter vs integrated).
fn channel_summaries(fold: &SessionFold) -> (Vec<ChannelSummary>, Option<f64>, Option<f64>) {
    let chans = fold.channels();
    let is_total = |name: &str| {
        chans
            .iter()
            .any(|o| o.name == name && o.role == Role::Total && o.unit == Unit::W)
    };
    let mut out = Vec::new();
    let (mut counter_j, mut integrated_j, mut with_counter) = (0.0, 0.0, 0usize);
    let energies = fold.ledger().channel_energies();
    for (c, e) in chans
        .iter()
        .filter(|c| c.unit == Unit::W || c.unit == Unit::J)
        .zip(energies)
    {
        let (paired_channel, paired_integrated_j, diff) = match e.paired {
            Some((name, j, d)) => (Some(name), Some(j), d),
            None => (None, None, None),
        };
        if paired_channel.as_deref().is_some_and(is_total) {
            with_counter += 1;
            counter_j += e.joules;
            integrated_j += paired_integrated_j.unwrap_or(0.0);
        }
        out.push(ChannelSummary {
            name: c.name.clone(),
            unit: c.unit.symbol().to_string(),
            scope: c.scope.label().to_string(),
            role: format!("{:?}", c.role).to_lowercase(),
            source: c.source.clone(),
            energy_j: e.joules,
            mean_w: e.mean_w,
            peak_w: e.peak_w,
            uncovered_s: e.uncovered_s,
            gaps: e.gaps,
            paired_channel,
            paired_integrated_j,
            counter_vs_integrated: diff,
        });
    }
    let n_totals = chans
        .iter()
        .filter(|c| c.role == Role::Total && c.unit == Unit::W)
        .count();
    if n_totals > 0 && with_counter == n_totals {
        let diff = (counter_j > 0.0).then(|| (counter_j - integrated_j) / counter_j);
        (out, Some(counter_j), diff)
    } else {
        (out, None, None)
    }
}

fn target_reach(fold: &SessionFold) -> Option<TargetReach> {
    let (target_acc, reached) = fold.target()?;
    Some(match reached {
        Some((epoch, w)) => TargetReach {
            target_acc,
            epoch: Some(epoch),
            time_s: Some(w.time_s()),
            energy_j: w.joules(),
        },
        None => TargetReach {
            target_acc,
            epoch: None,
            time_s: None,
            energy_j: None,
        },
    })
}

fn idle_split(fold: &SessionFold, training: Option<&TrainingWindow>) -> Option<IdleSplit> {
    let (floor_w, floor_from) = fold.idle_floor()?;
    let w = training?;
    let energy = w.energy_j?;
    // The floor over the covered time only, like the energy it splits.
    let static_j = floor_w * w.covered_s;
    Some(IdleSplit {
        floor_w,
        floor_from,
        calibration_s: fold.idle_window().map(|c| c.covered_s),
        static_j,
        dynamic_j: energy - static_j,
        static_fraction: (energy > 0.0).then(|| static_j / energy),
    })
}

/// The summary of a folded session; `file` names it in reports.
pub fn summarize(fold: &SessionFold, file: impl Into<String>) -> SessionSummary {
    let h = fold.header();
    let (channels, counter_energy_j, counter_vs_integrated) = channel_summaries(fold);
    let mut sources: Vec<String> = Vec::new();
    for c in h.channels.iter().filter(|c| c.role == Role::Total) {
        if !sources.contains(&c.source) {
            sources.push(c.source.clone());
        }
    }
    let training = fold.training().map(window_summary);
    let tr_energy = training.as_ref().and_then(|w| w.energy_j);
    let epochs = fold.epochs_done();
    let cum = fold.cum();
    let (problems, problem_count) = fold.problems();
    SessionSummary {
        file: file.into(),
        device: h.device_name(),
        host: h.host.clone(),
        device_model: h.device.model.clone(),
        power_mode: h.device.power_mode.clone(),
        start_utc: h.start_utc.clone(),
        sources,
        scope: fold.scope_label.clone(),
        estimate: fold.estimate,
        duration_s: fold.elapsed_s(),
        samples: fold.samples(),
        channels,
        energy_j: fold.joules(),
        covered_s: cum.map_or(0.0, |c| c.covered_s),
        counter_energy_j,
        counter_vs_integrated,
        uncovered_s: fold.uncovered_s(),
        avg_power_w: fold.avg_w(),
        peak_power_w: fold.peak_w(),
        problems: problems.to_vec(),
        problem_count,
        skipped_readings: h.skipped_readings,
        config: fold.run_config(),
        status: outcome(fold),
        status_message: fold.run().message.clone(),
        epochs,
        steps: fold.run().steps(),
        images: fold.images(),
        images_per_s: fold.images_per_s(),
        j_per_image: fold.joules_per_image(),
        j_per_epoch: tr_energy
            .filter(|_| epochs > 0)
            .map(|e| e / f64::from(epochs)),
        final_val_acc: fold.final_val_acc(),
        target: target_reach(fold),
        idle: idle_split(fold, training.as_ref()),
        training,
        clean_end: fold.clean_end(),
    }
}

/// Ratios of a session against a baseline (this / baseline).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ratios {
    pub time: Option<f64>,
    pub energy: Option<f64>,
    pub avg_power: Option<f64>,
    pub j_per_image: Option<f64>,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
        _ => None,
    }
}

/// Training figures of `s` against `base` (whole-session figures when either
/// has no training run).
pub fn ratios(s: &SessionSummary, base: &SessionSummary) -> Ratios {
    let time = |x: &SessionSummary| x.training.as_ref().map(|w| w.time_s).or(Some(x.duration_s));
    let energy = |x: &SessionSummary| match &x.training {
        Some(w) => w.energy_j,
        None => x.energy_j,
    };
    let power = |x: &SessionSummary| match &x.training {
        Some(w) => w.avg_power_w,
        None => x.avg_power_w,
    };
    Ratios {
        time: ratio(time(s), time(base)),
        energy: ratio(energy(s), energy(base)),
        avg_power: ratio(power(s), power(base)),
        j_per_image: ratio(s.j_per_image, base.j_per_image),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::{Event, Marker, MarkerKind, TrainEvent};
    use crate::model::header::Header;
    use crate::model::sample::{Channel, Sample, Scope};

    fn sample(t: f64, v: Vec<Option<f64>>) -> Event {
        Event::Sample(Sample { t_s: t, values: v })
    }

    fn header(channels: Vec<Channel>) -> Header {
        let mut h = Header::bare(channels, 100.0);
        h.host = "testhost".into();
        h
    }

    /// The fold under a summary-shaped name, for the tests below.
    struct F(SessionFold);

    impl F {
        fn new(h: &Header, target: Option<f64>) -> Self {
            F(SessionFold::new(h).with_target_acc(target))
        }
        fn push(&mut self, ev: &Event) {
            self.0.apply(ev)
        }
        fn finish(self, file: &str) -> SessionSummary {
            summarize(&self.0, file)
        }
    }

    fn run_start(t: f64, bs: u32, epochs: u32) -> Event {
        Event::Train(TrainEvent::RunStart {
            t_s: t,
            config: TrainConfig {
                model: "resnet18".into(),
                dataset: "synthetic:64".into(),
                batch_size: Some(bs),
                epochs: Some(epochs),
                steps_per_epoch: Some(4),
                ..Default::default()
            },
        })
    }

    #[test]
    fn window_energy_interpolates_at_edges_and_excludes_idle() {
        let h = header(vec![Channel::power(
            "gpu0",
            Scope::GpuOnly,
            Role::Total,
            "nvml",
        )]);
        let mut f = F::new(&h, None);
        // 10 W from 0 to 2 s (idle), 50 W from 2.1 s on; sampled every 0.1 s.
        for i in 0..=50 {
            let t = i as f64 * 0.1;
            let w = if t < 2.05 { 10.0 } else { 50.0 };
            f.push(&sample(t, vec![Some(w)]));
            if i == 25 {
                // Events written slightly after the sample at their time.
                f.push(&run_start(2.5, 8, 1));
            }
        }
        f.push(&Event::Train(TrainEvent::RunEnd {
            t_s: 4.55,
            status: RunStatus::Completed,
            message: None,
        }));
        let s = f.finish("a");
        let w = s.training.unwrap();
        assert!((w.time_s - 2.05).abs() < 1e-9);
        assert!((w.energy_j.unwrap() - 50.0 * 2.05).abs() < 1e-6, "{w:?}");
        assert!((w.avg_power_w.unwrap() - 50.0).abs() < 1e-6);
        assert_eq!(s.status, RunOutcome::Completed);
        assert_eq!(s.peak_power_w, Some(50.0));
    }

    #[test]
    fn idle_floor_from_marker_splits_static_and_dynamic() {
        let h = header(vec![Channel::power(
            "in",
            Scope::BoardInput,
            Role::Total,
            "tegrastats",
        )]);
        let mut f = F::new(&h, Some(80.0));
        f.push(&Event::Marker(Marker {
            t_s: 0.0,
            kind: MarkerKind::IdleStart,
            text: String::new(),
            value: None,
        }));
        for i in 0..=100 {
            let t = i as f64 * 0.1;
            let w = if t <= 3.0 { 2.0 } else { 5.0 };
            f.push(&sample(t, vec![Some(w)]));
            if i == 30 {
                f.push(&Event::Marker(Marker {
                    t_s: 3.0,
                    kind: MarkerKind::IdleEnd,
                    text: String::new(),
                    value: Some(2.0),
                }));
            }
            if i == 40 {
                f.push(&run_start(4.0, 8, 2));
            }
            if i == 70 {
                f.push(&Event::Train(TrainEvent::EpochEnd {
                    t_s: 7.0,
                    epoch: 1,
                    train_loss: None,
                    train_acc: None,
                    val_acc: Some(0.85),
                    images: Some(32),
                }));
            }
        }
        f.push(&Event::Train(TrainEvent::EpochEnd {
            t_s: 10.0,
            epoch: 2,
            train_loss: None,
            train_acc: None,
            val_acc: Some(0.9),
            images: Some(64),
        }));
        f.push(&Event::Train(TrainEvent::RunEnd {
            t_s: 10.0,
            status: RunStatus::Completed,
            message: None,
        }));
        let s = f.finish("b");
        let w = s.training.as_ref().unwrap();
        assert!((w.energy_j.unwrap() - 30.0).abs() < 1e-6);
        let idle = s.idle.unwrap();
        assert_eq!(idle.floor_from, "marker");
        assert!((idle.static_j - 12.0).abs() < 1e-9);
        assert!((idle.dynamic_j - 18.0).abs() < 1e-6);
        assert_eq!(idle.calibration_s, Some(3.0));
        assert_eq!(s.epochs, 2);
        assert_eq!(s.steps, Some(8));
        assert_eq!(s.images, Some(64));
        assert!((s.j_per_image.unwrap() - 30.0 / 64.0).abs() < 1e-9);
        assert!((s.j_per_epoch.unwrap() - 15.0).abs() < 1e-6);
        // 80 is read as 80%: reached at epoch 1 (t = 7 s, 3 s and 15 J in).
        let tg = s.target.unwrap();
        assert_eq!(tg.epoch, Some(1));
        assert!((tg.time_s.unwrap() - 3.0).abs() < 1e-9);
        assert!((tg.energy_j.unwrap() - 15.0).abs() < 1e-6);
        assert_eq!(s.final_val_acc, Some(0.9));
    }

    #[test]
    fn killed_run_is_incomplete_and_gap_inside_window_is_uncovered() {
        let h = header(vec![Channel::cpu_estimate_total()]);
        let mut f = F::new(&h, None);
        f.push(&run_start(0.0, 4, 1));
        for t in [0.0, 0.1, 0.2, 5.2, 5.3] {
            f.push(&sample(t, vec![Some(10.0)]));
        }
        let s = f.finish("c");
        assert_eq!(s.status, RunOutcome::Incomplete);
        assert!(s.estimate);
        let w = s.training.unwrap();
        assert!((w.end_s - 5.3).abs() < 1e-12);
        assert!((w.uncovered_s - 5.0).abs() < 1e-9);
        assert!((w.energy_j.unwrap() - 3.0).abs() < 1e-9);
        // 10 W over the 0.3 s the sensor covered, not 3 J over 5.3 s.
        assert!((w.avg_power_w.unwrap() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_later_run_start_updates_the_config_not_the_start() {
        let h = header(vec![Channel::cpu_estimate_total()]);
        let mut f = F::new(&h, None);
        f.push(&Event::Train(TrainEvent::RunStart {
            t_s: 0.0,
            config: TrainConfig {
                model: "python train.py".into(),
                dataset: "external".into(),
                ..Default::default()
            },
        }));
        for i in 0..=20 {
            f.push(&sample(i as f64 * 0.1, vec![Some(10.0)]));
        }
        f.push(&run_start(1.0, 32, 2));
        f.push(&Event::Train(TrainEvent::RunEnd {
            t_s: 2.0,
            status: RunStatus::Completed,
            message: None,
        }));
        let s = f.finish("ext");
        let w = s.training.unwrap();
        assert_eq!(w.start_s, 0.0);
        assert!((w.energy_j.unwrap() - 20.0).abs() < 1e-9);
        let c = s.config.unwrap();
        assert_eq!((c.batch_size, c.epochs), (Some(32), Some(2)));
    }

    #[test]
    fn ratios_against_baseline() {
        let h = header(vec![Channel::power(
            "g",
            Scope::GpuOnly,
            Role::Total,
            "nvml",
        )]);
        let mk = |w: f64, end: f64| {
            let mut f = F::new(&h, None);
            f.push(&run_start(0.0, 8, 1));
            let n = (end / 0.1).round() as usize;
            for i in 0..=n {
                f.push(&sample(i as f64 * 0.1, vec![Some(w)]));
            }
            f.push(&Event::Train(TrainEvent::RunEnd {
                t_s: end,
                status: RunStatus::Completed,
                message: None,
            }));
            f.finish("x")
        };
        let a = mk(100.0, 1.0);
        let b = mk(5.0, 10.0);
        let r = ratios(&b, &a);
        assert!((r.time.unwrap() - 10.0).abs() < 1e-9);
        assert!((r.energy.unwrap() - 0.5).abs() < 1e-9);
        assert!((r.avg_power.unwrap() - 0.05).abs() < 1e-9);
        assert_eq!(r.j_per_image, None);
    }
}
