//! Command line: subcommands and their flags (clap derive). Each subcommand's
//! arguments live beside its implementation in `cmd/`.
use clap::{Parser, Subcommand};

use crate::cmd;

#[derive(Debug, Parser)]
#[command(
    name = "trainwatt",
    version,
    about = "Is it worth training here, slowly, or on the GPU server, fast? Time and joules of neural-network training, live and recorded.",
    long_about = None,
    after_help = "Run `trainwatt <COMMAND> --help` for the options and an example of each command."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a session file holds: header, channels, samples, duration, energy per channel, gaps.
    Inspect(cmd::inspect::InspectArgs),
    /// Replay one or two recorded sessions in the watch screen (power, progress, joules, comparison).
    Replay(cmd::replay::ReplayArgs),
}
