//! The comparison strip's numbers: the first pane ("local") against the
//! second at equal training progress (from the replay index) when both have
//! progress, otherwise at equal elapsed time.
use super::state::State;
use crate::model::fold::{SessionFold, Window};
use crate::replay::ReplayIndex;

/// How the two sides were matched.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Basis {
    /// Both at this fraction of their training runs.
    Progress(f64),
    /// Both at this many seconds since their sessions started.
    Time(f64),
    /// Each as far as it got (no index for the second pane, no progress).
    Now,
}

/// One session's figures at the comparison point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Side {
    pub elapsed_s: f64,
    /// None when that side's energy is unknown (no power channel, no reading).
    pub joules: Option<f64>,
    /// Mean power over the time its sensors covered (never joules over
    /// elapsed time: a gap's energy is unknown, not zero).
    pub avg_w: Option<f64>,
    pub images: Option<u64>,
}

impl Side {
    pub fn avg_w(&self) -> Option<f64> {
        self.avg_w
    }

    pub fn joules_per_image(&self) -> Option<f64> {
        let n = self.images.filter(|&n| n > 0)?;
        Some(self.joules? / n as f64)
    }

    /// A side read off a fold's window (training so far, or up to progress).
    fn from_window(w: Window, images: Option<u64>) -> Side {
        Side {
            elapsed_s: w.time_s(),
            joules: w.joules(),
            avg_w: w.avg_w(),
            images,
        }
    }

    /// The whole session so far.
    fn whole(p: &SessionFold) -> Side {
        Side {
            elapsed_s: p.elapsed_s(),
            joules: p.joules(),
            avg_w: p.avg_w(),
            images: p.images(),
        }
    }

    /// The training run so far, else the whole session.
    fn run_or_whole(p: &SessionFold) -> Side {
        match p.training() {
            Some(w) => Side::from_window(w, p.images()),
            None => Side::whole(p),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub basis: Basis,
    /// Pane 0 ("local").
    pub a: Side,
    pub b: Side,
    pub a_name: String,
    pub b_name: String,
    /// Either total is an estimate.
    pub estimate: bool,
}

fn ratio(x: f64, y: f64) -> Option<f64> {
    (x > 0.0 && y > 0.0 && x.is_finite() && y.is_finite()).then(|| x / y)
}

impl Comparison {
    /// a's time over b's time.
    pub fn time_ratio(&self) -> Option<f64> {
        match self.basis {
            Basis::Time(_) => None,
            _ => ratio(self.a.elapsed_s, self.b.elapsed_s),
        }
    }

    pub fn energy_ratio(&self) -> Option<f64> {
        ratio(self.a.joules?, self.b.joules?)
    }

    pub fn power_ratio(&self) -> Option<f64> {
        ratio(self.a.avg_w()?, self.b.avg_w()?)
    }

    /// The plain-language line, e.g. "local: 31× slower, 0.52× the energy so far".
    pub fn sentence(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(r) = self.time_ratio() {
            parts.push(if same(r) {
                "same time".to_string()
            } else if r >= 1.0 {
                format!("{} slower", times(r))
            } else {
                format!("{} faster", times(1.0 / r))
            });
        }
        if let Some(r) = self.energy_ratio() {
            parts.push(if same(r) {
                "same energy".to_string()
            } else {
                format!("{} the energy", times(r))
            });
        }
        if parts.is_empty() {
            return format!(
                "{}: not enough data yet to compare with {}",
                self.a_name, self.b_name
            );
        }
        let when = match self.basis {
            Basis::Progress(_) => " so far",
            Basis::Time(_) => " in the same time",
            Basis::Now => " so far (each as far as it got)",
        };
        format!(
            "{}: {}{} vs {}",
            self.a_name,
            parts.join(", "),
            when,
            self.b_name
        )
    }
}

/// Within 5% either way (what "1.0× slower" or "1.0× faster" would
/// show): the words say "same time", "same energy".
pub fn same(r: f64) -> bool {
    r > 1.0 / 1.05 && r < 1.05
}

/// A ratio for reading: "31×", "2.4×", "0.52×".
pub fn times(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}×")
    } else if r >= 1.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.2}×")
    }
}

/// Compare pane 0 with pane 1; None with fewer than two panes or before
/// pane 0 has any data.
pub fn compare(state: &State) -> Option<Comparison> {
    let (pa, pb) = (state.panes.first()?, state.panes.get(1)?);
    let a_pane = &pa.pane;
    if a_pane.events() == 0 {
        return None;
    }
    let estimate = a_pane.estimate || pb.pane.estimate;
    let (basis, a, b) = match (&pb.index, a_pane.progress()) {
        (Some(idx), Some(f)) if f > 0.0 && idx.has_progress() => {
            progress_basis(f, a_pane, idx).unwrap_or_else(|| time_basis(a_pane, idx))
        }
        (Some(idx), _) => time_basis(a_pane, idx),
        (None, _) => (
            Basis::Now,
            Side::run_or_whole(a_pane),
            Side::run_or_whole(&pb.pane),
        ),
    };
    Some(Comparison {
        basis,
        a,
        b,
        a_name: pa.name.clone(),
        b_name: pb.name.clone(),
        estimate,
    })
}

/// Both sides from their run's start to the point where they reached
/// fraction `f`: the live side where its latest progress event put it, not
/// "now" (progress moves in steps).
fn progress_basis(f: f64, a_pane: &SessionFold, idx: &ReplayIndex) -> Option<(Basis, Side, Side)> {
    let p = idx.at_fraction(f)?;
    let a = Side::from_window(a_pane.progress_window()?, a_pane.images());
    let (start, c0) = match idx.run_start() {
        Some(s) => s,
        None => {
            let p0 = idx.at_fraction(0.0)?;
            (p0.t_s, p0.cum)
        }
    };
    let w = Window {
        start_s: start,
        end_s: p.t_s,
        cum: match (p.cum, c0) {
            (Some(c), Some(c0)) => Some(c.since(c0)),
            _ => None,
        },
    };
    Some((Basis::Progress(f), a, Side::from_window(w, p.images)))
}

/// Both sessions at the same elapsed time since their start.
fn time_basis(a_pane: &SessionFold, idx: &ReplayIndex) -> (Basis, Side, Side) {
    let t = a_pane.elapsed_s();
    let w = Window {
        start_s: 0.0,
        end_s: t.min(idx.duration_s),
        cum: idx.cum_at(t),
    };
    (
        Basis::Time(t),
        Side::whole(a_pane),
        Side::from_window(w, None),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentence_reads_like_the_study() {
        let c = Comparison {
            basis: Basis::Progress(0.5),
            a: Side {
                elapsed_s: 3100.0,
                joules: Some(52.0),
                avg_w: Some(52.0 / 3100.0),
                images: Some(100),
            },
            b: Side {
                elapsed_s: 100.0,
                joules: Some(100.0),
                avg_w: Some(1.0),
                images: Some(100),
            },
            a_name: "local".into(),
            b_name: "gpu-server".into(),
            estimate: false,
        };
        assert_eq!(
            c.sentence(),
            "local: 31× slower, 0.52× the energy so far vs gpu-server"
        );
        assert_eq!(c.power_ratio().map(|r| (r * 1000.0).round()), Some(17.0));
        assert_eq!(c.a.joules_per_image(), Some(0.52));
        let mut eq = c.clone();
        eq.a.elapsed_s = 102.0;
        eq.a.joules = Some(98.0);
        assert_eq!(
            eq.sentence(),
            "local: same time, same energy so far vs gpu-server"
        );
        eq.a.elapsed_s = 106.0;
        assert_eq!(
            eq.sentence(),
            "local: 1.1× slower, same energy so far vs gpu-server"
        );
    }
}
