//! The app: messages, state and its pure `update`, key map, and the event
//! loop (generic over ratatui's backend). Live and replayed sessions go
//! through the same fold (`model::fold::SessionFold`) and the same renderer.
pub mod compare;
pub mod keymap;
pub mod msg;
pub mod run;
pub mod state;

use std::io::Read;
use std::path::PathBuf;
use std::sync::mpsc;

use crate::model::event::Event;
use crate::record::{Header, ReadOptions, RecordError, SessionReader};

pub use msg::{Action, Effect, Msg};
pub use run::{
    run_loop, run_terminal, App, ChannelInput, Input, LoopConfig, LoopStats, ScriptedInput,
};
pub use state::{update, Alignment, FeedKind, PaneStatus, PaneView, State};

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
    /// Events that arrive as `Msg::Event` with this pane's index on the
    /// loop's own channel (tests and benchmarks send them there directly).
    Pushed { header: Header },
    /// A recorded session, played by the replay engine.
    Replay { path: PathBuf, lenient: bool },
}

impl PaneFeed {
    /// `--compare -`: the header is read now; a thread forwards the events as
    /// they arrive. A malformed line ends the stream (logged; the pane then
    /// says the input ended without a closing line).
    pub fn from_stream(name: String, src: Box<dyn Read + Send>) -> Result<PaneFeed, RecordError> {
        Self::stream_feed(name, src, None)
    }

    /// `--compare http://HOST:PORT/session`: another machine's live session
    /// over HTTP. A dropped connection resumes where it stopped (no sample
    /// twice); when the client gives up, the pane shows why (an error marker).
    pub fn from_url(url: &str, token: Option<String>) -> Result<PaneFeed, RecordError> {
        let refused = |msg: String| RecordError {
            file: url.to_string(),
            line: None,
            msg,
        };
        let remote = crate::serve::client::RemoteSession::connect(url, token).map_err(refused)?;
        let failure = remote.failure();
        Self::stream_feed(url.to_string(), Box::new(remote), Some(failure))
    }

    fn stream_feed(
        name: String,
        src: Box<dyn Read + Send>,
        failure: Option<std::sync::Arc<std::sync::Mutex<Option<String>>>>,
    ) -> Result<PaneFeed, RecordError> {
        let mut reader = SessionReader::from_reader(name.clone(), src, ReadOptions::default())?;
        let header = reader.header().clone();
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("stream-reader".into())
            .spawn(move || {
                let mut last_t = 0.0_f64;
                loop {
                    match reader.next_event() {
                        Ok(Some(ev)) => {
                            last_t = last_t.max(ev.t_s());
                            if tx.send(ev).is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::error!("{name}: {e}");
                            break;
                        }
                    }
                }
                let why = failure.and_then(|f| f.lock().ok()?.clone());
                if let Some(text) = why {
                    tracing::error!("{name}: {text}");
                    let _ = tx.send(Event::Marker(crate::model::event::Marker {
                        t_s: last_t,
                        kind: crate::model::event::MarkerKind::Error,
                        text,
                        value: None,
                    }));
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
    /// Carbon intensity and price: the panes show grams of CO2e and money.
    pub cost: crate::model::cost::CostFactors,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            theme: "dark".into(),
            cost: Default::default(),
            align: Alignment::Time,
            speed: 1.0,
            no_color: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample::{Channel, Role, Sample, Scope};
    use crate::record::SessionWriter;

    #[test]
    fn a_streamed_session_becomes_a_live_feed() {
        let h = Header::new(
            vec![Channel::power("gpu0", Scope::GpuOnly, Role::Total, "nvml")],
            100.0,
        );
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut w = SessionWriter::to_stream(Box::new(Shared(buf.clone())), &h).unwrap();
        for i in 0..5 {
            w.write_event(&Event::Sample(Sample {
                t_s: i as f64 * 0.1,
                values: vec![Some(200.0)],
            }))
            .unwrap();
        }
        w.finish(None).unwrap();
        let bytes = buf.lock().unwrap().clone();
        let feed =
            PaneFeed::from_stream("-".into(), Box::new(std::io::Cursor::new(bytes))).unwrap();
        let PaneFeed::Live { header, rx } = feed else {
            panic!("a stream is a live feed");
        };
        assert_eq!(header.channels[0].name, "gpu0");
        // The reader thread drops its sender at the end of the stream.
        let events: Vec<Event> = rx.iter().collect();
        assert_eq!(events.len(), 5);
    }

    #[test]
    fn a_stream_that_is_not_a_session_is_refused_with_the_reason() {
        let e = PaneFeed::from_stream(
            "-".into(),
            Box::new(std::io::Cursor::new(b"RAM 1/2MB\n".to_vec())),
        )
        .err()
        .expect("not a session");
        assert_eq!(e.file, "-");
        assert_eq!(e.line, Some(1));
    }
}
