//! Drawing. `render` is pure: it reads the state and draws; it allocates
//! nothing proportional to history (charts read bounded, downsampled
//! stores into buffers of at most the chart's width).
//!
//! ```text
//! ┌ jetson-nano · Jetson Nano · board input ─ LIVE ┐┌ gpu-server · RTX 2080 Ti · GPU only ─ REPLAY ┐
//! │5.00 W│W from 0   ⡤⢆⢀⠜⠙⣄    (braille line,       ││500 W│W from 0                              │
//! │      │⠠⠓⢄⠜       min..max band under the mean) ││     │  ⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀        │
//! │0 W   │                         whole run       ││0 W  │                      whole run       │
//! │      └─────────────────────────────────────────││     └──────────────────────────────────────│
//! │    0 s             1m 00s            2m 03s    ││   0 s          4.2 s          8.5 s        │
//! │now 4.12 W  avg 3.98 W  peak 5.60 W             ││ ...                                        │
//! │epoch/step/run gauges, ETA, projected energy    ││                                            │
//! └────────────────────────────────────────────────┘└────────────────────────────────────────────┘
//!  energy and time against training progress ──── (from 45 rows, or `e`) ────────────────────────
//!  training energy vs 0–100% of the run, both      │ training time vs 0–100% of the run
//!  sessions, projected energy at completion         │
//!  at equal progress: 24.3% of the run ──────────────────────────────────────────────────────────
//! time 12m 03s vs 23 s (31×)   energy 1.23 kJ vs 2.40 kJ (0.52×)
//! local: 31× slower, 0.52× the energy so far vs gpu-server
//!  ▶ 1× 0:12:03 / 6:00:00 │ align: time │ theme: dark                              ? help  q quit
//! ```
//! Side by side from 120 columns, stacked below, a message under 40×12.
pub mod channels;
pub mod chart;
pub mod comparison;
pub mod cost;
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
    let Some(r) = layout::regions(area, state.panes.len(), state.show_study, state.cost.any())
    else {
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
