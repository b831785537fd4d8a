//! Why a run of the built-in trainer stopped early, and where in the run a
//! libtorch call failed. An out-of-memory error is a result (the status
//! says so, with the batch size), not a crash.
use tch::TchError;

use trainwatt::model::event::RunStatus;
use trainwatt::train::child::is_oom_message;

use crate::data::DataError;

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("dataset {spec}: {source}")]
    Data {
        spec: String,
        #[source]
        source: DataError,
    },
    #[error("{0}")]
    Device(String),
    #[error("{0}")]
    Config(String),
    #[error("libtorch failed at epoch {epoch}, step {step}: {message}")]
    Torch {
        epoch: u32,
        step: u32,
        batch_size: u32,
        message: String,
    },
    #[error("training finished but the weights could not be written to {path}: {message}")]
    Save { path: String, message: String },
}

impl RunError {
    pub fn status(&self) -> RunStatus {
        match self {
            RunError::Torch { message, .. } if is_oom_message(message) => RunStatus::OutOfMemory,
            _ => RunStatus::Error,
        }
    }

    pub fn message(&self) -> String {
        match self {
            RunError::Torch {
                epoch,
                step,
                batch_size,
                message,
            } if is_oom_message(message) => format!(
                "out of memory at batch size {batch_size} (epoch {epoch}, step {step}): {message}"
            ),
            e => e.to_string(),
        }
    }
}

/// libtorch errors carry a C++ backtrace after the first line.
pub fn first_line(e: &TchError) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or("").trim().to_string()
}

/// Where in the run a libtorch call failed, to turn its error into a RunError.
#[derive(Clone, Copy)]
pub struct At {
    pub epoch: u32,
    pub step: u32,
    pub batch_size: u32,
}

impl At {
    /// Before the first epoch.
    pub fn start(batch_size: u32) -> At {
        At {
            epoch: 0,
            step: 0,
            batch_size,
        }
    }

    pub fn err(self, e: TchError) -> RunError {
        RunError::Torch {
            epoch: self.epoch,
            step: self.step,
            batch_size: self.batch_size,
            message: first_line(&e),
        }
    }
}
