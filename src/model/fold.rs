//! The one fold: a session's events (header, samples, training events,
//! markers, closing line) folded, one at a time, into every figure any view
//! shows. The live pane, the replayed pane, the comparison strip, the replay
//! index, the recorder's closing line and progress line, `inspect` and
//! `summary` all read a [`SessionFold`], so they cannot disagree.
//!
//! Definitions (also in the README's "Figures" section):
//! - **Total power** at an instant is the sum of the latest reading of every
//!   total channel, known only when every total channel has a reading no
//!   older than the gap threshold (5 sampling intervals); otherwise it is
//!   unknown ("–"), never a part shown as the whole ([`TotalPower`]).
//! - **Energy** is the total integrated (trapezoids) over the intervals where
//!   it is known at both ends and no longer than the gap threshold: the
//!   *covered* time. Every other interval is *uncovered* time.
//! - **Average power** is energy over covered time, for the whole session and
//!   for the training window alike, so it can never exceed the peak.
//! - **The training window** runs from the run's start to its end (or to the
//!   latest event while it runs); its energy is the difference of the
//!   cumulative energy interpolated at both instants. Idle calibration before
//!   and anything after the run are in the whole-session figures only.
//! - A figure that cannot be computed is `None` (shown "–", exported `null`).
//!
//! Every event costs O(channels): history is kept in fixed rings.
use super::energy::{gap_threshold_s, EnergyLedger};
use super::event::{Event, Marker, MarkerKind, RunStatus, TrainConfig, TrainEvent};
use super::header::Header;
use super::progress::RunProgress;
use super::sample::{total_is_estimate, total_scope_label, Channel, Role, Unit};
use super::series::{PowerSeries, Trail, TrailPoint};
use super::total::{plausible_watts, Cum, TotalPower};

/// Spacing of the energy-over-time trail at first (it doubles when full).
const ENERGY_TRAIL_DX_S: f64 = 1.0;
/// Spacing of the progress trail at first (a fraction of the run).
const PROGRESS_TRAIL_DX: f64 = 1e-3;
/// Window of the recent average used to project the energy at completion.
pub const PROJECTION_WINDOW_S: usize = 60;
/// Problems kept verbatim (the rest are counted).
const PROBLEMS_KEPT: usize = 8;

/// Where a session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStatus {
    /// Events still arriving (live or replayed).
    Running,
    /// The training run completed.
    Finished,
    OutOfMemory,
    Error,
    Cancelled,
    /// The session closed without a training outcome (power only, or a
    /// trainer that never reported its end).
    Ended,
}

/// An instant whose cumulative figures are read off the total timeline,
/// exactly once a point after it exists.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Probe {
    t_s: Option<f64>,
    cum: Option<Cum>,
}

impl Probe {
    fn set(&mut self, t_s: f64, total: &TotalPower) {
        self.t_s = Some(t_s);
        self.cum = total.cum_at(t_s);
    }

    fn set_once(&mut self, t_s: f64, total: &TotalPower) {
        if self.t_s.is_none() {
            self.set(t_s, total);
        }
    }

    fn resolve(&mut self, total: &TotalPower) {
        if let (None, Some(t)) = (self.cum, self.t_s) {
            self.cum = total.cum_at(t);
        }
    }

    /// The figures at the instant as far as they are known now.
    fn value(&self, total: &TotalPower) -> Option<Cum> {
        self.cum.or_else(|| total.cum_at_or_latest(self.t_s?))
    }
}

/// The training run's window and what it cost (whole figures so far while it runs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub start_s: f64,
    pub end_s: f64,
    /// None when the session has no total power channel or no reading yet.
    pub cum: Option<Cum>,
}

impl Window {
    pub fn time_s(&self) -> f64 {
        (self.end_s - self.start_s).max(0.0)
    }

    pub fn joules(&self) -> Option<f64> {
        self.cum.map(|c| c.joules)
    }

    pub fn avg_w(&self) -> Option<f64> {
        self.cum?.avg_w()
    }
}

/// The folded state of one session.
#[derive(Clone, Debug)]
pub struct SessionFold {
    header: Header,
    /// The device model, else the host: the pane title.
    pub device: String,
    /// Scope of the total, e.g. "GPU only + CPU package".
    pub scope_label: String,
    /// The total contains an estimate: shown with the word "estimate".
    pub estimate: bool,
    gap_s: f64,
    ledger: EnergyLedger,
    total: TotalPower,
    /// Latest plausible reading per channel: (time, value).
    latest: Vec<Option<(f64, f64)>>,
    total_series: PowerSeries,
    per_channel: Vec<Option<PowerSeries>>,
    /// (fraction of the run, time, cumulative energy) at progress events.
    progress_trail: Trail,
    /// (time, time, cumulative energy): the energy chart without progress.
    energy_trail: Trail,
    elapsed_s: f64,
    samples: u64,
    run: RunProgress,
    /// The header's announcement, replaced by each RunStart's configuration.
    config: Option<TrainConfig>,
    run_start: Probe,
    run_end: Probe,
    progress: Probe,
    idle_start: Probe,
    idle_end: Probe,
    target: Probe,
    idle_floor_marker: Option<f64>,
    target_acc: Option<f64>,
    target_epoch: Option<u32>,
    final_val_acc: Option<f64>,
    clean_end: bool,
    gap_markers: u64,
    last_gap_note: Option<String>,
    last_error: Option<String>,
    events: u64,
    train_events: u64,
    markers: u64,
    problems: Vec<String>,
    problem_count: u64,
}

impl SessionFold {
    pub fn new(header: &Header) -> Self {
        let channels = &header.channels;
        let total_idx: Vec<usize> = channels
            .iter()
            .enumerate()
            .filter(|(_, c)| c.role == Role::Total && c.unit == Unit::W)
            .map(|(i, _)| i)
            .collect();
        let gap_s = gap_threshold_s(header.interval_ms);
        SessionFold {
            device: header
                .device
                .model
                .clone()
                .unwrap_or_else(|| header.host.clone()),
            scope_label: total_scope_label(channels),
            estimate: total_is_estimate(channels),
            gap_s,
            ledger: EnergyLedger::new(channels, header.interval_ms),
            total: TotalPower::new(total_idx, gap_s),
            latest: vec![None; channels.len()],
            total_series: PowerSeries::new(),
            per_channel: channels
                .iter()
                .map(|c| c.is_power().then(PowerSeries::new))
                .collect(),
            progress_trail: Trail::new(PROGRESS_TRAIL_DX),
            energy_trail: Trail::new(ENERGY_TRAIL_DX_S),
            elapsed_s: 0.0,
            samples: 0,
            run: RunProgress::from_config(header.train.as_ref()),
            config: header.train.clone(),
            run_start: Probe::default(),
            run_end: Probe::default(),
            progress: Probe::default(),
            idle_start: Probe::default(),
            idle_end: Probe::default(),
            target: Probe::default(),
            idle_floor_marker: None,
            target_acc: None,
            target_epoch: None,
            final_val_acc: None,
            clean_end: false,
            gap_markers: 0,
            last_gap_note: None,
            last_error: None,
            events: 0,
            train_events: 0,
            markers: 0,
            problems: Vec::new(),
            problem_count: 0,
            header: header.clone(),
        }
    }

    /// Also find when validation accuracy first reached `acc` (a fraction,
    /// or a percentage when above 1).
    pub fn with_target_acc(mut self, acc: Option<f64>) -> Self {
        self.target_acc = acc.map(|a| if a > 1.0 { a / 100.0 } else { a });
        self
    }

    /// Fold one event in. O(channels), no allocation except for marker texts.
    pub fn apply(&mut self, ev: &Event) {
        self.events += 1;
        let t = ev.t_s();
        if t.is_finite() && t > self.elapsed_s {
            self.elapsed_s = t;
        }
        match ev {
            Event::Sample(s) => self.apply_sample(s.t_s, &s.values),
            Event::Train(te) => {
                self.train_events += 1;
                self.apply_train(te)
            }
            Event::Marker(m) => self.apply_marker(m),
            Event::End(_) => self.clean_end = true,
        }
    }

    fn apply_marker(&mut self, m: &Marker) {
        self.markers += 1;
        match m.kind {
            MarkerKind::SensorGap => {
                self.gap_markers += 1;
                self.last_gap_note = (!m.text.is_empty()).then(|| m.text.clone());
            }
            MarkerKind::Error => self.last_error = Some(m.text.clone()),
            MarkerKind::IdleStart => self.idle_start.set_once(m.t_s, &self.total),
            MarkerKind::IdleEnd => {
                self.idle_end.set_once(m.t_s, &self.total);
                if self.idle_floor_marker.is_none() {
                    self.idle_floor_marker = m.value.filter(|v| plausible_watts(*v));
                }
            }
            MarkerKind::Note => {}
        }
    }

    fn apply_sample(&mut self, t_s: f64, values: &[Option<f64>]) {
        if !t_s.is_finite() {
            self.problem(format!("a sample without a finite time ({t_s})"));
            return;
        }
        self.samples += 1;
        self.ledger.push_sample_values(t_s, values);
        for (i, v) in values.iter().enumerate() {
            let Some(v) = v.filter(|v| v.is_finite()) else {
                continue;
            };
            let power = self.per_channel.get(i).is_some_and(|s| s.is_some());
            if power && !plausible_watts(v) {
                continue;
            }
            if let Some(slot) = self.latest.get_mut(i) {
                *slot = Some((t_s, v));
            }
            if let Some(Some(series)) = self.per_channel.get_mut(i) {
                series.push(t_s, v);
            }
        }
        if self.total.push(t_s, values) {
            for p in [
                &mut self.run_start,
                &mut self.run_end,
                &mut self.progress,
                &mut self.idle_start,
                &mut self.idle_end,
                &mut self.target,
            ] {
                p.resolve(&self.total);
            }
            if let Some(w) = self.total.current_w(t_s) {
                self.total_series.push(t_s, w);
            }
            self.trails_after_reading(t_s);
        }
    }

    /// Settle the progress points the new reading is after, and extend the
    /// energy-over-time trail. Amortised O(1).
    fn trails_after_reading(&mut self, t_s: f64) {
        let total = &self.total;
        for p in self.progress_trail.pending_mut() {
            if let Some(c) = total.cum_at(p.t_s) {
                p.joules = Some(c.joules);
                p.exact = true;
            }
        }
        if let Some(c) = total.cum() {
            self.energy_trail.push(TrailPoint {
                x: t_s,
                t_s,
                joules: Some(c.joules),
                exact: true,
            });
        }
    }

    fn push_progress_point(&mut self, t: f64) {
        let Some(f) = self.run.fraction() else {
            return;
        };
        let t_s = self.run.progress_t.unwrap_or(t);
        self.progress_trail.push(TrailPoint {
            x: f,
            t_s,
            joules: self.total.cum_at_or_latest(t_s).map(|c| c.joules),
            exact: false,
        });
    }

    fn apply_train(&mut self, te: &TrainEvent) {
        let progress_before = self.run.progress_t;
        if let Some(problem) = self.run.apply(te) {
            self.problem(problem);
            return;
        }
        if let Some(tp) = self
            .run
            .progress_t
            .filter(|_| self.run.progress_t != progress_before)
        {
            self.progress.set(tp, &self.total);
        }
        let t = te.t_s();
        match te {
            TrainEvent::RunStart { config, .. } => {
                self.config = Some(config.clone());
                if let Some(t0) = self.run.start_t {
                    self.run_start.set_once(t0, &self.total);
                }
            }
            TrainEvent::Step { .. } => {
                self.run_start.set_once(t, &self.total);
            }
            TrainEvent::EpochEnd { epoch, val_acc, .. } => {
                self.run_start.set_once(t, &self.total);
                if let Some(acc) = val_acc.filter(|a| a.is_finite()) {
                    self.final_val_acc = Some(acc);
                    let reached = self.target_acc.is_some_and(|target| acc >= target);
                    if reached && self.target_epoch.is_none() {
                        self.target_epoch = Some(*epoch);
                        self.target.set(t, &self.total);
                    }
                }
            }
            TrainEvent::RunEnd { .. } => {
                self.run_start.set_once(t, &self.total);
                self.run_end.set_once(t, &self.total);
            }
        }
        if matches!(
            te,
            TrainEvent::Step { .. } | TrainEvent::EpochEnd { .. } | TrainEvent::RunEnd { .. }
        ) {
            self.push_progress_point(t);
        }
    }

    fn problem(&mut self, p: String) {
        self.problem_count += 1;
        if self.problems.len() < PROBLEMS_KEPT {
            self.problems.push(p);
        }
    }

    // ---- the session --------------------------------------------------

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn channels(&self) -> &[Channel] {
        &self.header.channels
    }

    pub fn host(&self) -> &str {
        &self.header.host
    }

    pub fn label(&self) -> Option<&str> {
        self.header.label.as_deref()
    }

    pub fn status(&self) -> SessionStatus {
        match &self.run.status {
            Some(RunStatus::Completed) => SessionStatus::Finished,
            Some(RunStatus::OutOfMemory) => SessionStatus::OutOfMemory,
            Some(RunStatus::Error) => SessionStatus::Error,
            Some(RunStatus::Cancelled) => SessionStatus::Cancelled,
            None if self.clean_end => SessionStatus::Ended,
            None => SessionStatus::Running,
        }
    }

    /// The closing line was folded.
    pub fn clean_end(&self) -> bool {
        self.clean_end
    }

    /// Seconds since the session started (time of the latest event).
    pub fn elapsed_s(&self) -> f64 {
        self.elapsed_s
    }

    /// Events folded so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// (training events, markers) folded.
    pub fn event_counts(&self) -> (u64, u64) {
        (self.train_events, self.markers)
    }

    /// Events that could not be folded (implausible, out of order), the first
    /// few verbatim, and how many there were in all.
    pub fn problems(&self) -> (&[String], u64) {
        (&self.problems, self.problem_count)
    }

    /// The message a failed run ended with, or the latest error marker.
    pub fn error_text(&self) -> Option<&str> {
        let failed = matches!(
            self.run.status,
            Some(RunStatus::Error | RunStatus::OutOfMemory)
        );
        self.run
            .message
            .as_deref()
            .filter(|_| failed)
            .or(self.last_error.as_deref())
    }

    // ---- power and energy -------------------------------------------

    /// Energy of the total so far; None without a total channel or before
    /// the first reading.
    pub fn joules(&self) -> Option<f64> {
        self.total.cum().map(|c| c.joules)
    }

    /// The whole session's cumulative figures (energy, covered, uncovered).
    pub fn cum(&self) -> Option<Cum> {
        self.total.cum()
    }

    /// Energy over covered time.
    pub fn avg_w(&self) -> Option<f64> {
        self.total.cum()?.avg_w()
    }

    /// Total power now (see the module doc: None while any total channel has
    /// no fresh reading).
    pub fn current_w(&self) -> Option<f64> {
        self.total.current_w(self.elapsed_s)
    }

    /// Largest known total.
    pub fn peak_w(&self) -> Option<f64> {
        self.total.peak_w()
    }

    /// Mean total power over the last [`PROJECTION_WINDOW_S`] seconds.
    pub fn window_w(&self) -> Option<f64> {
        self.total_series.recent_mean(PROJECTION_WINDOW_S)
    }

    /// Time the total was unknown or in a gap.
    pub fn uncovered_s(&self) -> f64 {
        self.total.cum().map_or(0.0, |c| c.uncovered_s)
    }

    /// Separate stretches of uncovered time, or sensor-gap markers if more.
    pub fn gaps(&self) -> u64 {
        self.total.gaps().max(self.gap_markers)
    }

    pub fn last_gap_note(&self) -> Option<&str> {
        self.last_gap_note.as_deref()
    }

    /// Total power in one-second buckets, newest last.
    pub fn total_series(&self) -> &PowerSeries {
        &self.total_series
    }

    /// Latest reading of channel `i`, unless older than the gap threshold.
    pub fn latest(&self, i: usize) -> Option<f64> {
        let (t, v) = (*self.latest.get(i)?)?;
        (self.elapsed_s - t <= self.gap_s).then_some(v)
    }

    /// (fraction of the run, time, cumulative session energy) at progress
    /// events, bounded; the newest energies settle once a later reading exists.
    pub fn progress_trail(&self) -> &Trail {
        &self.progress_trail
    }

    /// Cumulative session energy over time, bounded.
    pub fn energy_trail(&self) -> &Trail {
        &self.energy_trail
    }

    /// Gap threshold in seconds: readings further apart are a sensor gap.
    pub fn gap_s(&self) -> f64 {
        self.gap_s
    }

    pub fn channel_series(&self, i: usize) -> Option<&PowerSeries> {
        self.per_channel.get(i)?.as_ref()
    }

    /// Per-channel energy (power channels integrated, counters unwrapped).
    pub fn ledger(&self) -> &EnergyLedger {
        &self.ledger
    }

    /// The cumulative figures of the total at an instant, as far as known.
    pub fn cum_at(&self, t_s: f64) -> Option<Cum> {
        self.total.cum_at_or_latest(t_s)
    }

    /// Exact cumulative figures at an instant once a later reading exists.
    pub fn cum_at_exact(&self, t_s: f64) -> Option<Cum> {
        self.total.cum_at(t_s)
    }

    // ---- idle calibration ---------------------------------------------

    /// The idle window's (covered seconds, joules), when both markers came.
    pub fn idle_window(&self) -> Option<Cum> {
        let (a, b) = (self.idle_start.t_s?, self.idle_end.t_s?);
        if b <= a {
            return None;
        }
        let w = self
            .idle_end
            .value(&self.total)?
            .since(self.idle_start.value(&self.total)?);
        (w.covered_s > 0.0).then_some(w)
    }

    /// The idle floor: the IdleEnd marker's value, else measured over the
    /// calibration window. (watts, "marker" | "measured").
    pub fn idle_floor(&self) -> Option<(f64, &'static str)> {
        if let Some(w) = self.idle_floor_marker {
            return Some((w, "marker"));
        }
        Some((self.idle_window()?.avg_w()?, "measured"))
    }

    pub fn idle_floor_w(&self) -> Option<f64> {
        self.idle_floor().map(|(w, _)| w)
    }

    // ---- training ---------------------------------------------------------

    /// The training run as folded so far.
    pub fn run(&self) -> &RunProgress {
        &self.run
    }

    /// The run's configuration: the latest RunStart's, else the header's.
    pub fn run_config(&self) -> Option<TrainConfig> {
        self.config.clone()
    }

    /// Whether training events have been seen (or announced in the header).
    pub fn has_training(&self) -> bool {
        self.run.has_training()
    }

    /// The training window: from the run's start to its end, or to the
    /// latest event while it runs. None before the run started.
    pub fn training(&self) -> Option<Window> {
        let start_s = self.run.start_t?;
        let end_s = self.run.end_t.unwrap_or(self.elapsed_s).max(start_s);
        let end = match self.run.end_t {
            Some(_) => self.run_end.value(&self.total),
            None => self.total.cum(),
        };
        Some(self.run_window(start_s, end_s, end))
    }

    /// The window from the run's start to `end_s`, whose cumulative figures
    /// are `end`: its figures are `end` less those at the run's start.
    fn run_window(&self, start_s: f64, end_s: f64, end: Option<Cum>) -> Window {
        let cum = match (end, self.run_start.value(&self.total)) {
            (Some(e), Some(s)) => Some(e.since(s)),
            _ => None,
        };
        Window {
            start_s,
            end_s,
            cum,
        }
    }

    /// The window from the run's start to its latest progress event: where
    /// the run stood at [`SessionFold::progress`].
    pub fn progress_window(&self) -> Option<Window> {
        let start_s = self.run.start_t?;
        let end_s = self.run.progress_t?.max(start_s);
        Some(self.run_window(start_s, end_s, self.progress.value(&self.total)))
    }

    /// Cumulative session figures when the run started.
    pub fn run_start_cum(&self) -> Option<Cum> {
        self.run_start.value(&self.total)
    }

    /// Fraction of the whole run done, 0..=1, when the run's size is known.
    pub fn progress(&self) -> Option<f64> {
        self.run.fraction()
    }

    /// (current epoch, epochs): the epoch gauge.
    pub fn epoch(&self) -> (u32, Option<u32>) {
        (self.run.epoch, self.run.epochs)
    }

    pub fn epochs_done(&self) -> u32 {
        self.run.epochs_done()
    }

    /// (step within the epoch, steps per epoch): the step gauge.
    pub fn step(&self) -> (u32, Option<u32>) {
        (self.run.step, self.run.steps_per_epoch)
    }

    /// Seconds of training so far.
    pub fn train_elapsed_s(&self) -> Option<f64> {
        self.training().map(|w| w.time_s())
    }

    /// Energy of the training window so far.
    pub fn train_joules(&self) -> Option<f64> {
        self.training()?.joules()
    }

    /// Estimated seconds left, from the mean rate of progress so far.
    pub fn eta_s(&self) -> Option<f64> {
        if self.status() != SessionStatus::Running {
            return None;
        }
        let f = self.progress()?;
        let spent = self.train_elapsed_s()?;
        (f > 0.0 && f < 1.0 && spent > 0.0).then(|| spent * (1.0 - f) / f)
    }

    /// Training energy at completion: the energy so far plus the recent mean
    /// power times the ETA (once finished, the training energy itself).
    pub fn projected_joules(&self) -> Option<f64> {
        if self.status() == SessionStatus::Finished {
            return self.train_joules();
        }
        Some(self.train_joules()? + self.window_w()? * self.eta_s()?)
    }

    /// Images processed: as reported, else images per epoch × epochs done.
    pub fn images(&self) -> Option<u64> {
        self.run.images.or_else(|| {
            let per_epoch = self.header.train.as_ref()?.train_images?;
            let done = u64::from(self.run.epochs_done());
            (done > 0).then(|| per_epoch * done)
        })
    }

    pub fn images_per_s(&self) -> Option<f64> {
        self.run.images_per_s.or_else(|| {
            let n = self.images()? as f64;
            let t = self.train_elapsed_s()?;
            (t > 0.0 && n > 0.0).then(|| n / t)
        })
    }

    /// Energy of the training window per image processed.
    pub fn joules_per_image(&self) -> Option<f64> {
        let n = self.images().filter(|&n| n > 0)?;
        Some(self.train_joules()? / n as f64)
    }

    pub fn loss(&self) -> Option<f64> {
        self.run.loss
    }

    /// Validation accuracy of the latest epoch, 0..=1.
    pub fn val_acc(&self) -> Option<f64> {
        self.run.val_acc
    }

    pub fn final_val_acc(&self) -> Option<f64> {
        self.final_val_acc
    }

    /// The target accuracy asked for, and when it was first reached:
    /// (target, Some((epoch, window from the run's start to then))).
    pub fn target(&self) -> Option<(f64, Option<(u32, Window)>)> {
        let target = self.target_acc?;
        let reached = (|| {
            let epoch = self.target_epoch?;
            let start_s = self.run.start_t?;
            let end_s = self.target.t_s?;
            let w = self.run_window(start_s, end_s, self.target.value(&self.total));
            Some((epoch, w))
        })();
        Some((target, reached))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample::{Sample, Scope};

    fn header() -> Header {
        let mut h = Header::bare(
            vec![
                Channel::power("VDD_IN", Scope::BoardInput, Role::Total, "ina3221"),
                Channel::power("VDD_GPU", Scope::Rail, Role::Part, "ina3221"),
            ],
            100.0,
        );
        h.train = Some(TrainConfig {
            model: "resnet18".into(),
            dataset: "synthetic:64".into(),
            epochs: Some(2),
            steps_per_epoch: Some(10),
            ..Default::default()
        });
        h
    }

    fn sample(t: f64, w: Option<f64>) -> Event {
        Event::Sample(Sample {
            t_s: t,
            values: vec![w, Some(1.0)],
        })
    }

    fn step(t: f64, epoch: u32, step: u32) -> Event {
        Event::Train(TrainEvent::Step {
            t_s: t,
            epoch,
            step,
            steps_per_epoch: Some(10),
            loss: Some(1.0),
            images_per_s: None,
            images: Some(((epoch - 1) * 10 + step) as u64 * 8),
        })
    }

    #[test]
    fn folds_power_energy_and_progress() {
        let mut p = SessionFold::new(&header());
        assert_eq!(p.current_w(), None);
        assert_eq!(p.joules(), None, "no reading yet is not 0 J");
        p.apply(&Event::Train(TrainEvent::RunStart {
            t_s: 0.0,
            config: TrainConfig::default(),
        }));
        for i in 0..=100 {
            p.apply(&sample(i as f64 * 0.1, Some(5.0)));
        }
        p.apply(&step(10.0, 1, 5));
        assert!((p.joules().unwrap() - 50.0).abs() < 1e-9);
        assert_eq!(p.current_w(), Some(5.0));
        assert!((p.avg_w().unwrap() - 5.0).abs() < 1e-9);
        assert_eq!(p.progress(), Some(0.25));
        assert!((p.eta_s().unwrap() - 30.0).abs() < 1e-9);
        assert!((p.projected_joules().unwrap() - 200.0).abs() < 1e-9);
        assert_eq!(p.images(), Some(40));
        assert!((p.joules_per_image().unwrap() - 1.25).abs() < 1e-9);
        assert_eq!(p.status(), SessionStatus::Running);
        p.apply(&Event::Train(TrainEvent::EpochEnd {
            t_s: 20.0,
            epoch: 1,
            train_loss: None,
            train_acc: None,
            val_acc: Some(0.5),
            images: None,
        }));
        assert_eq!(p.progress(), Some(0.5));
        assert_eq!(p.val_acc(), Some(0.5));
    }

    #[test]
    fn a_gap_shows_no_current_power_and_counts_uncovered_time() {
        let mut p = SessionFold::new(&header());
        p.apply(&sample(0.0, Some(3.0)));
        p.apply(&sample(0.1, Some(3.0)));
        p.apply(&Event::Marker(Marker {
            t_s: 5.0,
            kind: MarkerKind::SensorGap,
            text: "ina3221 stopped answering".into(),
            value: None,
        }));
        assert_eq!(p.current_w(), None, "a stale reading is not current");
        p.apply(&sample(10.0, Some(3.0)));
        assert_eq!(p.gaps(), 1);
        assert!((p.uncovered_s() - 9.9).abs() < 1e-9);
        assert_eq!(p.last_gap_note(), Some("ina3221 stopped answering"));
    }

    #[test]
    fn run_end_sets_status_and_stops_eta() {
        let mut p = SessionFold::new(&header());
        p.apply(&step(1.0, 1, 2));
        p.apply(&Event::Train(TrainEvent::RunEnd {
            t_s: 2.0,
            status: RunStatus::OutOfMemory,
            message: Some("CUDA out of memory".into()),
        }));
        assert_eq!(p.status(), SessionStatus::OutOfMemory);
        assert_eq!(p.eta_s(), None);
        assert_eq!(p.error_text(), Some("CUDA out of memory"));
    }

    #[test]
    fn the_training_window_excludes_idle_and_the_time_after_the_run() {
        let mut p = SessionFold::new(&header());
        let marker = |t_s, kind| {
            Event::Marker(Marker {
                t_s,
                kind,
                text: String::new(),
                value: None,
            })
        };
        p.apply(&marker(0.0, MarkerKind::IdleStart));
        for i in 0..=300 {
            let t = i as f64 * 0.1;
            if i == 100 {
                p.apply(&marker(10.0, MarkerKind::IdleEnd));
                p.apply(&Event::Train(TrainEvent::RunStart {
                    t_s: 10.05,
                    config: TrainConfig::default(),
                }));
            }
            if i == 200 {
                p.apply(&Event::Train(TrainEvent::RunEnd {
                    t_s: 19.95,
                    status: RunStatus::Completed,
                    message: None,
                }));
            }
            let w = if (10.0..20.0).contains(&t) { 10.0 } else { 2.0 };
            p.apply(&sample(t, Some(w)));
        }
        let w = p.training().unwrap();
        assert!((w.time_s() - 9.9).abs() < 1e-9);
        let c = w.cum.unwrap();
        assert!(c.avg_w().unwrap() <= p.peak_w().unwrap() + 1e-9);
        // 9.85 s at 10 W plus the ramp from 2 W at the start edge.
        assert!((c.joules - 99.0).abs() < 0.5, "{c:?}");
        // 9.9 s at 2 W and the 2 → 10 W ramp into the window's edge at 10 s.
        assert!((p.idle_floor_w().unwrap() - 2.04).abs() < 1e-9);
        assert_eq!(p.projected_joules(), p.train_joules());
    }
}
