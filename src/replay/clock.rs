//! The replay clock: play, pause, seek and speed. Pure: every method takes
//! the current time (`now_s`, seconds on any monotonic clock) as an argument.

pub const MIN_SPEED: f64 = 0.25;
pub const MAX_SPEED: f64 = 64.0;

/// Session time as a function of wall time: `pos = anchor_pos + (now - anchor_now) * speed`
/// while playing, `anchor_pos` while paused, clamped to `0..=end`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayClock {
    anchor_pos_s: f64,
    anchor_now_s: f64,
    speed: f64,
    paused: bool,
    end_s: Option<f64>,
}

impl ReplayClock {
    /// A playing clock at session time 0 at `now_s`. `speed` is clamped to
    /// `MIN_SPEED..=MAX_SPEED`.
    pub fn new(speed: f64, now_s: f64) -> Self {
        ReplayClock {
            anchor_pos_s: 0.0,
            anchor_now_s: now_s,
            speed: clamp_speed(speed),
            paused: false,
            end_s: None,
        }
    }

    /// The session time where the clock stops (the longest replayed session).
    pub fn set_end(&mut self, end_s: Option<f64>) {
        self.end_s = end_s.filter(|e| e.is_finite() && *e >= 0.0);
    }

    pub fn end_s(&self) -> Option<f64> {
        self.end_s
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Session time at `now_s`.
    pub fn position(&self, now_s: f64) -> f64 {
        let p = if self.paused {
            self.anchor_pos_s
        } else {
            self.anchor_pos_s + (now_s - self.anchor_now_s).max(0.0) * self.speed
        };
        self.clamp(p)
    }

    /// True once the clock has reached the end of the replayed sessions.
    pub fn at_end(&self, now_s: f64) -> bool {
        self.end_s.is_some_and(|e| self.position(now_s) >= e)
    }

    fn clamp(&self, p: f64) -> f64 {
        let p = p.max(0.0);
        match self.end_s {
            Some(e) => p.min(e),
            None => p,
        }
    }

    fn rebase(&mut self, now_s: f64) {
        self.anchor_pos_s = self.position(now_s);
        self.anchor_now_s = now_s;
    }

    pub fn toggle_pause(&mut self, now_s: f64) {
        self.rebase(now_s);
        self.paused = !self.paused;
    }

    pub fn set_paused(&mut self, paused: bool, now_s: f64) {
        self.rebase(now_s);
        self.paused = paused;
    }

    /// Move by `delta_s` seconds of session time (negative: back).
    pub fn seek_by(&mut self, delta_s: f64, now_s: f64) {
        let target = self.position(now_s) + delta_s;
        self.seek_to(target, now_s);
    }

    pub fn seek_to(&mut self, t_s: f64, now_s: f64) {
        self.anchor_pos_s = self.clamp(t_s);
        self.anchor_now_s = now_s;
    }

    /// Double the speed, up to [`MAX_SPEED`].
    pub fn faster(&mut self, now_s: f64) {
        self.rebase(now_s);
        self.speed = clamp_speed(self.speed * 2.0);
    }

    /// Halve the speed, down to [`MIN_SPEED`].
    pub fn slower(&mut self, now_s: f64) {
        self.rebase(now_s);
        self.speed = clamp_speed(self.speed / 2.0);
    }
}

fn clamp_speed(s: f64) -> f64 {
    if s.is_finite() {
        s.clamp(MIN_SPEED, MAX_SPEED)
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plays_pauses_seeks_and_changes_speed() {
        let mut c = ReplayClock::new(1.0, 100.0);
        assert_eq!(c.position(110.0), 10.0);
        c.toggle_pause(110.0);
        assert_eq!(c.position(200.0), 10.0);
        c.toggle_pause(200.0);
        assert_eq!(c.position(205.0), 15.0);
        c.faster(205.0);
        assert_eq!(c.speed(), 2.0);
        assert_eq!(c.position(210.0), 25.0);
        c.seek_by(-60.0, 210.0);
        assert_eq!(c.position(210.0), 0.0, "never before the start");
        c.seek_by(10.0, 210.0);
        assert_eq!(c.position(211.0), 12.0);
    }

    #[test]
    fn speed_is_bounded_and_end_clamps() {
        let mut c = ReplayClock::new(1000.0, 0.0);
        assert_eq!(c.speed(), MAX_SPEED);
        for _ in 0..20 {
            c.slower(0.0);
        }
        assert_eq!(c.speed(), MIN_SPEED);
        c.set_end(Some(30.0));
        assert_eq!(c.position(1e6), 30.0);
        assert!(c.at_end(1e6));
        c.seek_by(-10.0, 1e6);
        c.set_paused(true, 1e6);
        assert_eq!(c.position(2e6), 20.0);
    }
}
