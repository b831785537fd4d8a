//! The comparison strip's numbers: the first pane ("local") against the
//! second at equal training progress (from the replay index) when both have
//! progress, otherwise at equal elapsed time.
use super::state::State;

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
    pub joules: f64,
    pub images: Option<u64>,
}

impl Side {
    pub fn avg_w(&self) -> Option<f64> {
        (self.elapsed_s > 0.0).then(|| self.joules / self.elapsed_s)
    }

    pub fn joules_per_image(&self) -> Option<f64> {
        let n = self.images.filter(|&n| n > 0)?;
        Some(self.joules / n as f64)
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
        ratio(self.a.joules, self.b.joules)
    }

    pub fn power_ratio(&self) -> Option<f64> {
        ratio(self.a.avg_w()?, self.b.avg_w()?)
    }

    /// The plain-language line, e.g. "local: 31× slower, 0.52× the energy so far".
    pub fn sentence(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(r) = self.time_ratio() {
            parts.push(if r >= 1.0 {
                format!("{} slower", times(r))
            } else {
                format!("{} faster", times(1.0 / r))
            });
        }
        if let Some(r) = self.energy_ratio() {
            parts.push(format!("{} the energy", times(r)));
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
    let a = Side {
        elapsed_s: a_pane.train_elapsed_s().unwrap_or(a_pane.elapsed_s()),
        joules: a_pane.train_joules(),
        images: a_pane.images(),
    };
    let estimate = a_pane.estimate || pb.pane.estimate;
    let (basis, a, b) = match (&pb.index, a_pane.progress()) {
        (Some(idx), Some(f)) if f > 0.0 && idx.has_progress() => match idx.at_fraction(f) {
            Some(p) => {
                // Both sides from their run's start to the point where they
                // reached fraction f: the live side where its latest progress
                // event put it, not "now" (progress moves in steps).
                let (start, j0) = idx
                    .run_start()
                    .or_else(|| idx.at_fraction(0.0).map(|p0| (p0.t_s, p0.joules)))
                    .unwrap_or((0.0, 0.0));
                let run = a_pane.run();
                let a = match (run.start_t, run.progress_t) {
                    (Some(t0), Some(tp)) => Side {
                        elapsed_s: tp - t0,
                        joules: run.progress_joules - run.start_joules,
                        images: a.images,
                    },
                    _ => a,
                };
                (
                    Basis::Progress(f),
                    a,
                    Side {
                        elapsed_s: p.t_s - start,
                        joules: p.joules - j0,
                        images: p.images,
                    },
                )
            }
            None => time_basis(a_pane.elapsed_s(), a_pane, idx),
        },
        (Some(idx), _) => time_basis(a_pane.elapsed_s(), a_pane, idx),
        (None, _) => {
            let bp = &pb.pane;
            (
                Basis::Now,
                a,
                Side {
                    elapsed_s: bp.train_elapsed_s().unwrap_or(bp.elapsed_s()),
                    joules: bp.train_joules(),
                    images: bp.images(),
                },
            )
        }
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

fn time_basis(
    t: f64,
    a_pane: &super::pane::PaneState,
    idx: &crate::replay::ReplayIndex,
) -> (Basis, Side, Side) {
    let a = Side {
        elapsed_s: t,
        joules: a_pane.joules(),
        images: a_pane.images(),
    };
    let b = Side {
        elapsed_s: t.min(idx.duration_s),
        joules: idx.joules_at(t).unwrap_or(0.0),
        images: None,
    };
    (Basis::Time(t), a, b)
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
                joules: 52.0,
                images: Some(100),
            },
            b: Side {
                elapsed_s: 100.0,
                joules: 100.0,
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
    }
}
