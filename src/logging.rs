//! Logging with tracing to a file, never to the terminal while the TUI is up.
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// `$XDG_STATE_HOME/trainwatt/trainwatt.log` (or the platform's local data
/// directory), `./trainwatt.log` when no home directory is known.
pub fn default_log_path() -> PathBuf {
    directories::ProjectDirs::from("", "", "trainwatt")
        .map(|d| {
            d.state_dir()
                .unwrap_or_else(|| d.data_local_dir())
                .join("trainwatt.log")
        })
        .unwrap_or_else(|| PathBuf::from("trainwatt.log"))
}

/// Send tracing output to `path` (appended; the directory is created).
/// `RUST_LOG` sets the filter (default `info`). Only the first call in a
/// process takes effect.
pub fn init(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init();
    Ok(())
}
