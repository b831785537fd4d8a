//! Standard output for commands: every write returns its error instead of
//! panicking the way `print!` does, and the binary turns those errors into an
//! exit status ([`exit_status`]).
//!
//! - The reader went away (`trainwatt inspect f | head -1`, `| true`): a broken
//!   pipe ends the command quietly with status [`BROKEN_PIPE_STATUS`] (141,
//!   what a shell reports for a program killed by SIGPIPE), nothing on stderr.
//! - Anything else (`> /dev/full`: no space left on device): an error that names
//!   standard output, status 1.
use std::io::{self, IsTerminal, Write};

/// The exit status after the reader of standard output went away (128 + SIGPIPE).
pub const BROKEN_PIPE_STATUS: u8 = 141;

/// Writing to standard output failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output")]
pub struct StdoutError(#[source] pub io::Error);

/// Write `text` to standard output and flush it.
pub fn print(text: &str) -> Result<(), StdoutError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(StdoutError)
}

/// A line for the user on standard error. A closed or hung-up stderr (the ssh
/// session dropped) is ignored rather than a panic, as `eprintln!` would: the
/// work it reports on is done either way.
pub fn note(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Refuse to start the full-screen view when standard output is not a
/// terminal (redirected to a file, a pipe, `/dev/full`), saying what to use
/// instead. (Standard input may be a pipe: `watch --compare -` reads it, and
/// keys then come from `/dev/tty`.)
pub fn require_terminal() -> anyhow::Result<()> {
    if io::stdout().is_terminal() {
        return Ok(());
    }
    anyhow::bail!(
        "the watch screen needs a terminal, but standard output is not one: run it in a terminal, \
         or use `trainwatt record` (headless), `inspect` or `summary` for text output"
    )
}

/// Whether `err` (or any error it wraps) is a broken pipe.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// What the binary does with a command's error: `None` for a broken pipe
/// (exit quietly with [`BROKEN_PIPE_STATUS`]), else the message to print.
pub fn exit_status(err: &anyhow::Error) -> (u8, Option<String>) {
    if is_broken_pipe(err) {
        (BROKEN_PIPE_STATUS, None)
    } else {
        (1, Some(format!("trainwatt: error: {err:#}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipe_is_quiet_and_other_errors_are_told() {
        let bp = anyhow::Error::new(StdoutError(io::Error::from(io::ErrorKind::BrokenPipe)));
        assert_eq!(exit_status(&bp), (141, None));
        let wrapped = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("cannot start recording to standard output");
        assert_eq!(exit_status(&wrapped).0, 141);
        let full = anyhow::Error::new(StdoutError(io::Error::from_raw_os_error(libc::ENOSPC)));
        let (code, msg) = exit_status(&full);
        assert_eq!(code, 1);
        let msg = msg.unwrap();
        assert!(msg.contains("standard output"), "{msg}");
        assert!(msg.contains("No space left"), "{msg}");
    }
}
