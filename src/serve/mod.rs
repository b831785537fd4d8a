//! The network side: `/metrics` (Prometheus), `/session` (the live session
//! as NDJSON), `/healthz`, `/`. The server runs on its own current-thread
//! tokio runtime on its own thread; the recorder only publishes a snapshot
//! of its fold into a slot ([`snapshot::Publisher`]) and never waits for a
//! client. [`client`] is the viewer's side of `/session`.
pub mod client;
pub mod http;
pub mod metrics;
pub mod session_stream;
pub mod snapshot;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;

use crate::session::live::{FoldObserver, Output};
use session_stream::SessionSource;
use snapshot::{Publisher, Slot};

/// `--listen` and its companions (flattened into `record` and `watch`).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// Serve /metrics (Prometheus), /session (live NDJSON), /healthz on ADDR:PORT; a bare PORT means 127.0.0.1:PORT (give 0.0.0.0:PORT to listen on every interface)
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,
    /// File holding a bearer token: without `Authorization: Bearer TOKEN` every endpoint answers 401
    #[arg(long, value_name = "FILE", requires = "listen")]
    pub listen_token_file: Option<PathBuf>,
    /// At most this many HTTP clients at once (429 beyond)
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub listen_max_clients: u32,
}

/// `9464` → 127.0.0.1:9464; `0.0.0.0:9464`, `[::1]:9464` as given.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().map_err(|_| {
        format!("`{s}` is not ADDR:PORT or PORT (e.g. 9464, 127.0.0.1:9464, 0.0.0.0:9464)")
    })
}

/// Read a token file: the first line, trimmed; an empty one is an error.
pub fn read_token(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    anyhow::ensure!(
        !token.is_empty(),
        "the token file {} is empty: put one line of secret text in it",
        path.display()
    );
    Ok(token)
}

/// What `/session` can serve for this output.
pub fn session_source(output: &Output) -> SessionSource {
    match output {
        Output::File(p) if p.extension().is_some_and(|e| e == "zst") => {
            SessionSource::Unavailable(format!(
                "the session is being written compressed ({}), which cannot be streamed while it \
                 is written: record to a .jsonl file to stream it",
                p.display()
            ))
        }
        Output::File(p) => SessionSource::File(p.clone()),
        Output::Stdout => SessionSource::Unavailable(
            "the session is recorded to standard output, so there is no file to stream: \
             record to a file (-o FILE) to stream it here"
                .into(),
        ),
        Output::Discard => SessionSource::Unavailable(
            "the session is not being recorded: record to a file (-o FILE) to stream it".into(),
        ),
    }
}

/// A running server; stopped when dropped.
pub struct Server {
    addr: SocketAddr,
    slot: Arc<Slot>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Bind now (so a busy port is reported before anything starts) and
    /// serve on a thread of its own. None without `--listen`.
    pub fn start(args: &ServeArgs, output: &Output) -> anyhow::Result<Option<Server>> {
        let Some(addr) = args.listen else {
            return Ok(None);
        };
        let token = args
            .listen_token_file
            .as_deref()
            .map(read_token)
            .transpose()?;
        let listener = TcpListener::bind(addr).with_context(|| {
            format!("cannot listen on {addr} (is another process using the port?)")
        })?;
        Self::on_listener(
            listener,
            session_source(output),
            token,
            args.listen_max_clients as usize,
        )
        .map(Some)
    }

    /// Serve on a bound listener (tests bind port 0).
    pub fn on_listener(
        listener: TcpListener,
        session: SessionSource,
        token: Option<String>,
        max_clients: usize,
    ) -> anyhow::Result<Server> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let slot = Arc::new(Slot::default());
        let shared = Arc::new(http::Shared {
            slot: slot.clone(),
            session,
            token,
            max_clients,
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the HTTP runtime")?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                rt.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => http::serve(l, shared, stop_rx).await,
                        Err(e) => tracing::error!("serve: cannot use the listener: {e}"),
                    }
                })
            })?;
        tracing::info!("serving /metrics and /session on http://{addr}/");
        Ok(Server {
            addr,
            slot,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The slot the handlers read (tests publish into it directly).
    pub fn slot(&self) -> Arc<Slot> {
        self.slot.clone()
    }

    /// The fold observer for the session recorder.
    pub fn observer(&self) -> FoldObserver {
        Publisher::new(self.slot.clone()).into_observer()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_means_loopback() {
        assert_eq!(parse_listen("9464").unwrap().to_string(), "127.0.0.1:9464");
        assert_eq!(
            parse_listen("0.0.0.0:9464").unwrap().to_string(),
            "0.0.0.0:9464"
        );
        assert!(parse_listen("localhost").is_err());
    }

    #[test]
    fn stdout_and_compressed_sessions_cannot_be_streamed_and_say_why() {
        let SessionSource::Unavailable(why) = session_source(&Output::Stdout) else {
            panic!("stdout has no file");
        };
        assert!(why.contains("record to a file"));
        let zst = Output::File("a.jsonl.zst".into());
        assert!(matches!(
            session_source(&zst),
            SessionSource::Unavailable(_)
        ));
    }
}
