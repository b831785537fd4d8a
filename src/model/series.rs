//! The power history charts read: a whole session kept in bounded memory.
//!
//! Three stores, each fed every reading (O(1) per reading, amortised; no
//! allocation after construction):
//! - 1 s buckets for the last 10 minutes (a ring),
//! - 10 s buckets for the last hour (a ring),
//! - the whole session in at most [`WHOLE_BUCKETS`] buckets that start at 1 s
//!   and merge in pairs (doubling their width) whenever the session outgrows
//!   them, so a 6 h session keeps 64 s buckets.
//!
//! Every bucket keeps the min, mean and max of its readings and the times of
//! its first and last reading, so a coarse view still shows the peaks and a
//! chart can tell a sensor gap (no reading for longer than the gap
//! threshold) from a sparse source. An empty bucket is unknown, never zero.

/// Buckets of the whole-session store.
pub const WHOLE_BUCKETS: usize = 512;
/// Seconds of 1 s buckets.
pub const FINE_S: usize = 600;
/// 10 s buckets kept (one hour).
pub const MID_BUCKETS: usize = 360;

/// The readings that fell into one bucket (or one chart column).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    pub first_t: f64,
    pub last_t: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub n: u32,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket::EMPTY
    }
}

impl Bucket {
    pub const EMPTY: Bucket = Bucket {
        first_t: f64::INFINITY,
        last_t: f64::NEG_INFINITY,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        n: 0,
    };

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Mean of the readings; None when there are none.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    fn add(&mut self, t: f64, v: f64) {
        self.first_t = self.first_t.min(t);
        self.last_t = self.last_t.max(t);
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.n += 1;
    }

    /// Fold another bucket in (the readings of both).
    pub fn merge(&mut self, o: &Bucket) {
        if o.n == 0 {
            return;
        }
        self.first_t = self.first_t.min(o.first_t);
        self.last_t = self.last_t.max(o.last_t);
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.n += o.n;
    }
}

/// Fixed-width buckets of the most recent `capacity × width_s` seconds.
#[derive(Clone, Debug, PartialEq)]
struct Ring {
    width_s: f64,
    buckets: Vec<Bucket>,
    head: usize,
    len: usize,
    /// Bucket number (floor(t / width)) of the newest bucket.
    head_key: Option<i64>,
}

impl Ring {
    fn new(width_s: f64, capacity: usize) -> Self {
        Ring {
            width_s,
            buckets: vec![Bucket::EMPTY; capacity.max(1)],
            head: 0,
            len: 0,
            head_key: None,
        }
    }

    fn push(&mut self, t: f64, v: f64) {
        let key = (t / self.width_s).floor() as i64;
        let cap = self.buckets.len();
        match self.head_key {
            None => {
                self.head_key = Some(key);
                self.len = 1;
                self.buckets[self.head] = Bucket::EMPTY;
            }
            Some(h) if key > h => {
                let advance = ((key - h) as usize).min(cap);
                for _ in 0..advance {
                    self.head = (self.head + 1) % cap;
                    self.buckets[self.head] = Bucket::EMPTY;
                }
                self.len = (self.len + advance).min(cap);
                self.head_key = Some(key);
            }
            Some(h) if key < h => return,
            Some(_) => {}
        }
        self.buckets[self.head].add(t, v);
    }

    /// Start of the oldest bucket kept.
    fn oldest_t(&self) -> Option<f64> {
        let h = self.head_key?;
        Some((h - self.len as i64 + 1) as f64 * self.width_s)
    }

    /// The `i`-th newest bucket (0 is the newest).
    fn back(&self, i: usize) -> Option<&Bucket> {
        if i >= self.len {
            return None;
        }
        let n = self.buckets.len();
        Some(&self.buckets[(self.head + n - i) % n])
    }
}

/// The whole session: buckets from the first reading on, merged in pairs
/// when full.
#[derive(Clone, Debug, PartialEq)]
struct Whole {
    origin: Option<f64>,
    width_s: f64,
    buckets: Vec<Bucket>,
    len: usize,
}

impl Whole {
    fn new() -> Self {
        Whole {
            origin: None,
            width_s: 1.0,
            buckets: vec![Bucket::EMPTY; WHOLE_BUCKETS],
            len: 0,
        }
    }

    fn push(&mut self, t: f64, v: f64) {
        let origin = *self.origin.get_or_insert(t.floor());
        if t < origin {
            return;
        }
        let mut k = ((t - origin) / self.width_s) as usize;
        while k >= self.buckets.len() {
            self.halve();
            k = ((t - origin) / self.width_s) as usize;
        }
        self.buckets[k].add(t, v);
        self.len = self.len.max(k + 1);
    }

    fn halve(&mut self) {
        let n = self.buckets.len();
        for i in 0..n / 2 {
            let mut b = self.buckets[2 * i];
            b.merge(&self.buckets[2 * i + 1]);
            self.buckets[i] = b;
        }
        for b in &mut self.buckets[n / 2..] {
            *b = Bucket::EMPTY;
        }
        self.len = self.len.div_ceil(2);
        self.width_s *= 2.0;
    }
}

/// A power reading's history: see the module doc.
#[derive(Clone, Debug, PartialEq)]
pub struct PowerSeries {
    fine: Ring,
    mid: Ring,
    whole: Whole,
    latest_t: Option<f64>,
}

impl Default for PowerSeries {
    fn default() -> Self {
        Self::new()
    }
}

impl PowerSeries {
    pub fn new() -> Self {
        PowerSeries {
            fine: Ring::new(1.0, FINE_S),
            mid: Ring::new(10.0, MID_BUCKETS),
            whole: Whole::new(),
            latest_t: None,
        }
    }

    /// Add a reading taken at `t_s` seconds. Readings older than the newest
    /// are ignored (the history only moves forward).
    pub fn push(&mut self, t_s: f64, watts: f64) {
        if !t_s.is_finite() || !watts.is_finite() || self.latest_t.is_some_and(|l| t_s < l) {
            return;
        }
        self.latest_t = Some(t_s);
        self.fine.push(t_s, watts);
        self.mid.push(t_s, watts);
        self.whole.push(t_s, watts);
    }

    pub fn is_empty(&self) -> bool {
        self.latest_t.is_none()
    }

    /// Time of the newest reading.
    pub fn latest_t(&self) -> Option<f64> {
        self.latest_t
    }

    /// Time of the first reading.
    pub fn first_t(&self) -> Option<f64> {
        self.whole.buckets[..self.whole.len]
            .iter()
            .find(|b| b.n > 0)
            .map(|b| b.first_t)
    }

    /// Width in seconds of the whole-session buckets now.
    pub fn whole_width_s(&self) -> f64 {
        self.whole.width_s
    }

    /// Mean of the 1 s buckets of the last `seconds` seconds that hold a reading.
    pub fn recent_mean(&self, seconds: usize) -> Option<f64> {
        let mut sum = 0.0;
        let mut n = 0u32;
        for i in 0..seconds.min(self.fine.len) {
            if let Some(w) = self.fine.back(i).and_then(Bucket::mean) {
                sum += w;
                n += 1;
            }
        }
        (n > 0).then(|| sum / n as f64)
    }

    /// Largest reading among the last `seconds` seconds.
    pub fn recent_max(&self, seconds: usize) -> Option<f64> {
        (0..seconds.min(self.fine.len))
            .filter_map(|i| self.fine.back(i))
            .filter(|b| b.n > 0)
            .map(|b| b.max)
            .fold(None, |m: Option<f64>, w| Some(m.map_or(w, |m| m.max(w))))
    }

    /// Spread the readings of `[t_lo, t_hi)` over `out.len()` equal columns
    /// (column 0 is the oldest), from the finest store that still holds
    /// `t_lo`. Reads at most one store's buckets; allocates nothing.
    pub fn columns(&self, t_lo: f64, t_hi: f64, out: &mut [Bucket]) {
        out.fill(Bucket::EMPTY);
        let n = out.len();
        if n == 0 || t_hi.partial_cmp(&t_lo) != Some(std::cmp::Ordering::Greater) || self.is_empty()
        {
            return;
        }
        let col_w = (t_hi - t_lo) / n as f64;
        let put = |b: &Bucket| {
            if b.n == 0 {
                return;
            }
            // Place by the bucket's readings, so coarse buckets land where
            // their readings were.
            let mid = 0.5 * (b.first_t + b.last_t);
            if mid < t_lo || mid >= t_hi {
                return;
            }
            let c = (((mid - t_lo) / col_w) as usize).min(n - 1);
            out[c].merge(b);
        };
        let holds = |r: &Ring| r.oldest_t().is_some_and(|o| o <= t_lo.max(0.0) + r.width_s);
        let ring = if holds(&self.fine) && self.fine.width_s <= col_w * 2.0 {
            Some(&self.fine)
        } else if holds(&self.mid) && self.mid.width_s <= col_w * 2.0 {
            Some(&self.mid)
        } else {
            None
        };
        match ring {
            Some(r) => (0..r.len).rev().filter_map(|i| r.back(i)).for_each(put),
            None => self.whole.buckets[..self.whole.len].iter().for_each(put),
        }
    }
}

/// A bounded trail of (x, time, joules) points with x increasing: training
/// progress (x = fraction of the run) or cumulative energy over time
/// (x = seconds). At most [`TRAIL_POINTS`] points: when full, every other
/// point goes and the spacing doubles. The newest point is always kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Trail {
    points: Vec<TrailPoint>,
    min_dx: f64,
}

pub const TRAIL_POINTS: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrailPoint {
    pub x: f64,
    pub t_s: f64,
    /// Cumulative session energy at `t_s`; None while unknown.
    pub joules: Option<f64>,
    /// The energy is final (read off a reading after `t_s`).
    pub exact: bool,
}

impl Trail {
    pub fn new(min_dx: f64) -> Self {
        Trail {
            points: Vec::with_capacity(TRAIL_POINTS),
            min_dx,
        }
    }

    pub fn points(&self) -> &[TrailPoint] {
        &self.points
    }

    pub fn last(&self) -> Option<&TrailPoint> {
        self.points.last()
    }

    pub fn push(&mut self, p: TrailPoint) {
        if !p.x.is_finite() || self.points.last().is_some_and(|l| p.x < l.x) {
            return;
        }
        let n = self.points.len();
        // Closer than the spacing to the one before the newest: the newest
        // moves forward instead of a new point.
        if n >= 2 && p.x - self.points[n - 2].x < self.min_dx {
            self.points[n - 1] = p;
            return;
        }
        if n == TRAIL_POINTS {
            let last = self.points[n - 1];
            let mut k = 0;
            for i in (0..n - 1).step_by(2) {
                self.points[k] = self.points[i];
                k += 1;
            }
            self.points.truncate(k);
            self.points.push(last);
            self.min_dx *= 2.0;
        }
        self.points.push(p);
    }

    /// Points whose energy is not final yet, newest first (they sit at the end).
    pub fn pending_mut(&mut self) -> impl Iterator<Item = &mut TrailPoint> {
        self.points.iter_mut().rev().take_while(|p| !p.exact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(s: &PowerSeries, lo: f64, hi: f64, n: usize) -> Vec<Bucket> {
        let mut out = vec![Bucket::EMPTY; n];
        s.columns(lo, hi, &mut out);
        out
    }

    #[test]
    fn buckets_keep_min_mean_max_and_leave_gaps_empty() {
        let mut s = PowerSeries::new();
        s.push(0.1, 2.0);
        s.push(0.6, 4.0);
        s.push(3.2, 10.0);
        let c = cols(&s, 0.0, 4.0, 4);
        assert_eq!(c[0].mean(), Some(3.0));
        assert_eq!((c[0].min, c[0].max), (2.0, 4.0));
        assert!(c[1].is_empty() && c[2].is_empty());
        assert_eq!(c[3].mean(), Some(10.0));
        assert_eq!(s.recent_mean(10), Some(6.5));
        assert_eq!(s.recent_max(10), Some(10.0));
        // Older readings are ignored.
        s.push(1.0, 100.0);
        assert_eq!(s.recent_max(10), Some(10.0));
    }

    #[test]
    fn six_hours_at_10_hz_keep_their_peak_in_bounded_buckets() {
        let mut s = PowerSeries::new();
        let n = 6 * 3600 * 10;
        for i in 0..n {
            let t = i as f64 / 10.0;
            let w = if i == 12345 { 500.0 } else { 100.0 };
            s.push(t, w);
        }
        assert!(s.whole.len <= WHOLE_BUCKETS);
        assert_eq!(s.whole_width_s(), 64.0);
        let c = cols(&s, 0.0, 6.0 * 3600.0, 200);
        let peak = c.iter().map(|b| b.max).fold(0.0, f64::max);
        assert_eq!(peak, 500.0);
        let mean = c[100].mean().unwrap();
        assert!((mean - 100.0).abs() < 1e-9);
        assert!(c.iter().all(|b| !b.is_empty()));
        // The last minute comes from the 1 s store.
        let end = (n - 1) as f64 / 10.0;
        let c = cols(&s, end - 60.0, end, 60);
        assert!(c.iter().all(|b| b.n >= 9 && b.n <= 11), "{c:?}");
        // The last hour from the 10 s store: 100 readings per bucket.
        let c = cols(&s, end - 3600.0, end, 360);
        assert!(c[180].n == 100, "{:?}", c[180]);
    }

    #[test]
    fn a_gap_stays_a_gap_at_every_resolution() {
        let mut s = PowerSeries::new();
        for i in 0..2000 {
            let t = i as f64;
            if !(500.0..800.0).contains(&t) {
                s.push(t, 50.0);
            }
        }
        for (lo, n) in [(0.0, 100), (1400.0, 600)] {
            let c = cols(&s, lo, 2000.0, n);
            let known: Vec<&Bucket> = c.iter().filter(|b| b.n > 0).collect();
            let widest = known
                .windows(2)
                .map(|w| w[1].first_t - w[0].last_t)
                .fold(0.0, f64::max);
            if lo == 0.0 {
                assert!(widest > 290.0, "{widest}");
            } else {
                assert!(widest <= 1.0, "{widest}");
            }
        }
    }

    #[test]
    fn trail_is_bounded_keeps_its_ends_and_spacing() {
        let mut t = Trail::new(1e-4);
        for i in 0..=100_000 {
            let x = i as f64 / 100_000.0;
            t.push(TrailPoint {
                x,
                t_s: x * 1000.0,
                joules: Some(x * 5000.0),
                exact: true,
            });
        }
        let p = t.points();
        assert!(p.len() <= TRAIL_POINTS && p.len() > TRAIL_POINTS / 4);
        assert_eq!(p[0].x, 0.0);
        assert_eq!(p.last().unwrap().x, 1.0);
        assert!(p.windows(2).all(|w| w[1].x > w[0].x));
    }
}
