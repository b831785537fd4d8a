//! The channel view (key `c`): the total and its parts as lines on one
//! chart (lines, never stacked, so the parts cannot look like more than the
//! total), a row per power channel (reading, energy, scope), then the
//! device metrics the session records (GPU load and clock, CPU load, RAM,
//! the hottest temperature, NVML utilisation, memory, clocks, power limit).
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Chart, Widget};

use super::chart::{self, Scratch};
use super::format::{joules, watts, watts_opt};
use super::theme::Theme;
use crate::app::state::State;
use crate::model::fold::SessionFold;
use crate::model::sample::{Role, Scope, Unit};

/// Lines drawn on the chart at most (the total and five parts).
const MAX_LINES: usize = 6;

fn unit_label(u: Unit) -> &'static str {
    match u {
        Unit::W => "W",
        Unit::J => "J",
        Unit::Percent => "%",
        Unit::C => "°C",
        Unit::MHz => "MHz",
        Unit::MiB => "MiB",
    }
}

/// The line colours: the total first, then the parts.
fn palette(theme: &Theme, i: usize) -> Style {
    let p = [
        theme.power,
        theme.energy,
        theme.key,
        theme.warning,
        theme.replay,
        theme.error,
    ];
    p[i % p.len()]
}

/// The power channels drawn as parts: every power channel except a lone
/// total (which is the total line itself).
fn part_channels(p: &SessionFold) -> impl Iterator<Item = usize> + '_ {
    let totals = p
        .channels()
        .iter()
        .filter(|c| c.role == Role::Total && c.unit == Unit::W)
        .count();
    p.channels()
        .iter()
        .enumerate()
        .filter(move |(_, c)| c.unit == Unit::W && (c.role != Role::Total || totals > 1))
        .map(|(i, _)| i)
}

/// "name value unit" for each metric, the hottest temperature only, and
/// the power limit or mode the header names.
fn metric_items(p: &SessionFold) -> Vec<String> {
    let mut items = Vec::new();
    let mut hottest: Option<(&str, f64)> = None;
    for (i, c) in p.channels().iter().enumerate() {
        if c.scope != Scope::Metric || c.unit == Unit::W || c.unit == Unit::J {
            continue;
        }
        let v = p.latest(i);
        if c.unit == Unit::C {
            if let Some(v) = v {
                if hottest.is_none_or(|(_, h)| v > h) {
                    hottest = Some((&c.name, v));
                }
            }
            continue;
        }
        // Per-core loads: the aggregate says it; the cores would crowd it out.
        let core = c.name.starts_with("cpu") && c.name.ends_with("_load") && c.name != "cpu_load";
        if core {
            continue;
        }
        let value = match v {
            Some(v) if c.unit == Unit::Percent => format!("{v:.0}%"),
            Some(v) => format!("{v:.0} {}", unit_label(c.unit)),
            None => "–".into(),
        };
        items.push(format!("{} {value}", c.name));
    }
    if let Some((name, t)) = hottest {
        items.push(format!("hottest {name} {t:.1} °C"));
    }
    if let Some(mode) = &p.header().device.power_mode {
        items.push(mode.clone());
    }
    items
}

/// Pack the items into lines of `width` columns.
fn pack(items: &[String], width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for it in items {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 3 + it.chars().count() <= width => {
                l.push_str("   ");
                l.push_str(it);
            }
            _ => lines.push(it.clone()),
        }
    }
    lines
}

pub fn render(buf: &mut Buffer, area: Rect, k: usize, state: &State, theme: &Theme) {
    let p = &state.panes[k].pane;
    let rows: Vec<usize> = p
        .channels()
        .iter()
        .enumerate()
        .filter(|(_, c)| c.unit == Unit::W || c.unit == Unit::J)
        .map(|(i, _)| i)
        .collect();
    let metrics = pack(&metric_items(p), area.width as usize);
    let text_h = (rows.len() + metrics.len()) as u16;
    let chart_h = area.height.saturating_sub(text_h);
    let mut y = area.y;
    if chart_h >= 5 && !p.total_series().is_empty() {
        lines_chart(
            buf,
            Rect::new(area.x, y, area.width, chart_h),
            k,
            state,
            theme,
        );
        y += chart_h;
    }
    for &i in &rows {
        if y >= area.bottom() {
            return;
        }
        channel_row(buf, Rect::new(area.x, y, area.width, 1), p, i, theme);
        y += 1;
    }
    if rows.is_empty() && y < area.bottom() {
        buf.set_stringn(
            area.x,
            y,
            "no power channels",
            area.width as usize,
            theme.label,
        );
        y += 1;
    }
    for m in &metrics {
        if y >= area.bottom() {
            return;
        }
        buf.set_stringn(area.x, y, m, area.width as usize, theme.value);
        y += 1;
    }
}

fn channel_row(buf: &mut Buffer, area: Rect, p: &SessionFold, i: usize, theme: &Theme) {
    let c = &p.channels()[i];
    let energy = match c.unit {
        Unit::W => p.ledger().power(i).map(|e| e.joules),
        Unit::J => p.ledger().counter(i).map(|e| e.joules),
        _ => None,
    };
    let reading = match c.unit {
        Unit::W => watts_opt(p.latest(i)),
        _ => String::new(),
    };
    let scope_style = if c.scope == Scope::Estimate {
        theme.estimate
    } else {
        theme.label
    };
    let scope = match c.role {
        Role::Part => format!("{} (part)", c.scope.label()),
        Role::Counter => format!("{} counter", c.scope.label()),
        _ => c.scope.label().to_string(),
    };
    let name_style = part_channels(p)
        .position(|j| j == i)
        .filter(|&n| n + 1 < MAX_LINES)
        .map_or(theme.value, |n| palette(theme, n + 1));
    let line = Line::from(vec![
        Span::styled(format!("{:<12.12} ", c.name), name_style),
        Span::styled(format!("{reading:>8} "), theme.power),
        Span::styled(
            format!("{:>8} ", energy.map(joules).unwrap_or_else(|| "–".into())),
            theme.energy,
        ),
        Span::styled(format!("{scope:<16.16}"), scope_style),
    ]);
    buf.set_line(area.x, area.y, &line, area.width);
}

/// The total and its parts over the chosen window, one line each.
fn lines_chart(buf: &mut Buffer, area: Rect, k: usize, state: &State, theme: &Theme) {
    let p = &state.panes[k].pane;
    let span = chart::time_span(p, state.window);
    let n = chart::columns_for(area.width);
    let parts: Vec<usize> = part_channels(p).take(MAX_LINES - 1).collect();
    let mut scratches: Vec<Box<Scratch>> = Vec::with_capacity(parts.len() + 1);
    let mut hi: f64 = 0.0;
    let mut lo = f64::INFINITY;
    let series_of = |j: Option<usize>| match j {
        None => Some(p.total_series()),
        Some(i) => p.channel_series(i),
    };
    let all: Vec<Option<usize>> = std::iter::once(None)
        .chain(parts.iter().map(|&i| Some(i)))
        .collect();
    for &j in &all {
        let mut s = Scratch::new();
        if let Some(series) = series_of(j) {
            chart::fill_points(series, span, n, &mut s);
            for c in s.cols[..n].iter().filter(|c| c.n > 0) {
                hi = hi.max(c.sum / c.n as f64);
                lo = lo.min(c.sum / c.n as f64);
            }
        }
        scratches.push(s);
    }
    let mut sets = Vec::with_capacity(all.len() * 2);
    for (idx, (&j, s)) in all.iter().zip(scratches.iter()).enumerate() {
        let name = match j {
            None => "total".to_string(),
            Some(i) => p.channels()[i].name.clone(),
        };
        chart::push_series(
            &mut sets,
            s,
            n,
            p.gap_s(),
            Some(name),
            palette(theme, idx),
            None,
        );
    }
    let (y0, y1) = if state.power_zoom && lo.is_finite() {
        let pad = ((hi - lo) * 0.05).max(0.01);
        ((lo - pad).max(0.0), hi + pad)
    } else {
        (0.0, chart::nice_ceil(hi))
    };
    let title = if state.power_zoom {
        "W zoomed (z)"
    } else {
        "W from 0"
    };
    Chart::new(sets)
        .style(theme.base)
        .x_axis(chart::time_axis(
            span,
            state.window.label().to_string(),
            theme,
        ))
        .y_axis(chart::value_axis(
            (y0, y1),
            title.into(),
            ("0 W", watts),
            theme,
        ))
        .legend_position(chart::legend())
        .hidden_legend_constraints((
            ratatui::layout::Constraint::Percentage(60),
            ratatui::layout::Constraint::Percentage(80),
        ))
        .render(area, buf);
}
