//! NVIDIA GPUs through NVML (nvml-wrapper 0.13). `libnvidia-ml.so` is loaded at
//! run time, so the binary starts where it is absent and this source reports
//! why it is not available.
//!
//! Per GPU: power from the `NVML_FI_DEV_POWER_INSTANT` field where the driver
//! has it, else `nvmlDeviceGetPowerUsage` (a 1 s average on Ampere and newer);
//! the total-energy counter (Volta and newer) as a counter channel paired with
//! the power channel; utilisation, memory used, temperature and SM clock as
//! metrics. Several GPUs: one power channel each (parts) and their sum (the
//! total). NVML present without power (Jetson) is "not available", never 0 W.
use std::time::Duration;

use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
use nvml_wrapper::enums::device::SampleValue;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::structs::device::FieldId;
use nvml_wrapper::Nvml;

use super::{PowerSource, SensorError};
use crate::model::device::DeviceInfo;
use crate::model::sample::{Channel, Role, Scope, Unit};

pub const NAME: &str = "nvml";
/// `NVML_FI_DEV_POWER_INSTANT` from nvml.h.
pub const FI_DEV_POWER_INSTANT: u32 = 186;

/// How a GPU's power is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerMethod {
    /// `NVML_FI_DEV_POWER_INSTANT` field value.
    Instant,
    /// `nvmlDeviceGetPowerUsage` (1 s average on Ampere and newer, except GA100).
    PowerUsage,
}

/// What one GPU supports, found at open.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuCaps {
    pub index: u32,
    pub name: String,
    pub power: PowerMethod,
    pub energy_counter: bool,
    pub power_limit_w: Option<f64>,
}

/// The channel list for a set of GPUs: power channels (and their sum when
/// there are several), then energy counters, then metrics.
pub fn build_channels(gpus: &[GpuCaps]) -> Vec<Channel> {
    let multi = gpus.len() > 1;
    let role = if multi { Role::Part } else { Role::Total };
    let mut out: Vec<Channel> = gpus
        .iter()
        .map(|g| Channel::power(format!("gpu{}", g.index), Scope::GpuOnly, role, NAME))
        .collect();
    if multi {
        out.push(Channel::power("gpu_sum", Scope::GpuOnly, Role::Total, NAME));
    }
    for g in gpus.iter().filter(|g| g.energy_counter) {
        out.push(Channel::counter(
            format!("gpu{}_energy", g.index),
            Scope::GpuOnly,
            NAME,
            format!("gpu{}", g.index),
            None,
        ));
    }
    for g in gpus {
        let i = g.index;
        out.push(Channel::metric(format!("gpu{i}_util"), Unit::Percent, NAME));
        out.push(Channel::metric(format!("gpu{i}_mem_used"), Unit::MiB, NAME));
        out.push(Channel::metric(format!("gpu{i}_temp"), Unit::C, NAME));
        out.push(Channel::metric(format!("gpu{i}_sm_clock"), Unit::MHz, NAME));
    }
    out
}

/// A short reason for an NVML error a user can act on.
pub fn explain_error(e: &NvmlError) -> String {
    match e {
        NvmlError::LibloadingError(_) | NvmlError::LibraryNotFound => {
            "libnvidia-ml.so could not be loaded (no NVIDIA driver installed)".to_string()
        }
        NvmlError::DriverNotLoaded => "the NVIDIA kernel driver is not loaded".to_string(),
        NvmlError::NoPermission => "no permission to query the GPU through NVML".to_string(),
        NvmlError::NotSupported => "NVML does not support this query on this GPU".to_string(),
        other => format!("NVML error: {other}"),
    }
}

/// What opening one GPU found about its power reading.
#[derive(Clone, Debug, PartialEq)]
pub enum PowerProbe {
    Works(PowerMethod),
    /// NVML answered NotSupported (Jetson boards with JetPack 7).
    NotSupported,
    /// Another error, explained.
    Failed(String),
}

/// One GPU as probed at open.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuProbe {
    pub index: u32,
    pub name: String,
    pub power: PowerProbe,
    pub energy_counter: bool,
    pub power_limit_w: Option<f64>,
}

/// The GPUs this source reads, or why NVML is not a power source here. NVML
/// that loads but reads no power is "not available", never 0 W; on a Jetson
/// the reason says JetPack 7's NVML answers NotSupported and that the Jetson
/// readers (ina3221, tegrastats) are used instead.
pub fn decide(probes: Vec<GpuProbe>, jetson: bool) -> Result<Vec<GpuCaps>, String> {
    let mut gpus = Vec::new();
    let mut not_supported = Vec::new();
    let mut failed = Vec::new();
    for p in probes {
        match p.power {
            PowerProbe::Works(power) => gpus.push(GpuCaps {
                index: p.index,
                name: p.name,
                power,
                energy_counter: p.energy_counter,
                power_limit_w: p.power_limit_w,
            }),
            PowerProbe::NotSupported => not_supported.push(p.name),
            PowerProbe::Failed(why) => failed.push(format!("{} ({why})", p.name)),
        }
    }
    if !gpus.is_empty() {
        return Ok(gpus);
    }
    let mut why = Vec::new();
    if !not_supported.is_empty() {
        why.push(if jetson {
            format!(
                "NVML loads but answers NotSupported for power on {} (a Jetson: JetPack 7's NVML has no power readings); the Jetson readers (ina3221, tegrastats) are used instead",
                not_supported.join(", ")
            )
        } else {
            format!(
                "NVML loads but answers NotSupported for power on {}",
                not_supported.join(", ")
            )
        });
    }
    if !failed.is_empty() {
        why.push(format!("no power reading from {}", failed.join(", ")));
    }
    if why.is_empty() {
        why.push("NVML loaded but lists no GPU".into());
    }
    Err(why.join("; "))
}

pub struct NvmlSource {
    nvml: Nvml,
    gpus: Vec<GpuCaps>,
    channels: Vec<Channel>,
    interval: Option<Duration>,
}

impl NvmlSource {
    /// `jetson_hint`: this machine is a Jetson (device tree, INA monitors), so
    /// NVML without power is explained as JetPack 7's NVML and the Jetson
    /// readers are named.
    pub fn open(interval: Option<Duration>, jetson_hint: bool) -> Result<Self, SensorError> {
        let nvml = Nvml::init().map_err(|e| SensorError::unavailable(NAME, explain_error(&e)))?;
        let n = nvml
            .device_count()
            .map_err(|e| SensorError::unavailable(NAME, explain_error(&e)))?;
        if n == 0 {
            return Err(SensorError::unavailable(
                NAME,
                "NVML loaded but lists no GPU",
            ));
        }
        let jetson = jetson_hint;
        let mut probes = Vec::new();
        for index in 0..n {
            let d = nvml.device_by_index(index).map_err(|e| {
                SensorError::unavailable(NAME, format!("GPU {index}: {}", explain_error(&e)))
            })?;
            let name = d.name().unwrap_or_else(|_| format!("GPU {index}"));
            let power = if instant_power_mw(&d).is_some() {
                PowerProbe::Works(PowerMethod::Instant)
            } else {
                match d.power_usage() {
                    Ok(_) => PowerProbe::Works(PowerMethod::PowerUsage),
                    Err(NvmlError::NotSupported) => PowerProbe::NotSupported,
                    Err(e) => PowerProbe::Failed(explain_error(&e)),
                }
            };
            probes.push(GpuProbe {
                index,
                name,
                power,
                energy_counter: d.total_energy_consumption().is_ok(),
                power_limit_w: d.enforced_power_limit().ok().map(|mw| mw as f64 / 1e3),
            });
        }
        let gpus = decide(probes, jetson).map_err(|why| SensorError::unavailable(NAME, why))?;
        let channels = build_channels(&gpus);
        Ok(NvmlSource {
            nvml,
            gpus,
            channels,
            interval,
        })
    }

    pub fn gpus(&self) -> &[GpuCaps] {
        &self.gpus
    }
}

fn instant_power_mw(d: &nvml_wrapper::Device<'_>) -> Option<f64> {
    let v = d.field_values_for(&[FieldId(FI_DEV_POWER_INSTANT)]).ok()?;
    let s = v.into_iter().next()?.ok()?;
    match s.value.ok()? {
        SampleValue::F64(x) => Some(x),
        SampleValue::U32(x) => Some(x as f64),
        SampleValue::U64(x) => Some(x as f64),
        SampleValue::I64(x) => Some(x as f64),
    }
    .filter(|mw| *mw > 0.0)
}

impl PowerSource for NvmlSource {
    fn name(&self) -> &str {
        NAME
    }
    fn channels(&self) -> &[Channel] {
        &self.channels
    }
    fn interval_override(&self) -> Option<Duration> {
        self.interval
    }
    fn resolution(&self) -> super::Resolution {
        if self.gpus.iter().any(|g| g.energy_counter) {
            super::Resolution {
                min_interval: Duration::from_millis(20),
                why:
                    "the GPU energy counter updates every 20 to 100 ms, so shorter windows read 0 J",
            }
        } else {
            super::Resolution {
                min_interval: Duration::from_millis(1),
                why: "NVML power readings are given at most once a millisecond",
            }
        }
    }
    fn read(&mut self) -> Result<Vec<Option<f64>>, SensorError> {
        let n = self.gpus.len();
        let mut power = Vec::with_capacity(n);
        let mut counters = Vec::new();
        let mut metrics = Vec::with_capacity(4 * n);
        for g in &self.gpus {
            let d = match self.nvml.device_by_index(g.index) {
                Ok(d) => d,
                Err(e) => {
                    return Err(SensorError::read(
                        NAME,
                        format!("GPU {}", g.index),
                        explain_error(&e),
                    ))
                }
            };
            let w = match g.power {
                PowerMethod::Instant => instant_power_mw(&d),
                PowerMethod::PowerUsage => d.power_usage().ok().map(|mw| mw as f64),
            }
            .map(|mw| mw / 1e3);
            power.push(w);
            if g.energy_counter {
                counters.push(d.total_energy_consumption().ok().map(|mj| mj as f64 / 1e3));
            }
            let util = d.utilization_rates().ok();
            metrics.push(util.map(|u| u.gpu as f64));
            metrics.push(
                d.memory_info()
                    .ok()
                    .map(|m| m.used as f64 / (1024.0 * 1024.0)),
            );
            metrics.push(d.temperature(TemperatureSensor::Gpu).ok().map(|c| c as f64));
            metrics.push(d.clock_info(Clock::SM).ok().map(|c| c as f64));
        }
        let mut out = power.clone();
        if n > 1 {
            out.push(super::jetson_rails::sum_of_rails(&power));
        }
        out.extend(counters);
        out.extend(metrics);
        Ok(out)
    }
    fn describe_device(&self, dev: &mut DeviceInfo) {
        for g in &self.gpus {
            dev.gpus.push(g.name.clone());
        }
        let limits: Vec<String> = self
            .gpus
            .iter()
            .filter_map(|g| {
                g.power_limit_w
                    .map(|w| format!("gpu{} limit {w:.0} W", g.index))
            })
            .collect();
        if !limits.is_empty() && dev.power_mode.is_none() {
            dev.power_mode = Some(limits.join(", "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(index: u32, energy: bool) -> GpuCaps {
        GpuCaps {
            index,
            name: format!("G{index}"),
            power: PowerMethod::Instant,
            energy_counter: energy,
            power_limit_w: Some(300.0),
        }
    }

    #[test]
    fn one_gpu_is_its_own_total_with_paired_counter() {
        let ch = build_channels(&[caps(0, true)]);
        assert_eq!(ch[0].name, "gpu0");
        assert_eq!(ch[0].role, Role::Total);
        assert_eq!(ch[0].scope, Scope::GpuOnly);
        assert_eq!(ch[1].role, Role::Counter);
        assert_eq!(ch[1].pairs_with.as_deref(), Some("gpu0"));
        assert_eq!(ch.len(), 2 + 4);
    }

    #[test]
    fn several_gpus_are_parts_of_their_sum() {
        let ch = build_channels(&[caps(0, true), caps(1, false)]);
        let roles: Vec<(&str, Role)> = ch
            .iter()
            .take(4)
            .map(|c| (c.name.as_str(), c.role))
            .collect();
        assert_eq!(
            roles,
            [
                ("gpu0", Role::Part),
                ("gpu1", Role::Part),
                ("gpu_sum", Role::Total),
                ("gpu0_energy", Role::Counter)
            ]
        );
        assert_eq!(crate::model::sample::total_scope_label(&ch), "GPU only");
    }

    #[test]
    fn errors_are_explained() {
        assert!(explain_error(&NvmlError::DriverNotLoaded).contains("driver"));
        assert!(explain_error(&NvmlError::LibraryNotFound).contains("libnvidia-ml.so"));
    }

    #[test]
    fn init_fails_cleanly_where_there_is_no_driver() {
        // On a machine without libnvidia-ml.so this is the path users hit;
        // with a GPU it opens. Either way: no panic.
        match NvmlSource::open(None, false) {
            Ok(s) => assert!(!s.channels().is_empty()),
            Err(e) => assert!(e.to_string().starts_with("nvml: not available"), "{e}"),
        }
    }

    fn probe(index: u32, name: &str, power: PowerProbe) -> GpuProbe {
        GpuProbe {
            index,
            name: name.into(),
            power,
            energy_counter: false,
            power_limit_w: None,
        }
    }

    #[test]
    fn jetpack7_not_supported_falls_back_to_the_jetson_readers() {
        let e = decide(vec![probe(0, "Orin", PowerProbe::NotSupported)], true).unwrap_err();
        assert!(e.contains("NotSupported for power on Orin"), "{e}");
        assert!(
            e.contains("Jetson readers (ina3221, tegrastats) are used"),
            "{e}"
        );
        let e = decide(vec![probe(0, "X", PowerProbe::NotSupported)], false).unwrap_err();
        assert!(!e.contains("Jetson"), "{e}");
        let e = decide(
            vec![probe(0, "A", PowerProbe::Failed("no permission".into()))],
            false,
        )
        .unwrap_err();
        assert!(e.contains("A (no permission)"), "{e}");
        assert!(decide(vec![], false).unwrap_err().contains("no GPU"));
    }

    #[test]
    fn a_gpu_with_power_is_kept_beside_one_without() {
        let g = decide(
            vec![
                probe(0, "A", PowerProbe::NotSupported),
                probe(1, "B", PowerProbe::Works(PowerMethod::PowerUsage)),
            ],
            false,
        )
        .unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].index, 1);
        assert_eq!(g[0].power, PowerMethod::PowerUsage);
    }
}
