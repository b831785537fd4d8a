//! The status bar: replay clock and speed, alignment, theme, key hints.
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::format::{clock, speed};
use super::theme::Theme;
use crate::app::state::{Alignment, State};

pub fn render(buf: &mut Buffer, area: Rect, state: &State, theme: &Theme) {
    buf.set_style(area, theme.status_bar);
    let bar = theme.status_bar;
    let mut spans: Vec<Span> = Vec::with_capacity(12);
    if state.has_replay() {
        let sym = if state.clock.paused() { "⏸" } else { "▶" };
        let end = state.clock.end_s().map(clock).unwrap_or_else(|| "?".into());
        spans.push(Span::styled(
            format!(
                " {sym} {} {} / {end}",
                speed(state.clock.speed()),
                clock(state.replay_position_s())
            ),
            bar,
        ));
        spans.push(Span::styled(" │ ", bar));
    } else {
        spans.push(Span::styled(" ", bar));
    }
    let align = match state.align {
        Alignment::Time => "align: time".to_string(),
        Alignment::Progress if (1..state.panes.len()).any(|k| state.aligned_by_progress(k)) => {
            "align: progress".to_string()
        }
        Alignment::Progress => "align: progress (waiting for progress)".to_string(),
    };
    spans.push(Span::styled(align, bar));
    spans.push(Span::styled(" │ theme: ", bar));
    spans.push(Span::styled(theme.name.clone(), bar));
    let left = Line::from(spans);
    let used = buf.set_line(area.x, area.y, &left, area.width).0 - area.x;
    let hints = " ? help  q quit ";
    let hw = hints.chars().count() as u16;
    if area.width > used + hw {
        buf.set_string(area.right() - hw, area.y, hints, bar);
    }
}
