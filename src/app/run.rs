//! The event loop. Generic over ratatui's `Backend`: the real terminal
//! (crossterm) in production, `TestBackend` in tests and benchmarks, with
//! input and time injected. Draws only when something changed, at most once
//! per frame interval; feeds are pumped every `pump_interval`.
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{self, Event as TermEvent};
use ratatui::Terminal;

use super::keymap::action_for;
use super::msg::{Effect, Msg};
use super::state::{update, PaneView, State};
use super::{AppOptions, PaneFeed};
use crate::model::event::Event;
use crate::replay::{ReplayEngine, ReplayOut};
use crate::ui::{self, Theme};

/// Most events taken from one live feed per pump (a session piped in from a
/// file arrives all at once; the screen keeps answering keys meanwhile).
pub const MAX_LIVE_EVENTS_PER_PUMP: usize = 50_000;

enum Feed {
    Live(mpsc::Receiver<Event>),
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
    /// is taken over, so errors print normally) and load the themes.
    pub fn new(panes: Vec<PaneFeed>, opts: &AppOptions, now_s: f64) -> anyhow::Result<App> {
        let no_color = opts.no_color || Theme::no_color_requested();
        let themes = Theme::cycle(&opts.theme, no_color)?;
        let mut views = Vec::new();
        let mut feeds = Vec::new();
        for (k, p) in panes.into_iter().enumerate() {
            match p {
                PaneFeed::Live { header, rx } => {
                    let name = if k == 0 {
                        "local".to_string()
                    } else {
                        header.label.clone().unwrap_or_else(|| header.host.clone())
                    };
                    views.push(PaneView::live(name, header));
                    feeds.push(Feed::Live(rx));
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
        let state = State::new(views, opts.align, opts.speed, themes.len(), now_s);
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

    /// Take what the feeds have: live events waiting in their channels and
    /// replayed events up to each replay pane's target time. True when
    /// anything arrived.
    pub fn pump(&mut self) -> bool {
        let mut changed = false;
        for k in 0..self.feeds.len() {
            let mut close: Option<Msg> = None;
            match &mut self.feeds[k] {
                Feed::Live(rx) => {
                    for _ in 0..MAX_LIVE_EVENTS_PER_PUMP {
                        match rx.try_recv() {
                            Ok(event) => {
                                update(&mut self.state, Msg::Event { pane: k, event });
                                changed = true;
                            }
                            Err(mpsc::TryRecvError::Empty) => break,
                            Err(mpsc::TryRecvError::Disconnected) => {
                                close = Some(Msg::FeedClosed { pane: k });
                                break;
                            }
                        }
                    }
                }
                Feed::Replay(engine) => {
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
                        close = Some(Msg::FeedError {
                            pane: k,
                            message: e.to_string(),
                        });
                    }
                }
                Feed::Done => {}
            }
            if let Some(m) = close {
                self.feeds[k] = Feed::Done;
                self.handle(m);
                changed = true;
            }
        }
        changed
    }
}

/// Where the loop's messages from the outside (keys, resizes) come from.
pub trait Input {
    /// Wait up to `timeout` for the next message.
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Msg>>;
}

/// Keys and resizes from the real terminal.
///
/// crossterm 0.29 reads the terminal in a loop that never ends once the
/// terminal has hung up (every read returns 0 bytes: 100% CPU, and the loop
/// never returns to see SIGHUP). So the terminal is polled here first, and a
/// hang-up ends the loop with an error instead.
pub struct TerminalInput {
    /// The file descriptor crossterm reads: standard input when it is a
    /// terminal, else `/dev/tty` (kept open here).
    fd: i32,
    _tty: Option<std::fs::File>,
}

impl TerminalInput {
    pub fn new() -> Self {
        if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return TerminalInput {
                fd: libc::STDIN_FILENO,
                _tty: None,
            };
        }
        match std::fs::File::open("/dev/tty") {
            Ok(f) => {
                use std::os::fd::AsRawFd;
                TerminalInput {
                    fd: f.as_raw_fd(),
                    _tty: Some(f),
                }
            }
            Err(_) => TerminalInput { fd: -1, _tty: None },
        }
    }

    /// Wait up to `timeout` for input; `Err` when the terminal hung up.
    fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        if self.fd < 0 {
            return event::poll(timeout);
        }
        let mut p = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd, for the duration of the call.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            };
        }
        if p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the terminal hung up",
            ));
        }
        Ok(n > 0)
    }
}

impl Default for TerminalInput {
    fn default() -> Self {
        Self::new()
    }
}

impl Input for TerminalInput {
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Msg>> {
        // Never let crossterm near a hung-up terminal: check first. Resizes
        // arrive as a signal inside crossterm, not as terminal input, so ask
        // it without waiting, then wait on the terminal ourselves (a resize
        // during the wait is seen at the next call, within the pump interval).
        self.wait_readable(Duration::ZERO)?;
        if !event::poll(Duration::ZERO)?
            && (!self.wait_readable(timeout)? || !event::poll(Duration::ZERO)?)
        {
            return Ok(None);
        }
        Ok(match event::read()? {
            TermEvent::Key(k) => action_for(&k).map(Msg::Key),
            TermEvent::Resize(width, height) => Some(Msg::Resize { width, height }),
            _ => None,
        })
    }
}

/// Scripted input for tests and benchmarks, on a simulated clock: waiting
/// advances the clock, and each message is delivered when the clock reaches
/// its time. When the script is done it sends `Quit`.
pub struct ScriptedInput {
    script: std::collections::VecDeque<(f64, Msg)>,
    pub now_s: Arc<std::sync::Mutex<f64>>,
}

impl ScriptedInput {
    /// `script`: (time in seconds, message), in time order.
    pub fn new(script: Vec<(f64, Msg)>) -> Self {
        ScriptedInput {
            script: script.into(),
            now_s: Arc::new(std::sync::Mutex::new(0.0)),
        }
    }

    /// The simulated clock, to hand to `run_loop` as `now`.
    pub fn clock(&self) -> impl FnMut() -> f64 {
        let c = self.now_s.clone();
        move || *c.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Input for ScriptedInput {
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Msg>> {
        let mut now = self.now_s.lock().unwrap_or_else(|e| e.into_inner());
        let until = *now + timeout.as_secs_f64();
        match self.script.front() {
            Some((t, _)) if *t <= until => {
                *now = now.max(*t);
                Ok(self.script.pop_front().map(|(_, m)| m))
            }
            Some(_) => {
                *now = until;
                Ok(None)
            }
            None => Ok(Some(Msg::Key(super::msg::Action::Quit))),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct LoopConfig {
    /// Shortest time between two frames (30 fps).
    pub frame_interval: Duration,
    /// How often feeds are pumped when nothing else happens: data-driven
    /// frames come at most this often (5 per second), keys are answered at once.
    pub pump_interval: Duration,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            frame_interval: Duration::from_millis(33),
            pump_interval: Duration::from_millis(200),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    pub frames: u64,
    pub iterations: u64,
}

/// The event loop, on any backend, with injected input, clock and stop flag.
/// Returns when the user quits or `stop` is set (SIGTERM).
pub fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    input: &mut dyn Input,
    now: &mut dyn FnMut() -> f64,
    stop: &AtomicBool,
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
    let frame_s = cfg.frame_interval.as_secs_f64();
    let mut dirty = true;
    let mut last_draw = f64::NEG_INFINITY;
    let mut last_pump = f64::NEG_INFINITY;
    loop {
        stats.iterations += 1;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let t = now();
        dirty |= app.handle(Msg::Tick { now_s: t });
        if t - last_pump >= cfg.pump_interval.as_secs_f64() * 0.999 {
            dirty |= app.pump();
            last_pump = t;
        }
        if app.state.quit {
            break;
        }
        if dirty && t - last_draw >= frame_s * 0.999 {
            terminal.draw(|f| ui::render(f, &app.state, app.theme()))?;
            stats.frames += 1;
            dirty = false;
            last_draw = t;
        }
        let until_pump = (last_pump + cfg.pump_interval.as_secs_f64() - t).max(0.0);
        let wait = if dirty {
            (last_draw + frame_s - t).clamp(0.0, until_pump)
        } else {
            until_pump
        };
        if let Some(msg) = input.next(Duration::from_secs_f64(wait))? {
            if matches!(msg, Msg::Key(_)) {
                // Answer keys at once: the feeds catch up with the new clock.
                last_pump = f64::NEG_INFINITY;
            }
            let t = now();
            app.handle(Msg::Tick { now_s: t });
            dirty |= app.handle(msg);
            if app.state.quit {
                break;
            }
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
    let mut app = App::new(panes, &opts, 0.0)?;
    crate::stdout::require_terminal()?;

    let stop = Arc::new(AtomicBool::new(false));
    let mut sig_ids = Vec::new();
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        sig_ids.push(signal_hook::flag::register(sig, stop.clone()).context("signal handler")?);
    }
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
        let mut now = move || start.elapsed().as_secs_f64();
        let stats = run_loop(
            &mut terminal,
            &mut app,
            &mut TerminalInput::new(),
            &mut now,
            &stop,
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
    for id in sig_ids {
        signal_hook::low_level::unregister(id);
    }
    std::panic::set_hook(Box::new(move |info| prev(info)));
    result
}
