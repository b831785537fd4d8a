//! A session's summary, folded from its events one at a time (no file I/O
//! here: the caller streams a `SessionReader` into [`SummaryFold::push`]).
//!
//! Training figures cover the run only: time is RunEnd.t − RunStart.t and the
//! training energy is the total channels integrated over [RunStart.t,
//! RunEnd.t], interpolating linearly inside the sampling intervals that cross
//! the window's edges. Whatever came before (an idle calibration) or after is
//! in the whole-session figures only.
use serde::Serialize;
use std::collections::VecDeque;

use super::energy::{gap_threshold_s, EnergyLedger};
use super::event::{Event, MarkerKind, RunStatus, TrainConfig, TrainEvent};
use super::sample::{total_is_estimate, total_scope_label, Channel, Role, Sample, Unit};

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
    /// Total channels integrated over [start_s, end_s].
    pub energy_j: f64,
    /// Time inside the window not covered by readings (sensor gaps).
    pub uncovered_s: f64,
    /// energy_j / time_s.
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
    /// Whole session: total channels integrated.
    pub energy_j: f64,
    /// Whole session, when every total channel has a paired counter.
    pub counter_energy_j: Option<f64>,
    /// (counter − integrated) / counter over the channels that have one.
    pub counter_vs_integrated: Option<f64>,
    pub uncovered_s: f64,
    pub avg_power_w: Option<f64>,
    /// Peak of the total (sum of the latest reading of each total channel).
    pub peak_power_w: Option<f64>,
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

/// An accuracy as a fraction: values above 1 are taken as percentages.
pub fn acc_fraction(acc: f64) -> f64 {
    if acc > 1.0 {
        acc / 100.0
    } else {
        acc
    }
}

/// Cumulative energy and uncovered time of one total channel.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Cum {
    joules: f64,
    uncovered_s: f64,
}

/// A reading with the cumulative figures at its time.
#[derive(Clone, Copy, Debug)]
struct Reading {
    t_s: f64,
    watts: f64,
    cum: Cum,
}

/// Readings kept for probes that arrive late (an event written after later
/// samples): at 10 Hz, the last 51 s.
const HISTORY: usize = 512;

/// Integrates one total channel and answers "energy up to time t" for
/// probes placed at event times, interpolating inside the interval that
/// contains t (resolved when the reading after t arrives).
#[derive(Clone, Debug)]
struct CumChannel {
    gap_s: f64,
    first_t: Option<f64>,
    history: VecDeque<Reading>,
    pending: Vec<(usize, f64)>,
}

impl CumChannel {
    fn new(gap_s: f64) -> Self {
        CumChannel {
            gap_s,
            first_t: None,
            history: VecDeque::with_capacity(HISTORY),
            pending: Vec::new(),
        }
    }

    fn push(&mut self, t_s: f64, watts: f64, out: &mut [Vec<Option<Cum>>], ch: usize) {
        if !watts.is_finite() || watts < 0.0 || !t_s.is_finite() {
            return;
        }
        let cum = match self.history.back() {
            None => Cum::default(),
            Some(l) => {
                let dt = t_s - l.t_s;
                if dt < 0.0 {
                    return;
                }
                if dt > self.gap_s {
                    Cum {
                        joules: l.cum.joules,
                        uncovered_s: l.cum.uncovered_s + dt,
                    }
                } else {
                    Cum {
                        joules: l.cum.joules + 0.5 * (l.watts + watts) * dt,
                        uncovered_s: l.cum.uncovered_s,
                    }
                }
            }
        };
        self.first_t.get_or_insert(t_s);
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(Reading { t_s, watts, cum });
        let mut i = 0;
        while i < self.pending.len() {
            let (id, t) = self.pending[i];
            if let Some(c) = self.eval(t) {
                out[id][ch] = Some(c);
                self.pending.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// Cumulative figures at `t`, or `None` when `t` is at or after the last
    /// reading (wait for the next one).
    fn eval(&self, t: f64) -> Option<Cum> {
        let last = *self.history.back()?;
        if t >= last.t_s {
            return None;
        }
        if self.first_t.is_some_and(|f| t <= f) {
            return Some(Cum::default());
        }
        // The interval [prev, next] that contains t.
        let k = self.history.partition_point(|r| r.t_s <= t);
        if k == 0 {
            // Older than the history kept: the oldest known point.
            return Some(self.history[0].cum);
        }
        let prev = self.history[k - 1];
        let next = self.history[k];
        let dt = next.t_s - prev.t_s;
        let x = t - prev.t_s;
        if dt > self.gap_s {
            return Some(Cum {
                joules: prev.cum.joules,
                uncovered_s: prev.cum.uncovered_s + x,
            });
        }
        let w = prev.watts + (next.watts - prev.watts) * x / dt;
        Some(Cum {
            joules: prev.cum.joules + 0.5 * (prev.watts + w) * x,
            uncovered_s: prev.cum.uncovered_s,
        })
    }

    fn probe(&mut self, id: usize, t: f64, out: &mut [Vec<Option<Cum>>], ch: usize) {
        match self.eval(t) {
            Some(c) => out[id][ch] = Some(c),
            None => self.pending.push((id, t)),
        }
    }

    /// Resolve probes after the last reading: no readings after it.
    fn finish(&mut self, out: &mut [Vec<Option<Cum>>], ch: usize) {
        for (id, t) in self.pending.drain(..) {
            out[id][ch] = Some(match self.history.back() {
                None => Cum::default(),
                Some(l) => {
                    let tail = t - l.t_s;
                    Cum {
                        joules: l.cum.joules,
                        uncovered_s: l.cum.uncovered_s + if tail > self.gap_s { tail } else { 0.0 },
                    }
                }
            });
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    RunStart,
    RunEnd,
    IdleStart,
    IdleEnd,
    Target,
    LastEvent,
}

/// Folds a session's events into a [`SessionSummary`].
pub struct SummaryFold {
    header_device: String,
    host: String,
    device_model: Option<String>,
    power_mode: Option<String>,
    start_utc: String,
    channels: Vec<Channel>,
    ledger: EnergyLedger,
    totals: Vec<(usize, CumChannel)>,
    latest_total_w: Vec<Option<f64>>,
    peak_power_w: Option<f64>,
    probes: Vec<(Probe, f64)>,
    probe_values: Vec<Vec<Option<Cum>>>,
    config: Option<TrainConfig>,
    run_started: bool,
    run_end: Option<(RunStatus, Option<String>)>,
    last_t: f64,
    epochs: u32,
    max_step_in_epoch: Vec<u64>,
    steps_per_epoch: Option<u32>,
    images: Option<u64>,
    final_val_acc: Option<f64>,
    target_acc: Option<f64>,
    target_epoch: Option<(u32, f64)>,
    idle_floor_marker: Option<f64>,
    clean_end: bool,
}

/// What a summary needs from a session's header (kept apart from the file
/// format so this module stays free of I/O types).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionMeta {
    pub label: Option<String>,
    pub host: String,
    pub device_model: Option<String>,
    pub power_mode: Option<String>,
    pub start_utc: String,
    pub channels: Vec<Channel>,
    /// Nominal sampling interval; gaps are intervals over 5 of them.
    pub interval_ms: f64,
    pub train: Option<TrainConfig>,
}

impl SummaryFold {
    /// `target_acc`: accuracy to reach, as a fraction or a percentage (> 1).
    pub fn new(header: &SessionMeta, target_acc: Option<f64>) -> Self {
        let gap = gap_threshold_s(header.interval_ms);
        let totals: Vec<(usize, CumChannel)> = header
            .channels
            .iter()
            .enumerate()
            .filter(|(_, c)| c.role == Role::Total && c.unit == Unit::W)
            .map(|(i, _)| (i, CumChannel::new(gap)))
            .collect();
        let device = header
            .label
            .clone()
            .or_else(|| header.device_model.clone())
            .unwrap_or_else(|| header.host.clone());
        SummaryFold {
            header_device: device,
            host: header.host.clone(),
            device_model: header.device_model.clone(),
            power_mode: header.power_mode.clone(),
            start_utc: header.start_utc.clone(),
            channels: header.channels.clone(),
            ledger: EnergyLedger::new(&header.channels, header.interval_ms),
            latest_total_w: vec![None; totals.len()],
            totals,
            peak_power_w: None,
            probes: Vec::new(),
            probe_values: Vec::new(),
            config: header.train.clone(),
            run_started: false,
            run_end: None,
            last_t: 0.0,
            epochs: 0,
            max_step_in_epoch: Vec::new(),
            steps_per_epoch: header.train.as_ref().and_then(|t| t.steps_per_epoch),
            images: None,
            final_val_acc: None,
            target_acc: target_acc.map(acc_fraction),
            target_epoch: None,
            idle_floor_marker: None,
            clean_end: false,
        }
    }

    fn probe(&mut self, kind: Probe, t: f64) {
        // Only the first probe of each kind counts (one run per session).
        if self.probes.iter().any(|(k, _)| *k == kind) {
            return;
        }
        let id = self.probes.len();
        self.probes.push((kind, t));
        self.probe_values.push(vec![None; self.totals.len()]);
        for (ch, (_, c)) in self.totals.iter_mut().enumerate() {
            c.probe(id, t, &mut self.probe_values, ch);
        }
    }

    fn push_sample(&mut self, s: &Sample) {
        self.ledger.push_sample(s);
        let mut any = false;
        for (ch, (i, c)) in self.totals.iter_mut().enumerate() {
            if let Some(Some(w)) = s.values.get(*i) {
                c.push(s.t_s, *w, &mut self.probe_values, ch);
                if w.is_finite() && *w >= 0.0 {
                    self.latest_total_w[ch] = Some(*w);
                    any = true;
                }
            }
        }
        if any && self.latest_total_w.iter().all(|w| w.is_some()) {
            let sum: f64 = self.latest_total_w.iter().flatten().sum();
            self.peak_power_w = Some(self.peak_power_w.map_or(sum, |p| p.max(sum)));
        }
    }

    /// Fold one event.
    pub fn push(&mut self, ev: &Event) {
        self.last_t = self.last_t.max(ev.t_s());
        match ev {
            Event::Sample(s) => self.push_sample(s),
            Event::Train(t) => self.push_train(t),
            Event::Marker(m) => match m.kind {
                MarkerKind::IdleStart => self.probe(Probe::IdleStart, m.t_s),
                MarkerKind::IdleEnd => {
                    self.probe(Probe::IdleEnd, m.t_s);
                    if self.idle_floor_marker.is_none() {
                        self.idle_floor_marker = m.value.filter(|v| v.is_finite() && *v >= 0.0);
                    }
                }
                _ => {}
            },
            Event::End(_) => self.clean_end = true,
        }
    }

    fn push_train(&mut self, t: &TrainEvent) {
        match t {
            TrainEvent::RunStart { t_s, config } => {
                // A later RunStart (a wrapped command's `start` line) updates
                // the configuration; the run started at the first one.
                self.config = Some(config.clone());
                if config.steps_per_epoch.is_some() {
                    self.steps_per_epoch = config.steps_per_epoch;
                }
                if !self.run_started {
                    self.run_started = true;
                    self.probe(Probe::RunStart, *t_s);
                }
            }
            TrainEvent::Step {
                epoch,
                step,
                steps_per_epoch,
                images,
                ..
            } => {
                if self.run_end.is_some() {
                    return;
                }
                let e = (*epoch).max(1) as usize;
                if self.max_step_in_epoch.len() < e {
                    self.max_step_in_epoch.resize(e, 0);
                }
                let m = &mut self.max_step_in_epoch[e - 1];
                *m = (*m).max(*step as u64);
                if steps_per_epoch.is_some() {
                    self.steps_per_epoch = *steps_per_epoch;
                }
                if let Some(n) = images {
                    self.images = Some(self.images.map_or(*n, |i| i.max(*n)));
                }
            }
            TrainEvent::EpochEnd {
                t_s,
                epoch,
                val_acc,
                images,
                ..
            } => {
                if self.run_end.is_some() {
                    return;
                }
                self.epochs = self.epochs.max(*epoch);
                if let Some(n) = images {
                    self.images = Some(self.images.map_or(*n, |i| i.max(*n)));
                }
                if let (Some(spe), e) = (self.steps_per_epoch, *epoch as usize) {
                    if e >= 1 {
                        if self.max_step_in_epoch.len() < e {
                            self.max_step_in_epoch.resize(e, 0);
                        }
                        self.max_step_in_epoch[e - 1] = spe as u64;
                    }
                }
                if let Some(acc) = val_acc.filter(|a| a.is_finite()) {
                    self.final_val_acc = Some(acc);
                    if let Some(target) = self.target_acc {
                        if self.target_epoch.is_none() && acc_fraction(acc) >= target {
                            self.target_epoch = Some((*epoch, *t_s));
                            self.probe(Probe::Target, *t_s);
                        }
                    }
                }
            }
            TrainEvent::RunEnd {
                t_s,
                status,
                message,
            } => {
                if self.run_end.is_some() {
                    return;
                }
                self.run_end = Some((status.clone(), message.clone()));
                self.probe(Probe::RunEnd, *t_s);
            }
        }
    }

    fn probe_at(&self, kind: Probe) -> Option<(f64, Cum)> {
        let id = self.probes.iter().position(|(k, _)| *k == kind)?;
        let vals = &self.probe_values[id];
        let mut c = Cum::default();
        for v in vals {
            let v = v.unwrap_or_default();
            c.joules += v.joules;
            c.uncovered_s = c.uncovered_s.max(v.uncovered_s);
        }
        Some((self.probes[id].1, c))
    }

    /// The summary; `file` names the session in reports.
    pub fn finish(mut self, file: impl Into<String>) -> SessionSummary {
        if self.run_started && self.run_end.is_none() {
            let t = self.last_t;
            self.probe(Probe::LastEvent, t);
        }
        for (ch, (_, c)) in self.totals.iter_mut().enumerate() {
            c.finish(&mut self.probe_values, ch);
        }

        let energies = self.ledger.channel_energies();
        let mut channels = Vec::new();
        let mut counter_sum = 0.0;
        let mut counter_integrated = 0.0;
        let mut totals_with_counter = 0usize;
        for (c, e) in self
            .channels
            .iter()
            .filter(|c| c.unit == Unit::W || c.unit == Unit::J)
            .zip(energies.iter())
        {
            let (paired_channel, paired_integrated_j, diff) = match &e.paired {
                Some((name, j, d)) => (Some(name.clone()), Some(*j), *d),
                None => (None, None, None),
            };
            if let Some(p) = &paired_channel {
                let pairs_total = self
                    .channels
                    .iter()
                    .any(|o| &o.name == p && o.role == Role::Total && o.unit == Unit::W);
                if pairs_total {
                    totals_with_counter += 1;
                    counter_sum += e.joules;
                    counter_integrated += paired_integrated_j.unwrap_or(0.0);
                }
            }
            channels.push(ChannelSummary {
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
        let n_totals = self.totals.len();
        let (counter_energy_j, counter_vs_integrated) =
            if n_totals > 0 && totals_with_counter == n_totals {
                (
                    Some(counter_sum),
                    (counter_sum > 0.0).then(|| (counter_sum - counter_integrated) / counter_sum),
                )
            } else {
                (None, None)
            };
        let avg_power_w = {
            let means: Vec<Option<f64>> = self
                .totals
                .iter()
                .map(|(i, _)| self.ledger.power(*i).and_then(|p| p.mean_w()))
                .collect();
            (!means.is_empty() && means.iter().all(|m| m.is_some()))
                .then(|| means.iter().flatten().sum())
        };

        let mut sources: Vec<String> = Vec::new();
        for c in self.channels.iter().filter(|c| c.role == Role::Total) {
            if !sources.contains(&c.source) {
                sources.push(c.source.clone());
            }
        }

        let status = match (&self.run_end, self.run_started) {
            (Some((s, _)), _) => RunOutcome::from_status(s),
            (None, true) => RunOutcome::Incomplete,
            (None, false) => RunOutcome::NoRun,
        };
        let status_message = self.run_end.as_ref().and_then(|(_, m)| m.clone());

        let start = self.probe_at(Probe::RunStart);
        let end = self
            .probe_at(Probe::RunEnd)
            .or_else(|| self.probe_at(Probe::LastEvent));
        let training = match (start, end) {
            (Some((t0, c0)), Some((t1, c1))) => {
                let time_s = (t1 - t0).max(0.0);
                let energy_j = c1.joules - c0.joules;
                let uncovered_s = (c1.uncovered_s - c0.uncovered_s).max(0.0);
                // Power is energy over the time the sensors covered: a gap's
                // energy is unknown, not zero.
                let covered_s = (time_s - uncovered_s).max(0.0);
                Some(TrainingWindow {
                    start_s: t0,
                    end_s: t1,
                    time_s,
                    energy_j,
                    uncovered_s,
                    avg_power_w: (covered_s > 0.0 && n_totals > 0).then(|| energy_j / covered_s),
                })
            }
            _ => None,
        };

        let steps = (!self.max_step_in_epoch.is_empty())
            .then(|| self.max_step_in_epoch.iter().sum::<u64>());
        let images = self.images.or_else(|| {
            let per_epoch = self.config.as_ref().and_then(|c| c.train_images)?;
            (self.epochs > 0).then(|| per_epoch * self.epochs as u64)
        });
        let tr_time = training.as_ref().map(|w| w.time_s);
        let tr_energy = training
            .as_ref()
            .filter(|_| n_totals > 0)
            .map(|w| w.energy_j);
        let images_per_s = match (images, tr_time) {
            (Some(n), Some(t)) if t > 0.0 && n > 0 => Some(n as f64 / t),
            _ => None,
        };
        let j_per_image = match (images, tr_energy) {
            (Some(n), Some(e)) if n > 0 => Some(e / n as f64),
            _ => None,
        };
        let j_per_epoch = match tr_energy {
            Some(e) if self.epochs > 0 => Some(e / self.epochs as f64),
            _ => None,
        };

        let target = self.target_acc.map(|target_acc| {
            match (self.target_epoch, self.probe_at(Probe::Target), start) {
                (Some((epoch, _)), Some((t, c)), Some((t0, c0))) => TargetReach {
                    target_acc,
                    epoch: Some(epoch),
                    time_s: Some(t - t0),
                    energy_j: (n_totals > 0).then_some(c.joules - c0.joules),
                },
                _ => TargetReach {
                    target_acc,
                    epoch: None,
                    time_s: None,
                    energy_j: None,
                },
            }
        });

        let idle_window = match (
            self.probe_at(Probe::IdleStart),
            self.probe_at(Probe::IdleEnd),
        ) {
            (Some((a, ca)), Some((b, cb))) if b > a => {
                let covered = (b - a) - (cb.uncovered_s - ca.uncovered_s).max(0.0);
                (covered > 0.0).then_some((covered, cb.joules - ca.joules))
            }
            _ => None,
        };
        let floor = match (self.idle_floor_marker, idle_window) {
            (Some(w), _) => Some((w, "marker")),
            (None, Some((dt, j))) if n_totals > 0 => Some((j / dt, "measured")),
            _ => None,
        };
        let idle = match (floor, &training) {
            (Some((floor_w, floor_from)), Some(w)) if n_totals > 0 => {
                // The floor over the covered time only, like the energy it splits.
                let static_j = floor_w * (w.time_s - w.uncovered_s).max(0.0);
                Some(IdleSplit {
                    floor_w,
                    floor_from,
                    calibration_s: idle_window.map(|(dt, _)| dt),
                    static_j,
                    dynamic_j: w.energy_j - static_j,
                    static_fraction: (w.energy_j > 0.0).then(|| static_j / w.energy_j),
                })
            }
            _ => None,
        };

        SessionSummary {
            file: file.into(),
            device: self.header_device,
            host: self.host,
            device_model: self.device_model,
            power_mode: self.power_mode,
            start_utc: self.start_utc,
            sources,
            scope: total_scope_label(&self.channels),
            estimate: total_is_estimate(&self.channels),
            duration_s: self.last_t,
            samples: self.ledger.samples,
            channels,
            energy_j: self.ledger.total_joules(),
            counter_energy_j,
            counter_vs_integrated,
            uncovered_s: self.ledger.total_uncovered_s(),
            avg_power_w,
            peak_power_w: self.peak_power_w,
            config: self.config,
            status,
            status_message,
            training,
            epochs: self.epochs,
            steps,
            images,
            images_per_s,
            j_per_image,
            j_per_epoch,
            final_val_acc: self.final_val_acc,
            target,
            idle,
            clean_end: self.clean_end,
        }
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
    let energy = |x: &SessionSummary| x.training.as_ref().map(|w| w.energy_j).or(Some(x.energy_j));
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
    use crate::model::event::Marker;
    use crate::model::sample::Scope;

    fn sample(t: f64, v: Vec<Option<f64>>) -> Event {
        Event::Sample(Sample { t_s: t, values: v })
    }

    fn header(channels: Vec<Channel>) -> SessionMeta {
        SessionMeta {
            host: "testhost".into(),
            channels,
            interval_ms: 100.0,
            ..Default::default()
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
        let mut f = SummaryFold::new(&h, None);
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
        assert!((w.energy_j - 50.0 * 2.05).abs() < 1e-6, "{}", w.energy_j);
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
        let mut f = SummaryFold::new(&h, Some(80.0));
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
        assert!((w.energy_j - 30.0).abs() < 1e-6);
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
        let h = header(vec![Channel::power(
            "cpu",
            Scope::Estimate,
            Role::Total,
            "cpu_estimate",
        )]);
        let mut f = SummaryFold::new(&h, None);
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
        assert!((w.energy_j - 3.0).abs() < 1e-9);
        // 10 W over the 0.3 s the sensor covered, not 3 J over 5.3 s.
        assert!((w.avg_power_w.unwrap() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_later_run_start_updates_the_config_not_the_start() {
        let h = header(vec![Channel::power(
            "cpu",
            Scope::Estimate,
            Role::Total,
            "cpu_estimate",
        )]);
        let mut f = SummaryFold::new(&h, None);
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
        assert!((w.energy_j - 20.0).abs() < 1e-9);
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
            let mut f = SummaryFold::new(&h, None);
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
