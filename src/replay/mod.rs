//! Replaying a recorded session: a pure clock, an index built by one
//! streaming pass, and an engine that hands events over as the clock reaches
//! them. The app folds replayed events exactly like live ones.
pub mod clock;
pub mod engine;
pub mod index;

pub use clock::{ReplayClock, MAX_SPEED, MIN_SPEED};
pub use engine::{ReplayEngine, ReplayOut};
pub use index::{IndexPoint, ReplayIndex};
