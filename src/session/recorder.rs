//! The session recorder: folds, writes, observes and forwards each event,
//! on the tee thread (`Recording::Tee`) or on the producers' own threads
//! (`Recording::Inline`; see `live`'s sketch).
use std::io;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::live::{FoldObserver, SharedFold};
use super::signal::RunSignals;
use crate::model::event::{Event, MarkerKind, SessionEnd, SourceStats};
use crate::model::fold::SessionFold;
use crate::record::writer::FLUSH_EVERY;
use crate::record::SessionWriter;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Folds, writes, observes and forwards events, one at a time, whichever
/// thread calls it.
pub(super) struct Recorder {
    pub(super) writer: Option<SessionWriter>,
    pub(super) fold: SharedFold,
    pub(super) observer: Option<FoldObserver>,
    pub(super) ui: Option<Sender<Event>>,
}

impl Recorder {
    /// Record one event. After the closing line the file is finished and
    /// the closing line (energy and sample count from the fold) returned.
    fn record(&mut self, mut ev: Event) -> io::Result<Option<SessionEnd>> {
        let mut fold = lock(&self.fold);
        fold.apply(&ev);
        match &mut ev {
            Event::Marker(m) if m.kind == MarkerKind::IdleEnd && m.value.is_none() => {
                // The idle floor: mean total power over the calibration
                // window's covered time, as the fold measured it.
                m.value = fold.idle_floor_w();
            }
            Event::End(end) => {
                let end = closing(&fold, end.t_s, std::mem::take(&mut end.sources));
                if let Some(w) = self.writer.take() {
                    w.finish(Some(&end))?;
                }
                if let Some(obs) = self.observer.as_mut() {
                    obs(&fold, &Event::End(end.clone()));
                }
                drop(fold);
                if let Some(ui) = &self.ui {
                    let _ = ui.send(Event::End(end.clone()));
                }
                return Ok(Some(end));
            }
            _ => {}
        }
        drop(fold);
        if let Some(w) = self.writer.as_mut() {
            w.write_event(&ev)?;
        }
        if let Some(obs) = self.observer.as_mut() {
            obs(&lock(&self.fold), &ev);
        }
        if let Some(ui) = &self.ui {
            // The UI may have quit already; the recording goes on.
            let _ = ui.send(ev);
        }
        Ok(None)
    }

    /// Flush if the last flush is [`FLUSH_EVERY`] old at `at`.
    fn flush_if_due(&mut self, at: Instant) -> io::Result<()> {
        match self.writer.as_mut() {
            Some(w) => w.flush_if_due(at),
            None => Ok(()),
        }
    }

    /// Every producer gone without a closing line: keep what we have (the
    /// file loads as an unclean session).
    fn abandon(&mut self) -> io::Result<SessionEnd> {
        if let Some(w) = self.writer.take() {
            w.finish(None)?;
        }
        let fold = lock(&self.fold);
        Ok(closing(&fold, fold.elapsed_s(), Vec::new()))
    }
}

pub(super) fn tee_loop(rx: Receiver<Event>, mut recorder: Recorder) -> io::Result<SessionEnd> {
    loop {
        match rx.recv_timeout(FLUSH_EVERY) {
            Ok(ev) => {
                if let Some(end) = recorder.record(ev)? {
                    return Ok(end);
                }
            }
            Err(RecvTimeoutError::Timeout) => recorder.flush_if_due(Instant::now())?,
            Err(RecvTimeoutError::Disconnected) => return recorder.abandon(),
        }
    }
}

/// The recorder of an inline recording, shared by the threads that call it.
pub(super) struct Inline {
    pub(super) recorder: Recorder,
    pub(super) visit_every: Duration,
    /// A write failed: nothing more is recorded.
    pub(super) failed: bool,
    /// That write's error, until the pump reports it.
    pub(super) error: Option<io::Error>,
    /// The file is finished (closing line, or every producer gone).
    pub(super) ended: bool,
    pub(super) on_failure: Option<RunSignals>,
}

impl Inline {
    /// Nothing more is recorded: the file is finished, or a write failed.
    pub(super) fn stopped(&self) -> bool {
        self.ended || self.failed
    }

    /// Record one event; the closing line once it has been written.
    pub(super) fn record(&mut self, ev: Event) -> Option<SessionEnd> {
        if self.stopped() {
            return None;
        }
        match self.recorder.record(ev) {
            Ok(Some(end)) => {
                self.ended = true;
                Some(end)
            }
            Ok(None) => None,
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    /// Flush now unless the next visit (a source's next tick, at most
    /// `visit_every` from `now`) still comes within [`FLUSH_EVERY`] of the
    /// last flush.
    pub(super) fn settle(&mut self, now: Instant) {
        if self.stopped() {
            return;
        }
        if let Err(e) = self.recorder.flush_if_due(now + self.visit_every) {
            self.fail(e);
        }
    }

    /// The recorder stopped on its own (a full disk, a closed pipe): keep
    /// what was written, and stop the run rather than train on, unrecorded.
    fn fail(&mut self, e: io::Error) {
        tracing::error!("recording stopped: {e}");
        // Dropping the writer pushes what it buffered.
        self.recorder.writer = None;
        if let Some(s) = &self.on_failure {
            s.cancel();
        }
        self.failed = true;
        self.error = Some(e);
    }
}

/// An inline recording's own thread: it records what the trainer and the
/// supervisor send, and sleeps in between (the sources' threads flush).
pub(super) fn pump_loop(rx: Receiver<Event>, shared: &Mutex<Inline>) -> io::Result<SessionEnd> {
    loop {
        let next = rx.recv();
        let mut rec = lock(shared);
        if let Some(e) = rec.error.take() {
            return Err(e);
        }
        let Ok(ev) = next else {
            rec.ended = true;
            return rec.recorder.abandon();
        };
        if let Some(end) = rec.record(ev) {
            return Ok(end);
        }
        if let Some(e) = rec.error.take() {
            return Err(e);
        }
        rec.settle(Instant::now());
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
