//! When each line of a tegrastats log was taken: from `<epoch>::` prefixes,
//! else from `MM-DD-YYYY HH:MM:SS` stamps (lines sharing a second spread
//! evenly over it), else one line per interval from the given start.
use super::tegrastats::{Parsed, TegraImportOptions};
use crate::record::format::format_utc;

/// Times of the lines and how they were found.
pub(crate) struct Timing {
    /// Seconds since the first line, in input order (they may go back: a
    /// clock step); `None` for a line that carries no time where the others do.
    pub times: Vec<Option<f64>>,
    pub start: time::OffsetDateTime,
    pub method: String,
    /// Mean spacing of the lines in ms (rounded to 1 µs).
    pub mean_ms: Option<f64>,
}

/// The lines' times, by the best method the log allows.
pub(crate) fn timing(lines: &[Parsed], opts: &TegraImportOptions) -> Timing {
    let with_epoch = lines.iter().filter(|l| l.data.epoch.is_some()).count();
    let stamped = lines
        .iter()
        .filter(|l| l.data.stamp.and_then(|s| s.as_if_utc_s()).is_some())
        .count();
    if with_epoch * 2 > lines.len() {
        from_epochs(lines)
    } else if stamped * 2 > lines.len() {
        from_stamps(lines)
    } else {
        from_interval(lines.len(), opts)
    }
}

/// Mean spacing of placed times (rounded to 1 µs), over the steps that go
/// forward: a clock step back says nothing about the interval.
fn mean_ms(ts: &[Option<f64>]) -> Option<f64> {
    let placed: Vec<f64> = ts.iter().flatten().copied().collect();
    let forward: Vec<f64> = placed
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d >= 0.0)
        .collect();
    (!forward.is_empty())
        .then(|| (forward.iter().sum::<f64>() / forward.len() as f64 * 1e6).round() / 1e3)
        .filter(|m| *m > 0.0 && m.is_finite())
}

fn from_epochs(lines: &[Parsed]) -> Timing {
    let e0 = lines.iter().find_map(|l| l.data.epoch).unwrap_or((0, 0.0));
    let times: Vec<Option<f64>> = lines
        .iter()
        .map(|l| {
            l.data
                .epoch
                .map(|e| e.0.saturating_sub(e0.0) as f64 + (e.1 - e0.1))
        })
        .collect();
    let start = time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(e0.0) * 1_000_000_000 + (e0.1 * 1e9) as i128,
    )
    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timing {
        mean_ms: mean_ms(&times),
        times,
        start,
        method: "from the <epoch>:: prefix of each line (UTC, sub-second)".into(),
    }
}

fn from_stamps(lines: &[Parsed]) -> Timing {
    let n = lines.len();
    let stamp = |l: &Parsed| l.data.stamp.and_then(|s| s.as_if_utc_s());
    // Runs of lines sharing a stamp; an unstamped line joins the run before
    // it (lines before the first stamp join the first run).
    let first = lines.iter().find_map(stamp).unwrap_or(0);
    let mut secs: Vec<i64> = Vec::with_capacity(n);
    let mut prev = first;
    for l in lines {
        prev = stamp(l).unwrap_or(prev);
        secs.push(prev);
    }
    let mut times = vec![None; n];
    let (mut i, mut groups, mut widest) = (0, 0, 0);
    while i < n {
        let j = (i..n).find(|&j| secs[j] != secs[i]).unwrap_or(n);
        let k = j - i;
        for (m, t) in times[i..j].iter_mut().enumerate() {
            *t = Some(secs[i].saturating_sub(first) as f64 + m as f64 / k as f64);
        }
        groups += 1;
        widest = widest.max(k);
        i = j;
    }
    let start = time::OffsetDateTime::from_unix_timestamp(first)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timing {
        mean_ms: mean_ms(&times),
        times,
        start,
        method: format!(
            "from the MM-DD-YYYY HH:MM:SS stamps (device local time, zone unknown, written as if UTC); {groups} runs of one second, up to {widest} lines per second, spread evenly over their second"
        ),
    }
}

fn from_interval(n: usize, opts: &TegraImportOptions) -> Timing {
    let iv = opts.interval_ms.unwrap_or(1000.0);
    let start = opts.start.unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timing {
        times: (0..n).map(|i| Some(i as f64 * iv / 1e3)).collect(),
        start,
        method: format!(
            "no timestamps in the log: one line every {iv} ms (--interval{}) from {} (--start, default the file's modification time)",
            if opts.interval_ms.is_some() { "" } else { " not given: tegrastats' default 1000 ms" },
            format_utc(start)
        ),
        mean_ms: Some(iv),
    }
}
