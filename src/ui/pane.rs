//! One session's pane: title (device, host, scope, status), power chart
//! or channel view, power and energy figures, progress gauges, ETA and the
//! projected energy at completion. Rows are dropped by priority when the
//! pane is short; the chart takes whatever height is left.
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Widget};

use super::chart;
use super::format::{
    duration, joules, joules_opt, percent, speed, watt_hours, watt_hours_opt, watts, watts_opt,
};
use super::theme::Theme;
use crate::app::state::{PaneStatus, PaneView, State};
use crate::model::cost::CostFactors;
use crate::model::sample::Unit;

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
    // Keep the most important rows that fit, leaving one row for the chart.
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
    chart_region(buf, spark, k, state, theme);
    let mut y = inner.y + spark_h;
    for (i, (r, _)) in ROWS.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        let row = Rect::new(inner.x, y, inner.width, 1);
        draw_row(buf, row, *r, view, &state.cost, theme);
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
    let device = device_name(view);
    let mut head = match p.label() {
        Some(l) => format!(" {l} · {device}"),
        None => format!(" {device}"),
    };
    if p.host() != device && p.label() != Some(p.host()) && !unknown_host(p.host()) {
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

/// An imported log's host is unknown: a pane without a device model is
/// then named by its file, never "unknown".
fn unknown_host(host: &str) -> bool {
    host.is_empty() || host.starts_with("unknown")
}

/// The device as the title names it.
pub fn device_name(view: &PaneView) -> &str {
    let p = &view.pane;
    if p.header().device.model.is_none() && unknown_host(&p.device) {
        &view.name
    } else {
        &p.device
    }
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

fn draw_row(
    buf: &mut Buffer,
    area: Rect,
    row: Row,
    view: &PaneView,
    cost: &CostFactors,
    theme: &Theme,
) {
    let p = &view.pane;
    let w = area.width;
    let line = match row {
        Row::Stats => stats_line(view, theme),
        Row::Energy => energy_line(view, cost, theme),
        Row::Gaps => gaps_line(view, theme),
        Row::Problem => problem_line(view, theme),
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
        Row::Time => time_line(view, theme),
        Row::Loss => loss_line(view, theme),
        Row::Projected => projected_line(view, theme),
    };
    buf.set_line(area.x, area.y, &line, w);
}

fn stats_line(view: &PaneView, theme: &Theme) -> Line<'static> {
    let p = &view.pane;
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

fn energy_line(view: &PaneView, cost: &CostFactors, theme: &Theme) -> Line<'static> {
    let p = &view.pane;
    let j = p.joules();
    let mut spans = vec![
        label("energy ", theme),
        Span::styled(joules_opt(j), theme.energy),
        label("  ", theme),
        Span::styled(watt_hours_opt(j), theme.energy),
    ];
    spans.extend(super::cost::spans(cost, j, theme));
    if p.estimate {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(" estimate ", theme.estimate));
    }
    Line::from(spans)
}

fn gaps_line(view: &PaneView, theme: &Theme) -> Line<'static> {
    let p = &view.pane;
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

fn problem_line(view: &PaneView, theme: &Theme) -> Line<'static> {
    let p = &view.pane;
    let text = if let Some(e) = &view.feed_error {
        format!("feed error: {e}")
    } else if let Some(e) = p.error_text() {
        format!("{}: {e}", view.status().label().to_lowercase())
    } else {
        "input ended without a closing line".to_string()
    };
    Line::from(Span::styled(text, theme.error))
}

fn time_line(view: &PaneView, theme: &Theme) -> Line<'static> {
    let p = &view.pane;
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

fn loss_line(view: &PaneView, theme: &Theme) -> Line<'static> {
    let p = &view.pane;
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

fn projected_line(view: &PaneView, theme: &Theme) -> Line<'static> {
    let p = &view.pane;
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

/// The chart region: the power chart, or the channel view (`c`).
fn chart_region(buf: &mut Buffer, area: Rect, k: usize, state: &State, theme: &Theme) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let p = &state.panes[k].pane;
    if state.show_channels {
        return super::channels::render(buf, area, k, state, theme);
    }
    if p.total_series().is_empty() {
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
    if area.height < 4 || area.width < 24 {
        // Too small for axes: the reading and the window in words.
        let text = format!(
            "power {} · {}",
            watts_opt(p.current_w()),
            state.window.label()
        );
        buf.set_stringn(area.x, area.y, text, area.width as usize, theme.label);
        return;
    }
    chart::power_chart(buf, area, k, state, theme);
}
