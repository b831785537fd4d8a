//! `trainwatt replay A.jsonl [B.jsonl]`: one or two recorded sessions in the
//! watch screen (the same code path; every pane replayed).
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::app::{self, Alignment, AppOptions, PaneFeed};

/// Options of the TUI shared by `replay` and `watch`.
#[derive(Clone, Debug, clap::Args)]
pub struct TuiArgs {
    /// Replay speed, 0.25 to 64 (`+`/`-` change it while running)
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Position the second session by elapsed time or by training progress (`a` toggles)
    #[arg(long, value_enum, default_value_t = Alignment::Time)]
    pub align: Alignment,
    /// Theme: dark, light, high-contrast, mono, or the path of a theme .toml file (`t` cycles)
    #[arg(long, default_value = "dark", value_name = "NAME|PATH")]
    pub theme: String,
    /// Log file (default: trainwatt.log in the user's state directory)
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
}

impl TuiArgs {
    pub fn options(&self) -> AppOptions {
        AppOptions {
            theme: self.theme.clone(),
            align: self.align,
            speed: self.speed,
            no_color: false,
            cost: Default::default(),
        }
    }

    /// Start logging to the chosen file before the terminal is taken over.
    pub fn init_logging(&self) {
        let path = self
            .log
            .clone()
            .unwrap_or_else(crate::logging::default_log_path);
        if let Err(e) = crate::logging::init(&path) {
            crate::stdout::note(&format!(
                "trainwatt: warning: cannot write the log file {}: {e} (going on without a log)",
                path.display()
            ));
        }
    }
}

fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number (try 1, 4 or 0.5)"))?;
    if !(crate::replay::MIN_SPEED..=crate::replay::MAX_SPEED).contains(&v) {
        return Err(format!(
            "speed {v} is out of range: use {} to {}",
            crate::replay::MIN_SPEED,
            crate::replay::MAX_SPEED
        ));
    }
    Ok(v)
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    trainwatt replay recordings/jetson-nano-bs16.jsonl\n  \
    trainwatt replay nano.jsonl server.jsonl --speed 8 --align progress --theme light\n\n\
Keys: space pause, ←/→ seek 10 s (shift: 60 s), +/- speed, a alignment, c channels, t theme, ? help, q quit.")]
pub struct ReplayArgs {
    /// One or two session files (.jsonl or .jsonl.zst), or http://HOST:PORT/session of a live `--listen`; two are shown side by side
    #[arg(required = true, num_args = 1..=2, value_name = "SESSION")]
    pub files: Vec<PathBuf>,
    /// Skip and count malformed lines instead of stopping at the first
    #[arg(long)]
    pub lenient: bool,
    #[command(flatten)]
    pub tui: TuiArgs,
}

pub fn run(a: ReplayArgs, cost: &crate::model::cost::CostFactors) -> anyhow::Result<ExitCode> {
    a.tui.init_logging();
    let panes = a
        .files
        .iter()
        .map(|f| match f.to_str().filter(|s| s.starts_with("http://")) {
            // Another machine's `--listen`: its live session, as `watch --compare URL` shows it.
            Some(url) => PaneFeed::from_url(url, None).context("replay"),
            None => Ok(PaneFeed::Replay {
                path: f.clone(),
                lenient: a.lenient,
            }),
        })
        .collect::<anyhow::Result<_>>()?;
    let opts = app::AppOptions {
        cost: cost.clone(),
        ..a.tui.options()
    };
    app::run_terminal(panes, opts).context("replay")?;
    Ok(ExitCode::SUCCESS)
}
