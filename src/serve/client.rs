//! The viewer's side of `/session`: a blocking HTTP/1.1 client (std
//! TcpStream) that reads the NDJSON stream as an `io::Read` of whole lines.
//! A dropped connection is reopened with `?from=<lines handed on>`, so the
//! reader sees every line once; it gives up after [`GIVE_UP`] without a
//! successful reconnection and then reports why ([`RemoteSession::failure`]).
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// No byte for this long means the connection is dead.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
pub const GIVE_UP: Duration = Duration::from_secs(60);
const MAX_HEAD: usize = 16 * 1024;

/// `http://HOST:PORT/PATH` split up.
#[derive(Clone, Debug, PartialEq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// Path without the query.
    pub path: String,
}

impl Url {
    pub fn parse(s: &str) -> Result<Url, String> {
        let rest = s.strip_prefix("http://").ok_or_else(|| {
            format!("{s}: only http:// URLs can be streamed (put TLS in front with a proxy)")
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/session"),
        };
        let path = path.split('?').next().unwrap_or("/session").to_string();
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h.to_string(),
                p.parse()
                    .map_err(|_| format!("{s}: `{p}` is not a port number"))?,
            ),
            _ => (authority.to_string(), 80),
        };
        if host.is_empty() {
            return Err(format!("{s}: no host in the URL"));
        }
        Ok(Url { host, port, path })
    }

    fn host_header(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A live `/session` stream that reconnects.
pub struct RemoteSession {
    url: Url,
    token: Option<String>,
    body: Option<BodyReader>,
    /// Whole lines ready to hand on, and how far they have been read.
    ready: Vec<u8>,
    ready_pos: usize,
    partial: Vec<u8>,
    lines: u64,
    give_up: Duration,
    failure: Arc<Mutex<Option<String>>>,
    reconnects: u64,
}

impl RemoteSession {
    /// Connect now: an error (unreachable, 401, 404 with the server's
    /// reason) is returned before anything else starts.
    pub fn connect(url: &str, token: Option<String>) -> Result<RemoteSession, String> {
        let url = Url::parse(url)?;
        let body = open(&url, token.as_deref(), 0)?;
        Ok(RemoteSession {
            url,
            token,
            body: Some(body),
            ready: Vec::new(),
            ready_pos: 0,
            partial: Vec::new(),
            lines: 0,
            give_up: GIVE_UP,
            failure: Arc::new(Mutex::new(None)),
            reconnects: 0,
        })
    }

    pub fn with_give_up(mut self, d: Duration) -> Self {
        self.give_up = d;
        self
    }

    /// Why the stream stopped early, once it gave up.
    pub fn failure(&self) -> Arc<Mutex<Option<String>>> {
        self.failure.clone()
    }

    /// Lines handed on so far (the header is line 0).
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Fill `ready` with whole lines; false at the clean end of the stream.
    fn fill(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let Some(body) = self.body.as_mut() else {
                return Ok(false);
            };
            match body.read(&mut buf) {
                Ok(0) if body.complete => {
                    self.body = None;
                    return Ok(false);
                }
                Ok(0) => self.reconnect("the server closed the connection mid-stream".into())?,
                Ok(n) => {
                    self.partial.extend_from_slice(&buf[..n]);
                    if let Some(i) = memchr::memrchr(b'\n', &self.partial) {
                        let rest = self.partial.split_off(i + 1);
                        let whole = std::mem::replace(&mut self.partial, rest);
                        self.lines += memchr::memchr_iter(b'\n', &whole).count() as u64;
                        self.ready = whole;
                        self.ready_pos = 0;
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.reconnect(e.to_string())?,
            }
        }
    }

    /// Reopen at the first line not handed on, with backoff; an error once
    /// [`RemoteSession::with_give_up`]'s time has passed or the server refuses.
    fn reconnect(&mut self, why: String) -> io::Result<()> {
        self.body = None;
        self.partial.clear();
        let started = Instant::now();
        let mut wait = Duration::from_millis(100);
        let mut last = why;
        loop {
            tracing::info!(
                "{}: {last}; reconnecting from line {}",
                self.url.path,
                self.lines
            );
            std::thread::sleep(wait);
            match open(&self.url, self.token.as_deref(), self.lines) {
                Ok(b) => {
                    self.reconnects += 1;
                    self.body = Some(b);
                    return Ok(());
                }
                Err(e) => last = e,
            }
            if last.starts_with("refused:") || started.elapsed() >= self.give_up {
                let msg = format!(
                    "lost the stream http://{}{} after {} lines and gave up after {:.0} s: {last}",
                    self.url.host_header(),
                    self.url.path,
                    self.lines,
                    started.elapsed().as_secs_f64()
                );
                if let Ok(mut f) = self.failure.lock() {
                    *f = Some(msg.clone());
                }
                return Err(io::Error::other(msg));
            }
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }
}

impl Read for RemoteSession {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.ready_pos >= self.ready.len() && !self.fill()? {
            return Ok(0);
        }
        let n = out.len().min(self.ready.len() - self.ready_pos);
        out[..n].copy_from_slice(&self.ready[self.ready_pos..self.ready_pos + n]);
        self.ready_pos += n;
        Ok(n)
    }
}

/// Connect, send the request, check the status. Errors that a retry cannot
/// fix (401, 404, 4xx) start with "refused:".
fn open(url: &Url, token: Option<&str>, from: u64) -> Result<BodyReader, String> {
    let where_ = format!("http://{}{}", url.host_header(), url.path);
    let addr = (url.host.trim_matches(['[', ']']), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("{where_}: cannot resolve {}: {e}", url.host))?
        .next()
        .ok_or_else(|| format!("{where_}: {} has no address", url.host))?;
    let mut s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| format!("{where_}: cannot connect: {e}"))?;
    let _ = s.set_read_timeout(Some(READ_TIMEOUT));
    let _ = s.set_nodelay(true);
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "GET {}?from={from} HTTP/1.1\r\nHost: {}\r\nAccept: application/x-ndjson\r\n{auth}Connection: close\r\n\r\n",
        url.path,
        url.host_header()
    );
    s.write_all(req.as_bytes())
        .map_err(|e| format!("{where_}: cannot send the request: {e}"))?;
    let mut r = BufReader::with_capacity(64 * 1024, s);
    let head = read_head(&mut r).map_err(|e| format!("{where_}: {e}"))?;
    if !(200..300).contains(&head.status) {
        let mut body = BodyReader::new(r, &head);
        let mut text = String::new();
        let _ = (&mut body).take(4096).read_to_string(&mut text);
        let kind = if (400..500).contains(&head.status) && head.status != 429 {
            "refused: "
        } else {
            ""
        };
        return Err(format!(
            "{kind}{where_} answered {}: {}",
            head.status,
            text.trim()
        ));
    }
    Ok(BodyReader::new(r, &head))
}

struct Head {
    status: u16,
    chunked: bool,
    length: Option<u64>,
}

fn read_head(r: &mut BufReader<TcpStream>) -> Result<Head, String> {
    let mut line = String::new();
    let mut total = 0;
    let mut next = |line: &mut String| -> Result<(), String> {
        line.clear();
        let n = r
            .by_ref()
            .take((MAX_HEAD - total) as u64)
            .read_line(line)
            .map_err(|e| format!("reading the response: {e}"))?;
        total += n;
        if n == 0 || total >= MAX_HEAD {
            return Err("the response head is cut short or too long".into());
        }
        Ok(())
    };
    next(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {}", line.trim()))?;
    let mut head = Head {
        status,
        chunked: false,
        length: None,
    };
    loop {
        next(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            return Ok(head);
        }
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                head.chunked = true;
            } else if k == "content-length" {
                head.length = v.parse().ok();
            }
        }
    }
}

/// A response body: chunked, sized, or up to the close. `complete` turns
/// true only at a proper end (the last chunk, or the full length).
struct BodyReader {
    r: BufReader<TcpStream>,
    chunked: bool,
    /// Bytes left in the current chunk (or of the sized body).
    left: Option<u64>,
    complete: bool,
}

impl BodyReader {
    fn new(r: BufReader<TcpStream>, h: &Head) -> Self {
        BodyReader {
            r,
            chunked: h.chunked,
            left: if h.chunked { Some(0) } else { h.length },
            complete: false,
        }
    }

    /// Read a chunk-size line; Ok(0) for the last chunk (trailers skipped).
    fn next_chunk(&mut self) -> io::Result<u64> {
        let mut line = String::new();
        if self.r.by_ref().take(1024).read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let size = line.trim().split(';').next().unwrap_or("");
        let n = u64::from_str_radix(size, 16)
            .map_err(|_| io::Error::other(format!("bad chunk size line {:?}", line.trim())))?;
        if n == 0 {
            loop {
                line.clear();
                let k = self.r.by_ref().take(1024).read_line(&mut line)?;
                if k == 0 || line.trim().is_empty() {
                    break;
                }
            }
        }
        Ok(n)
    }
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.complete {
            return Ok(0);
        }
        if !self.chunked {
            let want = match self.left {
                Some(0) => {
                    self.complete = true;
                    return Ok(0);
                }
                Some(l) => (out.len() as u64).min(l) as usize,
                None => out.len(),
            };
            let n = self.r.read(&mut out[..want])?;
            match (&mut self.left, n) {
                (Some(_), 0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                (Some(l), n) => *l -= n as u64,
                // Close-delimited: the close is the end.
                (None, 0) => self.complete = true,
                (None, _) => {}
            }
            return Ok(n);
        }
        if self.left == Some(0) {
            let n = self.next_chunk()?;
            if n == 0 {
                self.complete = true;
                return Ok(0);
            }
            self.left = Some(n);
        }
        let l = self.left.unwrap_or(0);
        let want = (out.len() as u64).min(l) as usize;
        let n = self.r.read(&mut out[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.left = Some(l - n as u64);
        if self.left == Some(0) {
            let mut crlf = [0u8; 2];
            self.r.read_exact(&mut crlf)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_a_default_path_and_refuse_https() {
        let u = Url::parse("http://gpu-server:9464/session?from=3").unwrap();
        assert_eq!(u.host, "gpu-server");
        assert_eq!(u.port, 9464);
        assert_eq!(u.path, "/session");
        assert_eq!(Url::parse("http://10.0.0.2:9464").unwrap().path, "/session");
        assert!(Url::parse("https://x:1/session")
            .unwrap_err()
            .contains("only http://"));
        assert!(Url::parse("http://x:port/").is_err());
    }
}
