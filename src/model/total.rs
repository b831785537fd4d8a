//! The session total as one timeline: at every sample row that carries a
//! reading of a total channel, the total is the sum of the latest reading of
//! each total channel, and it is *known* only when every total channel has a
//! reading no older than the gap threshold. Intervals between two known
//! points no longer than the gap threshold are integrated (trapezoids) and
//! count as covered; every other interval is uncovered. A part of the total
//! is never shown as the whole.
//!
//! Cumulative figures ([`Cum`]) are kept at every point, so the energy between
//! any two instants (a training window, an idle calibration) is a difference
//! of two interpolated cumulative values. Since a covered interval's energy is
//! at most its larger endpoint times its length, energy over covered time can
//! never exceed the peak.
use std::collections::VecDeque;

/// The largest power a single channel may plausibly read: 100 kW. Readings
/// above it (a corrupt log, a unit mix-up) are rejected, never integrated.
pub const MAX_PLAUSIBLE_W: f64 = 100_000.0;

/// Whether `w` is a power reading that may be integrated.
pub fn plausible_watts(w: f64) -> bool {
    w.is_finite() && (0.0..=MAX_PLAUSIBLE_W).contains(&w)
}

/// Cumulative figures of the total from its first point to an instant.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cum {
    pub joules: f64,
    /// Time inside integrated intervals.
    pub covered_s: f64,
    /// Time inside gaps, or while a total channel had no fresh reading.
    pub uncovered_s: f64,
}

impl Cum {
    /// `self − earlier`: the figures of the window between two instants.
    pub fn since(self, earlier: Cum) -> Cum {
        Cum {
            joules: self.joules - earlier.joules,
            covered_s: (self.covered_s - earlier.covered_s).max(0.0),
            uncovered_s: (self.uncovered_s - earlier.uncovered_s).max(0.0),
        }
    }

    /// Mean power over the covered time; None when nothing was covered.
    pub fn avg_w(self) -> Option<f64> {
        (self.covered_s > 0.0).then(|| self.joules / self.covered_s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Point {
    t_s: f64,
    /// The total at this point; None when a total channel had no fresh reading.
    watts: Option<f64>,
    cum: Cum,
}

/// Points kept for instants that arrive late (an event written after later
/// samples): 512 points, about 50 s at 10 Hz.
const HISTORY: usize = 512;

/// The total timeline of one session.
#[derive(Clone, Debug)]
pub struct TotalPower {
    /// Indices (in the sample row) of the total power channels.
    idx: Vec<usize>,
    /// Latest plausible reading (time, watts) of each total channel.
    latest: Vec<Option<(f64, f64)>>,
    gap_s: f64,
    history: VecDeque<Point>,
    first_t: Option<f64>,
    peak_w: Option<f64>,
    /// Number of separate uncovered stretches.
    gaps: u64,
    in_gap: bool,
}

impl TotalPower {
    /// `idx`: the sample-row indices of the total channels; `gap_s`: longer
    /// intervals are not bridged.
    pub fn new(idx: Vec<usize>, gap_s: f64) -> Self {
        TotalPower {
            latest: vec![None; idx.len()],
            idx,
            gap_s,
            history: VecDeque::with_capacity(HISTORY),
            first_t: None,
            peak_w: None,
            gaps: 0,
            in_gap: false,
        }
    }

    /// Whether the session has any total channel at all.
    pub fn has_channels(&self) -> bool {
        !self.idx.is_empty()
    }

    /// Fold one sample row. Rows without a reading of a total channel do not
    /// move the timeline. Returns true when a point was added.
    pub fn push(&mut self, t_s: f64, values: &[Option<f64>]) -> bool {
        if !t_s.is_finite() {
            return false;
        }
        let mut any = false;
        for (k, &i) in self.idx.iter().enumerate() {
            if let Some(Some(w)) = values.get(i) {
                if plausible_watts(*w) {
                    self.latest[k] = Some((t_s, *w));
                    any = true;
                }
            }
        }
        if !any {
            return false;
        }
        let watts = self.known_at(t_s);
        let cum = match self.history.back() {
            None => Cum::default(),
            Some(last) => {
                let dt = t_s - last.t_s;
                if dt < 0.0 {
                    return false;
                }
                let mut c = last.cum;
                match (last.watts, watts) {
                    (Some(w0), Some(w1)) if dt <= self.gap_s => {
                        c.joules += 0.5 * (w0 + w1) * dt;
                        c.covered_s += dt;
                        self.in_gap = false;
                    }
                    _ if dt > 0.0 => {
                        c.uncovered_s += dt;
                        if !self.in_gap {
                            self.gaps += 1;
                            self.in_gap = true;
                        }
                    }
                    _ => {}
                }
                c
            }
        };
        if let Some(w) = watts {
            self.peak_w = Some(self.peak_w.map_or(w, |p| p.max(w)));
        }
        self.first_t.get_or_insert(t_s);
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(Point { t_s, watts, cum });
        true
    }

    /// The sum of the latest readings when every total channel has one no
    /// older than the gap threshold at `t_s`.
    fn known_at(&self, t_s: f64) -> Option<f64> {
        if self.latest.is_empty() {
            return None;
        }
        let mut sum = 0.0;
        for l in &self.latest {
            let (t, w) = (*l)?;
            if t_s - t > self.gap_s {
                return None;
            }
            sum += w;
        }
        Some(sum)
    }

    /// The total at `now_s` (the latest event time): None before every total
    /// channel has reported, and while any reading is older than the gap
    /// threshold (a sensor gap is not 0 W).
    pub fn current_w(&self, now_s: f64) -> Option<f64> {
        self.known_at(now_s)
    }

    /// Cumulative figures at the latest point (None before the first).
    pub fn cum(&self) -> Option<Cum> {
        self.history.back().map(|p| p.cum)
    }

    pub fn peak_w(&self) -> Option<f64> {
        self.peak_w
    }

    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// Time of the latest point.
    pub fn last_t(&self) -> Option<f64> {
        self.history.back().map(|p| p.t_s)
    }

    /// Cumulative figures at instant `t_s`, interpolated inside the interval
    /// that contains it. None when `t_s` is at or after the latest point (the
    /// next point decides), or before any point.
    pub fn cum_at(&self, t_s: f64) -> Option<Cum> {
        let last = self.history.back()?;
        if t_s.is_nan() || t_s >= last.t_s {
            return None;
        }
        if self.first_t.is_some_and(|f| t_s <= f) {
            return Some(Cum::default());
        }
        let k = self.history.partition_point(|p| p.t_s <= t_s);
        if k == 0 {
            // Older than the points kept: the oldest known.
            return Some(self.history[0].cum);
        }
        let (a, b) = (self.history[k - 1], self.history[k]);
        Some(interpolate(a, b, t_s))
    }

    /// Cumulative figures at `t_s` as far as they are known now: exact when a
    /// point after `t_s` exists, else those of the latest point (the time
    /// since it is neither covered nor uncovered yet).
    pub fn cum_at_or_latest(&self, t_s: f64) -> Option<Cum> {
        self.cum_at(t_s).or_else(|| self.cum())
    }
}

fn interpolate(a: Point, b: Point, t_s: f64) -> Cum {
    let x = t_s - a.t_s;
    let dt = b.t_s - a.t_s;
    let covered = b.cum.covered_s > a.cum.covered_s;
    let mut c = a.cum;
    match (a.watts, b.watts) {
        (Some(w0), Some(w1)) if covered && dt > 0.0 => {
            let wx = w0 + (w1 - w0) * x / dt;
            c.joules += 0.5 * (w0 + wx) * x;
            c.covered_s += x;
        }
        _ if b.cum.uncovered_s > a.cum.uncovered_s => c.uncovered_s += x,
        _ => {}
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_channel_integrates_like_trapezoids() {
        let mut t = TotalPower::new(vec![0], 0.5);
        assert_eq!(t.cum(), None);
        for i in 0..=10 {
            t.push(i as f64 * 0.1, &[Some(10.0 + i as f64)]);
        }
        let c = t.cum().unwrap();
        assert!((c.joules - 15.0).abs() < 1e-9, "{c:?}");
        assert!((c.covered_s - 1.0).abs() < 1e-9);
        assert_eq!(t.peak_w(), Some(20.0));
        // Half-way through the fourth interval: 10..13.5 W over 0.35 s.
        let m = t.cum_at(0.35).unwrap();
        assert!(
            (m.joules - 0.5 * (10.0 + 13.5) * 0.35).abs() < 1e-9,
            "{m:?}"
        );
        assert_eq!(t.cum_at(1.0), None, "at the latest point: the next decides");
    }

    #[test]
    fn a_channel_that_starts_late_or_goes_stale_makes_the_total_unknown() {
        // Two totals: gpu (index 0) from 0 s, cpu (index 1) only from 1 s.
        let mut t = TotalPower::new(vec![0, 1], 0.5);
        for i in 0..10 {
            t.push(i as f64 * 0.1, &[Some(200.0), None]);
        }
        assert_eq!(t.current_w(0.9), None, "200 W alone is not the total");
        assert_eq!(t.cum().unwrap().joules, 0.0);
        t.push(1.0, &[Some(200.0), Some(40.0)]);
        assert_eq!(t.current_w(1.0), Some(240.0));
        t.push(1.1, &[Some(200.0), Some(40.0)]);
        let c = t.cum().unwrap();
        assert!((c.joules - 24.0).abs() < 1e-9, "{c:?}");
        assert!((c.uncovered_s - 1.0).abs() < 1e-9);
        // cpu goes quiet: after 0.5 s the total is unknown again.
        for i in 12..30 {
            t.push(i as f64 * 0.1, &[Some(200.0), None]);
        }
        assert_eq!(t.current_w(2.9), None);
        let c = t.cum().unwrap();
        assert!(c.joules / c.covered_s <= t.peak_w().unwrap() + 1e-9);
        assert_eq!(t.gaps(), 2);
    }

    #[test]
    fn implausible_readings_are_never_integrated() {
        let mut t = TotalPower::new(vec![0], 0.5);
        t.push(0.0, &[Some(10.0)]);
        t.push(0.1, &[Some(1e308)]);
        t.push(0.2, &[Some(-5.0)]);
        t.push(0.3, &[Some(f64::NAN)]);
        t.push(0.4, &[Some(10.0)]);
        let c = t.cum().unwrap();
        assert!((c.joules - 4.0).abs() < 1e-9, "{c:?}");
        assert_eq!(t.peak_w(), Some(10.0));
    }

    #[test]
    fn window_figures_are_differences_of_interpolated_cumulatives() {
        let mut t = TotalPower::new(vec![0], 15.0);
        t.push(0.0, &[Some(100.0)]);
        t.push(10.0, &[Some(100.0)]);
        t.push(30.0, &[Some(100.0)]); // a 20 s gap
        t.push(40.0, &[Some(100.0)]);
        let w = t.cum_at(35.0).unwrap().since(t.cum_at(5.0).unwrap());
        assert!((w.joules - 1000.0).abs() < 1e-9, "{w:?}");
        assert!((w.covered_s - 10.0).abs() < 1e-9);
        assert!((w.uncovered_s - 20.0).abs() < 1e-9);
        assert_eq!(w.avg_w(), Some(100.0));
    }
}
