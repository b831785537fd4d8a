//! The pure domain: channels, samples, events, the session header, energy
//! integration, the one session fold, statistics and summaries. No I/O, no
//! terminal, no async runtime: everything here is testable headless, and
//! nothing here imports another module of this crate.
pub mod cost;
pub mod device;
pub mod energy;
pub mod event;
pub mod fold;
pub mod header;
pub mod progress;
pub mod sample;
pub mod series;
pub mod stats;
pub mod study;
pub mod summary;
pub mod total;
