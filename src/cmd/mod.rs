//! The binary's edge: one file per subcommand, turning arguments into work and
//! errors into one clear message.
use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::model::cost::CostFactors;

pub mod completions;
pub mod config;
pub mod import;
pub mod inspect;
pub mod paths;
pub mod power_mode;
pub mod record;
pub mod replay;
pub mod report;
pub mod sources;
pub mod summary;
pub mod sweep;
pub mod sweep_plan;
pub mod train;
pub mod watch;

pub fn run(cli: Cli, config: &crate::config::Config) -> anyhow::Result<ExitCode> {
    // The config file's values are already the flags' defaults (`cli::command`).
    let cost = CostFactors::new(
        cli.cost.carbon_intensity,
        cli.cost.price,
        cli.cost.currency.clone(),
    )?;
    match cli.command {
        Command::Watch(a) => watch::run(a, &cost),
        Command::Record(a) => record::run(a),
        Command::Sweep(a) => sweep::run(a, config),
        Command::Inspect(a) => inspect::run(a),
        Command::Summary(a) => summary::run(a, &cost),
        Command::Report(a) => report::run(a, &cost),
        Command::Sources(a) => sources::run(a),
        Command::Import(a) => import::run(a),
        Command::Train(a) => train::run(a),
        Command::Replay(a) => replay::run(a, &cost),
        Command::Completions(a) => completions::run_completions(a),
        Command::Man => completions::run_man(),
        Command::Config(a) => config::run(a, config),
    }
}
