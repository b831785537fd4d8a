//! Power sources: one file per source, one trait, sampled on their own threads
//! by [`sampler::Sampler`]. Nothing here imports the app, the UI or ratatui.
//!
//! | source      | what it measures                      | scope                        |
//! |-------------|---------------------------------------|------------------------------|
//! | `nvml`      | NVIDIA GPU power, energy counter      | GPU only                     |
//! | `ina3221`   | Jetson rails read from sysfs (INA3221, Thor's INA238) | board input / sum of rails |
//! | `tegrastats`| Jetson rails from the tegrastats tool | board input / sum of rails   |
//! | `rapl`      | CPU package, DRAM, psys counters      | CPU package / DRAM / psys    |
//! | `estimate`  | CPU utilisation × (TDP − idle) + idle | estimate                     |
use std::path::PathBuf;
use std::time::Duration;

use crate::model::device::DeviceInfo;
use crate::model::sample::Channel;

pub mod channel_names;
pub mod cpu_estimate;
pub mod device;
#[cfg(test)]
pub(crate) mod fake_tree;
pub mod ina238;
pub mod ina3221;
pub mod jetson_boards;
pub mod jetson_rails;
pub mod nvml;
pub mod rapl;
pub mod sampler;
pub mod sysfs_file;
pub mod tegrastats;
pub mod tegrastats_layout;
pub mod tegrastats_parse;

pub use sampler::{Sampler, SamplerHandle};

/// What can go wrong with a power source.
#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    /// The source does not exist on this machine (no library, no device).
    #[error("{source_name}: not available: {reason}")]
    Unavailable { source_name: String, reason: String },
    /// The files exist but this user may not read them.
    #[error("{source_name}: permission denied reading {path}: {hint}")]
    Permission {
        source_name: String,
        path: PathBuf,
        hint: String,
    },
    /// A read failed mid-session.
    #[error("{source_name}: reading {what} failed: {detail}")]
    Read {
        source_name: String,
        what: String,
        detail: String,
    },
    /// A streaming source's child process ended.
    #[error("{source_name}: {detail}")]
    Ended { source_name: String, detail: String },
    /// `--source` names something unknown or a bad option value.
    #[error("{0}")]
    Usage(String),
    #[error("could not start the sampler thread: {0}")]
    Thread(std::io::Error),
}

impl SensorError {
    pub(crate) fn read(source: &str, what: impl Into<String>, detail: impl ToString) -> Self {
        SensorError::Read {
            source_name: source.to_string(),
            what: what.into(),
            detail: detail.to_string(),
        }
    }
    pub(crate) fn unavailable(source: &str, reason: impl Into<String>) -> Self {
        SensorError::Unavailable {
            source_name: source.to_string(),
            reason: reason.into(),
        }
    }
}

/// How a source delivers readings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The sampler calls `read` on a timer.
    Polled,
    /// `read` blocks until the source has a reading (a child process printing
    /// lines); the sampler calls it in a loop and `stop_handle` unblocks it.
    Streaming,
}

/// The shortest sampling interval at which a source still delivers a reading
/// worth keeping, and why (refused at start: `/proc/stat` at 0.1 ms gives
/// empty rows and 0 J, not a finer figure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub min_interval: Duration,
    /// Completes "cannot sample every N ms: ...".
    pub why: &'static str,
}

/// The sampling interval any source may be given: 1 µs to one day.
pub const INTERVAL_RANGE_MS: (f64, f64) = (0.001, 86_400_000.0);

/// Unblocks a streaming source from another thread (kills its child).
pub type StopHandle = Box<dyn Fn() + Send + Sync>;

/// One power source. Polled sources answer `read` at once; streaming sources
/// (tegrastats) block in `read` until their child prints a line.
pub trait PowerSource: Send {
    /// `nvml`, `ina3221`, `tegrastats`, `rapl`, `cpu_estimate`.
    fn name(&self) -> &str;
    /// The columns every reading fills, in order.
    fn channels(&self) -> &[Channel];
    fn delivery(&self) -> Delivery {
        Delivery::Polled
    }
    /// Sampling interval for this source when it differs from the session's
    /// (`--source ina3221@10`).
    fn interval_override(&self) -> Option<Duration> {
        None
    }
    /// How fast this source can deliver readings; `Sampler::spawn` refuses a
    /// shorter interval with this reason.
    fn resolution(&self) -> Resolution;
    /// Called once by `Sampler::spawn` before the source's thread starts, with
    /// the interval in use (counters prime here so the first reading covers one interval).
    /// A streaming source returns a handle that unblocks `read` from another thread.
    fn start(&mut self, _interval: Duration) -> Result<Option<StopHandle>, SensorError> {
        Ok(None)
    }
    /// One reading, one value per channel; `None` where that channel could not
    /// be read this time.
    fn read(&mut self) -> Result<Vec<Option<f64>>, SensorError>;
    /// What this source knows about the machine (GPU names, power limits).
    fn describe_device(&self, _dev: &mut DeviceInfo) {}
}

/// Which sources to use and how (shared by `watch`, `record`, `sources`, ...).
#[derive(Debug, Clone, PartialEq, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct SourceArgs {
    /// auto (default: the best available), or a comma list of: nvml, ina3221, tegrastats, rapl, estimate.
    /// A source may carry its own interval: `ina3221@10,rapl@50`.
    /// Auto picks the first available of nvml, ina3221, tegrastats, rapl, estimate,
    /// and adds rapl beside nvml (GPU + CPU package is the fair server figure).
    #[arg(long = "source", default_value = "auto")]
    pub source: String,
    /// Sampling interval in ms (0.001 to 86400000); a source refuses an interval
    /// shorter than it can deliver (estimate: 10 ms, the NVML energy counter: 20 ms)
    #[arg(long = "interval-ms", default_value_t = 100.0)]
    pub interval_ms: f64,
    /// CPU estimate: watts at 0% utilisation [default: 10]
    #[arg(long)]
    pub cpu_idle_w: Option<f64>,
    /// CPU estimate: watts at 100% utilisation [default: 65, a common desktop TDP]
    #[arg(long)]
    pub cpu_tdp_w: Option<f64>,
    /// Root of sysfs (tests point it at a fake tree)
    #[arg(long, default_value = "/sys", hide = true)]
    pub sysfs_root: PathBuf,
    /// Root of procfs (tests point it at a fake tree)
    #[arg(long, default_value = "/proc", hide = true)]
    pub proc_root: PathBuf,
    /// The tegrastats program (default: `tegrastats` on PATH, then /usr/bin/tegrastats)
    #[arg(long, hide = true)]
    pub tegrastats_bin: Option<PathBuf>,
}

impl Default for SourceArgs {
    fn default() -> Self {
        SourceArgs {
            source: "auto".into(),
            interval_ms: 100.0,
            cpu_idle_w: None,
            cpu_tdp_w: None,
            sysfs_root: PathBuf::from("/sys"),
            proc_root: PathBuf::from("/proc"),
            tegrastats_bin: None,
        }
    }
}

/// The kinds of source, in the default preference order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Nvml,
    Ina3221,
    Tegrastats,
    Rapl,
    Estimate,
}

impl SourceKind {
    pub const PREFERENCE: [SourceKind; 5] = [
        SourceKind::Nvml,
        SourceKind::Ina3221,
        SourceKind::Tegrastats,
        SourceKind::Rapl,
        SourceKind::Estimate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Nvml => "nvml",
            SourceKind::Ina3221 => "ina3221",
            SourceKind::Tegrastats => "tegrastats",
            SourceKind::Rapl => "rapl",
            SourceKind::Estimate => "estimate",
        }
    }

    pub fn parse(s: &str) -> Option<SourceKind> {
        SourceKind::PREFERENCE
            .into_iter()
            .find(|k| k.name() == s)
            .or(match s {
                "cpu_estimate" | "cpu-estimate" => Some(SourceKind::Estimate),
                _ => None,
            })
    }
}

/// What `detect` found for one source.
#[derive(Debug)]
pub struct SourceReport {
    pub kind: SourceKind,
    /// The channels it would provide, or why it is not available.
    pub status: Result<Vec<Channel>, String>,
    /// Extra facts worth showing (GPU names, rail rule, defaults used).
    pub detail: Option<String>,
}

/// A requested source with its optional own interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SourceRequest {
    pub kind: SourceKind,
    pub interval: Option<Duration>,
}

/// Parse `--source`: `auto` gives `None`; otherwise the listed sources.
pub fn parse_source_list(s: &str) -> Result<Option<Vec<SourceRequest>>, SensorError> {
    let s = s.trim();
    if s.is_empty() || s == "auto" {
        return Ok(None);
    }
    let mut out: Vec<SourceRequest> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, ms) = match part.split_once('@') {
            Some((n, ms)) => (n, Some(ms)),
            None => (part, None),
        };
        let kind = SourceKind::parse(name).ok_or_else(|| {
            SensorError::Usage(format!(
                "--source: unknown source `{name}`; use auto or a comma list of nvml, ina3221, tegrastats, rapl, estimate"
            ))
        })?;
        let interval = match ms {
            Some(ms) => Some(
                parse_interval_ms(ms)
                    .map_err(|e| SensorError::Usage(format!("--source {part}: {e}")))?,
            ),
            None => None,
        };
        if out.iter().any(|r| r.kind == kind) {
            return Err(SensorError::Usage(format!(
                "--source: `{name}` is listed twice"
            )));
        }
        out.push(SourceRequest { kind, interval });
    }
    if out.is_empty() {
        return Err(SensorError::Usage("--source: empty list".into()));
    }
    Ok(Some(out))
}

/// An interval in milliseconds, as given on the command line.
pub fn parse_interval_ms(ms: &str) -> Result<Duration, String> {
    let v: f64 = ms
        .trim()
        .parse()
        .map_err(|_| format!("`{ms}` is not a number of milliseconds"))?;
    interval_from_ms(v)
}

/// An interval in milliseconds within [`INTERVAL_RANGE_MS`] (1 µs to one day);
/// whether a given source can sample that fast is its own [`Resolution`].
pub fn interval_from_ms(v: f64) -> Result<Duration, String> {
    let (lo, hi) = INTERVAL_RANGE_MS;
    if !(v.is_finite() && (lo..=hi).contains(&v)) {
        return Err(format!(
            "an interval of {v} ms is out of range (0.001 ms to one day, 86400000 ms)"
        ));
    }
    // Bounded, so this cannot panic.
    Ok(Duration::from_secs_f64(v / 1000.0))
}

fn open_one(
    kind: SourceKind,
    args: &SourceArgs,
    interval: Option<Duration>,
) -> Result<Box<dyn PowerSource>, SensorError> {
    Ok(match kind {
        SourceKind::Nvml => Box::new(nvml::NvmlSource::open(
            interval,
            device::is_jetson(&args.proc_root, &args.sysfs_root),
        )?),
        SourceKind::Ina3221 => Box::new(ina3221::Ina3221Source::open(&args.sysfs_root, interval)?),
        SourceKind::Tegrastats => Box::new(tegrastats::TegrastatsSource::open(
            args.tegrastats_bin.as_deref(),
            interval.or_else(|| interval_from_ms(args.interval_ms).ok()),
        )?),
        SourceKind::Rapl => Box::new(rapl::RaplSource::open(&args.sysfs_root, interval)?),
        SourceKind::Estimate => Box::new(cpu_estimate::CpuEstimateSource::open(
            &args.proc_root,
            cpu_estimate::EstimateParams::from_args(args)?,
            interval,
        )?),
    })
}

/// Every source tried, available or not (with the reason).
pub fn detect(args: &SourceArgs) -> Vec<SourceReport> {
    SourceKind::PREFERENCE
        .into_iter()
        .map(|kind| match open_one(kind, args, None) {
            Ok(src) => {
                let mut dev = DeviceInfo::default();
                src.describe_device(&mut dev);
                let detail = match kind {
                    SourceKind::Nvml if !dev.gpus.is_empty() => Some(dev.gpus.join(", ")),
                    SourceKind::Estimate => Some(
                        cpu_estimate::EstimateParams::from_args(args)
                            .map(|p| p.describe())
                            .unwrap_or_default(),
                    ),
                    _ => None,
                };
                SourceReport {
                    kind,
                    status: Ok(src.channels().to_vec()),
                    detail,
                }
            }
            Err(e) => SourceReport {
                kind,
                status: Err(short_reason(&e)),
                detail: None,
            },
        })
        .collect()
}

fn short_reason(e: &SensorError) -> String {
    match e {
        SensorError::Unavailable { reason, .. } => reason.clone(),
        SensorError::Permission { path, hint, .. } => {
            format!("permission denied reading {}: {hint}", path.display())
        }
        other => other.to_string(),
    }
}

/// Open the sources `args.source` asks for. `auto`: the first available in
/// the order NVML, INA3221, tegrastats, RAPL, estimate, plus RAPL beside NVML.
/// An explicit list opens every listed source or fails with the first reason.
pub fn open_sources(args: &SourceArgs) -> Result<Vec<Box<dyn PowerSource>>, SensorError> {
    interval_from_ms(args.interval_ms)
        .map_err(|e| SensorError::Usage(format!("--interval-ms: {e}")))?;
    match parse_source_list(&args.source)? {
        Some(list) => list
            .into_iter()
            .map(|r| open_one(r.kind, args, r.interval))
            .collect(),
        None => {
            let mut reasons = Vec::new();
            for kind in SourceKind::PREFERENCE {
                match open_one(kind, args, None) {
                    Ok(src) => {
                        let mut out = vec![src];
                        if kind == SourceKind::Nvml {
                            if let Ok(r) = open_one(SourceKind::Rapl, args, None) {
                                out.push(r);
                            }
                        }
                        return Ok(out);
                    }
                    Err(e) => reasons.push(format!("{}: {}", kind.name(), short_reason(&e))),
                }
            }
            Err(SensorError::unavailable(
                "auto",
                format!("no power source works here ({})", reasons.join("; ")),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_list_parses_names_and_own_intervals() {
        assert_eq!(parse_source_list("auto").unwrap(), None);
        let l = parse_source_list("nvml, rapl@10").unwrap().unwrap();
        assert_eq!(l[0].kind, SourceKind::Nvml);
        assert_eq!(l[0].interval, None);
        assert_eq!(l[1].kind, SourceKind::Rapl);
        assert_eq!(l[1].interval, Some(Duration::from_millis(10)));
        assert!(parse_source_list("nvml,gpu")
            .unwrap_err()
            .to_string()
            .contains("unknown source `gpu`"));
        assert!(parse_source_list("rapl,rapl").is_err());
        assert!(parse_source_list("rapl@0").is_err());
        assert!(parse_source_list("rapl@x").is_err());
    }
}
