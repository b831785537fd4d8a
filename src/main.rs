use clap::FromArgMatches as _;
use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The config file first: its values are the flags' defaults.
    let config = match trainwatt::config::load(trainwatt::config::explicit_path(&args).as_deref())
        .and_then(|c| trainwatt::cli::command(&c).map(|cmd| (c, cmd)))
    {
        Ok(c) => c,
        Err(e) => return report(&e.into()),
    };
    let (config, command) = config;
    let parsed = command
        .try_get_matches_from(args)
        .and_then(|m| trainwatt::cli::Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        // --help, --version and usage errors: clap's message, but a failed
        // write (help piped into a closed reader, /dev/full) is not success.
        Err(e) => {
            return match e.print() {
                Ok(()) => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)),
                Err(io) => report(&anyhow::Error::new(trainwatt::stdout::StdoutError(io))),
            };
        }
    };
    match trainwatt::cmd::run(cli, &config) {
        Ok(code) => code,
        Err(e) => report(&e),
    }
}

/// Print the error (unless the reader of standard output went away) and pick the status.
fn report(e: &anyhow::Error) -> ExitCode {
    let (code, msg) = trainwatt::stdout::exit_status(e);
    if let Some(m) = msg {
        // A closed stderr too must not panic: the status still tells.
        let _ = writeln!(std::io::stderr(), "{m}");
    }
    ExitCode::from(code)
}
