//! trainwatt: is it worth training here, slowly, or on the GPU server, fast?
//! Live power, training progress and joules, side by side with a recorded session.
//!
//! Data flows one way (see the README's architecture section): sensors, the
//! trainer and the replay engine only send events; the app folds them into
//! state; the UI draws state. `model` and `sensors` never import the UI.
#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
pub mod app;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod duration;
pub mod export;
pub mod import;
pub mod logging;
pub mod model;
pub mod record;
pub mod replay;
pub mod sensors;
pub mod serve;
pub mod session;
pub mod stdout;
pub mod sys;
pub mod train;
pub mod ui;
