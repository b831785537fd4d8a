//! Everything that can happen to the app, as values. Producers (terminal,
//! live feeds, the replay engine, the clock) only send these.
use crate::model::event::Event;

/// What the user wants, independent of which key asked for it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    Quit,
    TogglePause,
    /// Seek the replay by this many seconds of session time.
    Seek(f64),
    Faster,
    Slower,
    ToggleAlign,
    ToggleChannels,
    /// `z`: the power axis from 0 W, or zoomed to the data's range.
    TogglePowerZoom,
    /// `s`: both panes on one power scale.
    ToggleSharedScale,
    /// `w`: the next time window (1 min, 10 min, 1 h, whole run).
    NextWindow,
    /// `e`: the study's picture (energy and time against progress) full screen.
    ToggleStudy,
    NextTheme,
    ToggleHelp,
    /// Escape: close the help overlay.
    CloseOverlay,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    /// An event of pane `pane`'s session (sample, training, marker, end).
    Event {
        pane: usize,
        event: Event,
    },
    /// Pane `pane`'s replay went back in time: fold again from the start.
    Reset {
        pane: usize,
    },
    /// A pane's feed failed (the message says what and where).
    FeedError {
        pane: usize,
        message: String,
    },
    /// A live feed's sender went away (the stream or the recorder ended).
    FeedClosed {
        pane: usize,
    },
    Key(Action),
    Resize {
        width: u16,
        height: u16,
    },
    /// The time now, in seconds on the loop's monotonic clock.
    Tick {
        now_s: f64,
    },
}

/// What the loop must do after an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The screen changed: draw (coalesced to the frame rate).
    Render,
    /// Leave the loop (the caller cancels training and finalises the recording).
    Quit,
}
