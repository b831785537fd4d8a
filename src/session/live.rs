//! The recording side of a live session: every event folded once (the one
//! session fold: the closing line's energy and the idle floor come from it),
//! written, shown to the observer (`--listen`) and, for `watch`, forwarded
//! to the UI. Two ways to run it, one `Recorder` behind both:
//!
//! ```text
//! Tee (watch, or a source that blocks in its read):
//!   sampler threads ─┐
//!   trainer thread ──┼─► raw channel ─► tee thread ─► Recorder ─► file / stdout
//!   supervisor ──────┘                                  └─► UI channel
//!
//! Inline (headless, every source polled):
//!   sampler threads ──────────────────────► Recorder ─► file / stdout
//!   trainer thread ──┬─► raw channel ─► pump thread ──┘ (one lock)
//!   supervisor ──────┘
//! ```
//!
//! The tee wakes for every burst of readings and for its flush timer. Inline,
//! each source's thread records its own readings on its own tick and flushes
//! when waiting for its next tick would leave a line unflushed for more than
//! `record::writer::FLUSH_EVERY` (0.8 s); the pump sleeps until a trainer or
//! supervisor event arrives. So a headless `record --no-train` wakes only as
//! often as it samples.
use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::recorder::{lock, pump_loop, tee_loop, Inline, Recorder};
use super::signal::RunSignals;
use crate::model::event::{Event, SessionEnd, SourceStats};
use crate::model::fold::SessionFold;
use crate::record::{Header, SessionWriter};
use crate::sensors::sampler::SampleSink;

/// Where a live session is written.
#[derive(Clone, Debug)]
pub enum Output {
    File(PathBuf),
    Stdout,
    /// Not recorded (tests, dry runs).
    Discard,
}

/// How the recorder runs (see the module's sketch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recording {
    /// On its own thread behind the one channel; with `forward_to_ui`, every
    /// event goes on to the UI after it is recorded.
    Tee { forward_to_ui: bool },
    /// On the producers' own threads. `visit_every`: the longest a source's
    /// thread sleeps between two readings (it flushes on its tick when the
    /// next tick would come too late). Only for sources read on a timer: one
    /// that blocks in its read would hold the flush.
    Inline { visit_every: Duration },
}

/// The recorder's fold, shared: the progress line (and `/metrics`) read it;
/// the recorder holds the lock only to fold one event.
pub type SharedFold = Arc<Mutex<SessionFold>>;

/// Called after each event has been written and folded (the closing line
/// after the file is finished), on the thread that recorded it: the HTTP
/// server's snapshot of the figures.
pub type FoldObserver = Box<dyn FnMut(&SessionFold, &Event) + Send>;

pub struct LiveSession {
    pub header: Header,
    pub origin: Instant,
    /// Every event folded as it was recorded.
    pub fold: SharedFold,
    tx: Sender<Event>,
    /// The tee, or the pump of an inline recording.
    thread: JoinHandle<io::Result<SessionEnd>>,
    inline: Option<Arc<Mutex<Inline>>>,
    output: Output,
}

impl LiveSession {
    /// Start recording `header` and everything that arrives on `rx` (whose
    /// sender is `tx`) or through [`LiveSession::sample_sink`]. With
    /// `Recording::Tee { forward_to_ui: true }`, a receiver that sees every
    /// event after it has been handed to the writer is returned.
    pub fn start(
        header: Header,
        origin: Instant,
        (tx, rx): (Sender<Event>, Receiver<Event>),
        output: Output,
        recording: Recording,
        on_failure: Option<RunSignals>,
        observer: Option<FoldObserver>,
    ) -> io::Result<(LiveSession, Option<Receiver<Event>>)> {
        let writer = match &output {
            Output::File(p) => Some(SessionWriter::create(p, &header)?),
            Output::Stdout => Some(SessionWriter::to_stream(Box::new(io::stdout()), &header)?),
            Output::Discard => None,
        };
        let (ui_tx, ui_rx) = match recording {
            Recording::Tee {
                forward_to_ui: true,
            } => {
                let (a, b) = mpsc::channel();
                (Some(a), Some(b))
            }
            _ => (None, None),
        };
        let fold: SharedFold = Arc::new(Mutex::new(SessionFold::new(&header)));
        let recorder = Recorder {
            writer,
            fold: fold.clone(),
            observer,
            ui: ui_tx,
        };
        let (thread, inline) = match recording {
            Recording::Tee { .. } => {
                let tee = std::thread::Builder::new()
                    .name("session-tee".into())
                    .spawn(move || {
                        let r = tee_loop(rx, recorder);
                        // The recorder stopped on its own (a full disk, a
                        // closed pipe): stop the run rather than train on,
                        // unrecorded.
                        if let (Err(e), Some(s)) = (&r, &on_failure) {
                            tracing::error!("recording stopped: {e}");
                            s.cancel();
                        }
                        r
                    })?;
                (tee, None)
            }
            Recording::Inline { visit_every } => {
                let shared = Arc::new(Mutex::new(Inline {
                    recorder,
                    visit_every,
                    failed: false,
                    error: None,
                    ended: false,
                    on_failure,
                }));
                let for_pump = shared.clone();
                let pump = std::thread::Builder::new()
                    .name("session-pump".into())
                    .spawn(move || pump_loop(rx, &for_pump))?;
                (pump, Some(shared))
            }
        };
        Ok((
            LiveSession {
                header,
                origin,
                fold,
                tx,
                thread,
                inline,
                output,
            },
            ui_rx,
        ))
    }

    /// A sender for producers (trainer, supervisor markers).
    pub fn sender(&self) -> Sender<Event> {
        self.tx.clone()
    }

    /// Where the sampler hands its readings: the channel (tee), or the
    /// recorder itself, called on each source's thread (inline).
    pub fn sample_sink(&self) -> RecorderSink {
        match &self.inline {
            Some(shared) => RecorderSink(SinkTo::Inline(shared.clone())),
            None => RecorderSink(SinkTo::Channel(self.tx.clone())),
        }
    }

    /// Seconds since the session started.
    pub fn t_s(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }

    pub fn output(&self) -> &Output {
        &self.output
    }

    /// Write the closing line (energy per channel, sampling statistics), fsync
    /// and stop. Call after every producer has stopped sending.
    pub fn finish(self, sources: Vec<SourceStats>) -> io::Result<SessionEnd> {
        let end = SessionEnd {
            t_s: self.t_s(),
            samples: 0,
            energy_j: Default::default(),
            sources,
        };
        // Through the channel, after every event sent before it.
        let _ = self.tx.send(Event::End(end));
        drop(self.tx);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("session recorder thread panicked")))
    }
}

/// A sampler's sink into this session's recorder.
#[derive(Clone)]
pub struct RecorderSink(SinkTo);

#[derive(Clone)]
enum SinkTo {
    /// Bursts on the channel to the tee.
    Channel(Sender<Event>),
    /// Every reading recorded at once, on the source's own thread.
    Inline(Arc<Mutex<Inline>>),
}

impl SampleSink for RecorderSink {
    fn hold(&self) -> Duration {
        match &self.0 {
            SinkTo::Channel(tx) => tx.hold(),
            SinkTo::Inline(_) => Duration::ZERO,
        }
    }

    fn deliver(&mut self, events: &mut Vec<Event>) -> bool {
        match &mut self.0 {
            SinkTo::Channel(tx) => tx.deliver(events),
            SinkTo::Inline(shared) => {
                let mut rec = lock(shared);
                for ev in events.drain(..) {
                    rec.record(ev);
                }
                rec.settle(Instant::now());
                !rec.stopped()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::{Marker, MarkerKind};
    use crate::model::sample::{Channel, Sample};
    use crate::record::writer::FLUSH_EVERY;
    use crate::record::{ReadOptions, SessionReader};

    #[test]
    fn tee_records_forwards_and_fills_idle_floor_and_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let header = one_channel();
        let (tx, rx) = mpsc::channel();
        let (s, ui) = LiveSession::start(
            header,
            Instant::now(),
            (tx, rx),
            Output::File(path.clone()),
            Recording::Tee {
                forward_to_ui: true,
            },
            None,
            None,
        )
        .unwrap();
        let p = s.sender();
        let marker = |t_s, kind| {
            Event::Marker(Marker {
                t_s,
                kind,
                text: String::new(),
                value: None,
            })
        };
        p.send(marker(0.0, MarkerKind::IdleStart)).unwrap();
        for i in 0..=10 {
            p.send(Event::Sample(Sample {
                t_s: i as f64 * 0.1,
                values: vec![Some(if i <= 5 { 10.0 } else { 30.0 })],
            }))
            .unwrap();
            if i == 5 {
                p.send(marker(0.5, MarkerKind::IdleEnd)).unwrap();
            }
        }
        drop(p);
        let end = s.finish(Vec::new()).unwrap();
        assert_eq!(end.samples, 11);
        assert!((end.energy_j["cpu"] - (5.0 + 20.0 * 0.1 * 0.5 * 2.0 + 30.0 * 0.4)).abs() < 1e-6);
        let forwarded: Vec<Event> = ui.unwrap().try_iter().collect();
        assert_eq!(forwarded.len(), 11 + 2 + 1);
        let mut r = SessionReader::open(&path, ReadOptions::default()).unwrap();
        let evs = r.collect_events().unwrap();
        assert!(r.stats.clean_end);
        let floor = evs
            .iter()
            .find_map(|e| match e {
                Event::Marker(m) if m.kind == MarkerKind::IdleEnd => m.value,
                _ => None,
            })
            .unwrap();
        assert!((floor - 10.0).abs() < 1e-9, "{floor}");
    }

    fn one_channel() -> Header {
        Header::bare(vec![Channel::cpu_estimate_total()], 100.0)
    }

    fn sample(t_s: f64, w: f64) -> Event {
        Event::Sample(Sample {
            t_s,
            values: vec![Some(w)],
        })
    }

    fn lines(path: &std::path::Path) -> usize {
        std::fs::read_to_string(path).unwrap().lines().count()
    }

    /// Headless: the source's thread records its own readings (no burst, no
    /// other thread woken), flushes when its next tick would come too late,
    /// and the pump records what the supervisor sends.
    #[test]
    fn inline_recording_writes_on_the_callers_thread_and_flushes_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let seen = Arc::new(Mutex::new(0usize));
        let counter = seen.clone();
        let observer: FoldObserver = Box::new(move |_, _| *counter.lock().unwrap() += 1);
        let (s, ui) = LiveSession::start(
            one_channel(),
            Instant::now(),
            mpsc::channel(),
            Output::File(path.clone()),
            // A source that sleeps as long as the flush period between
            // readings: every reading must reach the file at once.
            Recording::Inline {
                visit_every: FLUSH_EVERY,
            },
            None,
            Some(observer),
        )
        .unwrap();
        assert!(ui.is_none(), "nothing is forwarded headless");
        let mut sink = s.sample_sink();
        assert_eq!(
            sink.hold(),
            Duration::ZERO,
            "every reading handed on at once"
        );
        let idle_start = Event::Marker(Marker {
            t_s: 0.0,
            kind: MarkerKind::IdleStart,
            text: String::new(),
            value: None,
        });
        assert!(sink.deliver(&mut vec![idle_start, sample(0.0, 10.0)]));
        assert_eq!(
            lines(&path),
            3,
            "header, marker and reading on disk already"
        );
        // From another thread, as the sampler does.
        let mut other = sink.clone();
        std::thread::spawn(move || {
            for i in 1..=5 {
                assert!(other.deliver(&mut vec![sample(i as f64 * 0.1, 10.0)]));
            }
        })
        .join()
        .unwrap();
        assert_eq!(lines(&path), 8);
        // The supervisor's marker goes through the pump, after the readings.
        s.sender()
            .send(Event::Marker(Marker {
                t_s: 0.5,
                kind: MarkerKind::IdleEnd,
                text: String::new(),
                value: None,
            }))
            .unwrap();
        let fold = s.fold.clone();
        let end = s.finish(Vec::new()).unwrap();
        assert_eq!(end.samples, 6);
        assert!(
            (end.energy_j["cpu"] - 5.0).abs() < 1e-9,
            "{:?}",
            end.energy_j
        );
        assert_eq!(
            fold.lock().unwrap().samples(),
            6,
            "the shared fold saw them"
        );
        assert_eq!(
            *seen.lock().unwrap(),
            6 + 2 + 1,
            "the observer saw every event"
        );
        assert!(
            !sink.deliver(&mut vec![sample(0.7, 10.0)]),
            "a sampler still running after the end is told to stop"
        );
        let mut r = SessionReader::open(&path, ReadOptions::default()).unwrap();
        let evs = r.collect_events().unwrap();
        assert!(r.stats.clean_end);
        assert_eq!(evs.len(), 6 + 2 + 1);
        let floor = evs.iter().find_map(|e| match e {
            Event::Marker(m) if m.kind == MarkerKind::IdleEnd => m.value,
            _ => None,
        });
        assert_eq!(floor, Some(10.0), "the pump fills in the idle floor");
    }

    /// A 10 Hz source does not flush on every tick: the line waits in the
    /// buffer until the flush period is nearly over (one write a second,
    /// not ten), and `finish` still writes everything.
    #[test]
    fn inline_recording_at_10_hz_holds_lines_until_a_flush_is_due() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let started = Instant::now();
        let (s, _) = LiveSession::start(
            one_channel(),
            started,
            mpsc::channel(),
            Output::File(path.clone()),
            Recording::Inline {
                visit_every: Duration::from_millis(100),
            },
            None,
            None,
        )
        .unwrap();
        let mut sink = s.sample_sink();
        assert!(sink.deliver(&mut vec![sample(0.0, 10.0)]));
        // Only checkable when this machine took less than the flush period
        // (less the next tick) to get here; otherwise the flush was due.
        if started.elapsed() + Duration::from_millis(100) < FLUSH_EVERY {
            assert_eq!(lines(&path), 1, "the reading waits for the next flush");
        }
        drop(sink);
        let end = s.finish(Vec::new()).unwrap();
        assert_eq!(end.samples, 1);
        assert_eq!(lines(&path), 3);
    }
}
