//! The machine a session was recorded on, as the sources describe it. Kept in
//! `model` so the sources (which fill it) and the session format (which
//! stores it in the header) share it without `sensors` importing `record`.
use serde::{Deserialize, Serialize};

/// The machine a session was recorded on, as far as it could be told.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// e.g. "NVIDIA Jetson Nano Developer Kit", "NVIDIA H100 80GB HBM3", "AMD EPYC 7B13".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Jetson nvpmodel mode, GPU power limit, ... where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<String>,
}
