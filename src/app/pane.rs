//! One session folded into what a pane shows: power (total and per channel),
//! energy, training progress and status. Pure and free of the terminal, so
//! the headless recorder can fold the same events for its progress line.
//!
//! Every event is applied in O(channels): the history kept is a fixed ring of
//! one-second buckets, and energy comes from the incremental ledger.
use crate::model::energy::{gap_threshold_s, EnergyLedger};
use crate::model::event::{Event, MarkerKind, RunStatus};
use crate::model::sample::{total_is_estimate, total_scope_label, Channel, Role, Unit};
use crate::record::Header;

use super::progress::RunProgress;
use super::series::PowerSeries;

/// Seconds of total power kept for the sparkline (10 minutes).
pub const TOTAL_HISTORY_S: usize = 600;
/// Seconds of per-channel power kept for the channel view.
pub const CHANNEL_HISTORY_S: usize = 120;
/// Window of the recent average used to project the energy at completion.
pub const PROJECTION_WINDOW_S: usize = 60;

/// Where a pane's events come from. Only the status label depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedKind {
    Live,
    Replay,
}

/// What the pane title says about the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaneStatus {
    /// Events arriving from this device or a stream.
    Live,
    /// A recorded session being played.
    Replay,
    /// The training run completed.
    Finished,
    /// The training run ran out of memory.
    OutOfMemory,
    Error,
    Cancelled,
    /// The session closed without a training outcome (power only).
    Ended,
}

impl PaneStatus {
    pub fn label(self) -> &'static str {
        match self {
            PaneStatus::Live => "LIVE",
            PaneStatus::Replay => "REPLAY",
            PaneStatus::Finished => "FINISHED",
            PaneStatus::OutOfMemory => "OOM",
            PaneStatus::Error => "ERROR",
            PaneStatus::Cancelled => "CANCELLED",
            PaneStatus::Ended => "ENDED",
        }
    }

    /// Still receiving events (not ended).
    pub fn is_running(self) -> bool {
        matches!(self, PaneStatus::Live | PaneStatus::Replay)
    }
}

/// The folded state of one session.
#[derive(Clone, Debug)]
pub struct PaneState {
    pub feed: FeedKind,
    /// "model · host" or the label, for the title.
    pub device: String,
    pub host: String,
    pub label: Option<String>,
    /// Scope of the total, e.g. "GPU only + CPU package".
    pub scope_label: String,
    /// The total contains an estimate: shown with the word "estimate".
    pub estimate: bool,
    channels: Vec<Channel>,
    total_idx: Vec<usize>,
    gap_s: f64,
    ledger: EnergyLedger,
    /// Latest reading per channel: (time, value).
    latest: Vec<Option<(f64, f64)>>,
    total: PowerSeries,
    per_channel: Vec<Option<PowerSeries>>,
    peak_w: Option<f64>,
    elapsed_s: f64,
    last_sample_t: Option<f64>,
    train: RunProgress,
    session_ended: bool,
    gap_markers: u64,
    last_gap_note: Option<String>,
    last_error: Option<String>,
    idle_floor_w: Option<f64>,
    events: u64,
}

impl PaneState {
    pub fn new(header: &Header) -> Self {
        let channels = header.channels.clone();
        let total_idx: Vec<usize> = channels
            .iter()
            .enumerate()
            .filter(|(_, c)| c.role == Role::Total && c.unit == Unit::W)
            .map(|(i, _)| i)
            .collect();
        let per_channel = channels
            .iter()
            .map(|c| (c.unit == Unit::W).then(|| PowerSeries::with_capacity(CHANNEL_HISTORY_S)))
            .collect();
        let train = header.train.as_ref();
        PaneState {
            feed: FeedKind::Live,
            device: header
                .device
                .model
                .clone()
                .unwrap_or_else(|| header.host.clone()),
            host: header.host.clone(),
            label: header.label.clone(),
            scope_label: total_scope_label(&channels),
            estimate: total_is_estimate(&channels),
            total_idx,
            gap_s: gap_threshold_s(header.interval_ms),
            ledger: EnergyLedger::new(&channels, header.interval_ms),
            latest: vec![None; channels.len()],
            total: PowerSeries::with_capacity(TOTAL_HISTORY_S),
            per_channel,
            channels,
            peak_w: None,
            elapsed_s: 0.0,
            last_sample_t: None,
            train: RunProgress::from_config(train),
            session_ended: false,
            gap_markers: 0,
            last_gap_note: None,
            last_error: None,
            idle_floor_w: None,
            events: 0,
        }
    }

    /// The same, marked as a replayed session.
    pub fn with_feed(mut self, feed: FeedKind) -> Self {
        self.feed = feed;
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
            Event::Sample(s) => {
                self.ledger.push_sample(s);
                self.last_sample_t = Some(s.t_s);
                let mut any_total = false;
                for (i, v) in s.values.iter().enumerate() {
                    let Some(v) = v.filter(|v| v.is_finite()) else {
                        continue;
                    };
                    if let Some(slot) = self.latest.get_mut(i) {
                        *slot = Some((s.t_s, v));
                    }
                    if let Some(Some(series)) = self.per_channel.get_mut(i) {
                        if v >= 0.0 {
                            series.push(s.t_s, v);
                        }
                    }
                    if self.total_idx.contains(&i) {
                        any_total = true;
                    }
                }
                if any_total {
                    if let Some(w) = self.total_latest_w() {
                        self.total.push(s.t_s, w);
                        self.peak_w = Some(self.peak_w.map_or(w, |p| p.max(w)));
                    }
                }
            }
            Event::Train(te) => {
                let j = self.joules();
                self.train.apply(te, j);
            }
            Event::Marker(m) => match m.kind {
                MarkerKind::SensorGap => {
                    self.gap_markers += 1;
                    self.last_gap_note = (!m.text.is_empty()).then(|| m.text.clone());
                }
                MarkerKind::Error => {
                    self.last_error = Some(m.text.clone());
                }
                MarkerKind::IdleEnd => self.idle_floor_w = m.value,
                MarkerKind::Note | MarkerKind::IdleStart => {}
            },
            Event::End(_) => self.session_ended = true,
        }
    }

    /// Sum of the latest reading of each total channel (None before any).
    /// A total channel that has stopped answering (no reading within the gap
    /// threshold) makes the sum unknown: a part of the total shown as the
    /// total would be a wrong number, not a missing one.
    fn total_latest_w(&self) -> Option<f64> {
        let mut sum = None;
        for &i in &self.total_idx {
            if let Some((t, w)) = self.latest[i] {
                if self.elapsed_s - t > self.gap_s {
                    return None;
                }
                if w >= 0.0 {
                    sum = Some(sum.unwrap_or(0.0) + w);
                }
            }
        }
        sum
    }

    // ---- getters -------------------------------------------------------

    pub fn status(&self) -> PaneStatus {
        match &self.train.status {
            Some(RunStatus::Completed) => PaneStatus::Finished,
            Some(RunStatus::OutOfMemory) => PaneStatus::OutOfMemory,
            Some(RunStatus::Error) => PaneStatus::Error,
            Some(RunStatus::Cancelled) => PaneStatus::Cancelled,
            None if self.session_ended => PaneStatus::Ended,
            None => match self.feed {
                FeedKind::Live => PaneStatus::Live,
                FeedKind::Replay => PaneStatus::Replay,
            },
        }
    }

    /// The message a failed run ended with, or the latest error marker.
    pub fn error_text(&self) -> Option<&str> {
        self.train
            .message
            .as_deref()
            .filter(|_| {
                matches!(
                    self.train.status,
                    Some(RunStatus::Error | RunStatus::OutOfMemory)
                )
            })
            .or(self.last_error.as_deref())
    }

    /// Seconds since the session started (time of the latest event).
    pub fn elapsed_s(&self) -> f64 {
        self.elapsed_s
    }

    /// Energy of the total channels so far, integrated from the samples.
    pub fn joules(&self) -> f64 {
        self.ledger.total_joules()
    }

    /// Mean total power over the covered time.
    pub fn avg_w(&self) -> Option<f64> {
        let mut sum = None;
        for &i in &self.total_idx {
            if let Some(m) = self.ledger.power(i).and_then(|p| p.mean_w()) {
                sum = Some(sum.unwrap_or(0.0) + m);
            }
        }
        sum
    }

    /// Total power now: None before the first reading and while the latest
    /// reading is older than the gap threshold (a sensor gap is not 0 W).
    pub fn current_w(&self) -> Option<f64> {
        let last = self.last_sample_t?;
        if self.elapsed_s - last > self.gap_s {
            return None;
        }
        self.total_latest_w()
    }

    /// Largest total power seen (one reading).
    pub fn peak_w(&self) -> Option<f64> {
        self.peak_w
    }

    /// Mean total power over the last [`PROJECTION_WINDOW_S`] seconds.
    pub fn window_w(&self) -> Option<f64> {
        self.total.recent_mean(PROJECTION_WINDOW_S)
    }

    /// Time inside sensor gaps (not integrated), and the number of gaps.
    pub fn uncovered_s(&self) -> f64 {
        self.ledger.total_uncovered_s()
    }

    pub fn gaps(&self) -> u64 {
        let from_ledger: u64 = self
            .total_idx
            .iter()
            .filter_map(|&i| self.ledger.power(i))
            .map(|p| p.gaps)
            .max()
            .unwrap_or(0);
        from_ledger.max(self.gap_markers)
    }

    pub fn last_gap_note(&self) -> Option<&str> {
        self.last_gap_note.as_deref()
    }

    pub fn idle_floor_w(&self) -> Option<f64> {
        self.idle_floor_w
    }

    /// The training run as folded so far.
    pub fn run(&self) -> &RunProgress {
        &self.train
    }

    /// Whether training events have been seen (or announced in the header).
    pub fn has_training(&self) -> bool {
        self.train.has_training()
    }

    /// Fraction of the whole run done, 0..=1, when the run's size is known.
    pub fn progress(&self) -> Option<f64> {
        self.train.fraction()
    }

    /// (current epoch, epochs): the epoch gauge.
    pub fn epoch(&self) -> (u32, Option<u32>) {
        (self.train.epoch, self.train.epochs)
    }

    /// Epochs completed (the epoch gauge's fill).
    pub fn epochs_done(&self) -> u32 {
        self.train.epochs_done()
    }

    /// (step within the epoch, steps per epoch): the step gauge.
    pub fn step(&self) -> (u32, Option<u32>) {
        (self.train.step, self.train.steps_per_epoch)
    }

    /// Seconds of training so far (from the run start to now or its end).
    pub fn train_elapsed_s(&self) -> Option<f64> {
        self.train.elapsed_s(self.elapsed_s)
    }

    /// Energy since the training run started (all of it when no run started).
    pub fn train_joules(&self) -> f64 {
        self.joules() - self.train.start_joules
    }

    /// Estimated seconds left, from the mean rate of progress so far.
    pub fn eta_s(&self) -> Option<f64> {
        if !self.status().is_running() {
            return None;
        }
        let f = self.progress()?;
        let spent = self.train_elapsed_s()?;
        (f > 0.0 && f < 1.0 && spent > 0.0).then(|| spent * (1.0 - f) / f)
    }

    /// Energy so far plus the recent mean power times the ETA.
    pub fn projected_joules(&self) -> Option<f64> {
        Some(self.joules() + self.window_w()? * self.eta_s()?)
    }

    pub fn images(&self) -> Option<u64> {
        self.train.images
    }

    pub fn images_per_s(&self) -> Option<f64> {
        self.train.images_per_s(self.elapsed_s)
    }

    /// Energy of the training run per image processed.
    pub fn joules_per_image(&self) -> Option<f64> {
        let n = self.train.images.filter(|&n| n > 0)?;
        Some(self.train_joules() / n as f64)
    }

    pub fn loss(&self) -> Option<f64> {
        self.train.loss
    }

    /// Validation accuracy of the latest epoch, 0..=1.
    pub fn val_acc(&self) -> Option<f64> {
        self.train.val_acc
    }

    /// Total power in one-second buckets, newest last.
    pub fn total_series(&self) -> &PowerSeries {
        &self.total
    }

    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// Latest reading of channel `i`, unless older than the gap threshold.
    pub fn latest(&self, i: usize) -> Option<f64> {
        let (t, v) = (*self.latest.get(i)?)?;
        (self.elapsed_s - t <= self.gap_s).then_some(v)
    }

    pub fn channel_series(&self, i: usize) -> Option<&PowerSeries> {
        self.per_channel.get(i)?.as_ref()
    }

    pub fn ledger(&self) -> &EnergyLedger {
        &self.ledger
    }

    /// Events folded so far.
    pub fn events(&self) -> u64 {
        self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::{Marker, TrainConfig, TrainEvent};
    use crate::model::sample::{Sample, Scope};

    fn header() -> Header {
        let mut h = Header::new(
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
        let mut p = PaneState::new(&header());
        assert_eq!(p.current_w(), None);
        p.apply(&Event::Train(TrainEvent::RunStart {
            t_s: 0.0,
            config: TrainConfig::default(),
        }));
        for i in 0..=100 {
            p.apply(&sample(i as f64 * 0.1, Some(5.0)));
        }
        p.apply(&step(10.0, 1, 5));
        assert!((p.joules() - 50.0).abs() < 1e-9);
        assert_eq!(p.current_w(), Some(5.0));
        assert!((p.avg_w().unwrap() - 5.0).abs() < 1e-9);
        assert_eq!(p.progress(), Some(0.25));
        assert!((p.eta_s().unwrap() - 30.0).abs() < 1e-9);
        assert!((p.projected_joules().unwrap() - 200.0).abs() < 1e-9);
        assert_eq!(p.images(), Some(40));
        assert!((p.joules_per_image().unwrap() - 1.25).abs() < 1e-9);
        assert_eq!(p.status(), PaneStatus::Live);
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
        let mut p = PaneState::new(&header()).with_feed(FeedKind::Replay);
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
        assert_eq!(p.status(), PaneStatus::Replay);
    }

    #[test]
    fn run_end_sets_status_and_stops_eta() {
        let mut p = PaneState::new(&header());
        p.apply(&step(1.0, 1, 2));
        p.apply(&Event::Train(TrainEvent::RunEnd {
            t_s: 2.0,
            status: RunStatus::OutOfMemory,
            message: Some("CUDA out of memory".into()),
        }));
        assert_eq!(p.status(), PaneStatus::OutOfMemory);
        assert_eq!(p.eta_s(), None);
        assert_eq!(p.error_text(), Some("CUDA out of memory"));
    }

    #[test]
    fn a_total_channel_that_stops_answering_makes_the_total_unknown() {
        // Two sources, each with its own total: GPU and CPU package.
        let h = Header::new(
            vec![
                Channel::power("gpu0", Scope::GpuOnly, Role::Total, "nvml"),
                Channel::power("package-0", Scope::CpuPackage, Role::Total, "rapl"),
            ],
            100.0,
        );
        let mut p = PaneState::new(&h);
        let row = |t: f64, gpu: Option<f64>, cpu: Option<f64>| {
            Event::Sample(Sample {
                t_s: t,
                values: vec![gpu, cpu],
            })
        };
        p.apply(&row(0.0, Some(200.0), None));
        p.apply(&row(0.05, None, Some(40.0)));
        assert_eq!(p.current_w(), Some(240.0));
        // RAPL goes quiet; NVML keeps answering. 200 W alone is not the total.
        for k in 1..20 {
            p.apply(&row(k as f64 * 0.1, Some(200.0), None));
        }
        assert_eq!(p.current_w(), None);
    }
}
