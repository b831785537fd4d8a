//! Everything that happens in a session besides power samples: training
//! progress, markers and the closing summary. A recording is the log of these
//! events (plus samples); replay feeds the same events back.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::sample::Sample;

/// The configuration of a training run, as the trainer (built in or external)
/// reports it. Fields an external trainer does not report stay `None`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// `resnet18`, `resnet18-cifar`, or the external command line.
    pub model: String,
    /// `synthetic:2048`, `cifar10:/data/cifar`, `folder:/data/x`, or `external`.
    pub dataset: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps_per_epoch: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_images: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_images: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Anything else the trainer wants recorded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// How a training run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Completed,
    Cancelled,
    /// Out of memory: a result to record (the study's Nano ran out above batch 32).
    OutOfMemory,
    Error,
}

impl RunStatus {
    pub fn label(&self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::OutOfMemory => "out of memory",
            RunStatus::Error => "error",
        }
    }
}

/// Progress of a training run. `t_s` is seconds since the session started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum TrainEvent {
    RunStart {
        #[serde(rename = "t")]
        t_s: f64,
        config: TrainConfig,
    },
    /// Throttled: not every optimiser step is reported.
    Step {
        #[serde(rename = "t")]
        t_s: f64,
        /// 1-based epoch.
        epoch: u32,
        /// 1-based step within the epoch (steps done so far in this epoch).
        step: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        steps_per_epoch: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        loss: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        images_per_s: Option<f64>,
        /// Images processed since the run started.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        images: Option<u64>,
    },
    EpochEnd {
        #[serde(rename = "t")]
        t_s: f64,
        epoch: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        train_loss: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        train_acc: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        val_acc: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        images: Option<u64>,
    },
    RunEnd {
        #[serde(rename = "t")]
        t_s: f64,
        status: RunStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

impl TrainEvent {
    pub fn t_s(&self) -> f64 {
        match self {
            TrainEvent::RunStart { t_s, .. }
            | TrainEvent::Step { t_s, .. }
            | TrainEvent::EpochEnd { t_s, .. }
            | TrainEvent::RunEnd { t_s, .. } => *t_s,
        }
    }
}

/// What a marker notes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkerKind {
    /// A note from the user or the tool.
    Note,
    /// A sensor stopped answering or fell behind.
    SensorGap,
    /// A sensor or trainer error (the session goes on).
    Error,
    /// Idle calibration started (power measured before training).
    IdleStart,
    /// Idle calibration ended; `value` carries the idle floor in watts.
    IdleEnd,
}

/// An annotation in the timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    #[serde(rename = "t")]
    pub t_s: f64,
    pub kind: MarkerKind,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// Per-source sampling statistics, measured over the session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceStats {
    pub source: String,
    pub nominal_interval_ms: f64,
    /// Samples actually taken per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_hz: Option<f64>,
    pub samples: u64,
    /// Reads that failed or arrived late.
    #[serde(default)]
    pub missed: u64,
}

/// The closing line of a cleanly ended session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionEnd {
    #[serde(rename = "t")]
    pub t_s: f64,
    pub samples: u64,
    /// Integrated energy per power channel and counter energy per counter channel.
    pub energy_j: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceStats>,
}

/// One entry of a session, after the header.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Sample(Sample),
    Train(TrainEvent),
    Marker(Marker),
    End(SessionEnd),
}

impl Event {
    pub fn t_s(&self) -> f64 {
        match self {
            Event::Sample(s) => s.t_s,
            Event::Train(e) => e.t_s(),
            Event::Marker(m) => m.t_s,
            Event::End(e) => e.t_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_event_json_is_tagged_and_compact() {
        let e = TrainEvent::Step {
            t_s: 1.5,
            epoch: 1,
            step: 10,
            steps_per_epoch: Some(390),
            loss: Some(1.25),
            images_per_s: None,
            images: None,
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(
            s,
            r#"{"ev":"step","t":1.5,"epoch":1,"step":10,"steps_per_epoch":390,"loss":1.25}"#
        );
        let back: TrainEvent = serde_json::from_str(&s).unwrap();
        assert_eq!(back, e);
    }
}
