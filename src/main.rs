use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = trainwatt::cli::Cli::parse();
    match trainwatt::cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("trainwatt: error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
