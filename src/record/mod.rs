//! Session files: one header line, then one line per event (format v1).
//! See the README's "Session file format" section.
pub mod format;
pub mod lock;
pub mod reader;
pub mod writer;

pub use format::{DeviceInfo, Header, SCHEMA_VERSION};
pub use reader::{ReadOptions, ReadStats, RecordError, SessionReader};
pub use writer::SessionWriter;
