//! Log importers: a tegrastats or nvidia-smi log in, a session out
//! (`trainwatt import`). They use the pure line parsers of `sensors`
//! (`tegrastats_parse`, `tegrastats_layout`, `jetson_rails`) and the session
//! format of `record`; nothing here samples a live source.
//!
//! Every importer reconstructs the timeline (a clock that steps back is a
//! step, not a cut: [`timeline`]), refuses readings no sensor can give
//! ([`checks`]), keeps generated channel names clear of the log's own, and
//! refuses an energy that overflows, so what it writes the reader reads.
pub mod checks;
pub mod nvidia_smi;
pub mod nvidia_smi_csv;
mod nvidia_smi_gpus;
mod nvidia_smi_rows;
pub mod report;
mod session;
pub mod tegrastats;
mod tegrastats_timing;
pub mod timeline;

pub use nvidia_smi_gpus::MAX_GPUS;
pub use report::{cut, ImportReport, Imported};
