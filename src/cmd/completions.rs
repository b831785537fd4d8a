//! `trainwatt completions SHELL` and `trainwatt man`: a completion script
//! (clap_complete) and the manual page (clap_mangen, roff), both written to
//! standard output from the same command definition the parser uses.
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;

/// The shells a completion script is written for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  trainwatt completions bash > ~/.local/share/bash-completion/completions/trainwatt
  trainwatt completions zsh > ~/.zfunc/_trainwatt      # with fpath+=~/.zfunc in ~/.zshrc
  trainwatt completions fish > ~/.config/fish/completions/trainwatt.fish")]
pub struct CompletionsArgs {
    /// The shell to write the script for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The completion script for `shell`.
pub fn completion_script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    let name = cmd.get_name().to_string();
    match shell {
        Shell::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, name, &mut out)
        }
        Shell::Zsh => clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, name, &mut out),
        Shell::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, name, &mut out)
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The manual page, roff.
pub fn man_page() -> std::io::Result<String> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

pub fn run_completions(a: CompletionsArgs) -> anyhow::Result<ExitCode> {
    crate::export::write_output(None, &completion_script(a.shell))?;
    Ok(ExitCode::SUCCESS)
}

pub fn run_man() -> anyhow::Result<ExitCode> {
    crate::export::write_output(None, &man_page()?)?;
    Ok(ExitCode::SUCCESS)
}
