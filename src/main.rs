use clap::Parser;
use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match trainwatt::cli::Cli::try_parse() {
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
    match trainwatt::cmd::run(cli) {
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
