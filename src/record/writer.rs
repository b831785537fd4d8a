//! Append-only session writer: buffered, flushed at least once a second,
//! fsynced on clean close. After `kill -9` the file still loads, missing at
//! most the last second (the reader skips a torn last line).
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::format::{encode_sample, Header, OtherRef};
use crate::model::event::{Event, SessionEnd};

/// How often buffered lines reach the file at the latest. With the
/// sampler's 200 ms send period (`sensors::sampler::SEND_EVERY`), a reading
/// is in the file at most a second after it was taken.
pub const FLUSH_EVERY: Duration = Duration::from_millis(800);

enum Sink {
    Plain(BufWriter<File>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<File>>),
    Stream(BufWriter<Box<dyn Write + Send>>),
}

impl Sink {
    fn out(&mut self) -> &mut dyn Write {
        match self {
            Sink::Plain(w) => w,
            Sink::Zstd(w) => w,
            Sink::Stream(w) => w,
        }
    }
}

pub struct SessionWriter {
    sink: Option<Sink>,
    path: Option<PathBuf>,
    line: String,
    n_channels: usize,
    last_flush: Instant,
    samples: u64,
}

impl SessionWriter {
    /// Create (truncate) `path` and write the header. A path ending in `.zst`
    /// is zstd-compressed.
    pub fn create(path: &Path, header: &Header) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = BufWriter::with_capacity(64 * 1024, File::create(path)?);
        let sink = if path.extension().is_some_and(|e| e == "zst") {
            Sink::Zstd(zstd::stream::write::Encoder::new(file, 3)?)
        } else {
            Sink::Plain(file)
        };
        Self::start(sink, Some(path.to_path_buf()), header)
    }

    /// Write to any stream (standard output for `record --stdout`). Every
    /// line is flushed at once so a pipe reader sees it live.
    pub fn to_stream(out: Box<dyn Write + Send>, header: &Header) -> io::Result<Self> {
        Self::start(Sink::Stream(BufWriter::new(out)), None, header)
    }

    fn start(sink: Sink, path: Option<PathBuf>, header: &Header) -> io::Result<Self> {
        let mut w = SessionWriter {
            sink: Some(sink),
            path,
            line: String::with_capacity(256),
            n_channels: header.channels.len(),
            last_flush: Instant::now(),
            samples: 0,
        };
        let json = serde_json::to_string(header).map_err(io::Error::other)?;
        w.write_line_raw(&json)?;
        w.flush()?;
        Ok(w)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn samples_written(&self) -> u64 {
        self.samples
    }

    fn write_line_raw(&mut self, s: &str) -> io::Result<()> {
        let sink = self.sink.as_mut().ok_or_else(closed)?;
        let out = sink.out();
        out.write_all(s.as_bytes())?;
        out.write_all(b"\n")
    }

    /// Append one event. Flushes when the last flush is a second old (and on
    /// every line for a stream).
    pub fn write_event(&mut self, ev: &Event) -> io::Result<()> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        match ev {
            Event::Sample(s) => {
                if s.values.len() != self.n_channels {
                    self.line = line;
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "sample has {} values, the session has {} channels",
                            s.values.len(),
                            self.n_channels
                        ),
                    ));
                }
                encode_sample(&mut line, s);
                self.samples += 1;
            }
            Event::Train(t) => line = serde_json::to_string(t).map_err(io::Error::other)?,
            Event::Marker(m) => {
                line = serde_json::to_string(&OtherRef::Marker(m)).map_err(io::Error::other)?
            }
            Event::End(e) => {
                line = serde_json::to_string(&OtherRef::End(e)).map_err(io::Error::other)?
            }
        }
        let r = self.write_line_raw(&line);
        self.line = line;
        r?;
        if matches!(self.sink, Some(Sink::Stream(_))) {
            self.flush()
        } else {
            self.flush_if_due(Instant::now())
        }
    }

    /// Flush if the last flush is at least [`FLUSH_EVERY`] old.
    pub fn flush_if_due(&mut self, now: Instant) -> io::Result<()> {
        if now.duration_since(self.last_flush) >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// Push buffered lines to the operating system (a zstd block is closed).
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(s) = self.sink.as_mut() {
            s.out().flush()?;
        }
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Write the closing line (if any), finish compression and fsync.
    pub fn finish(mut self, end: Option<&SessionEnd>) -> io::Result<()> {
        if let Some(e) = end {
            self.write_event(&Event::End(e.clone()))?;
        }
        self.close()
    }

    fn close(&mut self) -> io::Result<()> {
        match self.sink.take() {
            Some(Sink::Plain(w)) => {
                let f = w.into_inner().map_err(|e| e.into_error())?;
                f.sync_all()
            }
            Some(Sink::Zstd(enc)) => {
                let w = enc.finish()?;
                let f = w.into_inner().map_err(|e| e.into_error())?;
                f.sync_all()
            }
            Some(Sink::Stream(mut w)) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for SessionWriter {
    /// A writer dropped without `finish` (an error path, a panic) still pushes
    /// what it buffered, so nothing already recorded is lost.
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn closed() -> io::Error {
    io::Error::other("session writer already closed")
}
