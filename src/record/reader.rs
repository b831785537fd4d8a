//! Streaming session reader. Never loads a file as one string; every error
//! names the file and line. A torn last line (a crash mid-write) is reported
//! and skipped; a malformed line elsewhere is an error unless `lenient`.
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::format::{decode_sample, Header, Other, FORMAT_NAME, SCHEMA_VERSION};
use crate::model::event::{Event, TrainEvent};

/// Lines longer than this are rejected without being held in memory whole.
pub const DEFAULT_MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Skip (and count) malformed lines instead of stopping at the first.
    pub lenient: bool,
    pub max_line_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            lenient: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// What the reader saw besides events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadStats {
    /// Lines read, header included.
    pub lines: u64,
    /// Malformed lines skipped in lenient mode: (line number, reason), the first few.
    pub skipped: Vec<(u64, String)>,
    pub skipped_count: u64,
    /// A last line cut short by a crash: its line number and length in bytes.
    pub torn_tail: Option<(u64, usize)>,
    /// Whether the closing `end` line was present.
    pub clean_end: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {msg}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct RecordError {
    pub file: String,
    pub line: Option<u64>,
    pub msg: String,
}

pub struct SessionReader {
    name: String,
    src: Box<dyn BufRead + Send>,
    header: Header,
    opts: ReadOptions,
    buf: Vec<u8>,
    line_no: u64,
    done: bool,
    pub stats: ReadStats,
}

enum LineRead {
    Eof,
    /// A full line (newline stripped); `terminated` is false for a last line
    /// without a newline.
    Line {
        terminated: bool,
    },
    TooLong {
        len: usize,
    },
}

impl SessionReader {
    /// Open a session file; `.zst` files are decompressed on the fly.
    pub fn open(path: &Path, opts: ReadOptions) -> Result<Self, RecordError> {
        let name = path.display().to_string();
        if path.is_dir() {
            return Err(RecordError {
                file: name,
                line: None,
                msg: "is a directory, not a session file: give the path of a .jsonl or .jsonl.zst file in it".into(),
            });
        }
        let file = File::open(path).map_err(|e| RecordError {
            file: name.clone(),
            line: None,
            msg: format!("cannot open: {e}"),
        })?;
        let src: Box<dyn Read + Send> = if path.extension().is_some_and(|e| e == "zst") {
            Box::new(
                zstd::stream::read::Decoder::new(file).map_err(|e| RecordError {
                    file: name.clone(),
                    line: None,
                    msg: format!("not a zstd stream: {e}"),
                })?,
            )
        } else {
            Box::new(file)
        };
        Self::from_reader(name, src, opts)
    }

    /// Read a session from any stream (`-` for standard input).
    pub fn from_reader(
        name: String,
        src: Box<dyn Read + Send>,
        opts: ReadOptions,
    ) -> Result<Self, RecordError> {
        let mut r = SessionReader {
            name,
            src: Box::new(BufReader::with_capacity(256 * 1024, src)),
            header: placeholder_header(),
            opts,
            buf: Vec::with_capacity(256),
            line_no: 0,
            done: false,
            stats: ReadStats::default(),
        };
        match r.read_line()? {
            LineRead::Eof => return Err(r.err(None, "empty file: no session header".into())),
            LineRead::TooLong { len } => {
                return Err(r.err(Some(1), format!("header line longer than {len} bytes")))
            }
            LineRead::Line { .. } => {}
        }
        r.header = parse_header(&r.buf).map_err(|m| r.err(Some(1), m))?;
        Ok(r)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn err(&self, line: Option<u64>, msg: String) -> RecordError {
        RecordError {
            file: self.name.clone(),
            line,
            msg,
        }
    }

    fn read_line(&mut self) -> Result<LineRead, RecordError> {
        self.buf.clear();
        let max = self.opts.max_line_bytes;
        // How far an overlong line is read to find its end: not at all when
        // it is an error anyway, 16 limits when lenient mode skips it. Past
        // that the input is not a session file (`/dev/zero`), and reading
        // stops rather than going on for ever.
        let give_up = if self.opts.lenient {
            max.saturating_mul(16)
        } else {
            max
        };
        let mut too_long = 0usize;
        loop {
            if too_long > 0 && too_long.saturating_add(self.buf.len()) > give_up {
                let msg = if self.opts.lenient {
                    format!("a line longer than {give_up} bytes without a newline: this is not a session file (reading stopped there)")
                } else {
                    format!("line is longer than the {max} byte limit (reading stopped there; use --lenient to skip overlong lines)")
                };
                return Err(self.err(Some(self.line_no + 1), msg));
            }
            let chunk = match self.src.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // A zstd stream cut by a crash ends with an error: treat
                    // what was decoded so far as the file.
                    if !self.buf.is_empty() || too_long > 0 {
                        break;
                    }
                    self.stats.torn_tail.get_or_insert((self.line_no + 1, 0));
                    let _ = e;
                    return Ok(LineRead::Eof);
                }
            };
            if chunk.is_empty() {
                break;
            }
            match memchr::memchr(b'\n', chunk) {
                Some(i) => {
                    if too_long == 0 && self.buf.len() + i <= max {
                        self.buf.extend_from_slice(&chunk[..i]);
                    } else {
                        too_long += i;
                    }
                    self.src.consume(i + 1);
                    self.count_line();
                    if too_long > 0 {
                        return Ok(LineRead::TooLong {
                            len: too_long + self.buf.len(),
                        });
                    }
                    return Ok(LineRead::Line { terminated: true });
                }
                None => {
                    let n = chunk.len();
                    if too_long == 0 && self.buf.len() + n <= max {
                        self.buf.extend_from_slice(chunk);
                    } else {
                        too_long += n;
                    }
                    self.src.consume(n);
                }
            }
        }
        if self.buf.is_empty() && too_long == 0 {
            return Ok(LineRead::Eof);
        }
        self.count_line();
        if too_long > 0 {
            return Ok(LineRead::TooLong {
                len: too_long + self.buf.len(),
            });
        }
        Ok(LineRead::Line { terminated: false })
    }

    /// The next event, `Ok(None)` at the end of the file.
    pub fn next_event(&mut self) -> Result<Option<Event>, RecordError> {
        loop {
            if self.done {
                return Ok(None);
            }
            // Fast path: a whole, well-formed line inside the read buffer is
            // parsed where it lies, without copying it out first.
            if let Some(ev) = self.parse_in_place() {
                return Ok(Some(ev));
            }
            let terminated = match self.read_line()? {
                LineRead::Eof => {
                    self.done = true;
                    return Ok(None);
                }
                LineRead::TooLong { len } => {
                    let msg = format!(
                        "line is {len} bytes, longer than the {} byte limit",
                        self.opts.max_line_bytes
                    );
                    self.malformed(msg)?;
                    continue;
                }
                LineRead::Line { terminated } => terminated,
            };
            let line = trim_ascii(&self.buf);
            if line.is_empty() {
                continue;
            }
            match parse_event(line, self.header.channels.len()) {
                Ok(ev) => return Ok(Some(self.seen(ev))),
                Err(msg) if !terminated => {
                    // Cut short by a crash: report, skip, and end there.
                    let _ = msg;
                    self.stats.torn_tail = Some((self.line_no, self.buf.len()));
                    self.done = true;
                    return Ok(None);
                }
                Err(msg) => self.malformed(msg)?,
            }
        }
    }

    /// The next line, parsed in the reader's buffer when it is complete
    /// there, fits the line cap and parses. Anything else (a line across
    /// buffer refills, an overlong, empty or malformed line, end of file) is
    /// left unconsumed for the careful path.
    fn parse_in_place(&mut self) -> Option<Event> {
        let n = self.header.channels.len();
        let max = self.opts.max_line_bytes;
        let chunk = self.src.fill_buf().ok()?;
        let i = memchr::memchr(b'\n', chunk)?;
        if i > max {
            return None;
        }
        let line = trim_ascii(&chunk[..i]);
        if line.is_empty() {
            return None;
        }
        let ev = parse_event(line, n).ok()?;
        self.src.consume(i + 1);
        self.count_line();
        Some(self.seen(ev))
    }

    fn count_line(&mut self) {
        self.line_no += 1;
        self.stats.lines += 1;
    }

    /// Note what an accepted event says about the file (its closing line).
    fn seen(&mut self, ev: Event) -> Event {
        if matches!(ev, Event::End(_)) {
            self.stats.clean_end = true;
        }
        ev
    }

    fn malformed(&mut self, msg: String) -> Result<(), RecordError> {
        if !self.opts.lenient {
            return Err(self.err(
                Some(self.line_no),
                format!("{msg} (use --lenient to skip malformed lines)"),
            ));
        }
        self.stats.skipped_count += 1;
        if self.stats.skipped.len() < 10 {
            self.stats.skipped.push((self.line_no, msg));
        }
        Ok(())
    }

    /// Read every remaining event into a vector (for small files and tests).
    pub fn collect_events(&mut self) -> Result<Vec<Event>, RecordError> {
        let mut v = Vec::new();
        while let Some(e) = self.next_event()? {
            v.push(e);
        }
        Ok(v)
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let mut s = b;
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

fn parse_event(line: &[u8], n_channels: usize) -> Result<Event, String> {
    match line.first() {
        Some(b'[') => decode_sample(line, n_channels).map(Event::Sample),
        Some(b'{') => {
            #[derive(serde::Deserialize)]
            struct Tag<'a> {
                #[serde(borrow)]
                ev: Option<std::borrow::Cow<'a, str>>,
            }
            let tag: Tag =
                serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
            match tag.ev.as_deref() {
                Some("run_start" | "step" | "epoch_end" | "run_end") => {
                    serde_json::from_slice::<TrainEvent>(line)
                        .map(Event::Train)
                        .map_err(|e| format!("bad training event: {e}"))
                }
                Some("marker" | "end") => match serde_json::from_slice::<Other>(line) {
                    Ok(Other::Marker(m)) => Ok(Event::Marker(m)),
                    Ok(Other::End(e)) => Ok(Event::End(e)),
                    Err(e) => Err(format!("bad event: {e}")),
                },
                Some(other) => Err(format!("unknown event kind `{other}`")),
                None => Err("an object line needs an `ev` field".into()),
            }
        }
        _ => Err("expected a sample row `[...]` or an event object `{...}`".into()),
    }
}

fn parse_header(line: &[u8]) -> Result<Header, String> {
    let v: serde_json::Value = serde_json::from_slice(trim_ascii(line)).map_err(|e| {
        format!(
            "the first line is not a trainwatt session header (invalid JSON: {e}); \
                 to turn a tegrastats or nvidia-smi log into a session use `trainwatt import`"
        )
    })?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
        return Err(format!(
            "the first line is not a trainwatt session header (no \"format\":\"{FORMAT_NAME}\"); \
             to turn a tegrastats or nvidia-smi log into a session use `trainwatt import`"
        ));
    }
    match v.get("schema").and_then(|s| s.as_u64()) {
        Some(s) if s == SCHEMA_VERSION as u64 => {}
        Some(s) => {
            return Err(format!(
                "session schema version {s} is not supported by trainwatt {} (it reads version {SCHEMA_VERSION}); \
                 upgrade trainwatt to read this file",
                env!("CARGO_PKG_VERSION")
            ))
        }
        None => return Err("the header has no numeric `schema` version".into()),
    }
    let h: Header = serde_json::from_value(v).map_err(|e| format!("bad header: {e}"))?;
    h.validate()?;
    Ok(h)
}

fn placeholder_header() -> Header {
    Header::new(Vec::new(), 0.0)
}
