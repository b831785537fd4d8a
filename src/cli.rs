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
    #[command(flatten)]
    pub cost: CostArgs,
    /// Defaults file [default: $XDG_CONFIG_HOME/trainwatt/config.toml, or $TRAINWATT_CONFIG]; flags on the command line win
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
}

/// Carbon and cost factors: your own figures, never looked up.
#[derive(Debug, Clone, clap::Args)]
pub struct CostArgs {
    /// Grid carbon intensity in grams of CO2e per kWh (your figure, e.g. 400): energy is also shown as CO2e
    #[arg(long, global = true, value_name = "G_PER_KWH")]
    pub carbon_intensity: Option<f64>,
    /// Electricity price per kWh (your figure, e.g. 0.25): energy is also shown as money
    #[arg(long, global = true, value_name = "PRICE_PER_KWH")]
    pub price: Option<f64>,
    /// Label of the price's currency, e.g. EUR [default: "currency units"]
    #[arg(long, global = true, value_name = "LABEL")]
    pub currency: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch training here, live, beside another device's session: power, progress, joules, ratios.
    Watch(cmd::watch::WatchArgs),
    /// Record a session headless (servers, CI): power and training to a session file, progress on stderr.
    Record(cmd::record::RecordArgs),
    /// Train ResNet18 here, headless: per-epoch loss, accuracy and images/s (the built-in trainer, as a child).
    Train(cmd::train::TrainCmdArgs),
    /// Replay one or two recorded sessions in the watch screen (power, progress, joules, comparison).
    Replay(cmd::replay::ReplayArgs),
    /// Run the study here: every batch size × epochs configuration, repeated, one session file per run.
    Sweep(cmd::sweep::SweepArgs),
    /// Summarise sessions: energy, time, images, J per image, static/dynamic split, ratios against the first.
    Summary(cmd::summary::SummaryArgs),
    /// Report a sweep: mean and 95% CI per configuration, tables by batch size and epochs, devices side by side, SVG plots.
    Report(cmd::report::ReportArgs),
    /// Show what a session file holds: header, channels, samples, duration, energy per channel, gaps.
    Inspect(cmd::inspect::InspectArgs),
    /// List the power sources on this machine: channels and scope of each, or why it is not available.
    Sources(cmd::sources::SourcesArgs),
    /// Turn a tegrastats or nvidia-smi log into a session file.
    Import(cmd::import::ImportArgs),
    /// Print a shell completion script: `trainwatt completions bash > ~/.local/share/bash-completion/completions/trainwatt`.
    Completions(cmd::completions::CompletionsArgs),
    /// Print the manual page (roff) to standard output: `trainwatt man | man -l -`.
    Man,
    /// Show the defaults file in effect and what it sets, or print an example of one.
    Config(cmd::config::ConfigArgs),
}

/// The command line as clap reads it, with the config file's values as the
/// flags' defaults (so a flag given wins, and `--help` shows the default in effect).
pub fn command(
    config: &crate::config::Config,
) -> Result<clap::Command, crate::config::ConfigError> {
    crate::config::apply(config, <Cli as clap::CommandFactory>::command())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_config_key_is_a_flag_of_each_command_it_names() {
        let text: String = crate::config::KEYS
            .iter()
            .map(|k| {
                let v = match k.name {
                    "theme" => "\"dark\"",
                    "align" => "\"progress\"",
                    "trainer" => "\"python\"",
                    "idle_calibration" => "\"30s\"",
                    "listen" => "\"127.0.0.1:9464\"",
                    "source" => "\"estimate\"",
                    "label" | "python" | "compare" | "listen_token_file" | "currency" => "\"x\"",
                    _ => "2",
                };
                format!("{} = {v}\n", k.name)
            })
            .collect();
        let config = crate::config::parse(std::path::Path::new("/c/config.toml"), &text).unwrap();
        assert_eq!(config.entries.len(), crate::config::KEYS.len());
        let cmd = command(&config).unwrap();
        let m = cmd
            .try_get_matches_from(["trainwatt", "record", "--no-train"])
            .unwrap();
        let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&m).unwrap();
        assert_eq!(cli.cost.price, Some(2.0));
        let Command::Record(r) = cli.command else {
            panic!("record")
        };
        assert_eq!(r.run.sources.interval_ms, 2.0);
        assert_eq!(r.run.label.as_deref(), Some("x"));
        assert_eq!(
            r.run.idle_calibration,
            Some(std::time::Duration::from_secs(30))
        );
    }
}
