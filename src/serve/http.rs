//! The HTTP/1.1 side (hyper on a current-thread tokio runtime): accept,
//! limit, authorise, route. Nothing here writes anything but responses.
//!
//! Limits: at most `max_clients` connections at once (429 beyond), request
//! heads up to [`MAX_HEAD_BYTES`] (431 beyond), no request bodies (413),
//! GET and HEAD only (405), a bearer token when configured (401).
use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use super::metrics::{self, Format, SelfCost};
use super::session_stream::{self, SessionSource};
use super::snapshot::Slot;

pub const MAX_HEAD_BYTES: usize = 8 * 1024;
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections refused with 429 being answered at once; more are closed.
const MAX_REFUSING: usize = 64;

/// What the handlers share.
pub struct Shared {
    pub slot: Arc<Slot>,
    pub session: SessionSource,
    pub token: Option<String>,
    pub max_clients: usize,
}

type Body = BoxBody<Bytes, io::Error>;

pub const INDEX: &str = "trainwatt: energy of training, live\n\
\n\
GET /metrics   Prometheus text format 0.0.4 (OpenMetrics 1.0 when Accept asks for application/openmetrics-text)\n\
GET /session   the session being recorded as NDJSON, header first, then lines as they are written;\n\
               ?from=N starts at line N (0-based, the header is line 0) to resume without duplicates\n\
GET /healthz   200 ok while samples arrive, 503 with the reason otherwise\n\
GET /          this index\n";

/// Accept until `stop` changes.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let clients = Arc::new(Semaphore::new(shared.max_clients));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("serve: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => {
                // Let streams that reached the closing line send it (they
                // notice within TAIL_EVERY); idle keep-alive connections
                // are cut after a second.
                let all = u32::try_from(shared.max_clients).unwrap_or(u32::MAX);
                let _ = tokio::time::timeout(Duration::from_secs(1), clients.acquire_many(all)).await;
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        match clients.clone().try_acquire_owned() {
            Ok(permit) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    connection(stream, shared).await;
                    drop(permit);
                });
            }
            Err(_) => {
                if let Ok(p) = refusing.clone().try_acquire_owned() {
                    tokio::spawn(async move {
                        refuse_busy(stream).await;
                        drop(p);
                    });
                }
            }
        }
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(req, &shared)) }
    });
    let r = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES.max(8192) * 2)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = r {
        tracing::debug!("serve: connection ended: {e}");
    }
}

/// Over the client limit: read what the client sent (briefly), say 429, close.
async fn refuse_busy(mut stream: TcpStream) {
    let mut buf = vec![0u8; MAX_HEAD_BYTES];
    let mut got = 0;
    let deadline = tokio::time::sleep(Duration::from_secs(1));
    tokio::pin!(deadline);
    while got < buf.len() && !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
        tokio::select! {
            r = stream.read(&mut buf[got..]) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            },
            _ = &mut deadline => break,
        }
    }
    let body = "too many clients: try again later\n";
    let resp = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain; charset=utf-8\r\n\
         retry-after: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(resp.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(msg.into()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Equal without an early exit on the first differing byte.
fn same_token(given: &[u8], want: &[u8]) -> bool {
    given.len() == want.len() && given.iter().zip(want).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
}

fn head_bytes(req: &Request<Incoming>) -> usize {
    let uri = req.uri().to_string().len();
    req.headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + uri
        + 16
}

/// The checks every request goes through, then the route.
pub fn handle(req: Request<Incoming>, shared: &Shared) -> Response<Body> {
    if head_bytes(&req) > MAX_HEAD_BYTES {
        return text(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("request head over {MAX_HEAD_BYTES} bytes\n"),
        );
    }
    if let Some(want) = &shared.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
        if !given.is_some_and(|g| same_token(g, want.as_bytes())) {
            let mut r = text(
                StatusCode::UNAUTHORIZED,
                "a bearer token is required (Authorization: Bearer TOKEN)\n",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD: this server changes nothing\n",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if has_body {
        let mut r = text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request bodies are not accepted\n",
        );
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    let head = req.method() == Method::HEAD;
    match req.uri().path() {
        "/" => text(StatusCode::OK, INDEX),
        "/metrics" => metrics_response(&req, shared),
        "/healthz" => healthz(shared, Instant::now()),
        "/session" => session(req.uri().query(), shared, head),
        p => text(
            StatusCode::NOT_FOUND,
            format!("no such endpoint: {p} (GET / lists them)\n"),
        ),
    }
}

fn metrics_response(req: &Request<Incoming>, shared: &Shared) -> Response<Body> {
    let Some(p) = shared.slot.get() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the session has not started yet\n",
        );
    };
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let format = Format::from_accept(accept);
    let body = metrics::render(&p.snapshot, SelfCost::read(), format);
    let mut r = text(StatusCode::OK, body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    r
}

/// Stale when the latest sample is older than five intervals (two seconds at least).
fn healthz(shared: &Shared, now: Instant) -> Response<Body> {
    let Some(p) = shared.slot.get() else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "starting: no event yet\n");
    };
    if p.snapshot.ended {
        return text(StatusCode::SERVICE_UNAVAILABLE, "the session has ended\n");
    }
    let limit = Duration::from_secs_f64((p.snapshot.interval_ms * 5.0 / 1e3).max(2.0));
    match p.last_sample_at {
        None => text(StatusCode::SERVICE_UNAVAILABLE, "no sample yet\n"),
        Some(t) if now.saturating_duration_since(t) > limit => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "no sample for {:.1} s (more than {:.1} s)\n",
                now.saturating_duration_since(t).as_secs_f64(),
                limit.as_secs_f64()
            ),
        ),
        Some(_) => text(StatusCode::OK, "ok\n"),
    }
}

fn session(query: Option<&str>, shared: &Shared, head: bool) -> Response<Body> {
    let path = match &shared.session {
        SessionSource::File(p) => p.clone(),
        SessionSource::Unavailable(why) => return text(StatusCode::NOT_FOUND, format!("{why}\n")),
    };
    let from = match session_stream::parse_from(query) {
        Ok(n) => n,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let mut r = if head {
        text(StatusCode::OK, "")
    } else {
        match session_stream::start(path.clone(), from, shared.slot.clone()) {
            Ok(body) => Response::new(body.boxed()),
            Err(e) => {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("cannot read {}: {e}\n", path.display()),
                )
            }
        }
    };
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token(b"abc", b"abc"));
        assert!(!same_token(b"abd", b"abc"));
        assert!(!same_token(b"ab", b"abc"));
    }
}
