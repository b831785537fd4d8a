//! The recording side of a live session.
//!
//! ```text
//! sampler threads ─┐
//! trainer thread ──┼─► raw channel ─► tee thread ─► SessionWriter (append-only file / stdout)
//! supervisor ──────┘                     │
//!                                        └─► UI channel (watch)
//! ```
//! The tee integrates energy as events pass (for the closing line and the idle
//! floor) and flushes the file at least once a second even when nothing
//! arrives.
use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::model::energy::EnergyLedger;
use crate::model::event::{Event, MarkerKind, SessionEnd, SourceStats};
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

pub struct LiveSession {
    pub header: Header,
    pub origin: Instant,
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
        tx: Sender<Event>,
        rx: Receiver<Event>,
        output: Output,
        forward_to_ui: bool,
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
        let ledger = EnergyLedger::new(&header.channels, header.interval_ms);
        let tee = std::thread::Builder::new()
            .name("session-tee".into())
            .spawn(move || tee_loop(rx, writer, ui_tx, ledger))?;
        Ok((
            LiveSession {
                header,
                origin,
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

struct IdleWindow {
    joules: f64,
    covered_s: f64,
}

fn tee_loop(
    rx: Receiver<Event>,
    mut writer: Option<SessionWriter>,
    ui: Option<Sender<Event>>,
    mut ledger: EnergyLedger,
) -> io::Result<SessionEnd> {
    let mut idle: Option<IdleWindow> = None;
    let mut last_t = 0.0f64;
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
                return Ok(SessionEnd {
                    t_s: last_t,
                    samples: ledger.samples,
                    energy_j: ledger.energy_map(),
                    sources: Vec::new(),
                });
            }
        };
        last_t = last_t.max(ev.t_s());
        match &mut ev {
            Event::Sample(s) => ledger.push_sample(s),
            Event::Marker(m) if m.kind == MarkerKind::IdleStart => {
                idle = Some(IdleWindow {
                    joules: ledger.total_joules(),
                    covered_s: ledger.total_covered_s(),
                });
            }
            Event::Marker(m) if m.kind == MarkerKind::IdleEnd && m.value.is_none() => {
                // The idle floor: mean total power over the calibration window.
                // Over the time the sensors covered: a gap's energy is unknown.
                if let Some(w) = idle.take() {
                    let dt = ledger.total_covered_s() - w.covered_s;
                    if dt > 0.0 {
                        m.value = Some((ledger.total_joules() - w.joules) / dt);
                    }
                }
            }
            Event::End(end) => {
                end.samples = ledger.samples;
                end.energy_j = ledger.energy_map();
                let end = end.clone();
                if let Some(w) = writer.take() {
                    w.finish(Some(&end))?;
                }
                if let Some(ui) = &ui {
                    let _ = ui.send(Event::End(end.clone()));
                }
                return Ok(end);
            }
            _ => {}
        }
        if let Some(w) = writer.as_mut() {
            w.write_event(&ev)?;
        }
        if let Some(ui) = &ui {
            // The UI may have quit already; the recording goes on.
            let _ = ui.send(ev);
        }
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
        let header = Header::new(
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
            tx,
            rx,
            Output::File(path.clone()),
            true,
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
