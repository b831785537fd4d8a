//! The recorder thread: receives events and appends them to a session file,
//! flushing at least once a second even when no event arrives.
use std::io;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Instant;

use super::writer::{SessionWriter, FLUSH_EVERY};
use crate::model::event::{Event, SessionEnd};

pub enum RecorderMsg {
    Event(Event),
    /// Write the closing line, fsync and stop.
    Finish(Option<SessionEnd>),
}

pub struct Recorder {
    tx: mpsc::Sender<RecorderMsg>,
    handle: Option<JoinHandle<io::Result<()>>>,
}

impl Recorder {
    pub fn spawn(mut writer: SessionWriter) -> Recorder {
        let (tx, rx) = mpsc::channel::<RecorderMsg>();
        let handle = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || -> io::Result<()> {
                loop {
                    match rx.recv_timeout(FLUSH_EVERY) {
                        Ok(RecorderMsg::Event(ev)) => writer.write_event(&ev)?,
                        Ok(RecorderMsg::Finish(end)) => return writer.finish(end.as_ref()),
                        Err(RecvTimeoutError::Timeout) => writer.flush_if_due(Instant::now())?,
                        // Every sender gone without Finish: close what we have.
                        Err(RecvTimeoutError::Disconnected) => return writer.finish(None),
                    }
                }
            })
            .expect("spawn recorder thread");
        Recorder {
            tx,
            handle: Some(handle),
        }
    }

    pub fn send(&self, ev: Event) {
        let _ = self.tx.send(RecorderMsg::Event(ev));
    }

    pub fn sender(&self) -> mpsc::Sender<RecorderMsg> {
        self.tx.clone()
    }

    /// Close the file cleanly and wait for the thread.
    pub fn finish(mut self, end: Option<SessionEnd>) -> io::Result<()> {
        let _ = self.tx.send(RecorderMsg::Finish(end));
        match self.handle.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("recorder thread panicked"))),
            None => Ok(()),
        }
    }
}
