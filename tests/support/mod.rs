//! Scripted sessions for the UI tests and benchmarks: deterministic power
//! curves and training events with fixed timestamps, written by the tests
//! themselves (no recorded data is copied here). The power values are
//! synthetic test data, not measurements.
#![allow(dead_code)]
pub mod require;
use std::path::Path;

use trainwatt::model::event::{
    Event, Marker, MarkerKind, RunStatus, SessionEnd, TrainConfig, TrainEvent,
};
use trainwatt::model::sample::{Channel, Role, Sample, Scope, Unit};
use trainwatt::record::{DeviceInfo, Header, SessionWriter};

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    /// Jetson Nano: board input total and two rails.
    Nano,
    /// GPU server: GPU only + CPU package totals.
    Server,
    /// A laptop without sensors: CPU estimate.
    Estimate,
}

#[derive(Clone)]
pub struct Spec {
    pub kind: Kind,
    pub epochs: u32,
    pub steps_per_epoch: u32,
    pub batch: u32,
    /// Seconds per optimiser step.
    pub step_s: f64,
    /// How the run ends (None: still running at `until_s`).
    pub end: Option<RunStatus>,
    /// Stop generating at this time.
    pub until_s: f64,
    /// A sensor gap: no samples in (from, to), with a marker.
    pub gap: Option<(f64, f64)>,
    pub interval_s: f64,
}

impl Spec {
    pub fn nano() -> Spec {
        Spec {
            kind: Kind::Nano,
            epochs: 3,
            steps_per_epoch: 40,
            batch: 16,
            step_s: 1.0,
            end: Some(RunStatus::Completed),
            until_s: 1e9,
            gap: None,
            interval_s: 0.1,
        }
    }
    pub fn server() -> Spec {
        Spec {
            kind: Kind::Server,
            step_s: 0.05,
            ..Spec::nano()
        }
    }
    pub fn local() -> Spec {
        Spec {
            kind: Kind::Estimate,
            step_s: 2.0,
            end: None,
            ..Spec::nano()
        }
    }
}

pub fn header(kind: Kind) -> Header {
    let mut h = match kind {
        Kind::Nano => {
            let mut h = Header::new(
                vec![
                    Channel::power("POM_5V_IN", Scope::BoardInput, Role::Total, "tegrastats"),
                    Channel::power("POM_5V_GPU", Scope::Rail, Role::Part, "tegrastats"),
                    Channel::power("POM_5V_CPU", Scope::Rail, Role::Part, "tegrastats"),
                ],
                100.0,
            );
            h.host = "nano-01".into();
            h.device = DeviceInfo {
                model: Some("NVIDIA Jetson Nano Developer Kit".into()),
                ..Default::default()
            };
            h.label = Some("jetson-nano".into());
            h
        }
        Kind::Server => {
            let mut h = Header::new(
                vec![
                    Channel::power("gpu0", Scope::GpuOnly, Role::Total, "nvml"),
                    Channel::counter("gpu0_energy", Scope::GpuOnly, "nvml", "gpu0", None),
                    Channel::power("package-0", Scope::CpuPackage, Role::Total, "rapl"),
                    Channel::metric("gpu0_util", Unit::Percent, "nvml"),
                ],
                100.0,
            );
            h.host = "gpu-server".into();
            h.device = DeviceInfo {
                model: Some("NVIDIA GeForce RTX 2080 Ti".into()),
                ..Default::default()
            };
            h.label = Some("gpu-server".into());
            h
        }
        Kind::Estimate => {
            let mut h = Header::new(
                vec![
                    Channel::power("cpu", Scope::Estimate, Role::Total, "cpu_estimate"),
                    Channel::metric("cpu_util", Unit::Percent, "cpu_estimate"),
                ],
                100.0,
            );
            h.host = "laptop".into();
            h.device = DeviceInfo {
                model: Some("Test CPU 8-core".into()),
                ..Default::default()
            };
            h
        }
    };
    h.start_utc = "2026-11-28T04:00:00.000Z".into();
    h
}

fn power(kind: Kind, t: f64) -> Vec<Option<f64>> {
    let wave = (t / 7.0).sin() * 0.5 + (t * 1.3).sin() * 0.2;
    match kind {
        Kind::Nano => {
            let total = 4.2 + 0.8 * wave;
            vec![Some(total), Some(1.6 + 0.5 * wave), Some(1.1 + 0.2 * wave)]
        }
        Kind::Server => {
            let gpu = 205.0 + 20.0 * wave;
            vec![
                Some(gpu),
                Some(1000.0 + 205.0 * t),
                Some(42.0 + 3.0 * wave),
                Some(97.0),
            ]
        }
        Kind::Estimate => vec![Some(18.0 + 4.0 * wave), Some(88.0)],
    }
}

/// The header and events of a session, in time order.
pub fn session(spec: &Spec) -> (Header, Vec<Event>) {
    let mut h = header(spec.kind);
    let cfg = TrainConfig {
        model: "resnet18".into(),
        dataset: "synthetic:1920".into(),
        batch_size: Some(spec.batch),
        epochs: Some(spec.epochs),
        steps_per_epoch: Some(spec.steps_per_epoch),
        ..Default::default()
    };
    h.train = Some(cfg.clone());
    let mut evs = Vec::new();
    let total_steps = spec.epochs * spec.steps_per_epoch;
    let run_start = 1.0;
    let run_end = run_start + total_steps as f64 * spec.step_s;
    let end_t = match spec.end {
        Some(RunStatus::Completed) => run_end + 1.0,
        Some(_) => run_start + (total_steps / 3) as f64 * spec.step_s + 0.5,
        None => f64::INFINITY,
    };
    let stop = spec.until_s.min(end_t + 0.5);
    let mut next_step = 1u32;
    let mut started = false;
    let mut ended = false;
    let mut gap_marked = false;
    let mut i = 0u64;
    loop {
        let t = i as f64 * spec.interval_s;
        if t > stop + 1e-9 {
            break;
        }
        if !started && t >= run_start {
            evs.push(Event::Train(TrainEvent::RunStart {
                t_s: run_start,
                config: cfg.clone(),
            }));
            started = true;
        }
        while started && !ended && next_step <= total_steps {
            let ts = run_start + next_step as f64 * spec.step_s;
            if ts > t + 1e-9 || ts > end_t {
                break;
            }
            let epoch = (next_step - 1) / spec.steps_per_epoch + 1;
            let step = (next_step - 1) % spec.steps_per_epoch + 1;
            let images = next_step as u64 * spec.batch as u64;
            evs.push(Event::Train(TrainEvent::Step {
                t_s: ts,
                epoch,
                step,
                steps_per_epoch: Some(spec.steps_per_epoch),
                loss: Some(2.3 / (1.0 + next_step as f64 / 30.0)),
                images_per_s: Some(spec.batch as f64 / spec.step_s),
                images: Some(images),
            }));
            if step == spec.steps_per_epoch {
                evs.push(Event::Train(TrainEvent::EpochEnd {
                    t_s: ts,
                    epoch,
                    train_loss: None,
                    train_acc: None,
                    val_acc: Some(0.3 + 0.15 * epoch as f64),
                    images: Some(images),
                }));
            }
            next_step += 1;
        }
        if started && !ended && t >= end_t {
            if let Some(st) = &spec.end {
                let message = match st {
                    RunStatus::OutOfMemory => {
                        Some("CUDA out of memory: tried to allocate 392.00 MiB (batch 64)".into())
                    }
                    RunStatus::Error => Some("trainer exited with status 1".into()),
                    _ => None,
                };
                evs.push(Event::Train(TrainEvent::RunEnd {
                    t_s: end_t,
                    status: st.clone(),
                    message,
                }));
                ended = true;
            }
        }
        let in_gap = spec.gap.is_some_and(|(a, b)| t > a && t < b);
        if in_gap {
            if !gap_marked {
                evs.push(Event::Marker(Marker {
                    t_s: t,
                    kind: MarkerKind::SensorGap,
                    text: "tegrastats stopped answering".into(),
                    value: None,
                }));
                gap_marked = true;
            }
        } else {
            evs.push(Event::Sample(Sample {
                t_s: t,
                values: power(spec.kind, t),
            }));
        }
        i += 1;
    }
    if ended && stop >= end_t {
        let samples = evs.iter().filter(|e| matches!(e, Event::Sample(_))).count() as u64;
        evs.push(Event::End(SessionEnd {
            t_s: stop,
            samples,
            ..Default::default()
        }));
    }
    (h, evs)
}

/// Write a session file.
pub fn write(path: &Path, h: &Header, evs: &[Event]) {
    let mut w = SessionWriter::create(path, h).expect("create session file");
    for e in evs {
        w.write_event(e).expect("write event");
    }
    w.finish(None).expect("finish");
}
