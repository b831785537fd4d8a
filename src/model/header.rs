//! The header of a session: what was measured (channels, interval), where,
//! and the training run announced. Pure data; the file format (record/) reads
//! and writes it, the fold (model/fold.rs) starts from it.
use serde::{Deserialize, Serialize};

pub use super::device::DeviceInfo;
use super::event::TrainConfig;
use super::sample::Channel;

pub const FORMAT_NAME: &str = "trainwatt-session";
pub const SCHEMA_VERSION: u32 = 1;

/// The first line of every session file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always `trainwatt-session`.
    pub format: String,
    pub schema: u32,
    /// The trainwatt version that wrote the file.
    pub trainwatt: String,
    /// RFC 3339, UTC.
    pub start_utc: String,
    pub host: String,
    #[serde(default)]
    pub device: DeviceInfo,
    pub channels: Vec<Channel>,
    /// Nominal sampling interval in milliseconds (the measured rate is in the
    /// closing `end` line, per source).
    pub interval_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<TrainConfig>,
    /// A free label ("jetson-nano bs=8", "gpu-server").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Where the data came from when it was not recorded live (importers), and
    /// anything else a reader should know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Readings of the input that are not in the file: rows an importer could
    /// not place on the timeline and power readings it refused as implausible
    /// (the notes say which). 0 for a live recording.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_readings: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Header {
    /// A header with these channels and nothing else known (no start time,
    /// host "unknown"): importers and tests fill in the rest.
    pub fn bare(channels: Vec<Channel>, interval_ms: f64) -> Self {
        Header {
            format: FORMAT_NAME.to_string(),
            schema: SCHEMA_VERSION,
            trainwatt: env!("CARGO_PKG_VERSION").to_string(),
            start_utc: String::new(),
            host: "unknown".to_string(),
            device: DeviceInfo::default(),
            channels,
            interval_ms,
            train: None,
            label: None,
            notes: Vec::new(),
            skipped_readings: 0,
        }
    }

    pub fn channel_index(&self, name: &str) -> Option<usize> {
        self.channels.iter().position(|c| c.name == name)
    }

    /// The name shown for the device: the label, else the model, else the host.
    pub fn device_name(&self) -> String {
        self.label
            .clone()
            .or_else(|| self.device.model.clone())
            .unwrap_or_else(|| self.host.clone())
    }
}
