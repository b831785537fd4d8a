//! Append-only session writer: buffered, flushed at least once a second,
//! fsynced on clean close. After `kill -9` the file still loads, missing at
//! most the last second (the reader skips a torn last line).
//!
//! Every file trainwatt writes, trainwatt reads back: one validation step
//! ([`validate_event`], [`Header::validate`]) runs before anything is
//! written, so a header the reader would refuse (a channel declared twice,
//! an interval out of range), a reading that is not a finite number, or a
//! closing line with an overflowed energy is an error here, not a file that
//! cannot be opened later. A file being written is locked ([`super::lock`]);
//! every I/O error names the file.
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::format::{encode_sample, Header, OtherRef};
use super::lock::try_lock_exclusive;
use crate::model::event::{Event, SessionEnd};

/// How often buffered lines reach the file at the latest. With the
/// sampler's 200 ms send period to the tee (`sensors::sampler::SEND_EVERY`),
/// a reading is in the file at most a second after it was taken; a headless
/// recording writes each reading on the source's own thread, which flushes
/// before its next tick would come later than this.
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
    /// Create (or truncate) `path` and write the header. A path ending in
    /// `.zst` is zstd-compressed. Overwrites an existing file: commands that
    /// write where a user points use [`Self::create_new`].
    pub fn create(path: &Path, header: &Header) -> io::Result<Self> {
        Self::create_new(path, header, true)
    }

    /// Like [`Self::create`], but an existing non-empty file is refused
    /// unless `overwrite` (`--force`). The file is locked before it is
    /// truncated, so a file another writer holds is never cut.
    pub fn create_new(path: &Path, header: &Header, overwrite: bool) -> io::Result<Self> {
        header
            .validate()
            .map_err(|m| named(path, io::Error::new(io::ErrorKind::InvalidInput, m)))?;
        let file = open_locked(path, overwrite)?;
        let file = BufWriter::with_capacity(64 * 1024, file);
        let sink = if path.extension().is_some_and(|e| e == "zst") {
            Sink::Zstd(zstd::stream::write::Encoder::new(file, 3).map_err(|e| named(path, e))?)
        } else {
            Sink::Plain(file)
        };
        Self::start(sink, Some(path.to_path_buf()), header)
    }

    /// Write to any stream (standard output for `record --stdout`). Every
    /// line is flushed at once so a pipe reader sees it live.
    pub fn to_stream(out: Box<dyn Write + Send>, header: &Header) -> io::Result<Self> {
        header
            .validate()
            .map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))?;
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
        let r = out
            .write_all(s.as_bytes())
            .and_then(|()| out.write_all(b"\n"));
        r.map_err(|e| self.named(e))
    }

    /// An error that names the file (or standard output).
    fn named(&self, e: io::Error) -> io::Error {
        match &self.path {
            Some(p) => named(p, e),
            None => io::Error::new(e.kind(), format!("standard output: {e}")),
        }
    }

    /// Append one event. Flushes when the last flush is a second old (and on
    /// every line for a stream). An event the reader would refuse is an
    /// error and nothing of it is written.
    pub fn write_event(&mut self, ev: &Event) -> io::Result<()> {
        validate_event(ev, self.n_channels)
            .map_err(|m| self.named(io::Error::new(io::ErrorKind::InvalidInput, m)))?;
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        match ev {
            Event::Sample(s) => {
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
            let r = s.out().flush();
            r.map_err(|e| self.named(e))?;
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
        let r = self.close_sink();
        r.map_err(|e| self.named(e))
    }

    fn close_sink(&mut self) -> io::Result<()> {
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

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Whether a session may be written to `path` later (`record` checks before
/// it starts sources and the trainer): not a directory, not held by another
/// writer, and not an existing non-empty file unless `overwrite`. The
/// writer checks again, under its lock, when it creates the file.
pub fn check_output(path: &Path, overwrite: bool) -> io::Result<()> {
    let Ok(m) = std::fs::metadata(path) else {
        return Ok(());
    };
    if m.is_dir() {
        return Err(named(
            path,
            io::Error::new(io::ErrorKind::IsADirectory, "is a directory"),
        ));
    }
    if let Ok(f) = File::open(path) {
        try_lock_exclusive(&f, path)?;
    }
    if m.is_file() && m.len() > 0 && !overwrite {
        return Err(named(
            path,
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "already exists ({} bytes): pass --force to overwrite it, or choose another -o",
                    m.len()
                ),
            ),
        ));
    }
    Ok(())
}

/// Open `path` for writing, locked, and truncate it. Refuses an existing
/// non-empty file unless `overwrite`; only a regular file is truncated (a
/// device such as /dev/null is written as it is).
fn open_locked(path: &Path, overwrite: bool) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| named(dir, e))?;
    }
    let before = std::fs::metadata(path).ok();
    if before.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(named(
            path,
            io::Error::new(io::ErrorKind::IsADirectory, "is a directory"),
        ));
    }
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| named(path, e))?;
    try_lock_exclusive(&file, path)?;
    let existing = before.filter(|m| m.is_file() && m.len() > 0);
    if let Some(m) = existing {
        if !overwrite {
            return Err(named(
                path,
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "already exists ({} bytes): pass --force to overwrite it, or choose another -o",
                        m.len()
                    ),
                ),
            ));
        }
        file.set_len(0).map_err(|e| named(path, e))?;
    }
    Ok(file)
}

/// What the reader requires of an event: finite times, readings that are
/// finite numbers (or no reading), as many values as channels, and finite
/// figures in a marker or the closing line.
pub fn validate_event(ev: &Event, n_channels: usize) -> Result<(), String> {
    let t = ev.t_s();
    if !t.is_finite() {
        return Err(format!("an event at time {t} s (not a finite number)"));
    }
    match ev {
        Event::Sample(s) => {
            if s.values.len() != n_channels {
                return Err(format!(
                    "sample has {} values, the session has {} channels",
                    s.values.len(),
                    n_channels
                ));
            }
            if let Some((i, v)) = s
                .values
                .iter()
                .enumerate()
                .find_map(|(i, v)| v.filter(|x| !x.is_finite()).map(|x| (i, x)))
            {
                return Err(format!(
                    "the sample at {t} s has {v} in column {i}: a reading must be a finite number or no reading"
                ));
            }
        }
        Event::Marker(m) => {
            if m.value.is_some_and(|v| !v.is_finite()) {
                return Err(format!(
                    "the marker at {t} s carries a value that is not finite"
                ));
            }
        }
        Event::End(e) => validate_end(e)?,
        Event::Train(_) => {}
    }
    Ok(())
}

fn validate_end(e: &SessionEnd) -> Result<(), String> {
    if let Some((name, j)) = e.energy_j.iter().find(|(_, j)| !j.is_finite()) {
        return Err(format!(
            "the closing line's energy of `{name}` is {j} J: an energy must be a finite number"
        ));
    }
    for s in &e.sources {
        if !s.nominal_interval_ms.is_finite() || s.effective_hz.is_some_and(|h| !h.is_finite()) {
            return Err(format!(
                "the closing line's rate figures of source `{}` are not finite",
                s.source
            ));
        }
    }
    Ok(())
}
