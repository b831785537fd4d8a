//! One session's pane: title (device, host, scope, status), power sparkline
//! or channel table, power and energy figures, progress gauges, ETA and the
//! projected energy at completion. Rows are dropped by priority when the
//! pane is short; the sparkline takes whatever height is left.
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Widget};

use super::format::{
    duration, joules, joules_opt, percent, speed, watt_hours, watt_hours_opt, watts, watts_opt,
};
use super::theme::Theme;
use crate::app::state::{PaneStatus, PaneView, State};
use crate::model::fold::SessionFold;
use crate::model::sample::{Scope, Unit};
use crate::model::series::PowerSeries;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Row {
    Stats,
    Energy,
    Gaps,
    Problem,
    NoTraining,
    Epoch,
    Step,
    Run,
    Time,
    Loss,
    Projected,
}

/// (row, priority: lower is kept first) in display order.
const ROWS: [(Row, u8); 11] = [
    (Row::Stats, 0),
    (Row::Energy, 0),
    (Row::Gaps, 1),
    (Row::Problem, 1),
    (Row::NoTraining, 2),
    (Row::Epoch, 4),
    (Row::Step, 5),
    (Row::Run, 2),
    (Row::Time, 3),
    (Row::Loss, 6),
    (Row::Projected, 3),
];

pub fn render(buf: &mut Buffer, area: Rect, k: usize, state: &State, theme: &Theme) {
    let Some(view) = state.panes.get(k) else {
        return;
    };
    let p = &view.pane;
    let status = status_line(view, k, state, theme);
    let status_w = status.width() as u16;
    let title_room = area.width.saturating_sub(status_w + 4) as usize;
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title_top(title_line(view, title_room, theme))
        .title_top(status.right_aligned());
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.height == 0 || inner.width == 0 {
        return;
    }

    let wanted = |r: Row| match r {
        Row::Problem => {
            view.feed_error.is_some()
                || p.error_text().is_some()
                || (view.feed_closed && view.status().is_running())
        }
        Row::NoTraining => !p.has_training(),
        Row::Gaps => p.gaps() > 0 || p.uncovered_s() > 0.0,
        Row::Epoch | Row::Step | Row::Run | Row::Time | Row::Loss => p.has_training(),
        _ => true,
    };
    // Keep the most important rows that fit, leaving one row for the sparkline.
    let budget = inner.height.saturating_sub(1) as usize;
    let mut keep = [false; ROWS.len()];
    let mut used = 0;
    for prio in 0..=6u8 {
        for (i, (r, rp)) in ROWS.iter().enumerate() {
            if *rp == prio && used < budget && wanted(*r) {
                keep[i] = true;
                used += 1;
            }
        }
    }
    let spark_h = inner.height - used as u16;
    let spark = Rect::new(inner.x, inner.y, inner.width, spark_h);
    if state.show_channels {
        channels(buf, spark, p, theme);
    } else {
        sparkline_region(buf, spark, p, theme);
    }
    let mut y = inner.y + spark_h;
    for (i, (r, _)) in ROWS.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        let row = Rect::new(inner.x, y, inner.width, 1);
        draw_row(buf, row, *r, view, theme);
        y += 1;
    }
}

fn title_line<'a>(view: &'a PaneView, room: usize, theme: &Theme) -> Line<'a> {
    let p = &view.pane;
    let scope = if p.estimate && !p.scope_label.contains("estimate") {
        format!("{} (estimate)", p.scope_label)
    } else {
        p.scope_label.clone()
    };
    let mut head = match p.label() {
        Some(l) => format!(" {l} · {}", p.device),
        None => format!(" {}", p.device),
    };
    if p.host() != p.device && p.label() != Some(p.host()) {
        head.push_str(" · ");
        head.push_str(p.host());
    }
    head.push_str(" · ");
    let total = head.chars().count() + scope.chars().count() + 1;
    if total > room {
        // Shorten the device part first: the scope must stay readable.
        let keep = room.saturating_sub(scope.chars().count() + 4);
        head = format!("{}… · ", head.chars().take(keep).collect::<String>());
    }
    let scope_style = if p.estimate {
        theme.estimate
    } else {
        theme.label
    };
    Line::from(vec![
        Span::styled(head, theme.title),
        Span::styled(scope, scope_style),
        Span::raw(" "),
    ])
}

fn status_line<'a>(view: &PaneView, k: usize, state: &State, theme: &Theme) -> Line<'a> {
    let (text, style) = match view.status() {
        PaneStatus::Live => (" LIVE ".to_string(), theme.live),
        PaneStatus::Replay => {
            let text = if state.aligned_by_progress(k) {
                " REPLAY ⇄ aligned by progress ".to_string()
            } else {
                let sym = if state.clock.paused() { "⏸" } else { "▶" };
                format!(" REPLAY {sym} {} ", speed(state.clock.speed()))
            };
            (text, theme.replay)
        }
        PaneStatus::Finished => (" FINISHED ".to_string(), theme.good),
        PaneStatus::OutOfMemory => (" OOM ".to_string(), theme.error),
        PaneStatus::Error => (" ERROR ".to_string(), theme.error),
        PaneStatus::Cancelled => (" CANCELLED ".to_string(), theme.warning),
        PaneStatus::Ended => (" ENDED ".to_string(), theme.label),
    };
    Line::from(Span::styled(text, style))
}

fn label(s: &'static str, theme: &Theme) -> Span<'static> {
    Span::styled(s, theme.label)
}

fn gauge_row(
    buf: &mut Buffer,
    area: Rect,
    name: &'static str,
    frac: Option<f64>,
    text: String,
    theme: &Theme,
) {
    let lw = 6u16.min(area.width);
    buf.set_string(area.x, area.y, name, theme.label);
    let text_w = (text.chars().count() as u16 + 1).min(area.width.saturating_sub(lw));
    let bar_w = area.width.saturating_sub(lw + text_w);
    let bar = Rect::new(area.x + lw, area.y, bar_w, 1);
    // An unknown fraction draws no bar: an empty one would read as 0%.
    if let Some(f) = frac {
        gauge_bar(buf, bar, f, theme);
    }
    buf.set_stringn(
        area.x + lw + bar_w + 1,
        area.y,
        &text,
        text_w.saturating_sub(1) as usize,
        theme.value,
    );
}

const EIGHTHS: [&str; 8] = [" ", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

/// A horizontal bar with eighth-block precision.
fn gauge_bar(buf: &mut Buffer, area: Rect, frac: f64, theme: &Theme) {
    if area.width == 0 {
        return;
    }
    let f = if frac.is_finite() {
        frac.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let eighths = (f * area.width as f64 * 8.0).round() as u32;
    let track = Style::new()
        .fg(theme.border.fg.unwrap_or_default())
        .bg(theme.gauge.bg.unwrap_or_default());
    for i in 0..area.width {
        let filled = eighths.saturating_sub(i as u32 * 8).min(8);
        let (sym, style) = match filled {
            8 => ("█", theme.gauge),
            0 => ("░", track),
            n => (EIGHTHS[n as usize], theme.gauge),
        };
        if let Some(c) = buf.cell_mut((area.x + i, area.y)) {
            c.set_symbol(sym).set_style(style);
        }
    }
}

fn draw_row(buf: &mut Buffer, area: Rect, row: Row, view: &PaneView, theme: &Theme) {
    let p = &view.pane;
    let w = area.width;
    let line = match row {
        Row::Stats => {
            let mut spans = vec![
                label("now ", theme),
                Span::styled(watts_opt(p.current_w()), theme.power),
                label("  avg ", theme),
                Span::styled(watts_opt(p.avg_w()), theme.power),
                label("  peak ", theme),
                Span::styled(watts_opt(p.peak_w()), theme.power),
            ];
            if let Some(idle) = p.idle_floor_w() {
                spans.push(label("  idle ", theme));
                spans.push(Span::styled(watts(idle), theme.value));
            }
            Line::from(spans)
        }
        Row::Energy => {
            let j = p.joules();
            let mut spans = vec![
                label("energy ", theme),
                Span::styled(joules_opt(j), theme.energy),
                label("  ", theme),
                Span::styled(watt_hours_opt(j), theme.energy),
            ];
            if p.estimate {
                spans.push(Span::raw("  "));
                spans.push(Span::styled(" estimate ", theme.estimate));
            }
            Line::from(spans)
        }
        Row::Gaps => {
            let n = p.gaps();
            let mut text = format!(
                "sensor gap{}: {n} · {} uncovered (not integrated)",
                if n == 1 { "" } else { "s" },
                duration(p.uncovered_s())
            );
            if let Some(note) = p.last_gap_note() {
                text.push_str(" · ");
                text.push_str(note);
            }
            Line::from(Span::styled(text, theme.warning))
        }
        Row::Problem => {
            let text = if let Some(e) = &view.feed_error {
                format!("feed error: {e}")
            } else if let Some(e) = p.error_text() {
                format!("{}: {e}", view.status().label().to_lowercase())
            } else {
                "input ended without a closing line".to_string()
            };
            Line::from(Span::styled(text, theme.error))
        }
        Row::NoTraining => Line::from(label("no training events: power only", theme)),
        Row::Epoch => {
            let (e, n) = p.epoch();
            let frac = n
                .filter(|&n| n > 0)
                .map(|n| p.epochs_done() as f64 / n as f64);
            let text = match n {
                Some(n) => format!("{e}/{n}"),
                None => format!("{e}"),
            };
            return gauge_row(buf, area, "epoch", frac, text, theme);
        }
        Row::Step => {
            let (s, n) = p.step();
            let frac = n.filter(|&n| n > 0).map(|n| s as f64 / n as f64);
            let text = match n {
                Some(n) => format!("{s}/{n}"),
                None => format!("{s}"),
            };
            return gauge_row(buf, area, "step", frac, text, theme);
        }
        Row::Run => {
            let f = p.progress();
            let text = f.map(percent).unwrap_or_else(|| "–".into());
            return gauge_row(buf, area, "run", f, text, theme);
        }
        Row::Time => {
            let mut spans = vec![
                label("elapsed ", theme),
                Span::styled(
                    duration(p.train_elapsed_s().unwrap_or(p.elapsed_s())),
                    theme.value,
                ),
            ];
            if let Some(eta) = p.eta_s() {
                spans.push(label("  ETA ", theme));
                spans.push(Span::styled(duration(eta), theme.value));
            }
            if let Some(n) = p.images() {
                spans.push(label("  images ", theme));
                spans.push(Span::styled(n.to_string(), theme.value));
            }
            if let Some(r) = p.images_per_s() {
                spans.push(Span::styled(format!("  {r:.1}"), theme.value));
                spans.push(label(" img/s", theme));
            }
            Line::from(spans)
        }
        Row::Loss => {
            let mut spans = vec![
                label("loss ", theme),
                Span::styled(
                    p.loss()
                        .map(|l| format!("{l:.3}"))
                        .unwrap_or_else(|| "–".into()),
                    theme.value,
                ),
                label("  val acc ", theme),
                Span::styled(
                    p.val_acc().map(percent).unwrap_or_else(|| "–".into()),
                    theme.value,
                ),
            ];
            if let Some(jpi) = p.joules_per_image() {
                spans.push(label("  ", theme));
                spans.push(Span::styled(
                    format!("{} /image", joules(jpi)),
                    theme.energy,
                ));
            }
            Line::from(spans)
        }
        Row::Projected => {
            let mut spans = match (p.projected_joules(), view.status()) {
                (Some(j), s) if s.is_running() => vec![
                    label("at completion ≈ ", theme),
                    Span::styled(format!("{} · {}", joules(j), watt_hours(j)), theme.energy),
                    label(" projected", theme),
                ],
                (_, s) if !s.is_running() => {
                    let j = p.train_joules().or(p.joules());
                    let what = if p.training().is_some() {
                        "training energy "
                    } else {
                        "final "
                    };
                    vec![
                        label(what, theme),
                        Span::styled(
                            format!("{} · {}", joules_opt(j), watt_hours_opt(j)),
                            theme.energy,
                        ),
                    ]
                }
                _ => vec![label(
                    "at completion: projected once progress and power are known",
                    theme,
                )],
            };
            if p.estimate {
                spans.push(Span::raw(" "));
                spans.push(Span::styled(" estimate ", theme.estimate));
            }
            Line::from(spans)
        }
    };
    buf.set_line(area.x, area.y, &line, w);
}

const BARS: [&str; 9] = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];

fn sparkline_region(buf: &mut Buffer, area: Rect, p: &SessionFold, theme: &Theme) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let s = p.total_series();
    if s.is_empty() {
        let msg = if p.channels().iter().any(|c| c.unit == Unit::W) {
            "waiting for power samples…"
        } else {
            "no power channel in this session"
        };
        let y = area.y + area.height / 2;
        let x = area.x + area.width.saturating_sub(msg.chars().count() as u16) / 2;
        buf.set_stringn(x, y, msg, area.width as usize, theme.label);
        return;
    }
    let (top, floor, span_s) = sparkline(buf, area, s, theme.power, theme.label);
    if area.height >= 2 && area.width >= 24 {
        let scale = format!("{} ", watts(top));
        buf.set_string(area.x, area.y, &scale, theme.label);
        if area.height >= 3 {
            let bottom = format!("{} ", watts(floor));
            buf.set_string(area.x, area.bottom() - 1, &bottom, theme.label);
        }
        let span = format!(" last {}", duration(span_s as f64));
        let x = area.right().saturating_sub(span.chars().count() as u16);
        buf.set_string(x, area.y, &span, theme.label);
    }
}

/// Draw `series` right-aligned into `area`, several seconds per column once
/// the history is wider than the area. Returns (top and bottom of the scale
/// in watts, seconds shown). Reads at most the ring's capacity; allocates nothing.
fn sparkline(
    buf: &mut Buffer,
    area: Rect,
    series: &PowerSeries,
    style: Style,
    gap_style: Style,
) -> (f64, f64, usize) {
    let w = area.width as usize;
    let len = series.len();
    // One second per column until the history is wider than the area, then
    // the whole history spread over exactly the width.
    let cols = len.min(w);
    let range = |c: usize| -> (usize, usize) {
        if len <= w {
            (c, c + 1)
        } else {
            (c * len / w, (c + 1) * len / w)
        }
    };
    let column = |c: usize| -> Option<f64> {
        // Column c counted from the right: the mean of its buckets.
        let (mut sum, mut n) = (0.0, 0u32);
        let (a, b) = range(c);
        for i in a..b {
            if let Some(v) = series.back(i) {
                sum += v;
                n += 1;
            }
        }
        (n > 0).then(|| sum / n as f64)
    };
    let (mut lo, mut top) = (f64::INFINITY, 0.0f64);
    for c in 0..cols {
        if let Some(v) = column(c) {
            top = top.max(v);
            lo = lo.min(v);
        }
    }
    let top = if top > 0.0 { top } else { 1.0 };
    // The scale starts a little below the lowest value shown, so changes of a
    // few percent stay visible; the labels give both ends.
    let floor = if lo.is_finite() && lo < top {
        (lo - (top - lo) * 0.25).max(0.0)
    } else {
        0.0
    };
    let levels = area.height as f64 * 8.0;
    for c in 0..cols {
        let x = area.right() - 1 - c as u16;
        match column(c) {
            Some(v) => {
                let mut eighths = (((v - floor) / (top - floor)) * levels).round() as i64;
                if v > 0.0 && eighths == 0 {
                    eighths = 1;
                }
                for row in 0..area.height {
                    let y = area.bottom() - 1 - row;
                    let here = (eighths - row as i64 * 8).clamp(0, 8) as usize;
                    if here > 0 {
                        if let Some(cell) = buf.cell_mut((x, y)) {
                            cell.set_symbol(BARS[here]).set_style(style);
                        }
                    }
                }
            }
            None => {
                if let Some(cell) = buf.cell_mut((x, area.bottom() - 1)) {
                    cell.set_symbol("·").set_style(gap_style);
                }
            }
        }
    }
    (top, floor, len)
}

/// The per-channel view (key `c`): every power channel with its scope,
/// latest reading, energy and a one-row sparkline.
fn channels(buf: &mut Buffer, area: Rect, p: &SessionFold, theme: &Theme) {
    let mut y = area.y;
    let name_w = 12usize;
    for (i, c) in p.channels().iter().enumerate() {
        if y >= area.bottom() {
            break;
        }
        if c.scope == Scope::Metric && c.unit != Unit::W {
            continue;
        }
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
            crate::model::sample::Role::Part => format!("{} (part)", c.scope.label()),
            crate::model::sample::Role::Counter => format!("{} counter", c.scope.label()),
            _ => c.scope.label().to_string(),
        };
        let line = Line::from(vec![
            Span::styled(format!("{:<name_w$.name_w$} ", c.name), theme.value),
            Span::styled(format!("{reading:>8} "), theme.power),
            Span::styled(
                format!("{:>8} ", energy.map(joules).unwrap_or_else(|| "–".into())),
                theme.energy,
            ),
            Span::styled(format!("{scope:<16.16} "), scope_style),
        ]);
        let used = buf.set_line(area.x, y, &line, area.width).0 - area.x;
        if let Some(series) = p.channel_series(i) {
            let rest = Rect::new(area.x + used, y, area.width.saturating_sub(used), 1);
            if rest.width >= 4 && !series.is_empty() {
                sparkline(buf, rest, series, theme.power, theme.label);
            }
        }
        y += 1;
    }
    if y == area.y && area.height > 0 {
        buf.set_stringn(
            area.x,
            area.y,
            "no power channels",
            area.width as usize,
            theme.label,
        );
    }
}
