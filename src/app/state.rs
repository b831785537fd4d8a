//! The app's whole state and its one way to change: `update(&mut State, Msg)`.
//! Pure: no I/O, O(1) per message (O(channels) for a sample), and the loop
//! performs whatever effects it returns.
use std::sync::Arc;

use super::msg::{Action, Effect, Msg};
use crate::model::fold::{SessionFold, SessionStatus};
use crate::model::header::Header;
use crate::replay::{ReplayClock, ReplayIndex};

/// Where a pane's events come from. Only the status label depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedKind {
    Live,
    Replay,
}

/// What the pane title says about the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaneStatus {
    /// Events arriving from this device or a stream.
    Live,
    /// A recorded session being played.
    Replay,
    /// The training run completed.
    Finished,
    /// The training run ran out of memory.
    OutOfMemory,
    Error,
    Cancelled,
    /// The session closed without a training outcome (power only).
    Ended,
}

impl PaneStatus {
    pub fn label(self) -> &'static str {
        match self {
            PaneStatus::Live => "LIVE",
            PaneStatus::Replay => "REPLAY",
            PaneStatus::Finished => "FINISHED",
            PaneStatus::OutOfMemory => "OOM",
            PaneStatus::Error => "ERROR",
            PaneStatus::Cancelled => "CANCELLED",
            PaneStatus::Ended => "ENDED",
        }
    }

    /// Still receiving events (not ended).
    pub fn is_running(self) -> bool {
        matches!(self, PaneStatus::Live | PaneStatus::Replay)
    }
}

/// How the replayed session is positioned against the first pane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Alignment {
    /// Same elapsed time (the replay clock).
    #[default]
    Time,
    /// Same fraction of the training run as the first pane.
    Progress,
}

impl Alignment {
    pub fn label(self) -> &'static str {
        match self {
            Alignment::Time => "time",
            Alignment::Progress => "progress",
        }
    }
}

/// How much history the power charts show (`w` cycles).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeWindow {
    OneMinute,
    TenMinutes,
    OneHour,
    /// From the session's start to now.
    #[default]
    WholeRun,
}

impl TimeWindow {
    pub fn next(self) -> Self {
        match self {
            TimeWindow::OneMinute => TimeWindow::TenMinutes,
            TimeWindow::TenMinutes => TimeWindow::OneHour,
            TimeWindow::OneHour => TimeWindow::WholeRun,
            TimeWindow::WholeRun => TimeWindow::OneMinute,
        }
    }

    /// Length in seconds; None for the whole run.
    pub fn seconds(self) -> Option<f64> {
        match self {
            TimeWindow::OneMinute => Some(60.0),
            TimeWindow::TenMinutes => Some(600.0),
            TimeWindow::OneHour => Some(3600.0),
            TimeWindow::WholeRun => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TimeWindow::OneMinute => "last 1 min",
            TimeWindow::TenMinutes => "last 10 min",
            TimeWindow::OneHour => "last 1 h",
            TimeWindow::WholeRun => "whole run",
        }
    }
}

/// One pane: its folded session plus what the app knows about its feed.
#[derive(Clone, Debug)]
pub struct PaneView {
    /// Short name used in the comparison line: "local", or a file stem.
    pub name: String,
    pub header: Header,
    pub feed: FeedKind,
    pub pane: SessionFold,
    /// The replay index (replayed sessions only).
    pub index: Option<Arc<ReplayIndex>>,
    pub feed_error: Option<String>,
    pub feed_closed: bool,
}

impl PaneView {
    pub fn live(name: impl Into<String>, header: Header) -> Self {
        PaneView {
            name: name.into(),
            pane: SessionFold::new(&header),
            feed: FeedKind::Live,
            header,
            index: None,
            feed_error: None,
            feed_closed: false,
        }
    }

    pub fn replay(name: impl Into<String>, header: Header, index: Arc<ReplayIndex>) -> Self {
        PaneView {
            name: name.into(),
            pane: SessionFold::new(&header),
            feed: FeedKind::Replay,
            header,
            index: Some(index),
            feed_error: None,
            feed_closed: false,
        }
    }

    pub fn is_replay(&self) -> bool {
        self.feed == FeedKind::Replay
    }

    /// The title's status: the fold's, labelled by where the events come from.
    pub fn status(&self) -> PaneStatus {
        match self.pane.status() {
            SessionStatus::Running if self.is_replay() => PaneStatus::Replay,
            SessionStatus::Running => PaneStatus::Live,
            SessionStatus::Finished => PaneStatus::Finished,
            SessionStatus::OutOfMemory => PaneStatus::OutOfMemory,
            SessionStatus::Error => PaneStatus::Error,
            SessionStatus::Cancelled => PaneStatus::Cancelled,
            SessionStatus::Ended => PaneStatus::Ended,
        }
    }
}

#[derive(Clone, Debug)]
pub struct State {
    pub panes: Vec<PaneView>,
    pub clock: ReplayClock,
    pub align: Alignment,
    pub theme_index: usize,
    pub theme_count: usize,
    pub show_help: bool,
    pub show_channels: bool,
    /// The power axis fits the data instead of starting at 0 W.
    pub power_zoom: bool,
    /// Both panes' power charts on one scale.
    pub shared_scale: bool,
    pub window: TimeWindow,
    /// The study's picture in place of the panes.
    pub show_study: bool,
    pub width: u16,
    pub height: u16,
    /// The latest `Tick`.
    pub now_s: f64,
    pub quit: bool,
    /// Whole second of replay time last drawn (the status bar's clock).
    shown_second: i64,
    /// Carbon intensity and price given by the user (none by default).
    pub cost: crate::model::cost::CostFactors,
}

impl State {
    /// `theme_count` themes are cycled with `t`; `speed` is the replay speed.
    pub fn new(
        panes: Vec<PaneView>,
        align: Alignment,
        speed: f64,
        theme_count: usize,
        now_s: f64,
    ) -> Self {
        let mut clock = ReplayClock::new(speed, now_s);
        let end = panes
            .iter()
            .filter_map(|p| p.index.as_ref().map(|i| i.duration_s))
            .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.max(d))));
        clock.set_end(end);
        State {
            panes,
            clock,
            align,
            theme_index: 0,
            theme_count: theme_count.max(1),
            show_help: false,
            show_channels: false,
            power_zoom: false,
            shared_scale: false,
            window: TimeWindow::default(),
            show_study: false,
            width: 0,
            height: 0,
            now_s,
            quit: false,
            shown_second: -1,
            cost: Default::default(),
        }
    }

    pub fn has_replay(&self) -> bool {
        self.panes.iter().any(|p| p.is_replay())
    }

    /// Replay clock position now.
    pub fn replay_position_s(&self) -> f64 {
        self.clock.position(self.now_s)
    }

    /// Whether pane `k` is currently positioned by progress (alignment is
    /// progress, it is not the first pane, and both sides have progress).
    pub fn aligned_by_progress(&self, k: usize) -> bool {
        self.progress_target(k).is_some()
    }

    fn progress_target(&self, k: usize) -> Option<f64> {
        if self.align != Alignment::Progress || k == 0 {
            return None;
        }
        let f = self.panes.first()?.pane.progress()?;
        let idx = self.panes.get(k)?.index.as_ref()?;
        if !idx.has_progress() {
            return None;
        }
        idx.t_at_fraction_clamped(f)
    }

    /// When (on the loop's clock) the replay position reaches its next
    /// whole second: the status bar's clock changes then.
    pub fn next_clock_second(&self, now_s: f64) -> f64 {
        let pos = self.clock.position(now_s);
        let speed = self.clock.speed().max(1e-9);
        now_s + (pos.floor() + 1.0 - pos) / speed
    }

    /// Session time replayed pane `k` should be at now.
    pub fn replay_target(&self, k: usize) -> f64 {
        self.progress_target(k)
            .unwrap_or_else(|| self.replay_position_s())
    }
}

/// Fold one message into the state. Returns what the loop must do.
pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Event { pane, event } => {
            if let Some(p) = state.panes.get_mut(pane) {
                p.pane.apply(&event);
                return vec![Effect::Render];
            }
            Vec::new()
        }
        Msg::Reset { pane } => {
            if let Some(p) = state.panes.get_mut(pane) {
                p.pane = SessionFold::new(&p.header);
                return vec![Effect::Render];
            }
            Vec::new()
        }
        Msg::FeedError { pane, message } => {
            if let Some(p) = state.panes.get_mut(pane) {
                p.feed_error = Some(message);
            }
            vec![Effect::Render]
        }
        Msg::FeedClosed { pane } => {
            if let Some(p) = state.panes.get_mut(pane) {
                p.feed_closed = true;
            }
            vec![Effect::Render]
        }
        Msg::Resize { width, height } => {
            state.width = width;
            state.height = height;
            vec![Effect::Render]
        }
        Msg::Tick { now_s } => {
            state.now_s = now_s;
            if state.has_replay() {
                let sec = state.replay_position_s().floor() as i64;
                if sec != state.shown_second {
                    state.shown_second = sec;
                    return vec![Effect::Render];
                }
            }
            Vec::new()
        }
        Msg::Key(action) => key(state, action),
    }
}

fn key(state: &mut State, action: Action) -> Vec<Effect> {
    let now = state.now_s;
    match action {
        Action::Quit => {
            state.quit = true;
            return vec![Effect::Quit];
        }
        Action::TogglePause => state.clock.toggle_pause(now),
        Action::Seek(d) => state.clock.seek_by(d, now),
        Action::Faster => state.clock.faster(now),
        Action::Slower => state.clock.slower(now),
        Action::ToggleAlign => {
            state.align = match state.align {
                Alignment::Time => Alignment::Progress,
                Alignment::Progress => Alignment::Time,
            }
        }
        Action::ToggleChannels => state.show_channels = !state.show_channels,
        Action::TogglePowerZoom => state.power_zoom = !state.power_zoom,
        Action::ToggleSharedScale => state.shared_scale = !state.shared_scale,
        Action::NextWindow => state.window = state.window.next(),
        Action::ToggleStudy => state.show_study = !state.show_study,
        Action::NextTheme => state.theme_index = (state.theme_index + 1) % state.theme_count,
        Action::ToggleHelp => state.show_help = !state.show_help,
        Action::CloseOverlay => state.show_help = false,
    }
    vec![Effect::Render]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample::Channel;

    fn state() -> State {
        let h = Header::bare(vec![Channel::cpu_estimate_total()], 100.0);
        let idx = Arc::new(ReplayIndex::build(&h, Vec::new()));
        State::new(
            vec![
                PaneView::live("local", h.clone()),
                PaneView::replay("nano", h, idx),
            ],
            Alignment::Time,
            1.0,
            4,
            0.0,
        )
    }

    #[test]
    fn keys_change_state_and_quit_is_an_effect() {
        let mut s = state();
        update(&mut s, Msg::Key(Action::NextTheme));
        assert_eq!(s.theme_index, 1);
        update(&mut s, Msg::Key(Action::ToggleHelp));
        assert!(s.show_help);
        update(&mut s, Msg::Key(Action::CloseOverlay));
        assert!(!s.show_help);
        update(&mut s, Msg::Key(Action::ToggleAlign));
        assert_eq!(s.align, Alignment::Progress);
        update(&mut s, Msg::Key(Action::Faster));
        assert_eq!(s.clock.speed(), 2.0);
        update(&mut s, Msg::Key(Action::TogglePowerZoom));
        assert!(s.power_zoom);
        update(&mut s, Msg::Key(Action::ToggleSharedScale));
        assert!(s.shared_scale);
        update(&mut s, Msg::Key(Action::ToggleStudy));
        assert!(s.show_study);
        assert_eq!(s.window, TimeWindow::WholeRun);
        let mut seen = Vec::new();
        for _ in 0..4 {
            update(&mut s, Msg::Key(Action::NextWindow));
            seen.push(s.window.seconds());
        }
        assert_eq!(seen, vec![Some(60.0), Some(600.0), Some(3600.0), None]);
        assert_eq!(update(&mut s, Msg::Key(Action::Quit)), vec![Effect::Quit]);
        assert!(s.quit);
    }

    #[test]
    fn ticks_render_only_when_the_shown_second_changes() {
        let mut s = state();
        s.clock.set_end(Some(100.0));
        assert_eq!(
            update(&mut s, Msg::Tick { now_s: 0.1 }),
            vec![Effect::Render]
        );
        assert!(update(&mut s, Msg::Tick { now_s: 0.5 }).is_empty());
        assert_eq!(
            update(&mut s, Msg::Tick { now_s: 1.0 }),
            vec![Effect::Render]
        );
    }
}
