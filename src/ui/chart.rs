//! The power chart of a pane: a braille line chart (ratatui `Chart`) with an
//! elapsed-time axis and a power axis from 0 W (`z` zooms to the data, `s`
//! shares one scale between the panes, `w` picks the time window).
//!
//! The history is read into a fixed buffer of at most [`MAX_COLS`] columns
//! (min, mean, max per column), so drawing costs the same for a 6 h session
//! as for a 6 min one. Where readings are further apart than the session's
//! gap threshold, the line breaks: a gap is a gap, never a line to 0 W.
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, LegendPosition, Widget};

use super::format::{duration, watts};
use super::theme::Theme;
use crate::app::state::{State, TimeWindow};
use crate::model::fold::SessionFold;
use crate::model::series::{Bucket, PowerSeries};

/// Columns read from the history per line (two braille dots per cell).
pub const MAX_COLS: usize = 512;

/// A fixed buffer of columns and points, reused for each line drawn.
pub struct Scratch {
    pub cols: [Bucket; MAX_COLS],
    pub mean: [(f64, f64); MAX_COLS],
    /// Two points per column: min then max.
    pub band: [(f64, f64); 2 * MAX_COLS],
}

impl Scratch {
    pub fn new() -> Box<Scratch> {
        Box::new(Scratch {
            cols: [Bucket::EMPTY; MAX_COLS],
            mean: [(0.0, 0.0); MAX_COLS],
            band: [(0.0, 0.0); 2 * MAX_COLS],
        })
    }
}

/// The time span a pane's chart shows: the last `window` seconds up to the
/// newest reading (from 0 while the session is shorter), or the whole run.
pub fn time_span(p: &SessionFold, window: TimeWindow) -> (f64, f64) {
    let end = p
        .total_series()
        .latest_t()
        .unwrap_or(0.0)
        .max(p.elapsed_s());
    match window.seconds() {
        Some(w) => {
            let lo = (end - w).max(0.0);
            (lo, lo + w)
        }
        None => (0.0, end.max(1.0)),
    }
}

/// Columns for a chart `width` cells wide.
pub fn columns_for(width: u16) -> usize {
    (width as usize * 2).clamp(1, MAX_COLS)
}

/// (lowest min, highest max) of the readings in the span.
pub fn data_range(
    series: &PowerSeries,
    span: (f64, f64),
    cols: &mut [Bucket],
) -> Option<(f64, f64)> {
    series.columns(span.0, span.1, cols);
    let mut r: Option<(f64, f64)> = None;
    for b in cols.iter().filter(|b| b.n > 0) {
        r = Some(r.map_or((b.min, b.max), |(lo, hi)| (lo.min(b.min), hi.max(b.max))));
    }
    r
}

/// A round number at or above `v`: 1, 2, 2.5, 5 × 10^k.
pub fn nice_ceil(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * mag * (1.0 + 1e-9) {
            return m * mag;
        }
    }
    10.0 * mag
}

/// The power axis for pane `k`: (low, high, zoomed).
pub fn power_bounds(state: &State, k: usize, scratch: &mut Scratch) -> Option<(f64, f64)> {
    let mut range: Option<(f64, f64)> = None;
    for (j, v) in state.panes.iter().enumerate().take(2) {
        if j != k && !state.shared_scale {
            continue;
        }
        let span = time_span(&v.pane, state.window);
        let cols = &mut scratch.cols[..MAX_COLS.min(400)];
        if let Some((lo, hi)) = data_range(v.pane.total_series(), span, cols) {
            range = Some(range.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        }
    }
    let (lo, hi) = range?;
    Some(if state.power_zoom {
        let pad = ((hi - lo) * 0.05).max(hi.abs() * 0.01).max(0.01);
        ((lo - pad).max(0.0), hi + pad)
    } else {
        (0.0, nice_ceil(hi))
    })
}

/// Points of one series over `span` into the scratch buffers; returns
/// (number of mean points, number of band points). Segments are found by
/// [`segments`].
pub fn fill_points(
    series: &PowerSeries,
    span: (f64, f64),
    n: usize,
    s: &mut Scratch,
) -> (usize, usize) {
    let n = n.min(MAX_COLS);
    series.columns(span.0, span.1, &mut s.cols[..n]);
    let (mut m, mut b) = (0, 0);
    for c in s.cols[..n].iter().filter(|c| c.n > 0) {
        let x = 0.5 * (c.first_t + c.last_t);
        s.mean[m] = (x, c.sum / c.n as f64);
        s.band[b] = (x, c.min);
        s.band[b + 1] = (x, c.max);
        m += 1;
        b += 2;
    }
    (m, b)
}

/// Split `m` known columns into runs without a gap: calls `f(start, end)`
/// with column-index ranges into the scratch's known columns.
pub fn segments(s: &Scratch, n: usize, gap_s: f64, mut f: impl FnMut(usize, usize)) {
    let mut start = 0;
    let mut k = 0;
    let mut prev: Option<&Bucket> = None;
    for c in s.cols[..n.min(MAX_COLS)].iter().filter(|c| c.n > 0) {
        if let Some(p) = prev {
            if c.first_t - p.last_t > gap_s {
                f(start, k);
                start = k;
            }
        }
        prev = Some(c);
        k += 1;
    }
    if k > start {
        f(start, k);
    }
}

/// The time axis: elapsed time at both ends and the middle.
pub fn time_axis<'a>(span: (f64, f64), title: String, theme: &Theme) -> Axis<'a> {
    let mid = 0.5 * (span.0 + span.1);
    Axis::default()
        .title(Span::styled(title, theme.label))
        .bounds([span.0, span.1])
        .style(theme.border)
        .labels(
            [span.0, mid, span.1].map(|t| Span::styled(zero_or(t, "0 s", duration), theme.label)),
        )
}

/// An axis label: a plain "0 W" at zero, not "0.00 W".
pub fn zero_or(v: f64, zero: &'static str, fmt: fn(f64) -> String) -> String {
    if v == 0.0 {
        zero.to_string()
    } else {
        fmt(v)
    }
}

/// A value axis; `zero` is its label at 0 ("0 W").
pub fn value_axis<'a>(
    (lo, hi): (f64, f64),
    title: String,
    (zero, fmt): (&'static str, fn(f64) -> String),
    theme: &Theme,
) -> Axis<'a> {
    Axis::default()
        .title(Span::styled(title, theme.label))
        .bounds([lo, hi])
        .style(theme.border)
        .labels([lo, 0.5 * (lo + hi), hi].map(|v| Span::styled(zero_or(v, zero, fmt), theme.label)))
}

/// One series as datasets (a band of min..max under a mean line), one
/// dataset per run without a gap. `name` goes on the first mean segment.
pub fn push_series<'a>(
    out: &mut Vec<Dataset<'a>>,
    s: &'a Scratch,
    n: usize,
    gap_s: f64,
    name: Option<String>,
    style: Style,
    band_style: Option<Style>,
) {
    let mut name = name;
    segments(s, n, gap_s, |a, b| {
        if let Some(bs) = band_style {
            out.push(
                Dataset::default()
                    .marker(Marker::Braille)
                    .graph_type(GraphType::Line)
                    .style(bs)
                    .data(&s.band[2 * a..2 * b]),
            );
        }
        let mut d = Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(style)
            .data(&s.mean[a..b]);
        if let Some(nm) = name.take() {
            d = d.name(Line::from(Span::styled(nm, style)));
        }
        out.push(d);
    });
}

/// The total-power chart of pane `k`.
pub fn power_chart(buf: &mut Buffer, area: Rect, k: usize, state: &State, theme: &Theme) {
    let Some(view) = state.panes.get(k) else {
        return;
    };
    let p = &view.pane;
    let mut scratch = Scratch::new();
    let Some((lo, hi)) = power_bounds(state, k, &mut scratch) else {
        return;
    };
    let span = time_span(p, state.window);
    let n = columns_for(area.width);
    fill_points(p.total_series(), span, n, &mut scratch);
    let mut sets = Vec::with_capacity(8);
    push_series(
        &mut sets,
        &scratch,
        n,
        p.gap_s(),
        None,
        theme.power,
        Some(theme.label),
    );
    let title = power_title(state);
    Chart::new(sets)
        .style(theme.base)
        .x_axis(time_axis(span, state.window.label().to_string(), theme))
        .y_axis(value_axis((lo, hi), title, ("0 W", watts), theme))
        .legend_position(None)
        .render(area, buf);
}

/// The power axis title: says when it is zoomed or shared.
pub fn power_title(state: &State) -> String {
    match (
        state.power_zoom,
        state.shared_scale && state.panes.len() > 1,
    ) {
        (false, false) => "W from 0".into(),
        (true, false) => "W zoomed (z)".into(),
        (false, true) => "W from 0, shared".into(),
        (true, true) => "W zoomed, shared".into(),
    }
}

/// Legend in the top right when there is room.
pub fn legend() -> Option<LegendPosition> {
    Some(LegendPosition::TopRight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_numbers_round_up() {
        assert_eq!(nice_ceil(4.3), 5.0);
        assert_eq!(nice_ceil(201.0), 250.0);
        assert_eq!(nice_ceil(0.07), 0.1);
        assert_eq!(nice_ceil(100.0), 100.0);
        assert_eq!(nice_ceil(0.0), 1.0);
    }

    #[test]
    fn a_gap_splits_the_line() {
        let mut series = PowerSeries::new();
        for i in 0..100 {
            if !(40..62).contains(&i) {
                series.push(i as f64, 5.0);
            }
        }
        let mut s = Scratch::new();
        let counts = fill_points(&series, (0.0, 100.0), 100, &mut s);
        assert_eq!(counts.0, 78);
        let mut segs = Vec::new();
        segments(&s, 100, 5.0, |a, b| segs.push((a, b)));
        assert_eq!(segs, vec![(0, 40), (40, 78)]);
        // A sparse source (one reading every 2 s) is no gap.
        let mut series = PowerSeries::new();
        for i in 0..50 {
            series.push(i as f64 * 2.0, 5.0);
        }
        fill_points(&series, (0.0, 100.0), 100, &mut s);
        let mut segs = Vec::new();
        segments(&s, 100, 10.0, |a, b| segs.push((a, b)));
        assert_eq!(segs.len(), 1);
    }
}
