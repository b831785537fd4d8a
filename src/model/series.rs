//! A fixed-capacity ring of per-second power buckets: what sparklines read.
//! Pushing is O(1) and never allocates after construction, so a six-hour
//! session costs the same memory as a six-minute one.

/// One-second buckets of a power reading (mean of the readings inside each
/// second). A second without readings is `None`, never zero.
#[derive(Clone, Debug, PartialEq)]
pub struct PowerSeries {
    buckets: Vec<Option<f64>>,
    /// Index in `buckets` of the newest bucket.
    head: usize,
    /// Number of buckets filled so far (at most the capacity).
    len: usize,
    /// Whole second (since the session started) of the newest bucket.
    head_second: Option<i64>,
    sum_w: f64,
    count: u32,
}

impl PowerSeries {
    pub fn with_capacity(seconds: usize) -> Self {
        PowerSeries {
            buckets: vec![None; seconds.max(1)],
            head: 0,
            len: 0,
            head_second: None,
            sum_w: 0.0,
            count: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.buckets.len()
    }

    /// Add a reading taken at `t_s` seconds. Readings older than the newest
    /// bucket are ignored (the ring only moves forward).
    pub fn push(&mut self, t_s: f64, watts: f64) {
        if !t_s.is_finite() || !watts.is_finite() {
            return;
        }
        let sec = t_s.floor() as i64;
        match self.head_second {
            None => {
                self.head_second = Some(sec);
                self.len = 1;
                self.sum_w = watts;
                self.count = 1;
            }
            Some(h) if sec == h => {
                self.sum_w += watts;
                self.count += 1;
            }
            Some(h) if sec > h => {
                // Empty seconds in between stay None (a sensor gap is visible).
                let advance = ((sec - h) as usize).min(self.buckets.len());
                for _ in 0..advance {
                    self.head = (self.head + 1) % self.buckets.len();
                    self.buckets[self.head] = None;
                }
                self.len = (self.len + advance).min(self.buckets.len());
                self.head_second = Some(sec);
                self.sum_w = watts;
                self.count = 1;
            }
            Some(_) => return,
        }
        self.buckets[self.head] = Some(self.sum_w / self.count as f64);
    }

    /// Number of buckets filled so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`-th newest bucket (0 is the newest).
    pub fn back(&self, i: usize) -> Option<f64> {
        if i >= self.len {
            return None;
        }
        let n = self.buckets.len();
        self.buckets[(self.head + n - i) % n]
    }

    /// Mean of the buckets of the last `seconds` seconds that hold a reading.
    pub fn recent_mean(&self, seconds: usize) -> Option<f64> {
        let mut sum = 0.0;
        let mut n = 0u32;
        for i in 0..seconds.min(self.len) {
            if let Some(w) = self.back(i) {
                sum += w;
                n += 1;
            }
        }
        (n > 0).then(|| sum / n as f64)
    }

    /// Largest bucket among the last `seconds` seconds.
    pub fn recent_max(&self, seconds: usize) -> Option<f64> {
        (0..seconds.min(self.len))
            .filter_map(|i| self.back(i))
            .fold(None, |m: Option<f64>, w| Some(m.map_or(w, |m| m.max(w))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_average_within_a_second_and_leave_gaps_empty() {
        let mut s = PowerSeries::with_capacity(10);
        s.push(0.1, 2.0);
        s.push(0.6, 4.0);
        s.push(3.2, 10.0);
        assert_eq!(s.back(0), Some(10.0));
        assert_eq!(s.back(1), None);
        assert_eq!(s.back(2), None);
        assert_eq!(s.back(3), Some(3.0));
        assert_eq!(s.len(), 4);
        assert_eq!(s.recent_mean(10), Some(6.5));
    }

    #[test]
    fn ring_keeps_only_capacity_and_ignores_old_readings() {
        let mut s = PowerSeries::with_capacity(3);
        for i in 0..100 {
            s.push(i as f64, i as f64);
        }
        assert_eq!(s.len(), 3);
        assert_eq!(s.back(0), Some(99.0));
        assert_eq!(s.back(2), Some(97.0));
        assert_eq!(s.back(3), None);
        s.push(5.0, 1000.0);
        assert_eq!(s.back(0), Some(99.0));
        // A jump longer than the ring clears it.
        s.push(1000.0, 1.0);
        assert_eq!(s.back(0), Some(1.0));
        assert_eq!(s.back(1), None);
        assert_eq!(s.recent_max(3), Some(1.0));
    }
}
