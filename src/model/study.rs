//! A sweep's sessions grouped into configurations (batch size, epochs) with
//! the mean and 95% Student t interval of training time, energy and average
//! power over the completed runs, per device; and the ratios between devices.
//!
//! Grouping never relies on file names: the configuration comes from the
//! run's TrainConfig, the device from the session's label, the power mode
//! (a configuration axis when a device ran in several) from its header.
use serde::Serialize;
use std::collections::BTreeMap;

use super::stats::{mean_ci, MeanCi, CI_LEVEL};
use super::summary::{RunOutcome, SessionSummary};

/// One configuration of a sweep. `None` where the trainer did not report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ConfigKey {
    pub batch_size: Option<u32>,
    pub epochs: Option<u32>,
}

/// Statistics of one configuration on one device.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConfigStats {
    #[serde(flatten)]
    pub key: ConfigKey,
    /// Sessions found for this configuration.
    pub runs: usize,
    pub completed: usize,
    pub out_of_memory: usize,
    /// Ended with an error.
    pub failed: usize,
    pub cancelled: usize,
    /// No RunEnd (killed).
    pub incomplete: usize,
    /// Over completed runs only.
    pub time_s: Option<MeanCi>,
    pub energy_j: Option<MeanCi>,
    pub avg_power_w: Option<MeanCi>,
    pub j_per_image: Option<MeanCi>,
    /// Static share of training energy (idle floor × time), when measured.
    pub static_j: Option<MeanCi>,
    pub dynamic_j: Option<MeanCi>,
}

impl ConfigStats {
    /// "OOM", "failed", ... when no run completed; `None` when some did.
    pub fn no_result_label(&self) -> Option<&'static str> {
        if self.completed > 0 {
            None
        } else if self.out_of_memory > 0 {
            Some("OOM")
        } else if self.failed > 0 {
            Some("failed")
        } else if self.cancelled > 0 {
            Some("cancelled")
        } else {
            Some("incomplete")
        }
    }
}

/// All configurations of one device.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceStudy {
    /// The device, with its power mode when its sessions ran in several.
    pub device: String,
    /// The device alone (what sessions of one machine share).
    pub machine: String,
    /// The sessions' power mode (nvpmodel mode, power limit), when they
    /// share one.
    pub power_mode: Option<String>,
    /// Scope of the total power, e.g. "board input".
    pub scope: String,
    pub estimate: bool,
    pub sources: Vec<String>,
    pub sessions: usize,
    /// Sorted by batch size, then epochs.
    pub configs: Vec<ConfigStats>,
}

impl DeviceStudy {
    pub fn get(&self, key: ConfigKey) -> Option<&ConfigStats> {
        self.configs.iter().find(|c| c.key == key)
    }

    /// Distinct epoch counts, ascending.
    pub fn epochs_values(&self) -> Vec<Option<u32>> {
        let mut v: Vec<Option<u32>> = self.configs.iter().map(|c| c.key.epochs).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Distinct batch sizes, ascending.
    pub fn batch_sizes(&self) -> Vec<Option<u32>> {
        let mut v: Vec<Option<u32>> = self.configs.iter().map(|c| c.key.batch_size).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// The configuration of a session.
pub fn config_key(s: &SessionSummary) -> ConfigKey {
    ConfigKey {
        batch_size: s.batch_size(),
        epochs: s.planned_epochs(),
    }
}

/// Fold one device's sessions into per-configuration statistics. Sessions
/// without a training run are ignored (they are not part of a sweep).
pub fn device_study(device: &str, sessions: &[SessionSummary]) -> DeviceStudy {
    let mut groups: BTreeMap<ConfigKey, Vec<&SessionSummary>> = BTreeMap::new();
    let mut sources: Vec<String> = Vec::new();
    let mut scopes: Vec<String> = Vec::new();
    let mut estimate = false;
    let mut n = 0;
    for s in sessions.iter().filter(|s| s.status != RunOutcome::NoRun) {
        n += 1;
        groups.entry(config_key(s)).or_default().push(s);
        estimate |= s.estimate;
        for src in &s.sources {
            if !sources.contains(src) {
                sources.push(src.clone());
            }
        }
        if !scopes.contains(&s.scope) {
            scopes.push(s.scope.clone());
        }
    }
    let configs = groups
        .into_iter()
        .map(|(key, runs)| {
            let count = |o: RunOutcome| runs.iter().filter(|s| s.status == o).count();
            let done: Vec<&&SessionSummary> = runs
                .iter()
                .filter(|s| s.status == RunOutcome::Completed)
                .collect();
            let collect = |f: &dyn Fn(&SessionSummary) -> Option<f64>| -> Option<MeanCi> {
                let xs: Vec<f64> = done.iter().filter_map(|s| f(s)).collect();
                mean_ci(&xs, CI_LEVEL)
            };
            ConfigStats {
                key,
                runs: runs.len(),
                completed: done.len(),
                out_of_memory: count(RunOutcome::OutOfMemory),
                failed: count(RunOutcome::Error),
                cancelled: count(RunOutcome::Cancelled),
                incomplete: count(RunOutcome::Incomplete),
                time_s: collect(&|s| s.training.as_ref().map(|w| w.time_s)),
                energy_j: collect(&|s| s.training.as_ref().and_then(|w| w.energy_j)),
                avg_power_w: collect(&|s| s.training.as_ref().and_then(|w| w.avg_power_w)),
                j_per_image: collect(&|s| s.j_per_image),
                static_j: collect(&|s| s.idle.as_ref().map(|i| i.static_j)),
                dynamic_j: collect(&|s| s.idle.as_ref().map(|i| i.dynamic_j)),
            }
        })
        .collect();
    let mut modes: Vec<Option<String>> = sessions.iter().map(|s| s.power_mode.clone()).collect();
    modes.sort();
    modes.dedup();
    DeviceStudy {
        device: device.to_string(),
        machine: device.to_string(),
        power_mode: if modes.len() == 1 {
            modes.pop().flatten()
        } else {
            None
        },
        scope: scopes.join(" / "),
        estimate,
        sources,
        sessions: n,
        configs,
    }
}

/// One device's studies, one per power mode when its sessions ran in more
/// than one (named "device @ mode", in the order the modes first appear),
/// else one study.
pub fn mode_studies(device: &str, sessions: &[SessionSummary]) -> Vec<DeviceStudy> {
    let mut modes: Vec<Option<&str>> = Vec::new();
    for s in sessions.iter().filter(|s| s.status != RunOutcome::NoRun) {
        let m = s.power_mode.as_deref();
        if !modes.contains(&m) {
            modes.push(m);
        }
    }
    if modes.len() <= 1 {
        return vec![device_study(device, sessions)];
    }
    modes
        .into_iter()
        .map(|m| {
            let mine: Vec<SessionSummary> = sessions
                .iter()
                .filter(|s| s.power_mode.as_deref() == m)
                .cloned()
                .collect();
            let name = format!("{device} @ {}", m.unwrap_or("power mode unknown"));
            DeviceStudy {
                machine: device.to_string(),
                ..device_study(&name, &mine)
            }
        })
        .collect()
}

/// Means of one device against a baseline device, per configuration both have.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConfigRatio {
    #[serde(flatten)]
    pub key: ConfigKey,
    /// device / baseline of the mean training time.
    pub time: Option<f64>,
    pub energy: Option<f64>,
    pub avg_power: Option<f64>,
    pub j_per_image: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub device: String,
    pub baseline: String,
    pub configs: Vec<ConfigRatio>,
}

fn mean_ratio(a: Option<&MeanCi>, b: Option<&MeanCi>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b.mean != 0.0 => Some(a.mean / b.mean),
        _ => None,
    }
}

/// Ratios of `dev` against `base` (dev / base) over the union of their
/// configurations; a ratio is `None` where either side has no completed run.
pub fn compare(dev: &DeviceStudy, base: &DeviceStudy) -> Comparison {
    let mut keys: Vec<ConfigKey> = base
        .configs
        .iter()
        .chain(dev.configs.iter())
        .map(|c| c.key)
        .collect();
    keys.sort();
    keys.dedup();
    let configs = keys
        .into_iter()
        .map(|key| {
            let a = dev.get(key);
            let b = base.get(key);
            ConfigRatio {
                key,
                time: mean_ratio(
                    a.and_then(|c| c.time_s.as_ref()),
                    b.and_then(|c| c.time_s.as_ref()),
                ),
                energy: mean_ratio(
                    a.and_then(|c| c.energy_j.as_ref()),
                    b.and_then(|c| c.energy_j.as_ref()),
                ),
                avg_power: mean_ratio(
                    a.and_then(|c| c.avg_power_w.as_ref()),
                    b.and_then(|c| c.avg_power_w.as_ref()),
                ),
                j_per_image: mean_ratio(
                    a.and_then(|c| c.j_per_image.as_ref()),
                    b.and_then(|c| c.j_per_image.as_ref()),
                ),
            }
        })
        .collect();
    Comparison {
        device: dev.device.clone(),
        baseline: base.device.clone(),
        configs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::{Event, RunStatus, TrainConfig, TrainEvent};
    use crate::model::fold::SessionFold;
    use crate::model::header::Header;
    use crate::model::sample::{Channel, Role, Sample, Scope};
    use crate::model::summary::summarize;

    /// A run at constant `watts` for `time_s`, or one that ends with `status`.
    fn run(bs: u32, watts: f64, time_s: f64, status: RunStatus) -> SessionSummary {
        let mut h = Header::bare(
            vec![Channel::power("p", Scope::GpuOnly, Role::Total, "nvml")],
            100.0,
        );
        h.label = Some("dev".into());
        h.host = "h".into();
        let mut f = SessionFold::new(&h);
        f.apply(&Event::Train(TrainEvent::RunStart {
            t_s: 0.0,
            config: TrainConfig {
                batch_size: Some(bs),
                epochs: Some(1),
                ..Default::default()
            },
        }));
        let n = (time_s / 0.1).round() as usize;
        for i in 0..=n {
            f.apply(&Event::Sample(Sample {
                t_s: i as f64 * 0.1,
                values: vec![Some(watts)],
            }));
        }
        f.apply(&Event::Train(TrainEvent::RunEnd {
            t_s: time_s,
            status,
            message: None,
        }));
        summarize(&f, "f")
    }

    #[test]
    fn several_power_modes_split_a_device_one_mode_does_not() {
        let with = |mode: &str, watts: f64| {
            let mut s = run(8, watts, 1.0, RunStatus::Completed);
            s.power_mode = Some(mode.into());
            s
        };
        let one = mode_studies("nano", &[with("MAXN", 10.0), with("MAXN", 10.0)]);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].device, "nano");
        assert_eq!(one[0].power_mode.as_deref(), Some("MAXN"));
        let two = mode_studies(
            "nano",
            &[with("5W", 5.0), with("MAXN", 10.0), with("5W", 5.0)],
        );
        let names: Vec<&str> = two.iter().map(|d| d.device.as_str()).collect();
        assert_eq!(names, ["nano @ 5W", "nano @ MAXN"], "first-seen order");
        assert!(two.iter().all(|d| d.machine == "nano"));
        assert_eq!(two[0].sessions, 2);
        assert!((two[0].configs[0].energy_j.unwrap().mean - 5.0).abs() < 1e-9);
        assert!((two[1].configs[0].avg_power_w.unwrap().mean - 10.0).abs() < 1e-9);
    }

    #[test]
    fn groups_by_config_counts_oom_and_compares_means() {
        let a = device_study(
            "a",
            &[
                run(8, 10.0, 1.0, RunStatus::Completed),
                run(8, 10.0, 3.0, RunStatus::Completed),
                run(16, 10.0, 0.2, RunStatus::OutOfMemory),
                run(4, 10.0, 2.0, RunStatus::Completed),
            ],
        );
        assert_eq!(
            a.batch_sizes(),
            vec![Some(4), Some(8), Some(16)],
            "sorted by batch size"
        );
        let c8 = a
            .get(ConfigKey {
                batch_size: Some(8),
                epochs: Some(1),
            })
            .unwrap();
        assert_eq!((c8.runs, c8.completed), (2, 2));
        let e = c8.energy_j.unwrap();
        assert!((e.mean - 20.0).abs() < 1e-9);
        // Energies 10 and 30 J: sd √200, half width 12.7062 · 10 = 127.06.
        assert!((e.half_width.unwrap() - 127.062_047_36).abs() < 1e-6);
        let c16 = &a.configs[2];
        assert_eq!(c16.no_result_label(), Some("OOM"));
        assert_eq!(c16.time_s, None);
        let c4 = &a.configs[0];
        assert_eq!(c4.time_s.unwrap().half_width, None, "n=1: no interval");

        let b = device_study("b", &[run(8, 5.0, 8.0, RunStatus::Completed)]);
        let cmp = compare(&b, &a);
        assert_eq!(cmp.configs.len(), 3, "the union of configurations");
        let r8 = cmp
            .configs
            .iter()
            .find(|r| r.key.batch_size == Some(8))
            .unwrap();
        assert!((r8.time.unwrap() - 4.0).abs() < 1e-9);
        assert!((r8.energy.unwrap() - 2.0).abs() < 1e-9);
        assert!((r8.avg_power.unwrap() - 0.5).abs() < 1e-9);
        let r16 = cmp
            .configs
            .iter()
            .find(|r| r.key.batch_size == Some(16))
            .unwrap();
        assert_eq!(r16.time, None);
    }
}
