//! `trainwatt-train`: the built-in ResNet18 trainer (libtorch through tch), a
//! child process of trainwatt like any training command. It takes the flags of
//! `trainwatt train` and prints the progress protocol on stdout (see
//! `trainwatt::train::protocol`); human-readable messages go to stderr.
//!
//! Exit status: 0 completed, 1 error, 3 out of memory (the `done` line says the
//! batch size), 130 cancelled (SIGTERM or SIGINT stop the run at the next step).
//! `--probe` loads libtorch, prints its version and exits 0: how trainwatt
//! checks that this trainer can run here.
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;
use trainwatt::model::event::{RunStatus, TrainEvent};
use trainwatt::train::protocol::encode;
use trainwatt::train::{ShapeArgs, TrainArgs};

mod data;
mod loaders;
mod random;
mod resnet;
mod run_error;
mod runner;
mod training;

#[derive(Debug, Parser)]
#[command(
    name = "trainwatt-train",
    version,
    about = "The built-in ResNet18 trainer of trainwatt: the progress protocol on stdout."
)]
struct Cli {
    #[command(flatten)]
    shape: ShapeArgs,
    #[command(flatten)]
    train: TrainArgs,
    /// Load libtorch, print its version and the devices it sees, and exit
    #[arg(long)]
    probe: bool,
    /// Test hook: a batch size above N fails like an out-of-memory error
    /// (also from the environment variable TRAINWATT_INJECT_OOM_ABOVE)
    #[cfg(feature = "test-util")]
    #[arg(long, hide = true, value_name = "N")]
    inject_oom_above: Option<u32>,
}

impl Cli {
    fn hooks(&self) -> runner::Hooks {
        #[cfg(feature = "test-util")]
        {
            let from_env = std::env::var("TRAINWATT_INJECT_OOM_ABOVE")
                .ok()
                .and_then(|v| v.parse().ok());
            runner::Hooks {
                inject_oom_above: self.inject_oom_above.or(from_env),
            }
        }
        #[cfg(not(feature = "test-util"))]
        runner::Hooks::default()
    }
}

/// Exit statuses (the same as `trainwatt train`'s).
const EXIT_ERROR: u8 = 1;
const EXIT_OUT_OF_MEMORY: u8 = 3;
const EXIT_CANCELLED: u8 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.probe {
        return probe();
    }
    let cancel = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, cancel.clone()) {
            eprintln!("trainwatt-train: cannot install the signal handler: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    }
    let args = cli.shape.apply(cli.train.clone());
    let hooks = cli.hooks();
    let mut out = io::stdout().lock();
    let mut emit = |ev: TrainEvent| {
        if let TrainEvent::RunEnd {
            status,
            message: Some(m),
            ..
        } = &ev
        {
            if *status != RunStatus::Completed {
                eprintln!("trainwatt-train: {m}");
            }
        }
        // A closed stdout (the monitor died) is no reason to stop here: the
        // monitor's watchdog ends this process.
        let _ = writeln!(out, "{}", encode(&ev));
        let _ = out.flush();
    };
    let code = match runner::train(&args, &hooks, &cancel, &mut emit) {
        RunStatus::Completed => 0,
        RunStatus::Cancelled => EXIT_CANCELLED,
        RunStatus::OutOfMemory => EXIT_OUT_OF_MEMORY,
        RunStatus::Error => EXIT_ERROR,
    };
    // The `done` line is out and the weights (if asked for) are saved: a
    // cancelled run should not wait for libtorch's teardown.
    let _ = io::stderr().flush();
    trainwatt::sys::exit_immediately(code)
}

/// One line: libtorch's version and what it sees.
fn probe() -> ExitCode {
    let version = option_env!("TRAINWATT_LIBTORCH_VERSION").unwrap_or("(version unknown)");
    let cuda = tch::Cuda::device_count();
    println!(
        "libtorch {version}, {} CPU threads, {cuda} CUDA device(s)",
        tch::get_num_threads()
    );
    ExitCode::SUCCESS
}
