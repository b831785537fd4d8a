//! Whole-screen snapshots on ratatui's TestBackend at 80×24, 120×40 and
//! 200×50, driven by scripted messages with fixed timestamps.
//! Review changes with `cargo insta review` (or INSTA_UPDATE=always).
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use support::{session, Spec};
use trainwatt::app::{
    run_loop, update, Action, Alignment, App, AppOptions, LoopConfig, Msg, PaneFeed, PaneView,
    ScriptedInput, State,
};
use trainwatt::model::event::{Event, RunStatus};
use trainwatt::record::Header;
use trainwatt::replay::ReplayIndex;
use trainwatt::ui::{self, Theme};

const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 50)];

enum Feed {
    Live(Header, Vec<Event>),
    Replay(&'static str, Header, Vec<Event>),
}

/// Build the state the way the loop would: pane 0 first (live events as
/// they arrived), then replayed panes up to their target time at `now_s`.
fn build(feeds: Vec<Feed>, align: Alignment, now_s: f64, keys: &[Action]) -> State {
    let mut views = Vec::new();
    let mut events = Vec::new();
    for f in feeds {
        match f {
            Feed::Live(h, evs) => {
                views.push(PaneView::live("local", h));
                events.push(evs);
            }
            Feed::Replay(name, h, evs) => {
                let idx = Arc::new(ReplayIndex::build(&h, evs.clone()));
                views.push(PaneView::replay(name, h, idx));
                events.push(evs);
            }
        }
    }
    let mut s = State::new(views, align, 1.0, 4, 0.0);
    update(&mut s, Msg::Tick { now_s });
    for a in keys {
        update(&mut s, Msg::Key(*a));
    }
    for (k, evs) in events.into_iter().enumerate() {
        let target = if s.panes[k].is_replay() {
            s.replay_target(k)
        } else {
            f64::INFINITY
        };
        for event in evs.into_iter().filter(|e| e.t_s() <= target) {
            update(&mut s, Msg::Event { pane: k, event });
        }
    }
    s
}

fn draw(state: &State, theme: &Theme, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::render(f, state, theme)).unwrap();
    t.backend().buffer().clone()
}

fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn snap_all_sizes(name: &str, state: &State) {
    let theme = Theme::builtin("dark").unwrap();
    for (w, h) in SIZES {
        let buf = draw(state, &theme, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), text(&buf));
    }
}

fn local_until(t: f64) -> Feed {
    let (h, e) = session(&Spec {
        until_s: t,
        ..Spec::local()
    });
    Feed::Live(h, e)
}

fn nano() -> Feed {
    let (h, e) = session(&Spec::nano());
    Feed::Replay("jetson-nano", h, e)
}

fn server() -> Feed {
    let (h, e) = session(&Spec::server());
    Feed::Replay("gpu-server", h, e)
}

#[test]
fn live_plus_replay() {
    let s = build(
        vec![local_until(100.0), nano()],
        Alignment::Time,
        100.0,
        &[],
    );
    snap_all_sizes("live_plus_replay", &s);
}

#[test]
fn live_plus_replay_aligned_by_progress() {
    let s = build(
        vec![local_until(100.0), server()],
        Alignment::Progress,
        100.0,
        &[],
    );
    assert!(s.aligned_by_progress(1));
    snap_all_sizes("live_plus_replay_progress", &s);
}

#[test]
fn both_replayed() {
    let s = build(
        vec![nano(), server()],
        Alignment::Time,
        60.0,
        &[Action::TogglePause],
    );
    snap_all_sizes("both_replayed", &s);
}

#[test]
fn finished_run() {
    let (h, e) = session(&Spec::nano());
    let s = build(
        vec![Feed::Live(h, e), server()],
        Alignment::Time,
        1000.0,
        &[],
    );
    assert_eq!(s.panes[0].status().label(), "FINISHED");
    snap_all_sizes("finished_run", &s);
}

#[test]
fn oom_run() {
    let (h, e) = session(&Spec {
        batch: 64,
        end: Some(RunStatus::OutOfMemory),
        ..Spec::nano()
    });
    let s = build(
        vec![Feed::Live(h, e), server()],
        Alignment::Time,
        1000.0,
        &[],
    );
    assert_eq!(s.panes[0].status().label(), "OOM");
    snap_all_sizes("oom_run", &s);
}

#[test]
fn sensor_gap() {
    let (h, e) = session(&Spec {
        gap: Some((40.0, 62.0)),
        end: None,
        until_s: 80.0,
        ..Spec::nano()
    });
    let s = build(vec![Feed::Live(h, e), server()], Alignment::Time, 80.0, &[]);
    assert!(s.panes[0].pane.gaps() >= 1);
    snap_all_sizes("sensor_gap", &s);
}

#[test]
fn help_overlay() {
    let s = build(
        vec![local_until(30.0), nano()],
        Alignment::Time,
        30.0,
        &[Action::ToggleHelp],
    );
    snap_all_sizes("help_overlay", &s);
}

#[test]
fn channel_view() {
    let s = build(
        vec![local_until(50.0), server()],
        Alignment::Time,
        5.0,
        &[Action::ToggleChannels],
    );
    let theme = Theme::builtin("dark").unwrap();
    insta::assert_snapshot!("channels_120x40", text(&draw(&s, &theme, 120, 40)));
}

/// Distinct styles on screen and how many cells carry each: reviewable,
/// and enough to see that a theme changed the colours.
fn style_digest(buf: &Buffer) -> String {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for c in buf.content() {
        *m.entry(format!("fg={:?} bg={:?} mod={:?}", c.fg, c.bg, c.modifier))
            .or_default() += 1;
    }
    m.iter().map(|(k, v)| format!("{v:>6}  {k}\n")).collect()
}

#[test]
fn each_builtin_theme() {
    let s = build(
        vec![local_until(100.0), nano()],
        Alignment::Time,
        100.0,
        &[],
    );
    let mut digests = Vec::new();
    for (name, _) in trainwatt::ui::theme::BUILTIN {
        let theme = Theme::builtin(name).unwrap();
        let buf = draw(&s, &theme, 120, 40);
        let d = style_digest(&buf);
        insta::assert_snapshot!(format!("theme_{name}_120x40_text"), text(&buf));
        insta::assert_snapshot!(format!("theme_{name}_120x40_styles"), d.clone());
        digests.push((name, d));
    }
    for i in 0..digests.len() {
        for j in i + 1..digests.len() {
            assert_ne!(
                digests[i].1, digests[j].1,
                "{} and {} look the same",
                digests[i].0, digests[j].0
            );
        }
    }
    // NO_COLOR: no colour at all, only emphasis.
    let mono = Theme::builtin("dark").unwrap().without_colour();
    let buf = draw(&s, &mono, 120, 40);
    for c in buf.content() {
        assert!(
            matches!(c.fg, ratatui::style::Color::Reset)
                && matches!(c.bg, ratatui::style::Color::Reset),
            "a coloured cell under NO_COLOR: {c:?}"
        );
    }
}

#[test]
fn tiny_and_odd_sizes_never_panic() {
    let s = build(
        vec![local_until(30.0), nano()],
        Alignment::Time,
        30.0,
        &[Action::ToggleHelp],
    );
    let theme = Theme::builtin("dark").unwrap();
    for w in [0u16, 1, 2, 10, 39, 40, 41, 79, 119, 120, 121, 300] {
        for h in [0u16, 1, 3, 11, 12, 13, 24, 100] {
            let _ = draw(&s, &theme, w, h);
        }
    }
    let mut s2 = s.clone();
    s2.show_help = false;
    s2.show_channels = true;
    for w in 38..=45 {
        for h in 10..=16 {
            let _ = draw(&s2, &theme, w, h);
        }
    }
    insta::assert_snapshot!("too_small_30x10", text(&draw(&s, &theme, 30, 10)));
}

/// The real event loop on a TestBackend: a live feed (events sent on a
/// channel) beside a replayed file, with a scripted clock and keys.
#[test]
fn event_loop_drives_live_and_replay_panes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nano.jsonl");
    let (nh, nevs) = session(&Spec::nano());
    support::write(&path, &nh, &nevs);
    let (lh, levs) = session(&Spec {
        until_s: 100.0,
        ..Spec::local()
    });
    let feeds = vec![
        PaneFeed::Pushed { header: lh },
        PaneFeed::Replay {
            path: path.clone(),
            lenient: false,
        },
    ];
    let (tx, _rx) = std::sync::mpsc::channel();
    let mut app = App::new(feeds, &AppOptions::default(), 0.0, &tx).unwrap();
    // The live pane's events arrive on the loop's channel at once (a
    // session piped in), then the keys.
    let mut script: Vec<(f64, Msg)> = levs
        .into_iter()
        .map(|event| (0.0, Msg::Event { pane: 0, event }))
        .collect();
    script.extend([
        (20.0, Msg::Key(Action::Faster)),
        (30.0, Msg::Key(Action::Seek(-10.0))),
        (40.0, Msg::Key(Action::TogglePause)),
        (50.0, Msg::Key(Action::Quit)),
    ]);
    let mut input = ScriptedInput::new(script);
    let mut clock = input.clock();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let stats = run_loop(
        &mut terminal,
        &mut app,
        &mut input,
        &mut clock,
        LoopConfig::default(),
    )
    .unwrap();
    // 20 s at 1×, then 2× from 20 s: 40 s at 30 s, seek back 10 s -> 30 s,
    // 2× for 10 s -> 50 s, then paused.
    assert!(
        (app.state.replay_position_s() - 50.0).abs() < 1e-6,
        "{}",
        app.state.replay_position_s()
    );
    assert!(app.state.clock.paused());
    assert!((app.state.panes[1].pane.elapsed_s() - 50.0).abs() <= 0.1);
    // About two data frames a second while the replay runs (50 s at most),
    // none while paused except the key's answer: far fewer than 30 fps.
    assert!(stats.frames >= 40 && stats.frames <= 50 * 3, "{stats:?}");
    insta::assert_snapshot!("event_loop_120x40", text(terminal.backend().buffer()));
}

fn snap_text_and_styles(name: &str, state: &State) {
    let theme = Theme::builtin("dark").unwrap();
    for (w, h) in SIZES {
        let buf = draw(state, &theme, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), text(&buf));
        insta::assert_snapshot!(format!("{name}_{w}x{h}_styles"), style_digest(&buf));
    }
}

/// A Jetson-like session with the device metrics tegrastats records.
fn nano_with_metrics() -> (Header, Vec<Event>) {
    use trainwatt::model::sample::{Channel, Unit};
    let (mut h, evs) = session(&Spec::nano());
    for (name, unit) in [
        ("gpu_load", Unit::Percent),
        ("gpu_freq", Unit::MHz),
        ("cpu_load", Unit::Percent),
        ("cpu0_load", Unit::Percent),
        ("ram_used", Unit::MiB),
        ("temp_GPU", Unit::C),
        ("temp_CPU", Unit::C),
    ] {
        h.channels.push(Channel::metric(name, unit, "tegrastats"));
    }
    let evs = evs
        .into_iter()
        .map(|e| match e {
            Event::Sample(mut s) => {
                let t = s.t_s;
                s.values.extend([
                    Some(60.0 + (t * 0.3).sin() * 30.0),
                    Some(921.6),
                    Some(35.0),
                    Some(40.0),
                    Some(2100.0),
                    Some(41.5 + t / 100.0),
                    Some(39.0),
                ]);
                Event::Sample(s)
            }
            e => e,
        })
        .collect();
    (h, evs)
}

/// The channel view: the total and its parts as lines with a legend, the
/// channel rows, then the device metrics.
#[test]
fn channel_view_with_metrics() {
    let (h, e) = nano_with_metrics();
    let s = build(
        vec![Feed::Live(h, e), server()],
        Alignment::Time,
        1000.0,
        &[Action::ToggleChannels],
    );
    let buf = draw(&s, &Theme::builtin("dark").unwrap(), 200, 50);
    let t = text(&buf);
    assert!(t.contains("gpu_load"), "{t}");
    assert!(t.contains("hottest temp_GPU"), "{t}");
    assert!(!t.contains("cpu0_load"), "{t}");
    assert!(t.contains("POM_5V_GPU"), "{t}");
    snap_text_and_styles("channel_metrics", &s);
}

/// 4 W against 200 W on the shared scale: the small one looks small.
#[test]
fn shared_scale_4w_against_200w() {
    let s = build(
        vec![nano(), server()],
        Alignment::Time,
        60.0,
        &[Action::TogglePause, Action::ToggleSharedScale],
    );
    assert!(s.shared_scale);
    let buf = draw(&s, &Theme::builtin("dark").unwrap(), 200, 50);
    let t = text(&buf);
    assert!(t.contains("W from 0, shared"), "{t}");
    // Both panes' power axes end at the same round number above 200 W.
    assert_eq!(t.matches("500 W│").count(), 2, "{t}");
    snap_text_and_styles("shared_scale", &s);
    // Zoomed: the axis says so.
    let mut z = s.clone();
    update(&mut z, Msg::Key(Action::TogglePowerZoom));
    let t = text(&draw(&z, &Theme::builtin("dark").unwrap(), 120, 40));
    assert!(t.contains("W zoomed, shared"), "{t}");
    insta::assert_snapshot!("shared_zoomed_120x40", t);
}

/// A sensor gap is a break in the line, never a drop to 0 W.
#[test]
fn gap_is_a_gap_in_the_chart() {
    let (h, e) = session(&Spec {
        gap: Some((20.0, 50.0)),
        end: None,
        until_s: 80.0,
        ..Spec::nano()
    });
    let s = build(vec![Feed::Live(h, e)], Alignment::Time, 80.0, &[]);
    let theme = Theme::builtin("dark").unwrap();
    let buf = draw(&s, &theme, 120, 40);
    // Find the chart's columns: the gap's columns hold no line at all,
    // including on the bottom row (no line to 0 W).
    let t = text(&buf);
    let rows: Vec<&str> = t.lines().collect();
    let axis_row = rows
        .iter()
        .position(|r| r.contains('└') && r.starts_with('│'))
        .unwrap();
    let axis_col = rows[axis_row].chars().position(|c| c == '└').unwrap();
    let plot_w = 120 - 2 - axis_col - 1;
    let col_of = |sec: f64| axis_col + 1 + (sec / 80.0 * plot_w as f64) as usize;
    let empty_col = |c: usize| {
        rows[1..axis_row].iter().all(|r| {
            r.chars()
                .nth(c)
                .is_none_or(|ch| !('\u{2801}'..='\u{28ff}').contains(&ch))
        })
    };
    for sec in [25.0, 35.0, 45.0] {
        assert!(
            empty_col(col_of(sec)),
            "a line inside the gap at {sec} s:\n{t}"
        );
    }
    assert!(!empty_col(col_of(10.0)), "no line before the gap:\n{t}");
    assert!(!empty_col(col_of(60.0)), "no line after the gap:\n{t}");
    snap_text_and_styles("gap_chart", &s);
}

fn power_only(spec: Spec) -> (Header, Vec<Event>) {
    let (mut h, e) = session(&spec);
    h.train = None;
    let e = e
        .into_iter()
        .filter(|e| !matches!(e, Event::Train(_)))
        .collect();
    (h, e)
}

/// The study's picture: energy and time against progress, both sessions.
#[test]
fn study_picture() {
    let s = build(
        vec![local_until(100.0), server()],
        Alignment::Progress,
        100.0,
        &[Action::ToggleStudy],
    );
    let t = text(&draw(&s, &Theme::builtin("dark").unwrap(), 120, 40));
    assert!(
        t.contains("energy and time against training progress"),
        "{t}"
    );
    assert!(t.contains("projected"), "{t}");
    snap_text_and_styles("study", &s);
}

/// Without progress on one side the energy chart runs on elapsed time and
/// says so.
#[test]
fn study_power_only_uses_elapsed_time() {
    let (h, e) = power_only(Spec {
        until_s: 100.0,
        ..Spec::local()
    });
    let s = build(
        vec![Feed::Live(h, e), server()],
        Alignment::Time,
        100.0,
        &[Action::ToggleStudy],
    );
    let t = text(&draw(&s, &Theme::builtin("dark").unwrap(), 120, 40));
    assert!(
        t.contains("energy against elapsed time: no training progress in local"),
        "{t}"
    );
    snap_text_and_styles("study_power_only", &s);
}

/// Time windows: `w` cycles and the axis names the window.
#[test]
fn time_window_cycles_on_the_axis() {
    let mut s = build(
        vec![local_until(100.0), nano()],
        Alignment::Time,
        100.0,
        &[],
    );
    let theme = Theme::builtin("dark").unwrap();
    for label in ["last 1 min", "last 10 min", "last 1 h", "whole run"] {
        update(&mut s, Msg::Key(Action::NextWindow));
        let t = text(&draw(&s, &theme, 120, 40));
        assert!(t.contains(label), "{label}:\n{t}");
    }
    update(&mut s, Msg::Key(Action::NextWindow));
    insta::assert_snapshot!("window_1min_120x40", text(&draw(&s, &theme, 120, 40)));
}

/// An imported log without a board name: the title names the file, never
/// "unknown (imported)".
#[test]
fn imported_log_title_falls_back_to_the_file_name() {
    let (mut h, e) = session(&Spec::nano());
    h.host = "unknown (imported)".into();
    h.device.model = None;
    h.label = None;
    let s = build(
        vec![local_until(30.0), Feed::Replay("orin-tegrastats", h, e)],
        Alignment::Time,
        30.0,
        &[],
    );
    let t = text(&draw(&s, &Theme::builtin("dark").unwrap(), 120, 40));
    let title = t.lines().next().unwrap();
    assert!(title.contains("orin-tegrastats"), "{title}");
    assert!(!t.contains("unknown"), "{t}");
}

#[test]
fn carbon_and_cost_in_the_panes_and_the_strip() {
    let mut s = build(
        vec![nano(), server()],
        Alignment::Time,
        60.0,
        &[Action::TogglePause],
    );
    s.cost = trainwatt::model::cost::CostFactors::new(Some(400.0), Some(0.25), Some("EUR".into()))
        .unwrap();
    snap_text_and_styles("carbon_cost", &s);
    // The strip's figures are the energy × factor / 3.6 MJ of each side.
    let c = trainwatt::app::compare::compare(&s).unwrap();
    let buf = draw(&s, &Theme::builtin("dark").unwrap(), 200, 50);
    let screen = text(&buf);
    let grams = trainwatt::model::cost::format_grams(Some(c.a.joules.unwrap() / 3.6e6 * 400.0))
        .replace(" CO2e", "");
    let line = screen
        .lines()
        .find(|l| l.trim_start().starts_with("CO2e "))
        .unwrap_or_else(|| panic!("a carbon line in the strip:\n{screen}"));
    assert!(line.contains(&grams), "{line} vs {grams}");
    assert!(
        line.contains(&format!("CO2e {grams} vs ")),
        "{line} vs {grams}"
    );
    assert!(
        line.contains("at 400 gCO2e/kWh, 0.25 EUR/kWh (your figures)"),
        "{line}"
    );
}
