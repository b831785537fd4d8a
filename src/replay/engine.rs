//! The replay engine: streams a session file and hands over its events as the
//! replay clock reaches them. Seeking forward reads on; seeking back reopens
//! the file and the app refolds from the start (one streaming pass, no
//! whole-file buffer).
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::index::ReplayIndex;
use crate::model::event::Event;
use crate::record::{Header, ReadOptions, RecordError, SessionReader};

/// What the engine hands to the app.
#[derive(Debug)]
pub enum ReplayOut {
    /// The clock went back: clear the pane, the events from the start follow.
    Reset,
    Event(Event),
}

pub struct ReplayEngine {
    path: PathBuf,
    opts: ReadOptions,
    reader: SessionReader,
    pending: Option<Event>,
    /// Session time up to which events were handed over.
    position_s: f64,
    index: Arc<ReplayIndex>,
}

impl ReplayEngine {
    /// Open a session file: one streaming pass builds the index, then the
    /// file is reopened for playback.
    pub fn open(path: &Path, lenient: bool) -> Result<Self, RecordError> {
        let opts = ReadOptions {
            lenient,
            ..Default::default()
        };
        let mut first = SessionReader::open(path, opts.clone())?;
        let index = ReplayIndex::from_reader(&mut first)?;
        let reader = SessionReader::open(path, opts.clone())?;
        Ok(ReplayEngine {
            path: path.to_path_buf(),
            opts,
            reader,
            pending: None,
            position_s: 0.0,
            index: Arc::new(index),
        })
    }

    pub fn header(&self) -> &Header {
        self.reader.header()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn index(&self) -> Arc<ReplayIndex> {
        self.index.clone()
    }

    /// Session time up to which events were handed over.
    pub fn position_s(&self) -> f64 {
        self.position_s
    }

    /// Hand over every event with `t <= t_s` not handed over yet. When `t_s`
    /// is before the last position, first `Reset`, then everything from the
    /// start up to `t_s`. Returns the number of events handed over.
    pub fn advance_to(
        &mut self,
        t_s: f64,
        sink: &mut dyn FnMut(ReplayOut),
    ) -> Result<u64, RecordError> {
        if t_s + 1e-9 < self.position_s {
            self.reader = SessionReader::open(&self.path, self.opts.clone())?;
            self.pending = None;
            self.position_s = 0.0;
            sink(ReplayOut::Reset);
        }
        let mut n = 0;
        loop {
            let ev = match self.pending.take() {
                Some(e) => e,
                None => match self.reader.next_event()? {
                    Some(e) => e,
                    None => break,
                },
            };
            if ev.t_s() > t_s {
                self.pending = Some(ev);
                break;
            }
            sink(ReplayOut::Event(ev));
            n += 1;
        }
        self.position_s = self.position_s.max(t_s);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample::{Channel, Sample};
    use crate::record::SessionWriter;

    #[test]
    fn hands_over_events_in_time_and_rewinds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let h = Header::new(vec![Channel::cpu_estimate_total()], 100.0);
        let mut w = SessionWriter::create(&path, &h).unwrap();
        for i in 0..100 {
            w.write_event(&Event::Sample(Sample {
                t_s: i as f64 * 0.1,
                values: vec![Some(2.0)],
            }))
            .unwrap();
        }
        w.finish(None).unwrap();
        let mut e = ReplayEngine::open(&path, false).unwrap();
        assert!((e.index().duration_s - 9.9).abs() < 1e-9);
        let mut got = Vec::new();
        let n = e.advance_to(1.0, &mut |o| got.push(o)).unwrap();
        assert_eq!(n, 11);
        let n = e.advance_to(2.0, &mut |o| got.push(o)).unwrap();
        assert_eq!(n, 10);
        got.clear();
        let n = e.advance_to(0.5, &mut |o| got.push(o)).unwrap();
        assert_eq!(n, 6);
        assert!(matches!(got[0], ReplayOut::Reset));
    }
}
