//! A live session: producers (sensors, the trainer) send events into one
//! channel; one thread records them to the session file and forwards them to
//! the UI. Nothing else touches the file.
pub mod live;
pub mod local;
pub mod signal;
