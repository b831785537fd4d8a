//! `/session`: the session file being recorded, from its header line on, as
//! chunked NDJSON, then each line as it is appended, until the closing line.
//! The file is opened read-only and tailed (the writer flushes at least once
//! a second), so a client never touches the recorder. `?from=N` starts at
//! line N (0-based, the header is line 0): a viewer that lost its
//! connection after N whole lines resumes there without duplicates.
//!
//! Only whole lines are sent. Each client has a queue of [`QUEUE_CHUNKS`]
//! chunks of at most [`CHUNK_BYTES`]; a client that takes nothing for
//! [`STALL_LIMIT`] is dropped (its connection is cut without the final
//! chunk, so it can tell and resume); the data stays in the file.
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::sync::mpsc;

use super::snapshot::Slot;

pub const CHUNK_BYTES: usize = 64 * 1024;
pub const QUEUE_CHUNKS: usize = 8;
pub const STALL_LIMIT: Duration = Duration::from_secs(10);
/// How often the end of the file is looked at again.
pub const TAIL_EVERY: Duration = Duration::from_millis(250);

/// What `/session` serves.
#[derive(Clone, Debug)]
pub enum SessionSource {
    File(PathBuf),
    /// Why there is nothing to stream (stdout, not recorded, compressed).
    Unavailable(String),
}

/// The `from` query parameter: Ok(0) when absent.
pub fn parse_from(query: Option<&str>) -> Result<u64, String> {
    let Some(q) = query else { return Ok(0) };
    for pair in q.split('&') {
        if let Some(v) = pair.strip_prefix("from=") {
            return v
                .parse()
                .map_err(|_| format!("from={v}: a line number (0 = the header) is expected"));
        }
    }
    Ok(0)
}

/// The response body: chunks from the tail task; an error frame (the
/// connection is cut) unless the task said the session is complete.
pub struct TailBody {
    rx: mpsc::Receiver<Bytes>,
    complete: Arc<AtomicBool>,
}

impl Body for TailBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(b)) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(None) if self.complete.load(Ordering::SeqCst) => Poll::Ready(None),
            Poll::Ready(None) => Poll::Ready(Some(Err(io::Error::other(
                "stream dropped: the client fell behind or the server stopped",
            )))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Open the file and start the tail task; an error when the file cannot be read.
pub fn start(path: PathBuf, from: u64, slot: Arc<Slot>) -> io::Result<TailBody> {
    let file = File::open(&path)?;
    let (tx, rx) = mpsc::channel(QUEUE_CHUNKS);
    let complete = Arc::new(AtomicBool::new(false));
    let c = complete.clone();
    tokio::spawn(async move {
        if let Ok(true) = tail(file, from, tx, slot).await {
            c.store(true, Ordering::SeqCst);
        }
    });
    Ok(TailBody { rx, complete })
}

/// Line splitting state: lines to skip, the incomplete last line.
struct Lines {
    skip: u64,
    partial: Vec<u8>,
}

impl Lines {
    /// The whole lines of `buf` after the skipped ones, as one chunk; an
    /// incomplete last line is kept for the next read.
    fn take(&mut self, buf: &[u8]) -> Option<Bytes> {
        let mut start = 0;
        while self.skip > 0 {
            let i = memchr::memchr(b'\n', &buf[start..])?;
            start += i + 1;
            self.skip -= 1;
        }
        let rest = &buf[start..];
        let Some(last_nl) = memchr::memrchr(b'\n', rest) else {
            self.partial.extend_from_slice(rest);
            return None;
        };
        let mut out = std::mem::take(&mut self.partial);
        out.extend_from_slice(&rest[..=last_nl]);
        self.partial.extend_from_slice(&rest[last_nl + 1..]);
        Some(Bytes::from(out))
    }
}

/// Ok(true) once the closing line has been sent; Ok(false) when the client
/// went away or fell behind.
async fn tail(
    mut file: File,
    from: u64,
    tx: mpsc::Sender<Bytes>,
    slot: Arc<Slot>,
) -> io::Result<bool> {
    let mut lines = Lines {
        skip: from,
        partial: Vec::new(),
    };
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        // Looked at before reading: the recorder publishes the end only after
        // the file is finished, so a read after seeing it gets the rest.
        let ended = slot.get().is_some_and(|p| p.snapshot.ended);
        let n = file.read(&mut buf)?;
        if n > 0 {
            if let Some(chunk) = lines.take(&buf[..n]) {
                match tokio::time::timeout(STALL_LIMIT, tx.send(chunk)).await {
                    Ok(Ok(())) => {}
                    // Gone, or not reading: drop it (the data stays in the file).
                    _ => return Ok(false),
                }
            }
            continue;
        }
        if ended {
            if !lines.partial.is_empty() && lines.skip == 0 {
                let rest = Bytes::from(std::mem::take(&mut lines.partial));
                if tx.send(rest).await.is_err() {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        if tx.is_closed() {
            return Ok(false);
        }
        tokio::time::sleep(TAIL_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_lines_leave_and_skipped_lines_never_do() {
        let mut l = Lines {
            skip: 1,
            partial: Vec::new(),
        };
        assert_eq!(l.take(b"{\"head"), None);
        assert_eq!(
            l.take(b"er\"}\n[0.1,"),
            None,
            "the partial second line waits"
        );
        assert_eq!(
            l.take(b"5]\n[0.2,6]\n[0.3").unwrap(),
            &b"[0.1,5]\n[0.2,6]\n"[..]
        );
        assert_eq!(l.take(b",7]\n").unwrap(), &b"[0.3,7]\n"[..]);
        assert_eq!(parse_from(Some("x=1&from=12")), Ok(12));
        assert_eq!(parse_from(None), Ok(0));
        assert!(parse_from(Some("from=-1")).is_err());
    }
}
