//! The binary's edge: one file per subcommand, turning arguments into work and
//! errors into one clear message.
use std::process::ExitCode;

use crate::cli::{Cli, Command};

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
pub mod train;
pub mod watch;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Watch(a) => watch::run(a),
        Command::Record(a) => record::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Summary(a) => summary::run(a),
        Command::Report(a) => report::run(a),
        Command::Sources(a) => sources::run(a),
        Command::Import(a) => import::run(a),
        Command::Train(a) => train::run(a),
        Command::Replay(a) => replay::run(a),
    }
}
