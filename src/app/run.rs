//! The event loop. Every producer (the terminal reader, each live feed, the
//! signal handler) sends [`Msg`]s into one channel; the loop blocks on it
//! until a message arrives or the next deadline (a frame to draw, the replay
//! to advance, the status clock's next second). It never polls: with nothing
//! to replay and nothing arriving it sleeps until a key.
//!
//! Generic over ratatui's `Backend`: the real terminal (crossterm) in
//! production, `TestBackend` in tests and benchmarks, with the input (the
//! channel, or a script on a simulated clock) and the clock injected.
use std::io;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{self, Event as TermEvent};
use ratatui::Terminal;

use super::keymap::action_for;
use super::msg::{Action, Effect, Msg};
use super::state::{update, PaneView, State};
use super::{AppOptions, PaneFeed};
use crate::model::event::Event;
use crate::replay::{ReplayEngine, ReplayOut};
use crate::ui::{self, Theme};

enum Feed {
    /// Events arrive as messages on the loop's channel.
    Pushed,
    Replay(Box<ReplayEngine>),
    Done,
}

/// The state, the themes and the feeds: everything the loop runs.
pub struct App {
    pub state: State,
    pub themes: Vec<Theme>,
    feeds: Vec<Feed>,
}

fn stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "session".into());
    name.trim_end_matches(".zst")
        .trim_end_matches(".jsonl")
        .to_string()
}

impl App {
    /// Open every feed (replay files are indexed here, before the terminal
    /// is taken over, so errors print normally) and load the themes. Live
    /// feeds get a forwarding thread that sends their events into `tx`, the
    /// loop's channel.
    pub fn new(
        panes: Vec<PaneFeed>,
        opts: &AppOptions,
        now_s: f64,
        tx: &Sender<Msg>,
    ) -> anyhow::Result<App> {
        let no_color = opts.no_color || Theme::no_color_requested();
        let themes = Theme::cycle(&opts.theme, no_color)?;
        let mut views = Vec::new();
        let mut feeds = Vec::new();
        for (k, p) in panes.into_iter().enumerate() {
            match p {
                PaneFeed::Live { header, rx } => {
                    views.push(PaneView::live(live_name(k, &header), header));
                    forward(k, rx, tx.clone())?;
                    feeds.push(Feed::Pushed);
                }
                PaneFeed::Pushed { header } => {
                    views.push(PaneView::live(live_name(k, &header), header));
                    feeds.push(Feed::Pushed);
                }
                PaneFeed::Replay { path, lenient } => {
                    let engine = ReplayEngine::open(&path, lenient)?;
                    let h = engine.header().clone();
                    let name = h.label.clone().unwrap_or_else(|| stem(&path));
                    views.push(PaneView::replay(name, h, engine.index()));
                    feeds.push(Feed::Replay(Box::new(engine)));
                }
            }
        }
        anyhow::ensure!(!views.is_empty(), "nothing to show: no session given");
        let mut state = State::new(views, opts.align, opts.speed, themes.len(), now_s);
        state.cost = opts.cost.clone();
        Ok(App {
            state,
            themes,
            feeds,
        })
    }

    /// An app over a prepared state with no feeds (tests drive it with messages).
    pub fn from_state(state: State, themes: Vec<Theme>) -> App {
        let feeds = state.panes.iter().map(|_| Feed::Done).collect();
        App {
            state,
            themes,
            feeds,
        }
    }

    pub fn theme(&self) -> &Theme {
        &self.themes[self.state.theme_index % self.themes.len()]
    }

    /// Apply one message; true when the screen changed.
    pub fn handle(&mut self, msg: Msg) -> bool {
        update(&mut self.state, msg).contains(&Effect::Render)
    }

    /// Replayed panes that can still move: when the clock runs, the loop
    /// wakes for them.
    fn replay_active(&self) -> bool {
        !self.state.clock.paused()
            && !self.state.clock.at_end(self.state.now_s)
            && self.feeds.iter().any(|f| matches!(f, Feed::Replay(_)))
    }

    /// Advance every replayed pane to its target time now. True when
    /// anything arrived.
    pub fn pump(&mut self) -> bool {
        let mut changed = false;
        for k in 0..self.feeds.len() {
            let Feed::Replay(engine) = &mut self.feeds[k] else {
                continue;
            };
            let target = self.state.replay_target(k);
            let state = &mut self.state;
            let r = engine.advance_to(target, &mut |out| {
                let msg = match out {
                    ReplayOut::Reset => Msg::Reset { pane: k },
                    ReplayOut::Event(event) => Msg::Event { pane: k, event },
                };
                update(state, msg);
                changed = true;
            });
            if let Err(e) = r {
                tracing::error!("replay of pane {k}: {e}");
                self.feeds[k] = Feed::Done;
                self.handle(Msg::FeedError {
                    pane: k,
                    message: e.to_string(),
                });
                changed = true;
            }
        }
        changed
    }
}

fn live_name(k: usize, header: &crate::model::header::Header) -> String {
    if k == 0 {
        "local".to_string()
    } else {
        header.label.clone().unwrap_or_else(|| header.host.clone())
    }
}

/// A thread that turns pane `k`'s events into messages on the loop's
/// channel, and says when the feed closed.
fn forward(k: usize, rx: Receiver<Event>, tx: Sender<Msg>) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name(format!("feed-{k}"))
        .spawn(move || {
            for event in rx {
                if tx.send(Msg::Event { pane: k, event }).is_err() {
                    return;
                }
            }
            let _ = tx.send(Msg::FeedClosed { pane: k });
        })
        .context("cannot start a feed thread")?;
    Ok(())
}

/// Where the loop's messages come from.
pub trait Input {
    /// Wait up to `timeout` (for ever when None) for the next message.
    /// `Ok(None)`: the time ran out.
    fn next(&mut self, timeout: Option<Duration>) -> io::Result<Option<Msg>>;
}

/// The loop's channel: every producer sends here.
pub struct ChannelInput {
    rx: Receiver<Msg>,
}

impl ChannelInput {
    pub fn new(rx: Receiver<Msg>) -> Self {
        ChannelInput { rx }
    }
}

impl Input for ChannelInput {
    fn next(&mut self, timeout: Option<Duration>) -> io::Result<Option<Msg>> {
        match timeout {
            None => Ok(Some(self.rx.recv().unwrap_or(Msg::Key(Action::Quit)))),
            Some(t) => match self.rx.recv_timeout(t) {
                Ok(m) => Ok(Some(m)),
                Err(RecvTimeoutError::Timeout) => Ok(None),
                // Every producer gone (no terminal, no feeds): nothing can
                // happen any more.
                Err(RecvTimeoutError::Disconnected) => Ok(Some(Msg::Key(Action::Quit))),
            },
        }
    }
}

/// Reads the terminal on its own thread and sends keys and resizes.
///
/// crossterm 0.29 reads the terminal in a loop that never ends once the
/// terminal has hung up (every read returns 0 bytes: 100% CPU). So the
/// terminal is polled here first, together with a pipe that SIGWINCH writes
/// to, and a hang-up ends the app instead.
pub fn spawn_terminal_reader(tx: Sender<Msg>) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    use std::os::fd::AsRawFd;
    let tty = if io::stdin().is_terminal() {
        None
    } else {
        Some(std::fs::File::open("/dev/tty").context("cannot open the terminal")?)
    };
    let (wake_r, wake_w) = std::os::unix::net::UnixStream::pair().context("resize pipe")?;
    wake_r.set_nonblocking(true).context("resize pipe")?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGWINCH, wake_w)
        .context("resize signal")?;
    std::thread::Builder::new()
        .name("terminal-input".into())
        .spawn(move || {
            let fd = tty.as_ref().map_or(libc::STDIN_FILENO, |f| f.as_raw_fd());
            loop {
                let msgs = match read_terminal(fd, &wake_r) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::info!("terminal input ended: {e}");
                        vec![Msg::Key(Action::Quit)]
                    }
                };
                for msg in msgs {
                    let quit = msg == Msg::Key(Action::Quit);
                    if tx.send(msg).is_err() || quit {
                        return;
                    }
                }
            }
        })
        .context("cannot start the terminal reader")?;
    Ok(())
}

/// Block until the terminal has input or the window was resized; return
/// every event crossterm has then (one read may bring several keys).
fn read_terminal(fd: i32, wake: &std::os::unix::net::UnixStream) -> io::Result<Vec<Msg>> {
    use std::io::Read as _;
    use std::os::fd::AsRawFd;
    let [tty, resized] = crate::sys::calls::poll_readable([fd, wake.as_raw_fd()])?;
    if tty.closed {
        return Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the terminal hung up",
        ));
    }
    let mut out = Vec::new();
    if resized.readable {
        let mut buf = [0u8; 64];
        while matches!((&*wake).read(&mut buf), Ok(n) if n > 0) {}
        let (width, height) = ratatui::crossterm::terminal::size()?;
        out.push(Msg::Resize { width, height });
    }
    if tty.readable {
        while event::poll(Duration::ZERO)? {
            match event::read()? {
                TermEvent::Key(k) => out.extend(action_for(&k).map(Msg::Key)),
                TermEvent::Resize(width, height) => out.push(Msg::Resize { width, height }),
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Scripted input for tests and benchmarks, on a simulated clock: waiting
/// advances the clock, and each message is delivered when the clock reaches
/// its time. When the script is done it sends `Quit`.
pub struct ScriptedInput {
    script: std::collections::VecDeque<(f64, Msg)>,
    pub now_s: Arc<Mutex<f64>>,
}

impl ScriptedInput {
    /// `script`: (time in seconds, message), in time order.
    pub fn new(script: Vec<(f64, Msg)>) -> Self {
        ScriptedInput {
            script: script.into(),
            now_s: Arc::new(Mutex::new(0.0)),
        }
    }

    /// The simulated clock, to hand to `run_loop` as `now`.
    pub fn clock(&self) -> impl FnMut() -> f64 {
        let c = self.now_s.clone();
        move || *c.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Input for ScriptedInput {
    fn next(&mut self, timeout: Option<Duration>) -> io::Result<Option<Msg>> {
        let mut now = self.now_s.lock().unwrap_or_else(|e| e.into_inner());
        let until = timeout.map_or(f64::INFINITY, |t| *now + t.as_secs_f64());
        match self.script.front() {
            Some((t, _)) if *t <= until => {
                *now = now.max(*t);
                Ok(self.script.pop_front().map(|(_, m)| m))
            }
            Some(_) => {
                *now = until;
                Ok(None)
            }
            None => Ok(Some(Msg::Key(Action::Quit))),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct LoopConfig {
    /// Shortest time between two frames after a key (30 fps).
    pub frame_interval: Duration,
    /// Shortest time between two frames drawn because data arrived (once a
    /// second, as top, nvtop and tegrastats refresh): power is sampled at
    /// 10 Hz, but nobody reads figures faster, the clock shows seconds, and
    /// each frame (about 1 ms at 200×50) costs CPU on the machine being
    /// measured. A key is answered at once.
    pub data_frame_interval: Duration,
    /// How often replayed panes are advanced while the replay clock runs.
    pub replay_interval: Duration,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            frame_interval: Duration::from_millis(33),
            data_frame_interval: Duration::from_millis(1000),
            replay_interval: Duration::from_millis(1000),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    pub frames: u64,
    pub iterations: u64,
}

/// The event loop, on any backend, with injected input and clock. Returns
/// when the user quits (or a signal sends Quit).
pub fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    input: &mut dyn Input,
    now: &mut dyn FnMut() -> f64,
    cfg: LoopConfig,
) -> anyhow::Result<LoopStats>
where
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let mut stats = LoopStats::default();
    let size = terminal.size().context("terminal size")?;
    app.handle(Msg::Resize {
        width: size.width,
        height: size.height,
    });
    let key_frame = cfg.frame_interval.as_secs_f64();
    let data_frame = cfg.data_frame_interval.as_secs_f64();
    let replay_every = cfg.replay_interval.as_secs_f64();
    // What is waiting to be drawn: nothing, data, or a key's answer.
    let mut dirty: Option<f64> = Some(0.0);
    let mut last_draw = f64::NEG_INFINITY;
    let mut last_pump = f64::NEG_INFINITY;
    let mut live_since_pump = false; // or a key since the last pump
    loop {
        stats.iterations += 1;
        let t = now();
        if app.handle(Msg::Tick { now_s: t }) {
            dirty = Some(dirty.map_or(data_frame, |d| d.min(data_frame)));
        }
        // Replayed panes move with the clock, and (aligned by progress)
        // with the live pane's events.
        let pump_due = app.replay_active() || live_since_pump;
        if pump_due && t - last_pump >= replay_every * 0.999 {
            if app.pump() {
                dirty = Some(dirty.map_or(data_frame, |d| d.min(data_frame)));
            }
            last_pump = t;
            live_since_pump = false;
        }
        if app.state.quit {
            break;
        }
        if let Some(gap) = dirty {
            if t - last_draw >= gap * 0.999 {
                terminal.draw(|f| ui::render(f, &app.state, app.theme()))?;
                stats.frames += 1;
                dirty = None;
                last_draw = t;
            }
        }
        let mut deadline = f64::INFINITY;
        if let Some(gap) = dirty {
            deadline = deadline.min(last_draw + gap);
        }
        if app.replay_active() {
            // The status clock's next second, but no sooner than the next
            // data frame (at 64× a second passes 64 times a second).
            let tick = app.state.next_clock_second(t).max(last_draw + data_frame);
            deadline = deadline.min(tick);
        }
        if app.replay_active() || live_since_pump {
            deadline = deadline.min(last_pump + replay_every);
        }
        let wait = deadline
            .is_finite()
            .then(|| Duration::from_secs_f64((deadline - t).max(0.0)));
        let Some(msg) = input.next(wait)? else {
            continue;
        };
        let is_key = matches!(msg, Msg::Key(_) | Msg::Resize { .. });
        // Replayed panes follow keys (seek, speed) and, aligned by progress,
        // the live pane's events: pump at the next turn.
        live_since_pump |= matches!(msg, Msg::Event { .. });
        if is_key {
            // Answer keys at once: replayed panes catch up with the new clock.
            app.handle(Msg::Tick { now_s: now() });
            last_pump = f64::NEG_INFINITY;
            live_since_pump = true;
        }
        let changed = app.handle(msg);
        if app.state.quit {
            break;
        }
        if changed {
            let gap = if is_key { key_frame } else { data_frame };
            dirty = Some(dirty.map_or(gap, |d| d.min(gap)));
        }
    }
    Ok(stats)
}

/// Leave raw mode and the alternate screen, show the cursor. Safe to call
/// more than once.
pub fn restore_terminal() {
    use ratatui::crossterm::{cursor, execute, terminal};
    let _ = terminal::disable_raw_mode();
    let _ = execute!(io::stdout(), terminal::LeaveAlternateScreen, cursor::Show);
}

struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

type PanicHook = dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync + 'static;

/// Runs the TUI on the real terminal until the user quits. Returns when the
/// user quits (the caller then cancels training and finalises the recording).
/// The terminal is restored on quit, on error, on panic (the panic hook
/// restores it before the message is printed) and on SIGTERM/SIGHUP.
pub fn run_terminal(panes: Vec<PaneFeed>, opts: AppOptions) -> anyhow::Result<()> {
    use ratatui::backend::CrosstermBackend;
    use ratatui::crossterm::{cursor, execute, terminal};

    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    let mut app = App::new(panes, &opts, 0.0, &tx)?;
    crate::stdout::require_terminal()?;
    quit_on_signals(tx.clone())?;
    let prev: Arc<PanicHook> = Arc::from(std::panic::take_hook());
    {
        let prev = prev.clone();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            prev(info);
        }));
    }

    let result = (|| -> anyhow::Result<()> {
        terminal::enable_raw_mode()
            .context("cannot switch the terminal to raw mode (is standard output a terminal?)")?;
        let _guard = TerminalGuard;
        execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)?;
        let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        terminal.clear()?;
        spawn_terminal_reader(tx)?;
        let mut now = move || start.elapsed().as_secs_f64();
        let stats = run_loop(
            &mut terminal,
            &mut app,
            &mut ChannelInput::new(rx),
            &mut now,
            LoopConfig::default(),
        )?;
        tracing::info!(
            frames = stats.frames,
            iterations = stats.iterations,
            "TUI closed"
        );
        Ok(())
    })();

    restore_terminal();
    std::panic::set_hook(Box::new(move |info| prev(info)));
    result
}

/// SIGTERM and SIGHUP quit the app like `q` (the caller then finalises the
/// recording): a message on the loop's channel, from a signal thread.
fn quit_on_signals(tx: Sender<Msg>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGTERM, SIGHUP]).context("signal handler")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                let _ = tx.send(Msg::Key(Action::Quit));
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}
