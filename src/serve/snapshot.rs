//! What `/metrics` and `/healthz` read: a compact, owned copy of the
//! recorder's fold, published by the session recorder into a slot after each
//! event. Every figure is read off [`SessionFold`] here, so the served
//! numbers are the ones the TUI and `summary` show; the handlers only format.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::model::event::{Event, MarkerKind, TrainEvent};
use crate::model::fold::{SessionFold, SessionStatus};
use crate::model::sample::{Role, Scope, Unit};
use crate::session::live::FoldObserver;

/// A training step arriving faster than this rebuilds the snapshot at most
/// this often; every other event rebuilds it at once.
pub const STEP_PUBLISH_EVERY: Duration = Duration::from_millis(200);

/// One power or counter channel.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelFigures {
    pub name: String,
    /// `board_input`, `gpu_only`, `cpu_package`, `estimate`, ...
    pub scope: &'static str,
    pub source: String,
    /// `in_total` (counted in the session total), `part`, or `counter`.
    pub role: &'static str,
    /// Latest fresh reading (power channels); None when unknown or stale.
    pub power_w: Option<f64>,
    /// Integrated energy (power channels) or counter energy (counters); None
    /// before the first reading.
    pub energy_j: Option<f64>,
    pub is_counter: bool,
}

/// The run as announced and as it stands.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    pub model: String,
    pub dataset: String,
    pub batch_size: Option<u32>,
    pub epochs: Option<u32>,
    pub device: Option<String>,
    /// running, finished, out_of_memory, error, cancelled, ended.
    pub status: &'static str,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetricsSnapshot {
    pub host: String,
    /// The session's device label (label, else model, else host).
    pub label: String,
    pub channels: Vec<ChannelFigures>,
    /// The session total: scope (`estimate` when any part is one, `mixed`
    /// when the total channels differ), sources joined with `+`.
    pub total_scope: &'static str,
    pub total_source: String,
    pub total_energy_j: Option<f64>,
    pub total_power_w: Option<f64>,
    pub uncovered_s: f64,
    pub samples: u64,
    /// See [`Publisher`]: sensor-gap markers while recording, the sampler's
    /// own count once the closing line arrived (whichever is larger).
    pub missed_samples: u64,
    pub elapsed_s: f64,
    pub run: Option<RunInfo>,
    pub progress: Option<f64>,
    pub epoch: Option<u32>,
    pub images: Option<u64>,
    pub loss: Option<f64>,
    pub val_acc: Option<f64>,
    pub projected_j: Option<f64>,
    pub joules_per_image: Option<f64>,
    pub ended: bool,
    pub interval_ms: f64,
}

/// Snake-case scope names, as in the session file.
pub fn scope_name(s: Scope) -> &'static str {
    match s {
        Scope::BoardInput => "board_input",
        Scope::ModuleRailsSum => "module_rails_sum",
        Scope::Rail => "rail",
        Scope::GpuOnly => "gpu_only",
        Scope::CpuPackage => "cpu_package",
        Scope::Dram => "dram",
        Scope::Platform => "platform",
        Scope::Estimate => "estimate",
        Scope::Metric => "metric",
    }
}

fn status_name(s: SessionStatus) -> &'static str {
    match s {
        SessionStatus::Running => "running",
        SessionStatus::Finished => "finished",
        SessionStatus::OutOfMemory => "out_of_memory",
        SessionStatus::Error => "error",
        SessionStatus::Cancelled => "cancelled",
        SessionStatus::Ended => "ended",
    }
}

impl MetricsSnapshot {
    /// Read every served figure off the fold. `missed_samples` comes from
    /// the publisher (the fold does not count missed reads).
    pub fn from_fold(f: &SessionFold, missed_samples: u64) -> Self {
        let h = f.header();
        let ledger = f.ledger();
        let mut channels = Vec::new();
        let mut total_scopes: Vec<Scope> = Vec::new();
        let mut total_sources: Vec<&str> = Vec::new();
        for (i, c) in h.channels.iter().enumerate() {
            let (role, energy_j, is_counter) = match (c.unit, c.role) {
                (Unit::W, Role::Total | Role::Part) => {
                    if c.role == Role::Total {
                        total_scopes.push(c.scope);
                        if !total_sources.contains(&c.source.as_str()) {
                            total_sources.push(&c.source);
                        }
                    }
                    let p = ledger.power(i).filter(|p| p.readings > 0);
                    let role = if c.role == Role::Total {
                        "in_total"
                    } else {
                        "part"
                    };
                    (role, p.map(|p| p.joules), false)
                }
                (Unit::J, _) => {
                    let k = ledger.counter(i).filter(|k| k.readings > 0);
                    ("counter", k.map(|k| k.joules), true)
                }
                _ => continue,
            };
            channels.push(ChannelFigures {
                name: c.name.clone(),
                scope: scope_name(c.scope),
                source: c.source.clone(),
                role,
                power_w: (!is_counter).then(|| f.latest(i)).flatten(),
                energy_j,
                is_counter,
            });
        }
        let total_scope = if f.estimate {
            "estimate"
        } else {
            match total_scopes.as_slice() {
                [first, rest @ ..] if rest.iter().all(|s| s == first) => scope_name(*first),
                [] => "none",
                _ => "mixed",
            }
        };
        let (epoch, _) = f.epoch();
        MetricsSnapshot {
            host: h.host.clone(),
            label: h.device_name(),
            channels,
            total_scope,
            total_source: total_sources.join("+"),
            total_energy_j: f.joules(),
            total_power_w: f.current_w(),
            uncovered_s: f.uncovered_s(),
            samples: f.samples(),
            missed_samples,
            elapsed_s: f.elapsed_s(),
            run: f.run_config().map(|c| RunInfo {
                model: c.model,
                dataset: c.dataset,
                batch_size: c.batch_size,
                epochs: c.epochs,
                device: c.device,
                status: status_name(f.status()),
            }),
            progress: f.progress(),
            epoch: (f.has_training() && epoch > 0).then_some(epoch),
            images: f.images(),
            loss: f.loss(),
            val_acc: f.val_acc(),
            projected_j: f.projected_joules(),
            joules_per_image: f.joules_per_image(),
            ended: f.clean_end(),
            interval_ms: h.interval_ms,
        }
    }
}

/// The latest snapshot and when the last sample reached the recorder.
#[derive(Clone, Debug)]
pub struct Published {
    pub snapshot: Arc<MetricsSnapshot>,
    pub last_sample_at: Option<Instant>,
}

/// The slot the recorder writes and the handlers read. The lock is held only to
/// swap or clone an `Arc`, so a scrape never holds up the recorder.
#[derive(Debug, Default)]
pub struct Slot {
    inner: Mutex<Option<Published>>,
}

impl Slot {
    pub fn get(&self) -> Option<Published> {
        self.inner.lock().map(|g| g.clone()).unwrap_or(None)
    }

    pub fn put(&self, p: Published) {
        if let Ok(mut g) = self.inner.lock() {
            *g = Some(p);
        }
    }
}

/// Builds snapshots on the recorder's thread. Missed samples: while recording,
/// the count of sensor-gap markers (each stands for one or more missed
/// reads; a repeated failure is marked at most once per 5 s, so this is a
/// lower bound); once the closing line arrives, the sampler's exact count.
pub struct Publisher {
    slot: Arc<Slot>,
    gap_markers: u64,
    exact_missed: Option<u64>,
    last_build: Option<Instant>,
    last_sample_at: Option<Instant>,
}

impl Publisher {
    pub fn new(slot: Arc<Slot>) -> Self {
        Publisher {
            slot,
            gap_markers: 0,
            exact_missed: None,
            last_build: None,
            last_sample_at: None,
        }
    }

    /// Fold-observer step: count, then rebuild unless a step came too soon.
    pub fn observe(&mut self, fold: &SessionFold, ev: &Event, now: Instant) {
        match ev {
            Event::Sample(_) => self.last_sample_at = Some(now),
            Event::Marker(m) if m.kind == MarkerKind::SensorGap => self.gap_markers += 1,
            Event::End(end) => {
                self.exact_missed = Some(end.sources.iter().map(|s| s.missed).sum());
            }
            _ => {}
        }
        let is_step = matches!(ev, Event::Train(TrainEvent::Step { .. }));
        let recent = self
            .last_build
            .is_some_and(|t| now.saturating_duration_since(t) < STEP_PUBLISH_EVERY);
        if is_step && recent {
            return;
        }
        self.last_build = Some(now);
        let missed = self.gap_markers.max(self.exact_missed.unwrap_or(0));
        self.slot.put(Published {
            snapshot: Arc::new(MetricsSnapshot::from_fold(fold, missed)),
            last_sample_at: self.last_sample_at,
        });
    }

    /// The observer handed to the session recorder.
    pub fn into_observer(mut self) -> FoldObserver {
        Box::new(move |fold, ev| self.observe(fold, ev, Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::Marker;
    use crate::model::sample::{Channel, Sample};
    use crate::record::Header;

    fn header() -> Header {
        Header::bare(
            vec![
                Channel::power("gpu0", Scope::GpuOnly, Role::Total, "nvml"),
                Channel::counter("gpu0_energy", Scope::GpuOnly, "nvml", "gpu0", None),
                Channel::power("cpu", Scope::Estimate, Role::Total, "cpu_estimate"),
            ],
            100.0,
        )
    }

    fn sample(t: f64, gpu: Option<f64>, counter: Option<f64>) -> Event {
        Event::Sample(Sample {
            t_s: t,
            values: vec![gpu, counter, Some(10.0)],
        })
    }

    #[test]
    fn figures_come_from_the_fold_and_unknown_stays_none() {
        let mut f = SessionFold::new(&header());
        f.apply(&sample(0.0, None, None));
        let s = MetricsSnapshot::from_fold(&f, 0);
        assert_eq!(s.channels.len(), 3);
        assert_eq!(s.channels[0].power_w, None, "no reading is not 0 W");
        assert_eq!(s.channels[0].energy_j, None);
        assert_eq!(s.total_power_w, None, "a part is never shown as the whole");
        assert_eq!(s.total_scope, "estimate");
        assert_eq!(s.total_source, "nvml+cpu_estimate");
        for i in 1..=10 {
            f.apply(&sample(i as f64 * 0.1, Some(100.0), Some(i as f64 * 10.0)));
        }
        let s = MetricsSnapshot::from_fold(&f, 2);
        assert_eq!(s.total_energy_j, f.joules());
        assert_eq!(s.total_power_w, Some(110.0));
        assert_eq!(s.channels[1].role, "counter");
        assert!(s.channels[1].is_counter);
        assert_eq!(s.channels[1].energy_j, Some(90.0));
        assert_eq!(s.channels[0].role, "in_total");
        assert_eq!(s.missed_samples, 2);
        assert_eq!(s.samples, 11);
    }

    #[test]
    fn the_publisher_counts_gaps_then_takes_the_exact_count_and_throttles_steps() {
        let slot = Arc::new(Slot::default());
        let mut p = Publisher::new(slot.clone());
        let mut f = SessionFold::new(&header());
        let t0 = Instant::now();
        let gap = Event::Marker(Marker {
            t_s: 0.0,
            kind: MarkerKind::SensorGap,
            text: "late".into(),
            value: None,
        });
        f.apply(&gap);
        p.observe(&f, &gap, t0);
        assert_eq!(slot.get().unwrap().snapshot.missed_samples, 1);
        assert!(slot.get().unwrap().last_sample_at.is_none());
        let step = Event::Train(TrainEvent::Step {
            t_s: 0.1,
            epoch: 1,
            step: 1,
            steps_per_epoch: Some(10),
            loss: Some(2.0),
            images_per_s: None,
            images: Some(8),
        });
        f.apply(&step);
        p.observe(&f, &step, t0 + Duration::from_millis(10));
        assert_eq!(slot.get().unwrap().snapshot.loss, None, "throttled");
        p.observe(&f, &step, t0 + Duration::from_millis(300));
        assert_eq!(slot.get().unwrap().snapshot.loss, Some(2.0));
        let end = Event::End(crate::model::event::SessionEnd {
            t_s: 1.0,
            samples: 0,
            energy_j: Default::default(),
            sources: vec![crate::model::event::SourceStats {
                source: "nvml".into(),
                nominal_interval_ms: 100.0,
                effective_hz: None,
                samples: 10,
                missed: 4,
            }],
        });
        f.apply(&end);
        p.observe(&f, &end, t0 + Duration::from_millis(310));
        let s = slot.get().unwrap().snapshot;
        assert_eq!(s.missed_samples, 4);
        assert!(s.ended);
    }
}
