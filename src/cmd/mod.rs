//! The binary's edge: one file per subcommand, turning arguments into work and
//! errors into one clear message.
use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod inspect;
pub mod replay;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Inspect(a) => inspect::run(a),
        Command::Replay(a) => replay::run(a),
    }
}
