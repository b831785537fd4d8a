//! The study's picture (key `e`, and below the panes from
//! [`super::layout::STUDY_MIN_HEIGHT`] rows): training energy against
//! training progress (0–100% of the run) for both sessions on one chart,
//! each session's projected energy at completion marked, and beside it
//! training time against progress. A device ahead in time and behind in
//! energy shows as its line lower on the right and higher on the left.
//! Without progress on a side (power only, imported logs), both sessions
//! are drawn against elapsed time and the title says so.
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, LegendPosition, Widget};

use super::chart::{nice_ceil, value_axis, zero_or};
use super::format::{duration, joules};
use super::theme::Theme;
use crate::app::state::{PaneView, State};
use crate::model::fold::SessionFold;
use crate::model::series::{Trail, TRAIL_POINTS};

/// Points of one session's curves: (x, energy) and (x, time), plus the
/// projection at completion.
struct Curves {
    energy: Vec<(f64, f64)>,
    time: Vec<(f64, f64)>,
    projected_energy: Option<[(f64, f64); 2]>,
    projected_time: Option<[(f64, f64); 2]>,
}

fn has_progress(p: &SessionFold) -> bool {
    p.progress_trail().points().len() >= 2
}

/// Training curves against progress (percent of the run).
fn progress_curves(p: &SessionFold) -> Curves {
    let trail: &Trail = p.progress_trail();
    let t0 = p.run().start_t.unwrap_or(0.0);
    let j0 = p.run_start_cum().map(|c| c.joules).unwrap_or(0.0);
    let mut energy = Vec::with_capacity(TRAIL_POINTS);
    let mut time = Vec::with_capacity(TRAIL_POINTS);
    for pt in trail.points() {
        let x = pt.x * 100.0;
        if let Some(j) = pt.joules {
            energy.push((x, (j - j0).max(0.0)));
        }
        time.push((x, (pt.t_s - t0).max(0.0)));
    }
    let last_e = energy.last().copied();
    let last_t = time.last().copied();
    let projected_energy = match (p.projected_joules(), last_e) {
        (Some(j), Some(l)) if l.0 < 100.0 => Some([l, (100.0, j)]),
        _ => None,
    };
    let projected_time = match (p.train_elapsed_s(), p.eta_s(), last_t) {
        (Some(t), Some(eta), Some(l)) if l.0 < 100.0 => Some([l, (100.0, t + eta)]),
        _ => None,
    };
    Curves {
        energy,
        time,
        projected_energy,
        projected_time,
    }
}

/// Cumulative energy against elapsed time (no progress on a side).
fn time_curves(p: &SessionFold) -> Curves {
    let energy = p
        .energy_trail()
        .points()
        .iter()
        .filter_map(|pt| Some((pt.t_s, pt.joules?)))
        .collect();
    Curves {
        energy,
        time: Vec::new(),
        projected_energy: None,
        projected_time: None,
    }
}

fn session_style(theme: &Theme, k: usize) -> Style {
    if k == 0 {
        theme.power
    } else {
        theme.key
    }
}

pub fn render(buf: &mut Buffer, area: Rect, state: &State, theme: &Theme) {
    let views: Vec<&PaneView> = state.panes.iter().take(2).collect();
    let by_progress = !views.is_empty() && views.iter().all(|v| has_progress(&v.pane));
    let curves: Vec<Curves> = views
        .iter()
        .map(|v| {
            if by_progress {
                progress_curves(&v.pane)
            } else {
                time_curves(&v.pane)
            }
        })
        .collect();
    let title = if by_progress {
        " energy and time against training progress ".to_string()
    } else {
        let missing: Vec<&str> = views
            .iter()
            .filter(|v| !has_progress(&v.pane))
            .map(|v| v.name.as_str())
            .collect();
        format!(
            " energy against elapsed time: no training progress in {} ",
            missing.join(", ")
        )
    };
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title_top(Line::from(Span::styled(title, theme.title)));
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.height < 5 || inner.width < 30 {
        return;
    }
    let (left, right) = if by_progress {
        let lw = inner.width * 3 / 5;
        (
            Rect::new(inner.x, inner.y, lw, inner.height),
            Some(Rect::new(
                inner.x + lw + 1,
                inner.y,
                inner.width - lw - 1,
                inner.height,
            )),
        )
    } else {
        (inner, None)
    };
    let names: Vec<String> = views.iter().map(|v| v.name.clone()).collect();
    energy_chart(buf, left, &curves, &names, by_progress, theme);
    if let Some(r) = right {
        time_chart(buf, r, &curves, &names, theme);
    }
}

fn line<'a>(data: &'a [(f64, f64)], style: Style, name: Option<String>) -> Dataset<'a> {
    let d = Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(style)
        .data(data);
    match name {
        Some(n) => d.name(Line::from(Span::styled(n, style))),
        None => d,
    }
}

fn percent_axis<'a>(theme: &Theme) -> Axis<'a> {
    Axis::default()
        .bounds([0.0, 100.0])
        .style(theme.border)
        .labels(["0%", "50%", "100%"].map(|s| Span::styled(s, theme.label)))
}

fn energy_chart(
    buf: &mut Buffer,
    area: Rect,
    curves: &[Curves],
    names: &[String],
    by_progress: bool,
    theme: &Theme,
) {
    let mut top: f64 = 0.0;
    let mut x_hi: f64 = 1.0;
    let mut sets = Vec::with_capacity(4);
    for (k, c) in curves.iter().enumerate() {
        for &(x, y) in c.energy.iter().chain(c.projected_energy.iter().flatten()) {
            top = top.max(y);
            x_hi = x_hi.max(x);
        }
        let style = session_style(theme, k);
        sets.push(line(&c.energy, style, names.get(k).cloned()));
        if let Some(pr) = &c.projected_energy {
            let label = format!("projected {}", joules(pr[1].1));
            sets.push(
                Dataset::default()
                    .marker(Marker::Dot)
                    .graph_type(GraphType::Scatter)
                    .style(style)
                    .name(Line::from(Span::styled(label, style)))
                    .data(&pr[1..]),
            );
            sets.push(line(pr, theme.label, None));
        }
    }
    let x_axis = if by_progress {
        percent_axis(theme)
    } else {
        Axis::default()
            .title(Span::styled("elapsed", theme.label))
            .bounds([0.0, x_hi])
            .style(theme.border)
            .labels(
                [0.0, x_hi / 2.0, x_hi]
                    .map(|t| Span::styled(zero_or(t, "0 s", duration), theme.label)),
            )
    };
    let what = if by_progress {
        "training energy"
    } else {
        "energy"
    };
    Chart::new(sets)
        .style(theme.base)
        .x_axis(x_axis)
        .y_axis(value_axis(
            (0.0, nice_ceil(top)),
            what.into(),
            ("0 J", joules),
            theme,
        ))
        .legend_position(Some(LegendPosition::TopLeft))
        .hidden_legend_constraints((
            ratatui::layout::Constraint::Percentage(60),
            ratatui::layout::Constraint::Percentage(70),
        ))
        .render(area, buf);
}

fn time_chart(buf: &mut Buffer, area: Rect, curves: &[Curves], names: &[String], theme: &Theme) {
    let mut top: f64 = 0.0;
    let mut sets = Vec::with_capacity(4);
    for (k, c) in curves.iter().enumerate() {
        for &(_, y) in c.time.iter().chain(c.projected_time.iter().flatten()) {
            top = top.max(y);
        }
        let style = session_style(theme, k);
        sets.push(line(&c.time, style, names.get(k).cloned()));
        if let Some(pr) = &c.projected_time {
            sets.push(line(pr, theme.label, None));
        }
    }
    Chart::new(sets)
        .style(theme.base)
        .x_axis(percent_axis(theme))
        .y_axis(value_axis(
            (0.0, nice_ceil(top)),
            "training time".into(),
            ("0 s", duration),
            theme,
        ))
        .legend_position(None)
        .render(area, buf);
}
