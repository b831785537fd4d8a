//! The README's picture of the screen: two scripted sessions (a Jetson Nano
//! training run, live, against a GPU server's recording aligned by
//! progress) drawn at 200×50 on ratatui's TestBackend with the dark theme,
//! written as SVG.
//!
//!     cargo run --no-default-features --example screenshot -- docs/screen.svg
//!
//! The sessions are the synthetic ones the UI tests use (tests/support), not
//! measurements.
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;

use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;
use support::{session, Spec};
use trainwatt::app::{update, Alignment, Msg, PaneView, State};
use trainwatt::replay::ReplayIndex;
use trainwatt::ui::{self, Theme};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs/screen.svg".into());
    let (nh, nevs) = session(&Spec {
        end: None,
        until_s: 80.0,
        ..Spec::nano()
    });
    let (sh, sevs) = session(&Spec::server());
    let idx = Arc::new(ReplayIndex::build(&sh, sevs.clone()));
    let views = vec![
        PaneView::live("jetson-nano", nh),
        PaneView::replay("gpu-server", sh, idx),
    ];
    let mut s = State::new(views, Alignment::Progress, 1.0, 4, 0.0);
    update(&mut s, Msg::Tick { now_s: 80.0 });
    for event in nevs {
        update(&mut s, Msg::Event { pane: 0, event });
    }
    let target = s.replay_target(1);
    for event in sevs.into_iter().filter(|e| e.t_s() <= target) {
        update(&mut s, Msg::Event { pane: 1, event });
    }
    let theme = Theme::builtin("dark").ok_or("no dark theme")?;
    let mut t = Terminal::new(TestBackend::new(200, 50))?;
    t.draw(|f| ui::render(f, &s, &theme))?;
    let colour = |c: Option<Color>, default: &str| match c {
        Some(Color::Rgb(r, g, b)) => format!("#{r:02x}{g:02x}{b:02x}"),
        _ => default.to_string(),
    };
    let fg = colour(theme.base.fg, "#d0d0d0");
    let bg = colour(theme.base.bg, "#1c1e24");
    let svg = ui::svg::buffer_to_svg(t.backend().buffer(), &fg, &bg);
    std::fs::write(&out, svg).map_err(|e| format!("{out}: {e}"))?;
    eprintln!("wrote {out}");
    Ok(())
}
