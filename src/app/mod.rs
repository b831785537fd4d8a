//! The app: messages, state and its pure `update`, key map, and the event
//! loop (generic over ratatui's backend). Live and replayed sessions go
//! through the same `PaneState` fold and the same renderer.
pub mod compare;
pub mod keymap;
pub mod msg;
pub mod pane;
pub mod progress;
pub mod run;
pub mod series;
pub mod state;

use std::io::Read;
use std::path::PathBuf;
use std::sync::mpsc;

use crate::model::event::Event;
use crate::record::{Header, ReadOptions, RecordError, SessionReader};

pub use msg::{Action, Effect, Msg};
pub use pane::{FeedKind, PaneState, PaneStatus};
pub use run::{run_loop, run_terminal, App, Input, LoopConfig, LoopStats, ScriptedInput};
pub use state::{update, Alignment, PaneView, State};

/// Where a pane's events come from.
// Built once per pane: the size of the header inline does not matter, and
// the shape (`Live { header, rx }`) is what the callers construct.
#[allow(clippy::large_enum_variant)]
pub enum PaneFeed {
    /// Events arriving live: this device (sampler + trainer), or a session streamed on standard input.
    Live {
        header: Header,
        rx: mpsc::Receiver<Event>,
    },
    /// A recorded session, played by the replay engine.
    Replay { path: PathBuf, lenient: bool },
}

impl PaneFeed {
    /// `--compare -`: the header is read now; a thread forwards the events as
    /// they arrive. A malformed line ends the stream (logged; the pane then
    /// says the input ended without a closing line).
    pub fn from_stream(name: String, src: Box<dyn Read + Send>) -> Result<PaneFeed, RecordError> {
        let mut reader = SessionReader::from_reader(name.clone(), src, ReadOptions::default())?;
        let header = reader.header().clone();
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("stream-reader".into())
            .spawn(move || loop {
                match reader.next_event() {
                    Ok(Some(ev)) => {
                        if tx.send(ev).is_err() {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        tracing::error!("{name}: {e}");
                        return;
                    }
                }
            })
            .map_err(|e| RecordError {
                file: "-".into(),
                line: None,
                msg: format!("cannot start the reader thread: {e}"),
            })?;
        Ok(PaneFeed::Live { header, rx })
    }
}

/// How the TUI starts.
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// A built-in theme name (dark, light, high-contrast, mono) or a theme file path.
    pub theme: String,
    pub align: Alignment,
    /// Replay speed, 0.25 to 64.
    pub speed: f64,
    /// Strip colours (also when the `NO_COLOR` environment variable is set).
    pub no_color: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            theme: "dark".into(),
            align: Alignment::Time,
            speed: 1.0,
            no_color: false,
        }
    }
}
