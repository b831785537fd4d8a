//! The recording side of a live session.
//!
//! ```text
//! sampler threads ─┐
//! trainer thread ──┼─► raw channel ─► tee thread ─► SessionWriter (append-only file / stdout)
//! supervisor ──────┘                     │
//!                                        └─► UI channel (watch)
//! ```
//! The tee folds every event as it passes (the one session fold: the closing
//! line's energy and the idle floor come from it) and flushes the file at
//! least once a second even when nothing arrives.
use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use super::signal::RunSignals;
use crate::model::event::{Event, MarkerKind, SessionEnd, SourceStats};
use crate::model::fold::SessionFold;
use crate::record::writer::FLUSH_EVERY;
use crate::record::{Header, SessionWriter};

/// Where a live session is written.
#[derive(Clone, Debug)]
pub enum Output {
    File(PathBuf),
    Stdout,
    /// Not recorded (tests, dry runs).
    Discard,
}

/// The tee's fold, shared: the recorder's progress line (and `/metrics`)
/// read it; the tee holds the lock only to fold one event.
pub type SharedFold = Arc<Mutex<SessionFold>>;

/// Called on the tee thread after each event has been written and folded
/// (the closing line after the file is finished): the HTTP server's
/// snapshot of the figures.
pub type FoldObserver = Box<dyn FnMut(&SessionFold, &Event) + Send>;

pub struct LiveSession {
    pub header: Header,
    pub origin: Instant,
    /// Every event folded as it was recorded.
    pub fold: SharedFold,
    tx: Sender<Event>,
    tee: JoinHandle<io::Result<SessionEnd>>,
    output: Output,
}

impl LiveSession {
    /// Start recording `header` and everything that arrives on `rx` (whose
    /// sender is `tx`). With `forward_to_ui`, a receiver that sees every event
    /// after it has been handed to the writer is returned.
    pub fn start(
        header: Header,
        origin: Instant,
        (tx, rx): (Sender<Event>, Receiver<Event>),
        output: Output,
        forward_to_ui: bool,
        on_failure: Option<RunSignals>,
        observer: Option<FoldObserver>,
    ) -> io::Result<(LiveSession, Option<Receiver<Event>>)> {
        let writer = match &output {
            Output::File(p) => Some(SessionWriter::create(p, &header)?),
            Output::Stdout => Some(SessionWriter::to_stream(Box::new(io::stdout()), &header)?),
            Output::Discard => None,
        };
        let (ui_tx, ui_rx) = if forward_to_ui {
            let (a, b) = mpsc::channel();
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        let fold: SharedFold = Arc::new(Mutex::new(SessionFold::new(&header)));
        let shared = fold.clone();
        let tee = std::thread::Builder::new()
            .name("session-tee".into())
            .spawn(move || {
                let r = tee_loop(rx, writer, ui_tx, shared, observer);
                // The recorder stopped on its own (a full disk, a closed
                // pipe): stop the run rather than train on, unrecorded.
                if let (Err(e), Some(s)) = (&r, &on_failure) {
                    tracing::error!("recording stopped: {e}");
                    s.cancel();
                }
                r
            })?;
        Ok((
            LiveSession {
                header,
                origin,
                fold,
                tx,
                tee,
                output,
            },
            ui_rx,
        ))
    }

    /// A sender for producers (sampler, trainer, supervisor markers).
    pub fn sender(&self) -> Sender<Event> {
        self.tx.clone()
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
        let _ = self.tx.send(Event::End(end));
        drop(self.tx);
        self.tee
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("session recorder thread panicked")))
    }
}

fn tee_loop(
    rx: Receiver<Event>,
    mut writer: Option<SessionWriter>,
    ui: Option<Sender<Event>>,
    shared: SharedFold,
    mut observer: Option<FoldObserver>,
) -> io::Result<SessionEnd> {
    let lock = || shared.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let mut ev = match rx.recv_timeout(FLUSH_EVERY) {
            Ok(ev) => ev,
            Err(RecvTimeoutError::Timeout) => {
                if let Some(w) = writer.as_mut() {
                    w.flush_if_due(Instant::now())?;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => {
                // Every producer gone without a closing line: keep what we
                // have (the file loads as an unclean session).
                if let Some(w) = writer.take() {
                    w.finish(None)?;
                }
                let fold = lock();
                return Ok(closing(&fold, fold.elapsed_s(), Vec::new()));
            }
        };
        let mut fold = lock();
        fold.apply(&ev);
        match &mut ev {
            Event::Marker(m) if m.kind == MarkerKind::IdleEnd && m.value.is_none() => {
                // The idle floor: mean total power over the calibration
                // window's covered time, as the fold measured it.
                m.value = fold.idle_floor_w();
            }
            Event::End(end) => {
                let end = closing(&fold, end.t_s, std::mem::take(&mut end.sources));
                if let Some(w) = writer.take() {
                    w.finish(Some(&end))?;
                }
                if let Some(obs) = observer.as_mut() {
                    obs(&fold, &Event::End(end.clone()));
                }
                drop(fold);
                if let Some(ui) = &ui {
                    let _ = ui.send(Event::End(end.clone()));
                }
                return Ok(end);
            }
            _ => {}
        }
        drop(fold);
        if let Some(w) = writer.as_mut() {
            w.write_event(&ev)?;
        }
        if let Some(obs) = observer.as_mut() {
            obs(&lock(), &ev);
        }
        if let Some(ui) = &ui {
            // The UI may have quit already; the recording goes on.
            let _ = ui.send(ev);
        }
    }
}

/// The closing line: energy per channel and the sample count, from the fold.
fn closing(fold: &SessionFold, t_s: f64, sources: Vec<SourceStats>) -> SessionEnd {
    SessionEnd {
        t_s,
        samples: fold.samples(),
        energy_j: fold.ledger().energy_map(),
        sources,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::Marker;
    use crate::model::sample::{Channel, Role, Sample, Scope};
    use crate::record::{ReadOptions, SessionReader};

    #[test]
    fn tee_records_forwards_and_fills_idle_floor_and_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let header = Header::bare(
            vec![Channel::power(
                "cpu",
                Scope::Estimate,
                Role::Total,
                "cpu_estimate",
            )],
            100.0,
        );
        let (tx, rx) = mpsc::channel();
        let (s, ui) = LiveSession::start(
            header,
            Instant::now(),
            (tx, rx),
            Output::File(path.clone()),
            true,
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
}
