//! Drawing. `render` is pure: it reads the state and draws; it allocates
//! nothing proportional to history (charts read bounded, downsampled
//! stores into buffers of at most the chart's width).
//!
//! ```text
//! ┌ Jetson Nano · nano-01 · board input ─ REPLAY ▶ 1× ┐┌ host · CPU package (estimate) ─── LIVE ┐
//! │5.60 W                                last 3m 20s ││                                         │
//! │        ▁▂▃▅▇█▇▅▃▂▁▂▃▅▇█▇▅▃▂▁▂▃▅▇█▇▅▃▂▁▂▃▅▇██▇▅▃ ││  sparkline: total power, ≤ 10 minutes   │
//! │now 4.12 W  avg 3.98 W  peak 5.60 W               ││                                         │
//! │energy 1.23 kJ  0.342 Wh   2 gaps · 9.9 s uncov.  ││                                         │
//! │epoch ████████████░░░░░░░░░░░░░░░░░░░░░░ 3/10      ││  (rows drop by priority when short)     │
//! │step  ███████░░░░░░░░░░░░░░░░░░░░░░░░░░░ 120/390   ││                                         │
//! │run   ████████░░░░░░░░░░░░░░░░░░░░░░░░░░ 24.3%     ││                                         │
//! │elapsed 12m 03s  ETA 38m 10s  images 1234  98 img/s││                                         │
//! │loss 1.234  val acc 45.6%  0.52 J /image           ││                                         │
//! │at completion ≈ 5.60 kJ · 1.56 Wh projected        ││                                         │
//! └───────────────────────────────────────────────────┘└─────────────────────────────────────────┘
//! ─ at equal progress: 24.3% of the run ─────────────────────────────────────────────────────────────
//! time 12m 03s vs 23 s (31×)   energy 1.23 kJ vs 2.40 kJ (0.52×)
//! avg power 1.70 W vs 104 W (0.016×)   per image 0.52 J vs 1.00 J
//! local: 31× slower, 0.52× the energy so far vs gpu-server
//!  ▶ 1× 0:12:03 / 6:00:00 │ align: time │ theme: dark                              ? help  q quit
//! ```
//! Side by side from 120 columns, stacked below, a message under 40×12.
pub mod channels;
pub mod chart;
pub mod comparison;
pub mod format;
pub mod help;
pub mod layout;
pub mod pane;
pub mod status;
pub mod study;
pub mod svg;
pub mod theme;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::Frame;

use crate::app::state::State;
pub use theme::Theme;

/// Draw the whole screen.
pub fn render(frame: &mut Frame, state: &State, theme: &Theme) {
    let area = frame.area();
    render_buffer(frame.buffer_mut(), area, state, theme);
}

/// The same on a bare buffer (benchmarks and tests).
pub fn render_buffer(buf: &mut Buffer, area: Rect, state: &State, theme: &Theme) {
    let area = area.intersection(buf.area);
    if area.is_empty() {
        return;
    }
    buf.set_style(area, theme.base);
    let Some(r) = layout::regions(area, state.panes.len(), state.show_study) else {
        too_small(buf, area, theme);
        return;
    };
    for k in 0..r.n_panes.min(state.panes.len()) {
        pane::render(buf, r.panes[k], k, state, theme);
    }
    if let Some(st) = r.study {
        study::render(buf, st, state, theme);
    }
    if let Some(strip) = r.strip {
        comparison::render(buf, strip, state, theme);
    }
    status::render(buf, r.status, state, theme);
    if state.show_help {
        help::render(buf, area, theme);
    }
}

fn too_small(buf: &mut Buffer, area: Rect, theme: &Theme) {
    let lines = [
        format!("terminal {}×{} is too small", area.width, area.height),
        format!(
            "trainwatt needs at least {}×{}",
            layout::MIN_WIDTH,
            layout::MIN_HEIGHT
        ),
        "enlarge it, or press q to quit".to_string(),
    ];
    let top = area.y + area.height.saturating_sub(lines.len() as u16) / 2;
    for (i, l) in lines.iter().enumerate() {
        let y = top + i as u16;
        if y >= area.bottom() {
            break;
        }
        let w = l.chars().count() as u16;
        let x = area.x + area.width.saturating_sub(w) / 2;
        buf.set_stringn(x, y, l, area.width as usize, theme.warning);
    }
}
