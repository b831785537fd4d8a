//! Timelines are reconstructed, never cut: a log's local-time stamps go back
//! at a daylight-saving fall-back (or an NTP step). The importer keeps
//! every reading, places the one after the step one interval after the
//! reading before it, and says where and by how much the clock stepped.
use crate::model::event::{Marker, MarkerKind};

/// One place where the log's time went back.
#[derive(Clone, Debug, PartialEq)]
pub struct ClockStep {
    /// Line of the input where the earlier time appears (1-based).
    pub line: u64,
    /// The input line, cut to 80 characters.
    pub text: String,
    /// How far the stamps went: negative, in seconds (-3600 at a fall-back).
    pub step_s: f64,
    /// Where the reading was placed on the session's timeline.
    pub at_s: f64,
}

impl ClockStep {
    /// The marker written into the session at the step.
    pub fn marker(&self) -> Marker {
        Marker {
            // Rounded like a sample's time in the file (0.1 ms), so the
            // marker never lands after the reading it precedes.
            t_s: crate::record::format::stored_time(self.at_s),
            kind: MarkerKind::Note,
            text: format!(
                "clock step: the log's time went back {:.3} s at line {} (`{}`); the timeline continues one interval after the reading before",
                -self.step_s, self.line, self.text
            ),
            value: Some(self.step_s),
        }
    }
}

/// Make `times` (seconds since the first reading, in input order)
/// non-decreasing: every time that goes back is a clock step, and it and all
/// later times move forward so that it comes `interval_s` after the time
/// before it. `line_of(i)` gives the input line number and text of reading `i`.
pub fn continue_monotonic(
    times: &mut [f64],
    interval_s: f64,
    line_of: impl Fn(usize) -> (u64, String),
) -> Vec<ClockStep> {
    let mut steps = Vec::new();
    let mut offset = 0.0;
    for i in 1..times.len() {
        let prev = times[i - 1];
        let t = times[i] + offset;
        if t < prev {
            let step_s = t - prev;
            offset += prev + interval_s - t;
            let (line, text) = line_of(i);
            steps.push(ClockStep {
                line,
                text,
                step_s,
                at_s: times[i] + offset,
            });
        }
        times[i] += offset;
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fall_back_continues_one_interval_later() {
        let mut t = vec![0.0, 1.0, 2.0, -3597.0, -3596.0];
        let steps = continue_monotonic(&mut t, 1.0, |i| (i as u64 + 2, format!("row {i}")));
        assert_eq!(t, [0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].line, 5);
        assert_eq!(steps[0].step_s, -3599.0);
        assert_eq!(steps[0].at_s, 3.0);
        assert_eq!(steps[0].marker().value, Some(-3599.0));
        let mut flat = vec![0.0, 0.5, 0.5, 7.0];
        assert!(continue_monotonic(&mut flat, 1.0, |_| (0, String::new())).is_empty());
        assert_eq!(flat, [0.0, 0.5, 0.5, 7.0]);
    }
}
