//! `trainwatt config`: which defaults file is in effect and what it sets, or
//! (`--example`) a commented file holding every key.
use std::fmt::Write as _;
use std::process::ExitCode;

use crate::config::{locate, Config};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  trainwatt config                       # the file in effect and what it sets
  trainwatt config --example > ~/.config/trainwatt/config.toml   # then uncomment what you want")]
pub struct ConfigArgs {
    /// Print a commented example holding every key instead
    #[arg(long)]
    pub example: bool,
}

pub fn run(a: ConfigArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let text = if a.example {
        crate::config::example()
    } else {
        describe(config, locate(None).map(|(p, _)| p))
    };
    crate::stdout::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The file read (or where it would be) and each value it sets, with its line
/// and the commands it applies to.
fn describe(config: &Config, default_path: Option<std::path::PathBuf>) -> String {
    let mut s = String::new();
    match (&config.path, default_path) {
        (Some(p), _) => {
            let _ = writeln!(s, "config file: {}", p.display());
        }
        (None, Some(p)) => {
            let _ = writeln!(
                s,
                "config file: {} (not there: built-in defaults; `trainwatt config --example` prints one)",
                p.display()
            );
        }
        (None, None) => {
            let _ = writeln!(
                s,
                "config file: none ($HOME and $XDG_CONFIG_HOME are unset)"
            );
        }
    }
    if config.path.is_some() && config.entries.is_empty() {
        let _ = writeln!(s, "it sets nothing (keys: {})", crate::config::key_names());
    }
    for e in &config.entries {
        let scope = if e.key.commands.is_empty() {
            "every command".to_string()
        } else {
            e.key.commands.join(", ")
        };
        let _ = writeln!(
            s,
            "  line {:>3}  {} = {:?}  (--{} of {scope})",
            e.line,
            e.key.name,
            e.value,
            e.key.arg.replace('_', "-"),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn describes_each_value_with_its_line_and_flag() {
        let c = crate::config::parse(
            Path::new("/h/.config/trainwatt/config.toml"),
            "# mine\ntheme = \"light\"\nprice = 0.3\n",
        )
        .unwrap();
        let s = describe(&c, None);
        assert!(
            s.starts_with("config file: /h/.config/trainwatt/config.toml\n"),
            "{s}"
        );
        assert!(
            s.contains("line   2  theme = \"light\"  (--theme of watch, replay)"),
            "{s}"
        );
        assert!(
            s.contains("line   3  price = \"0.3\"  (--price of every command)"),
            "{s}"
        );
        let s = describe(&Config::default(), Some("/h/c.toml".into()));
        assert!(s.contains("/h/c.toml (not there"), "{s}");
    }
}
