//! The progress protocol an external training command speaks on its stdout:
//! one JSON object per line whose `"trainwatt"` key names the kind of message.
//!
//! ```text
//! {"trainwatt": "start", "model": "resnet50", "dataset": "imagenet", "batch_size": 32, "epochs": 10, "steps": 390}
//! {"trainwatt": "step", "epoch": 1, "step": 10, "steps": 390, "loss": 1.23, "images": 320}
//! {"trainwatt": "epoch_end", "epoch": 1, "loss": 1.05, "acc": 0.61, "val_acc": 0.58}
//! {"trainwatt": "done"}
//! ```
//!
//! Every field but `trainwatt` is optional, epochs and steps are 1-based, and
//! accuracies are fractions (0..1). Lines that are not protocol lines, or are
//! malformed ones, are ordinary output. `start` may also carry `extra` (an
//! object of anything else worth recording), `done` a `status` (`completed`,
//! `cancelled`, `out_of_memory`, `error`) and a `message`. The built-in trainer
//! (`trainwatt-train`) speaks the same protocol ([`encode`]).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::event::{RunStatus, TrainConfig, TrainEvent};

/// The key every protocol line carries.
pub const KEY: &str = "trainwatt";

/// One protocol line, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum ProtocolMsg {
    /// The run's configuration as the trainer knows it.
    Start(StartMsg),
    Step(StepMsg),
    EpochEnd(EpochEndMsg),
    /// The trainer says it is done; `status` may say `out_of_memory` or `error`.
    Done(DoneMsg),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartMsg {
    pub model: Option<String>,
    pub dataset: Option<String>,
    pub batch_size: Option<u32>,
    pub epochs: Option<u32>,
    /// Steps per epoch.
    pub steps: Option<u32>,
    pub train_images: Option<u64>,
    pub val_images: Option<u64>,
    pub lr: Option<f64>,
    pub device: Option<String>,
    pub threads: Option<u32>,
    pub seed: Option<u64>,
    /// Anything else the trainer wants recorded (merged into the config's `extra`).
    pub extra: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepMsg {
    pub epoch: Option<u32>,
    pub step: Option<u32>,
    /// Steps per epoch.
    pub steps: Option<u32>,
    pub loss: Option<f64>,
    /// Images processed since the run started.
    pub images: Option<u64>,
    pub images_per_s: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochEndMsg {
    pub epoch: Option<u32>,
    #[serde(alias = "train_loss")]
    pub loss: Option<f64>,
    #[serde(alias = "train_acc")]
    pub acc: Option<f64>,
    pub val_acc: Option<f64>,
    pub images: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DoneMsg {
    /// `completed`, `out_of_memory`, `error` (anything else counts as completed).
    pub status: Option<String>,
    pub message: Option<String>,
}

#[derive(Deserialize)]
struct Kind<'a> {
    #[serde(borrow)]
    trainwatt: std::borrow::Cow<'a, str>,
}

/// Parse one stdout line; `None` for anything that is not a well-formed
/// protocol line (it is then just output).
pub fn parse_line(line: &str) -> Option<ProtocolMsg> {
    let t = line.trim();
    // Cheap rejection first: most output lines are not JSON at all.
    if !t.starts_with('{') || !t.contains("\"trainwatt\"") {
        return None;
    }
    let kind: Kind = serde_json::from_str(t).ok()?;
    match kind.trainwatt.as_ref() {
        "start" => serde_json::from_str(t).ok().map(ProtocolMsg::Start),
        "step" => serde_json::from_str(t).ok().map(ProtocolMsg::Step),
        "epoch_end" => serde_json::from_str(t)
            .ok()
            .map(|e: EpochEndMsg| ProtocolMsg::EpochEnd(e.normalised())),
        "done" => serde_json::from_str(t).ok().map(ProtocolMsg::Done),
        _ => None,
    }
}

/// An accuracy as a fraction, normalised once, here where the line is
/// parsed: a value above 1 is a percentage (a wrapped command that reports
/// 80 means 80%). Not finite, negative or above 100%: unknown.
pub fn accuracy_fraction(acc: f64) -> Option<f64> {
    let f = if acc > 1.0 { acc / 100.0 } else { acc };
    (f.is_finite() && (0.0..=1.0).contains(&f)).then_some(f)
}

impl EpochEndMsg {
    fn normalised(mut self) -> Self {
        self.acc = self.acc.and_then(accuracy_fraction);
        self.val_acc = self.val_acc.and_then(accuracy_fraction);
        self
    }
}

impl StartMsg {
    /// Fill `base` (the command line as model, `external` as dataset) with what
    /// the trainer reported.
    pub fn merge_into(&self, mut base: TrainConfig) -> TrainConfig {
        // A wrapped command names its model: the command line stays on record.
        if let Some(m) = self.model.as_ref().filter(|m| **m != base.model) {
            base.extra
                .insert("command".into(), serde_json::json!(base.model));
            base.model = m.clone();
        }
        if let Some(d) = &self.dataset {
            base.dataset = d.clone();
        }
        base.batch_size = self.batch_size.or(base.batch_size);
        base.epochs = self.epochs.or(base.epochs);
        base.steps_per_epoch = self.steps.or(base.steps_per_epoch);
        base.train_images = self.train_images.or(base.train_images);
        base.val_images = self.val_images.or(base.val_images);
        base.lr = self.lr.or(base.lr);
        base.device = self.device.clone().or(base.device);
        base.threads = self.threads.or(base.threads);
        base.seed = self.seed.or(base.seed);
        if let Some(extra) = &self.extra {
            base.extra
                .extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        base
    }
}

/// The protocol line (without the newline) for a training event: what the
/// built-in trainer prints. Times are not sent: the monitor stamps each line
/// when it arrives. `None` values are left out.
pub fn encode(ev: &TrainEvent) -> String {
    fn line<T: Serialize>(kind: &str, msg: &T) -> String {
        let mut v = serde_json::to_value(msg).unwrap_or_default();
        if let serde_json::Value::Object(m) = &mut v {
            m.retain(|_, x| !x.is_null());
        }
        // The kind first, so a person reading the output sees it first.
        let body = v.to_string();
        match body.strip_prefix('{').filter(|b| *b != "}") {
            Some(rest) => format!("{{\"{KEY}\":\"{kind}\",{rest}"),
            None => format!("{{\"{KEY}\":\"{kind}\"}}"),
        }
    }
    match ev {
        TrainEvent::RunStart { config: c, .. } => line(
            "start",
            &StartMsg {
                model: Some(c.model.clone()),
                dataset: Some(c.dataset.clone()),
                batch_size: c.batch_size,
                epochs: c.epochs,
                steps: c.steps_per_epoch,
                train_images: c.train_images,
                val_images: c.val_images,
                lr: c.lr,
                device: c.device.clone(),
                threads: c.threads,
                seed: c.seed,
                extra: (!c.extra.is_empty()).then(|| c.extra.clone()),
            },
        ),
        TrainEvent::Step {
            epoch,
            step,
            steps_per_epoch,
            loss,
            images_per_s,
            images,
            ..
        } => line(
            "step",
            &StepMsg {
                epoch: Some(*epoch),
                step: Some(*step),
                steps: *steps_per_epoch,
                loss: *loss,
                images: *images,
                images_per_s: *images_per_s,
            },
        ),
        TrainEvent::EpochEnd {
            epoch,
            train_loss,
            train_acc,
            val_acc,
            images,
            ..
        } => line(
            "epoch_end",
            &EpochEndMsg {
                epoch: Some(*epoch),
                loss: *train_loss,
                acc: *train_acc,
                val_acc: *val_acc,
                images: *images,
            },
        ),
        TrainEvent::RunEnd {
            status, message, ..
        } => line(
            "done",
            &DoneMsg {
                status: serde_json::to_value(status)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from)),
                message: message.clone(),
            },
        ),
    }
}

impl DoneMsg {
    /// The status the trainer claims, if it claims one other than completion.
    pub fn claimed_status(&self) -> Option<RunStatus> {
        match self.status.as_deref()? {
            "out_of_memory" | "oom" => Some(RunStatus::OutOfMemory),
            "error" | "failed" => Some(RunStatus::Error),
            "cancelled" => Some(RunStatus::Cancelled),
            _ => None,
        }
    }
}

/// Tracks the last epoch and steps-per-epoch so step lines that omit them still
/// make complete events, without inventing progress that was never reported.
#[derive(Debug, Default, Clone)]
pub struct ProtocolState {
    epoch: u32,
    steps_per_epoch: Option<u32>,
}

impl ProtocolState {
    pub fn new(steps_per_epoch: Option<u32>) -> ProtocolState {
        ProtocolState {
            epoch: 1,
            steps_per_epoch,
        }
    }

    /// The event a step or epoch-end line becomes, at `t_s` seconds since the
    /// session started. `Start` and `Done` are handled by the caller.
    pub fn to_event(&mut self, msg: &ProtocolMsg, t_s: f64) -> Option<TrainEvent> {
        match msg {
            ProtocolMsg::Step(s) => {
                if let Some(e) = s.epoch {
                    self.epoch = e;
                }
                if s.steps.is_some() {
                    self.steps_per_epoch = s.steps;
                }
                Some(TrainEvent::Step {
                    t_s,
                    epoch: self.epoch,
                    step: s.step.unwrap_or(0),
                    steps_per_epoch: self.steps_per_epoch,
                    loss: s.loss.filter(|l| l.is_finite()),
                    images_per_s: s.images_per_s.filter(|r| r.is_finite()),
                    images: s.images,
                })
            }
            ProtocolMsg::EpochEnd(e) => {
                let epoch = e.epoch.unwrap_or(self.epoch);
                // Saturating: a claimed epoch of u32::MAX must not overflow (fuzzing).
                self.epoch = epoch.saturating_add(1);
                Some(TrainEvent::EpochEnd {
                    t_s,
                    epoch,
                    train_loss: e.loss.filter(|l| l.is_finite()),
                    train_acc: e.acc,
                    val_acc: e.val_acc,
                    images: e.images,
                })
            }
            ProtocolMsg::Start(s) => {
                if s.steps.is_some() {
                    self.steps_per_epoch = s.steps;
                }
                None
            }
            ProtocolMsg::Done(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_accuracies_become_fractions_once_at_parse() {
        let m = parse_line(r#"{"trainwatt":"epoch_end","epoch":1,"acc":80,"val_acc":0.5}"#);
        let Some(ProtocolMsg::EpochEnd(e)) = m else {
            panic!("an epoch_end line")
        };
        assert_eq!(e.acc, Some(0.8));
        assert_eq!(e.val_acc, Some(0.5));
        let m = parse_line(r#"{"trainwatt":"epoch_end","val_acc":250}"#);
        assert!(matches!(
            m,
            Some(ProtocolMsg::EpochEnd(EpochEndMsg { val_acc: None, .. }))
        ));
    }

    #[test]
    fn protocol_lines_parse() {
        let m = parse_line(
            r#"{"trainwatt": "step", "epoch": 1, "step": 10, "steps": 390, "loss": 1.23}"#,
        );
        assert_eq!(
            m,
            Some(ProtocolMsg::Step(StepMsg {
                epoch: Some(1),
                step: Some(10),
                steps: Some(390),
                loss: Some(1.23),
                ..Default::default()
            }))
        );
        let m =
            parse_line(r#"  {"trainwatt":"epoch_end","epoch":2,"train_acc":0.5,"val_acc":0.4}  "#);
        assert!(
            matches!(m, Some(ProtocolMsg::EpochEnd(EpochEndMsg { epoch: Some(2), acc: Some(a), .. })) if a == 0.5)
        );
        assert!(matches!(
            parse_line(r#"{"trainwatt":"done","status":"out_of_memory"}"#),
            Some(ProtocolMsg::Done(d)) if d.claimed_status() == Some(RunStatus::OutOfMemory)
        ));
    }

    #[test]
    fn other_lines_are_output() {
        for l in [
            "Epoch 1 loss 0.3",
            "",
            "{\"loss\": 1}",
            "{\"trainwatt\": \"step\", \"epoch\": \"one\"}",
            "{\"trainwatt\": \"bogus\"}",
            "{\"trainwatt\": \"step\"",
            "{\"trainwatt\": 3}",
        ] {
            assert_eq!(parse_line(l), None, "{l}");
        }
    }

    #[test]
    fn state_carries_epoch_and_steps() {
        let mut st = ProtocolState::new(None);
        let s = parse_line(r#"{"trainwatt":"step","step":3,"steps":10}"#).unwrap();
        let ev = st.to_event(&s, 1.0).unwrap();
        assert!(matches!(
            ev,
            TrainEvent::Step {
                epoch: 1,
                step: 3,
                steps_per_epoch: Some(10),
                ..
            }
        ));
        let e = parse_line(r#"{"trainwatt":"epoch_end"}"#).unwrap();
        assert!(matches!(
            st.to_event(&e, 2.0),
            Some(TrainEvent::EpochEnd { epoch: 1, .. })
        ));
        let s = parse_line(r#"{"trainwatt":"step","step":1}"#).unwrap();
        assert!(matches!(
            st.to_event(&s, 3.0),
            Some(TrainEvent::Step {
                epoch: 2,
                step: 1,
                steps_per_epoch: Some(10),
                ..
            })
        ));
    }

    #[test]
    fn encoded_events_parse_back() {
        let mut config = TrainConfig {
            model: "resnet18-cifar".into(),
            dataset: "synthetic:64".into(),
            batch_size: Some(4),
            steps_per_epoch: Some(2),
            train_images: Some(51),
            val_images: Some(13),
            device: Some("cpu".into()),
            ..Default::default()
        };
        config.extra.insert("classes".into(), serde_json::json!(10));
        let start = encode(&TrainEvent::RunStart {
            t_s: 1.0,
            config: config.clone(),
        });
        let Some(ProtocolMsg::Start(s)) = parse_line(&start) else {
            panic!("{start}")
        };
        let base = TrainConfig {
            model: "resnet18-cifar".into(),
            dataset: "synthetic:64".into(),
            ..Default::default()
        };
        assert_eq!(s.merge_into(base), config, "{start}");
        let step = TrainEvent::Step {
            t_s: 2.0,
            epoch: 1,
            step: 2,
            steps_per_epoch: Some(2),
            loss: Some(2.25),
            images_per_s: None,
            images: Some(8),
        };
        let line = encode(&step);
        assert!(!line.contains("images_per_s"), "{line}");
        let mut st = ProtocolState::new(None);
        assert_eq!(st.to_event(&parse_line(&line).unwrap(), 2.0), Some(step));
        let end = encode(&TrainEvent::RunEnd {
            t_s: 3.0,
            status: RunStatus::OutOfMemory,
            message: Some("out of memory at batch size 16".into()),
        });
        let Some(ProtocolMsg::Done(d)) = parse_line(&end) else {
            panic!("{end}")
        };
        assert_eq!(d.claimed_status(), Some(RunStatus::OutOfMemory));
        assert_eq!(d.message.as_deref(), Some("out of memory at batch size 16"));
        assert!(end.starts_with(r#"{"trainwatt":"done""#), "{end}");
    }

    #[test]
    fn start_merges_into_the_command_config() {
        let base = TrainConfig {
            model: "python train.py".into(),
            dataset: "external".into(),
            ..Default::default()
        };
        let Some(ProtocolMsg::Start(s)) =
            parse_line(r#"{"trainwatt":"start","model":"resnet50","batch_size":8}"#)
        else {
            panic!()
        };
        let c = s.merge_into(base);
        assert_eq!(c.model, "resnet50");
        assert_eq!(c.batch_size, Some(8));
        assert_eq!(c.dataset, "external");
        assert_eq!(c.extra["command"], "python train.py");
    }
}
