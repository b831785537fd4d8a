//! `trainwatt watch`: this device live (training and power) beside another
//! device's session, replayed from a file or streamed on standard input.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::replay::TuiArgs;
use crate::app::{self, PaneFeed};
use crate::session::live::Output;
use crate::session::local::{default_session_path, LocalRun, RunArgs};
use crate::train::{ShapeArgs, TrainArgs};

/// The shipped session the remote pane replays by default.
pub const DEFAULT_RECORDING: &str = "default.jsonl";

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  trainwatt watch                                   # ResNet18 on synthetic data here, beside the shipped recording
  trainwatt watch --batch-size 32 --compare server.jsonl
  trainwatt watch -- python train.py --epochs 10    # your own training command
  ssh gpu-server trainwatt record --stdout | trainwatt watch --compare -
  trainwatt watch --compare http://gpu-server:9464/session   # the server runs: trainwatt record --listen 0.0.0.0:9464 -o s.jsonl")]
pub struct WatchArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub shape: ShapeArgs,
    #[command(flatten)]
    pub train: TrainArgs,
    /// Session shown beside the live pane; `-` reads a session streamed on standard input, http://HOST:PORT/session another machine's `--listen` [default: recordings/default.jsonl]
    #[arg(long, value_name = "FILE")]
    pub compare: Option<String>,
    /// Show the live pane alone
    #[arg(long, conflicts_with = "compare")]
    pub no_compare: bool,
    /// Where to record the live session [default: a new file under the user's data directory]
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Do not record the live session
    #[arg(long, conflicts_with = "output")]
    pub no_record: bool,
    #[command(flatten)]
    pub tui: TuiArgs,
    /// Skip (and count) malformed lines in the compared session
    #[arg(long)]
    pub lenient: bool,
    /// File holding the bearer token for `--compare http://…` (the remote's --listen-token-file)
    #[arg(long, value_name = "FILE")]
    pub compare_token_file: Option<PathBuf>,
    #[command(flatten)]
    pub serve: crate::serve::ServeArgs,
}

pub fn run(a: WatchArgs, cost: &crate::model::cost::CostFactors) -> anyhow::Result<ExitCode> {
    a.tui.init_logging();
    // Check the compared session before starting anything.
    let remote = if a.no_compare {
        None
    } else {
        Some(match a.compare.as_deref() {
            Some("-") => PaneFeed::from_stream("standard input".into(), Box::new(std::io::stdin()))?,
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                let token = a
                    .compare_token_file
                    .as_deref()
                    .map(crate::serve::read_token)
                    .transpose()?;
                PaneFeed::from_url(url, token)?
            }
            Some(p) => replay_feed(Path::new(p), a.lenient)?,
            None => match default_recording() {
                Some(p) => replay_feed(&p, a.lenient)?,
                None => anyhow::bail!(
                    "no recording to compare with: recordings/{DEFAULT_RECORDING} was not found \
                     (run from the trainwatt folder, set TRAINWATT_RECORDINGS, give --compare FILE, or use --no-compare)"
                ),
            },
        })
    };
    // Before anything is started or recorded.
    if let (Some(out), Some(cmp)) = (&a.output, a.compare.as_deref()) {
        super::paths::refuse_overwriting_input(out, [Path::new(cmp)])?;
    }
    crate::stdout::require_terminal()?;
    let output = if a.no_record {
        Output::Discard
    } else {
        Output::File(a.output.clone().unwrap_or_else(default_session_path))
    };
    let train = a.shape.apply(a.train.clone());
    let server = crate::serve::Server::start(&a.serve, &output)?;
    let observer = server.as_ref().map(|s| s.observer());
    let (local, rx) = LocalRun::start_observed(&a.run, &train, output.clone(), true, observer)?;
    let mut panes = vec![PaneFeed::Live {
        header: local.header.clone(),
        rx: rx.context("the live session did not forward its events")?,
    }];
    panes.extend(remote);
    let ui = app::run_terminal(
        panes,
        app::AppOptions {
            cost: cost.clone(),
            ..a.tui.options()
        },
    );
    // The user quit (or the terminal went away): stop training, close the file.
    local.cancel();
    let result = local.wait();
    drop(server);
    ui?;
    let result = result?;
    if let Output::File(p) = &output {
        crate::stdout::note(&format!(
            "trainwatt: live session recorded to {}",
            p.display()
        ));
    }
    if let Some(s) = &result.status {
        crate::stdout::note(&format!("trainwatt: training {}", s.label()));
    }
    // Quitting the TUI before training ended is the user's choice, not a failure.
    Ok(match result.status {
        Some(crate::model::event::RunStatus::Cancelled) => ExitCode::SUCCESS,
        s => super::record::exit_code(s.as_ref()),
    })
}

fn replay_feed(p: &Path, lenient: bool) -> anyhow::Result<PaneFeed> {
    // Open once now so a missing or foreign file is reported before the TUI starts.
    crate::record::SessionReader::open(
        p,
        crate::record::ReadOptions {
            lenient,
            ..Default::default()
        },
    )
    .with_context(|| "cannot compare with this session".to_string())?;
    Ok(PaneFeed::Replay {
        path: p.to_path_buf(),
        lenient,
    })
}

/// `recordings/default.jsonl`, looked up in `$TRAINWATT_RECORDINGS`, the
/// current directory, next to the executable's source tree.
pub fn default_recording() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Ok(d) = std::env::var("TRAINWATT_RECORDINGS") {
        dirs.push(d.into());
    }
    dirs.push(PathBuf::from("recordings"));
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings"));
    dirs.into_iter()
        .map(|d| d.join(DEFAULT_RECORDING))
        .find(|p| p.is_file())
}
