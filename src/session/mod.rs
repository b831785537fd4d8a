//! A live session: producers (sensors, the trainer) hand events to one
//! recorder, which writes the session file and forwards them to the UI:
//! on its own thread behind one channel (`watch`), or, headless, on the
//! sources' own threads. Nothing else touches the file.
pub mod live;
pub mod local;
mod recorder;
pub mod signal;
