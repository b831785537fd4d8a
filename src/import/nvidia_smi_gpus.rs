//! Which GPU each nvidia-smi row belongs to, and which rows form one query
//! cycle (one session sample). From the `index`, `uuid` or `pci.bus_id`
//! column when the log has one; else `--gpus N` (rows in GPU order); else
//! from the repeating timestamp pattern: nvidia-smi prints one row per GPU
//! per cycle, stamped together, so a log of N GPUs has runs of N rows close
//! in time, far from the next run. A single GPU at `-lms 10` has no such
//! pattern (every row is a cycle of its own), and is one GPU.

/// The longest `--gpus` accepted (the largest nodes hold 16 GPUs).
pub const MAX_GPUS: usize = 1024;

/// GPU identities and the rows of each cycle as (GPU slot, row).
pub(crate) struct Grouping {
    pub gpu_ids: Vec<String>,
    pub groups: Vec<Vec<(usize, usize)>>,
    /// How the GPUs were told apart, for the report.
    pub how: String,
}

/// Rows grouped by an identity column: a new cycle starts when a GPU repeats.
pub(crate) fn by_identity(ids: &[String], column: &str) -> Grouping {
    let mut gpu_ids: Vec<String> = Vec::new();
    let mut groups: Vec<Vec<(usize, usize)>> = Vec::new();
    for (ri, id) in ids.iter().enumerate() {
        let slot = match gpu_ids.iter().position(|g| g == id) {
            Some(s) => s,
            None => {
                gpu_ids.push(id.clone());
                gpu_ids.len() - 1
            }
        };
        let new_group = groups
            .last()
            .is_none_or(|g| g.iter().any(|(s, _)| *s == slot));
        if new_group {
            groups.push(Vec::new());
        }
        if let Some(g) = groups.last_mut() {
            g.push((slot, ri));
        }
    }
    let how = format!("{} GPUs told apart by the `{column}` column", gpu_ids.len());
    Grouping {
        gpu_ids,
        groups,
        how,
    }
}

/// Rows in GPU order, `g` GPUs per cycle.
pub(crate) fn by_row_order(rows: usize, g: usize, how: String) -> Grouping {
    let groups = (0..rows)
        .step_by(g.max(1))
        .map(|first| {
            (first..rows.min(first + g))
                .map(|ri| (ri - first, ri))
                .collect()
        })
        .collect();
    Grouping {
        gpu_ids: (0..g).map(|k| k.to_string()).collect(),
        groups,
        how,
    }
}

/// The number of GPUs a header-less, index-less log was written for, from
/// its row times (seconds, `None` where a row has none): the smallest `g`
/// for which every gap inside a cycle of `g` rows is at most a quarter of
/// every gap between cycles, seen over at least two whole cycles. Gaps that
/// go back (clock steps) say nothing and are left out. Returns the count and
/// how it was found. `whole_seconds`: the stamps carry no fraction of a second.
pub(crate) fn infer_count(times: &[Option<f64>], whole_seconds: bool) -> (usize, String) {
    let gaps: Vec<Option<f64>> = times
        .windows(2)
        .map(|w| match (w[0], w[1]) {
            (Some(a), Some(b)) if b >= a => Some(b - a),
            _ => None,
        })
        .collect();
    if whole_seconds {
        // Whole-second stamps (the Jetson format): rows sharing a second are
        // as likely one GPU sampled faster than once a second.
        return (
            1,
            "no index column and whole-second timestamps, which cannot tell GPUs from samples: one GPU assumed (pass --gpus N for a log of N GPUs in row order)".into(),
        );
    }
    let most = (times.len() / 2).min(MAX_GPUS);
    for g in 2..=most {
        if let Some((inside, between)) = cycle_gaps(&gaps, g) {
            if inside <= 0.25 * between {
                return (
                    g,
                    format!(
                        "no index column: {g} GPUs inferred from the repeating timestamp pattern (every {g} rows stamped within {:.0} ms of each other, cycles at least {:.0} ms apart); --gpus overrides",
                        inside * 1e3,
                        between * 1e3
                    ),
                );
            }
        }
    }
    (
        1,
        "no index column and no repeating timestamp pattern (no runs of rows stamped together): one GPU (pass --gpus N for a log of N GPUs in row order)".into(),
    )
}

/// The widest gap inside cycles of `g` rows and the narrowest between them.
fn cycle_gaps(gaps: &[Option<f64>], g: usize) -> Option<(f64, f64)> {
    let (mut inside, mut between) = (0.0f64, f64::INFINITY);
    // gaps[i] lies between row i and row i + 1.
    for (i, gap) in gaps.iter().enumerate() {
        let Some(gap) = *gap else { continue };
        if (i + 1) % g == 0 {
            between = between.min(gap);
        } else {
            inside = inside.max(gap);
        }
    }
    (between.is_finite() && between > 0.0).then_some((inside, between))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_gpu_at_10_ms_is_one_gpu_and_cycles_are_found() {
        let one: Vec<Option<f64>> = (0..500).map(|i| Some(i as f64 * 0.01)).collect();
        assert_eq!(infer_count(&one, false).0, 1);
        let whole: Vec<Option<f64>> = (0..40).map(|i| Some((i / 4) as f64)).collect();
        assert_eq!(infer_count(&whole, true).0, 1);
        let two: Vec<Option<f64>> = (0..6)
            .map(|i| Some((i / 2) as f64 + (i % 2) as f64 * 0.001))
            .collect();
        assert_eq!(infer_count(&two, false).0, 2);
        let four_same: Vec<Option<f64>> = (0..40).map(|i| Some((i / 4) as f64 * 0.1)).collect();
        assert_eq!(infer_count(&four_same, false).0, 4);
        // One cycle only is no pattern.
        assert_eq!(infer_count(&[Some(0.0), Some(0.0)], false).0, 1);
        let g = by_row_order(5, 2, String::new());
        assert_eq!(
            g.groups,
            vec![vec![(0, 0), (1, 1)], vec![(0, 2), (1, 3)], vec![(0, 4)]]
        );
    }
}
