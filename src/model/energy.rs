//! Energy from samples: trapezoidal integration of power readings with gaps
//! left uncovered, and unwrapping of hardware energy counters.
use std::collections::BTreeMap;

use super::event::Event;
use super::sample::{Channel, Sample, Unit};
use super::total::plausible_watts;

/// An interval longer than this many nominal sampling intervals is a gap.
pub const DEFAULT_GAP_FACTOR: f64 = 5.0;

/// Integrates one power channel (watts) over time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PowerIntegrator {
    /// Intervals longer than this (seconds) are not bridged.
    pub gap_threshold_s: f64,
    last: Option<(f64, f64)>,
    pub joules: f64,
    /// Time covered by bridged intervals.
    pub covered_s: f64,
    /// Time inside gaps (not integrated).
    pub uncovered_s: f64,
    pub gaps: u64,
    /// Readings used.
    pub readings: u64,
    /// Negative, non-finite or implausibly large readings, excluded.
    pub rejected: u64,
    /// Readings whose time went backwards, excluded.
    pub out_of_order: u64,
    pub peak_w: Option<f64>,
}

impl PowerIntegrator {
    pub fn new(gap_threshold_s: f64) -> Self {
        PowerIntegrator {
            gap_threshold_s,
            ..Default::default()
        }
    }

    /// Add a reading taken at `t_s`. `None` (no reading) leaves the state as it is.
    pub fn push(&mut self, t_s: f64, watts: Option<f64>) {
        let Some(w) = watts else { return };
        if !plausible_watts(w) || !t_s.is_finite() {
            self.rejected += 1;
            return;
        }
        if let Some((t0, w0)) = self.last {
            let dt = t_s - t0;
            if dt < 0.0 {
                self.out_of_order += 1;
                return;
            }
            if dt > self.gap_threshold_s {
                self.uncovered_s += dt;
                self.gaps += 1;
            } else {
                self.joules += 0.5 * (w0 + w) * dt;
                self.covered_s += dt;
            }
        }
        self.last = Some((t_s, w));
        self.readings += 1;
        self.peak_w = Some(self.peak_w.map_or(w, |p| p.max(w)));
    }

    /// The last accepted reading (time, watts).
    pub fn last(&self) -> Option<(f64, f64)> {
        self.last
    }

    /// Mean power over the covered time.
    pub fn mean_w(&self) -> Option<f64> {
        (self.covered_s > 0.0).then(|| self.joules / self.covered_s)
    }
}

/// Energy from a cumulative counter (NVML mJ, RAPL µJ, here in joules) with
/// wrap-around at `wrap_j` and reset detection.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CounterIntegrator {
    pub wrap_j: Option<f64>,
    last: Option<f64>,
    pub joules: f64,
    pub wraps: u64,
    /// A reading that went backwards without a known wrap (a driver reload).
    pub resets: u64,
    pub readings: u64,
    pub rejected: u64,
}

impl CounterIntegrator {
    pub fn new(wrap_j: Option<f64>) -> Self {
        CounterIntegrator {
            wrap_j,
            ..Default::default()
        }
    }

    pub fn push(&mut self, counter_j: Option<f64>) {
        let Some(c) = counter_j else { return };
        if !c.is_finite() || c < 0.0 {
            self.rejected += 1;
            return;
        }
        if let Some(prev) = self.last {
            if c >= prev {
                self.joules += c - prev;
            } else if let Some(wrap) = self.wrap_j {
                // A wrap: the counter went past `wrap` and restarted at 0.
                // A reset instead (value far below a plausible wrap) cannot be
                // told apart from a wrap after a long silence; a delta larger
                // than half the range is taken as a reset.
                let delta = wrap - prev + c;
                if delta <= wrap / 2.0 {
                    self.joules += delta;
                    self.wraps += 1;
                } else {
                    self.resets += 1;
                }
            } else {
                // No known wrap: the counter restarted (driver reload). The
                // energy between the last reading and the reset is unknown.
                self.resets += 1;
            }
        }
        self.last = Some(c);
        self.readings += 1;
    }
}

/// Per-channel energy over a whole session.
#[derive(Clone, Debug)]
pub struct EnergyLedger {
    pub channels: Vec<Channel>,
    power: Vec<Option<PowerIntegrator>>,
    counters: Vec<Option<CounterIntegrator>>,
    first_t: Option<f64>,
    last_t: Option<f64>,
    pub samples: u64,
}

/// Energy of one channel, for reports.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelEnergy {
    pub name: String,
    pub joules: f64,
    pub uncovered_s: f64,
    pub gaps: u64,
    pub readings: u64,
    pub rejected: u64,
    pub mean_w: Option<f64>,
    pub peak_w: Option<f64>,
    /// For counter channels: the power channel it pairs with, that channel's
    /// integrated energy, and the relative difference (counter − integrated) / counter.
    pub paired: Option<(String, f64, Option<f64>)>,
    pub resets: u64,
    pub wraps: u64,
}

impl EnergyLedger {
    /// `interval_ms`: nominal sampling interval; gaps are intervals longer
    /// than `DEFAULT_GAP_FACTOR` times it.
    pub fn new(channels: &[Channel], interval_ms: f64) -> Self {
        let gap = gap_threshold_s(interval_ms);
        EnergyLedger {
            channels: channels.to_vec(),
            power: channels
                .iter()
                .map(|c| (c.unit == Unit::W).then(|| PowerIntegrator::new(gap)))
                .collect(),
            counters: channels
                .iter()
                .map(|c| (c.unit == Unit::J).then(|| CounterIntegrator::new(c.wrap_j)))
                .collect(),
            first_t: None,
            last_t: None,
            samples: 0,
        }
    }

    pub fn push_sample(&mut self, s: &Sample) {
        self.push_sample_values(s.t_s, &s.values);
    }

    /// One row of readings taken at `t_s`.
    pub fn push_sample_values(&mut self, t_s: f64, values: &[Option<f64>]) {
        self.samples += 1;
        self.first_t.get_or_insert(t_s);
        self.last_t = Some(self.last_t.map_or(t_s, |t| t.max(t_s)));
        for (i, v) in values.iter().enumerate() {
            if let Some(Some(p)) = self.power.get_mut(i) {
                p.push(t_s, *v);
            } else if let Some(Some(c)) = self.counters.get_mut(i) {
                c.push(*v);
            }
        }
    }

    pub fn push_event(&mut self, ev: &Event) {
        if let Event::Sample(s) = ev {
            self.push_sample(s);
        }
    }

    pub fn power(&self, i: usize) -> Option<&PowerIntegrator> {
        self.power.get(i).and_then(|p| p.as_ref())
    }

    pub fn counter(&self, i: usize) -> Option<&CounterIntegrator> {
        self.counters.get(i).and_then(|p| p.as_ref())
    }

    /// Seconds from the first to the last sample.
    pub fn span_s(&self) -> f64 {
        match (self.first_t, self.last_t) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        }
    }

    /// One entry per power or counter channel.
    pub fn channel_energies(&self) -> Vec<ChannelEnergy> {
        let mut out = Vec::new();
        for (i, c) in self.channels.iter().enumerate() {
            if let Some(p) = self.power(i) {
                out.push(ChannelEnergy {
                    name: c.name.clone(),
                    joules: p.joules,
                    uncovered_s: p.uncovered_s,
                    gaps: p.gaps,
                    readings: p.readings,
                    rejected: p.rejected,
                    mean_w: p.mean_w(),
                    peak_w: p.peak_w,
                    paired: None,
                    resets: 0,
                    wraps: 0,
                });
            } else if let Some(k) = self.counter(i) {
                let paired = c.pairs_with.as_ref().and_then(|name| {
                    let j = self.channels.iter().position(|o| &o.name == name)?;
                    let p = self.power(j)?;
                    let diff = (k.joules > 0.0).then(|| (k.joules - p.joules) / k.joules);
                    Some((name.clone(), p.joules, diff))
                });
                out.push(ChannelEnergy {
                    name: c.name.clone(),
                    joules: k.joules,
                    uncovered_s: 0.0,
                    gaps: 0,
                    readings: k.readings,
                    rejected: k.rejected,
                    mean_w: None,
                    peak_w: None,
                    paired,
                    resets: k.resets,
                    wraps: k.wraps,
                });
            }
        }
        out
    }

    /// Energy per channel name (integrated for power channels, from the
    /// counter for counter channels), for the session's closing line.
    pub fn energy_map(&self) -> BTreeMap<String, f64> {
        self.channel_energies()
            .into_iter()
            .map(|e| (e.name, e.joules))
            .collect()
    }
}

/// Gap threshold in seconds for a nominal interval in milliseconds.
pub fn gap_threshold_s(interval_ms: f64) -> f64 {
    let interval_s = if interval_ms > 0.0 {
        interval_ms / 1000.0
    } else {
        0.1
    };
    DEFAULT_GAP_FACTOR * interval_s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample::{Role, Scope};
    use proptest::prelude::*;

    fn integrate(samples: &[(f64, f64)], gap: f64) -> PowerIntegrator {
        let mut p = PowerIntegrator::new(gap);
        for &(t, w) in samples {
            p.push(t, Some(w));
        }
        p
    }

    #[test]
    fn none_is_skipped_not_zero() {
        let mut p = PowerIntegrator::new(10.0);
        p.push(0.0, Some(10.0));
        p.push(1.0, None);
        p.push(2.0, Some(10.0));
        assert_eq!(p.joules, 20.0);
    }

    #[test]
    fn gaps_are_not_bridged_and_are_counted() {
        let p = integrate(&[(0.0, 5.0), (0.1, 5.0), (10.0, 5.0), (10.1, 5.0)], 0.5);
        assert!((p.joules - 1.0).abs() < 1e-9, "{}", p.joules);
        assert_eq!(p.gaps, 1);
        assert!((p.uncovered_s - 9.9).abs() < 1e-9);
    }

    #[test]
    fn negative_and_nonfinite_are_rejected_and_counted() {
        let mut p = PowerIntegrator::new(10.0);
        p.push(0.0, Some(4.0));
        p.push(0.5, Some(-3.0));
        p.push(0.7, Some(f64::NAN));
        p.push(0.8, Some(f64::INFINITY));
        p.push(1.0, Some(4.0));
        assert_eq!(p.rejected, 3);
        assert_eq!(p.joules, 4.0);
    }

    #[test]
    fn counter_reset_is_not_negative_energy() {
        let mut c = CounterIntegrator::new(None);
        for v in [100.0, 150.0, 10.0, 30.0] {
            c.push(Some(v));
        }
        assert_eq!(c.joules, 70.0);
        assert_eq!(c.resets, 1);
    }

    #[test]
    fn ledger_pairs_counter_with_power_and_reports_difference() {
        let chans = vec![
            Channel::power("gpu0", Scope::GpuOnly, Role::Total, "nvml"),
            Channel::counter("gpu0_energy", Scope::GpuOnly, "nvml", "gpu0", None),
        ];
        let mut l = EnergyLedger::new(&chans, 100.0);
        for i in 0..=10 {
            let t = i as f64 * 0.1;
            l.push_sample(&Sample {
                t_s: t,
                values: vec![Some(100.0), Some(1000.0 + 110.0 * t)],
            });
        }
        assert!((l.power(0).unwrap().joules - 100.0).abs() < 1e-9);
        let e = l.channel_energies();
        let (name, integrated, diff) = e[1].paired.clone().unwrap();
        assert_eq!(name, "gpu0");
        assert!((integrated - 100.0).abs() < 1e-9);
        assert!((e[1].joules - 110.0).abs() < 1e-9);
        assert!((diff.unwrap() - 10.0 / 110.0).abs() < 1e-9);
    }

    proptest! {
        #[test]
        fn constant_power_gives_p_times_t(p in 0.0f64..1000.0, n in 2usize..2000, dt in 0.001f64..1.0) {
            let samples: Vec<(f64, f64)> = (0..n).map(|i| (i as f64 * dt, p)).collect();
            let r = integrate(&samples, dt * 5.0);
            let expect = p * dt * (n - 1) as f64;
            prop_assert!((r.joules - expect).abs() <= 1e-9 * expect.max(1.0), "{} vs {}", r.joules, expect);
        }

        #[test]
        fn piecewise_linear_sampled_at_breakpoints_is_exact(
            pts in proptest::collection::vec((0.01f64..2.0, 0.0f64..500.0), 2..200)
        ) {
            let mut t = 0.0;
            let mut samples = Vec::new();
            let mut exact = 0.0;
            let mut prev: Option<(f64, f64)> = None;
            for (dt, w) in pts {
                t += dt;
                if let Some((t0, w0)) = prev {
                    exact += (w0 + w) / 2.0 * (t - t0);
                }
                samples.push((t, w));
                prev = Some((t, w));
            }
            let r = integrate(&samples, 10.0);
            prop_assert!((r.joules - exact).abs() <= 1e-9 * exact.max(1.0));
        }

        #[test]
        fn split_stream_adds_up(
            ws in proptest::collection::vec(0.0f64..300.0, 2..300),
            split in 0usize..300,
            gapped in proptest::collection::vec(any::<bool>(), 300),
        ) {
            // Irregular times with some gaps; splitting at k and restarting the
            // second part at the split sample gives the same energy and gaps.
            let mut t = 0.0;
            let samples: Vec<(f64, f64)> = ws.iter().enumerate().map(|(i, &w)| {
                t += if gapped[i] && i % 7 == 0 { 3.0 } else { 0.1 };
                (t, w)
            }).collect();
            let k = split % samples.len();
            let whole = integrate(&samples, 0.5);
            let a = integrate(&samples[..=k], 0.5);
            let b = integrate(&samples[k..], 0.5);
            prop_assert!((whole.joules - (a.joules + b.joules)).abs() <= 1e-9 * whole.joules.max(1.0));
            prop_assert_eq!(whole.gaps, a.gaps + b.gaps);
            prop_assert!((whole.uncovered_s - (a.uncovered_s + b.uncovered_s)).abs() < 1e-9);
        }

        #[test]
        fn wrapping_counter_equals_unwrapped(
            deltas in proptest::collection::vec(0.0f64..400.0, 1..400),
            start in 0.0f64..1000.0,
        ) {
            let wrap = 1000.0;
            let mut plain = CounterIntegrator::new(None);
            let mut wrapped = CounterIntegrator::new(Some(wrap));
            let mut c = start;
            plain.push(Some(c));
            wrapped.push(Some(c % wrap));
            for d in &deltas {
                c += d;
                plain.push(Some(c));
                wrapped.push(Some(c % wrap));
            }
            prop_assert!((plain.joules - wrapped.joules).abs() <= 1e-6 * plain.joules.max(1.0));
            prop_assert_eq!(wrapped.resets, 0);
        }
    }
}
