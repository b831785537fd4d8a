//! The pure domain: channels, samples, events, energy integration, statistics.
//! No I/O, no terminal, no async runtime: everything here is testable headless.
pub mod device;
pub mod energy;
pub mod event;
pub mod sample;
pub mod stats;
pub mod study;
pub mod summary;
