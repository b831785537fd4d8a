//! The help overlay (`?`): every key and what it does.
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Widget};

use super::theme::Theme;

const KEYS: [(&str, &str); 14] = [
    ("space", "pause / resume the replay"),
    ("← →", "seek the replay 10 s"),
    ("shift ← →", "seek the replay 60 s"),
    ("+ -", "replay speed (0.25× to 64×)"),
    ("a", "align by elapsed time / by training progress"),
    ("c", "channels: total and parts, device metrics"),
    ("z", "power axis from 0 W / zoomed to the data"),
    ("s", "both panes on one power scale"),
    ("w", "time window: 1 min, 10 min, 1 h, whole run"),
    ("e", "energy and time against progress"),
    ("t", "next theme"),
    ("?", "this help (esc closes)"),
    ("q  ctrl-c", "quit (training is cancelled,"),
    ("", "the session file finalised)"),
];

pub fn render(buf: &mut Buffer, area: Rect, theme: &Theme) {
    let w = 58u16.min(area.width);
    let h = (KEYS.len() as u16 + 4).min(area.height);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    Clear.render(r, buf);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.title)
        .style(theme.base)
        .title_top(Line::from(Span::styled(" keys ", theme.title)));
    let inner = block.inner(r);
    block.render(r, buf);
    for (i, (k, what)) in KEYS.iter().enumerate() {
        let y = inner.y + 1 + i as u16;
        if y >= inner.bottom() {
            break;
        }
        let line = Line::from(vec![
            Span::styled(format!(" {k:<11}"), theme.key),
            Span::styled(*what, theme.value),
        ]);
        buf.set_line(inner.x, y, &line, inner.width);
    }
}
