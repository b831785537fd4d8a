//! An index of a session built by one streaming pass: total energy over time
//! and (time, energy, images) at each training-progress fraction. It makes
//! "the other session at the same progress" and progress alignment cheap.
//! Every figure in it is read off the one session fold.
use std::collections::VecDeque;

use crate::model::event::Event;
use crate::model::fold::SessionFold;
use crate::model::header::Header;
use crate::model::total::Cum;
use crate::record::{RecordError, SessionReader};

/// Energy checkpoints are taken this often (seconds of session time).
pub const ENERGY_STEP_S: f64 = 5.0;
/// Progress points closer than this (fraction of the run) are merged.
pub const PROGRESS_STEP: f64 = 1e-4;

/// A session's state when its training reached `fraction` of the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IndexPoint {
    pub fraction: f64,
    pub t_s: f64,
    /// Cumulative session figures then; None without power readings.
    pub cum: Option<Cum>,
    pub images: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayIndex {
    /// Time of the last event.
    pub duration_s: f64,
    /// Events in the session.
    pub events: u64,
    /// Total energy of the whole session (None without power readings).
    pub joules: Option<f64>,
    /// (t, cumulative figures), every [`ENERGY_STEP_S`] and at the end.
    energy: Vec<(f64, Cum)>,
    /// Points of increasing fraction.
    progress: Vec<IndexPoint>,
    /// When the training run started: (t, cumulative figures then).
    run_start: Option<(f64, Option<Cum>)>,
}

impl ReplayIndex {
    /// Fold a stream of events (one pass, memory bounded by the session's
    /// length in seconds / [`ENERGY_STEP_S`] and the progress resolution).
    pub fn build<I: IntoIterator<Item = Event>>(header: &Header, events: I) -> Self {
        let mut b = IndexBuilder::new(header);
        for ev in events {
            b.push(&ev);
        }
        b.finish()
    }

    /// Read a whole session file (streaming) into an index.
    pub fn from_reader(reader: &mut SessionReader) -> Result<Self, RecordError> {
        let mut b = IndexBuilder::new(reader.header());
        while let Some(ev) = reader.next_event()? {
            b.push(&ev);
        }
        Ok(b.finish())
    }

    /// When the training run started and the session energy then.
    pub fn run_start(&self) -> Option<(f64, Option<Cum>)> {
        self.run_start
    }

    pub fn has_progress(&self) -> bool {
        self.progress.len() > 1
    }

    /// The furthest fraction of the run the session reached.
    pub fn max_fraction(&self) -> Option<f64> {
        self.progress.last().map(|p| p.fraction)
    }

    /// Time, energy and images when the run reached `fraction`, interpolated;
    /// None when the session never got that far or has no progress.
    pub fn at_fraction(&self, fraction: f64) -> Option<IndexPoint> {
        let last = self.progress.last()?;
        if !fraction.is_finite() || fraction > last.fraction + 1e-12 {
            return None;
        }
        let k = self.progress.partition_point(|p| p.fraction < fraction);
        if k == 0 {
            return self.progress.first().copied();
        }
        let (a, b) = (
            self.progress[k - 1],
            self.progress[k.min(self.progress.len() - 1)],
        );
        let span = b.fraction - a.fraction;
        let u = if span > 0.0 {
            ((fraction - a.fraction) / span).clamp(0.0, 1.0)
        } else {
            1.0
        };
        let images = match (a.images, b.images) {
            (Some(x), Some(y)) => Some((x as f64 + (y as f64 - x as f64) * u).round() as u64),
            (_, y) => y,
        };
        let cum = match (a.cum, b.cum) {
            (Some(x), Some(y)) => Some(lerp(x, y, u)),
            _ => None,
        };
        Some(IndexPoint {
            fraction,
            t_s: a.t_s + (b.t_s - a.t_s) * u,
            cum,
            images,
        })
    }

    /// Session time at `fraction`, or the session's last progress time when
    /// it never got that far (progress alignment parks it there).
    pub fn t_at_fraction_clamped(&self, fraction: f64) -> Option<f64> {
        match self.at_fraction(fraction) {
            Some(p) => Some(p.t_s),
            None => self.progress.last().map(|p| p.t_s),
        }
    }

    /// Cumulative figures up to session time `t_s` (interpolated between
    /// checkpoints; the last ones past the end).
    pub fn cum_at(&self, t_s: f64) -> Option<Cum> {
        let first = self.energy.first()?;
        if t_s <= first.0 {
            return Some(first.1);
        }
        let k = self.energy.partition_point(|(t, _)| *t < t_s);
        if k >= self.energy.len() {
            return self.energy.last().map(|e| e.1);
        }
        let (a, b) = (self.energy[k - 1], self.energy[k]);
        let u = if b.0 > a.0 {
            (t_s - a.0) / (b.0 - a.0)
        } else {
            1.0
        };
        Some(lerp(a.1, b.1, u))
    }
}

fn lerp(a: Cum, b: Cum, u: f64) -> Cum {
    Cum {
        joules: a.joules + (b.joules - a.joules) * u,
        covered_s: a.covered_s + (b.covered_s - a.covered_s) * u,
        uncovered_s: a.uncovered_s + (b.uncovered_s - a.uncovered_s) * u,
    }
}

/// Incremental form of [`ReplayIndex::build`].
pub struct IndexBuilder {
    fold: SessionFold,
    index: ReplayIndex,
    next_energy_t: f64,
    /// Progress points whose energy is provisional until a later reading.
    pending: VecDeque<usize>,
}

impl IndexBuilder {
    pub fn new(header: &Header) -> Self {
        IndexBuilder {
            fold: SessionFold::new(header),
            index: ReplayIndex::default(),
            next_energy_t: 0.0,
            pending: VecDeque::new(),
        }
    }

    pub fn push(&mut self, ev: &Event) {
        self.fold.apply(ev);
        self.index.events += 1;
        let t = self.fold.elapsed_s();
        if let Event::Sample(_) = ev {
            self.resolve_pending();
            if let Some(c) = self.fold.cum().filter(|_| t >= self.next_energy_t) {
                self.index.energy.push((t, c));
                self.next_energy_t = t + ENERGY_STEP_S;
            }
        }
        if let (Event::Train(_), Some(f)) = (ev, self.fold.progress()) {
            let last = self.index.progress.last().map(|p| p.fraction);
            let due = match last {
                None => true,
                Some(l) => f >= l + PROGRESS_STEP || (f > l && f >= 1.0),
            };
            if due {
                let tp = self.fold.run().progress_t.unwrap_or(t);
                self.index.progress.push(IndexPoint {
                    fraction: f,
                    t_s: tp,
                    cum: self.fold.cum_at(tp),
                    images: self.fold.images(),
                });
                self.pending.push_back(self.index.progress.len() - 1);
            }
        }
    }

    fn resolve_pending(&mut self) {
        while let Some(&k) = self.pending.front() {
            let p = &mut self.index.progress[k];
            match self.fold.cum_at_exact(p.t_s) {
                Some(c) => {
                    p.cum = Some(c);
                    self.pending.pop_front();
                }
                None => break,
            }
        }
    }

    pub fn finish(mut self) -> ReplayIndex {
        // Points after the last reading: as far as the session got.
        for k in std::mem::take(&mut self.pending) {
            let p = &mut self.index.progress[k];
            p.cum = self.fold.cum_at(p.t_s);
        }
        let t = self.fold.elapsed_s();
        if let Some(c) = self.fold.cum() {
            if self.index.energy.last().is_none_or(|e| e.0 < t) {
                self.index.energy.push((t, c));
            }
        }
        self.index.duration_s = t;
        self.index.joules = self.fold.joules();
        self.index.run_start = self
            .fold
            .run()
            .start_t
            .map(|t0| (t0, self.fold.run_start_cum()));
        self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::{TrainConfig, TrainEvent};
    use crate::model::sample::{Channel, Role, Sample, Scope};

    fn session(until_epoch: u32) -> (Header, Vec<Event>) {
        let mut h = Header::bare(
            vec![Channel::power("gpu0", Scope::GpuOnly, Role::Total, "nvml")],
            100.0,
        );
        h.train = Some(TrainConfig {
            model: "resnet18".into(),
            dataset: "synthetic:80".into(),
            epochs: Some(4),
            steps_per_epoch: Some(10),
            ..Default::default()
        });
        let mut evs = Vec::new();
        // 10 W; one step per second, 10 steps per epoch.
        for i in 0..=(until_epoch * 100) {
            let t = i as f64 * 0.1;
            evs.push(Event::Sample(Sample {
                t_s: t,
                values: vec![Some(10.0)],
            }));
            if i > 0 && i % 10 == 0 {
                let k = i / 10;
                evs.push(Event::Train(TrainEvent::Step {
                    t_s: t,
                    epoch: (k - 1) / 10 + 1,
                    step: (k - 1) % 10 + 1,
                    steps_per_epoch: Some(10),
                    loss: None,
                    images_per_s: None,
                    images: Some(k as u64 * 8),
                }));
            }
        }
        (h, evs)
    }

    #[test]
    fn fraction_maps_to_time_energy_and_images() {
        let (h, evs) = session(4);
        let idx = ReplayIndex::build(&h, evs);
        assert!((idx.duration_s - 40.0).abs() < 1e-9);
        let p = idx.at_fraction(0.5).unwrap();
        assert!((p.t_s - 20.0).abs() < 1e-6, "{p:?}");
        assert!((p.cum.unwrap().joules - 200.0).abs() < 1e-6);
        assert_eq!(p.images, Some(160));
        assert!((idx.cum_at(12.5).unwrap().joules - 125.0).abs() < 1e-6);
        assert!((idx.cum_at(1e9).unwrap().joules - 400.0).abs() < 1e-6);
    }

    #[test]
    fn a_run_that_stopped_early_has_no_point_beyond_it() {
        let (h, evs) = session(2);
        let idx = ReplayIndex::build(&h, evs);
        assert_eq!(idx.max_fraction(), Some(0.5));
        assert!(idx.at_fraction(0.75).is_none());
        assert_eq!(idx.t_at_fraction_clamped(0.75), Some(20.0));
    }
}
