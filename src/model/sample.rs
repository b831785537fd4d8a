//! What a power source reports: channels (what is measured, in which unit, over
//! which scope) and samples (one timestamped row of readings).
use serde::{Deserialize, Serialize};

/// What part of the machine a power figure covers. Every power figure carries
/// one, so a user never compares a whole board with a GPU alone by accident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// A total input rail of the board (Jetson `POM_5V_IN`, `VDD_IN`).
    BoardInput,
    /// The sum of a module's rails where no total rail exists (AGX Xavier, AGX Orin).
    ModuleRailsSum,
    /// One rail that is a part of a total (never added to its total).
    Rail,
    /// An NVIDIA GPU's own power (NVML, nvidia-smi): the card, not the host.
    GpuOnly,
    /// A CPU package (RAPL `package-N`).
    CpuPackage,
    /// DRAM beside the package (RAPL `dram`).
    Dram,
    /// The whole platform as RAPL `psys` sees it.
    Platform,
    /// No sensor: estimated from utilisation. Always shown with the word "estimate".
    Estimate,
    /// Not a power figure (utilisation, temperature, clock, memory).
    Metric,
}

impl Scope {
    /// The label shown to users and written into exports.
    pub fn label(self) -> &'static str {
        match self {
            Scope::BoardInput => "board input",
            Scope::ModuleRailsSum => "sum of module rails",
            Scope::Rail => "rail",
            Scope::GpuOnly => "GPU only",
            Scope::CpuPackage => "CPU package",
            Scope::Dram => "DRAM",
            Scope::Platform => "platform (psys)",
            Scope::Estimate => "estimate",
            Scope::Metric => "metric",
        }
    }
}

/// The unit of a channel's readings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Unit {
    /// Watts: instantaneous or short-average power.
    W,
    /// Joules: a cumulative hardware energy counter (may wrap or reset).
    J,
    /// Percent (utilisation).
    #[serde(rename = "%")]
    Percent,
    /// Degrees Celsius.
    C,
    /// Megahertz.
    MHz,
    /// Mebibytes.
    MiB,
}

impl Unit {
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::W => "W",
            Unit::J => "J",
            Unit::Percent => "%",
            Unit::C => "°C",
            Unit::MHz => "MHz",
            Unit::MiB => "MiB",
        }
    }
}

/// How a channel takes part in the session's total power.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Counted in the session total. Each source marks at most one channel (or
    /// one sum channel) as its total, so totals of different sources add up
    /// without double counting (GPU only + CPU package is the fair server figure).
    Total,
    /// A power channel that is a part of some total: shown, never added.
    Part,
    /// A cumulative energy counter (unit J), paired with a power channel.
    Counter,
    /// Anything else worth showing beside power.
    Metric,
}

/// One column of a session: what it measures and where it comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Unique within a session, e.g. `gpu0`, `POM_5V_IN`, `package-0`, `cpu`.
    pub name: String,
    pub unit: Unit,
    pub scope: Scope,
    pub role: Role,
    /// The source that produced it: `nvml`, `tegrastats`, `ina3221`, `rapl`,
    /// `cpu_estimate`, `nvidia_smi_csv`, ...
    pub source: String,
    /// Counter channels: the counter wraps back to zero after this many joules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap_j: Option<f64>,
    /// Counter channels: the power channel that measures the same thing, so the
    /// counter energy and the integrated energy can be compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairs_with: Option<String>,
}

impl Channel {
    /// A power channel in watts.
    pub fn power(
        name: impl Into<String>,
        scope: Scope,
        role: Role,
        source: impl Into<String>,
    ) -> Self {
        Channel {
            name: name.into(),
            unit: Unit::W,
            scope,
            role,
            source: source.into(),
            wrap_j: None,
            pairs_with: None,
        }
    }

    /// A cumulative energy counter in joules measuring the same thing as `pairs_with`.
    pub fn counter(
        name: impl Into<String>,
        scope: Scope,
        source: impl Into<String>,
        pairs_with: impl Into<String>,
        wrap_j: Option<f64>,
    ) -> Self {
        Channel {
            name: name.into(),
            unit: Unit::J,
            scope,
            role: Role::Counter,
            source: source.into(),
            wrap_j,
            pairs_with: Some(pairs_with.into()),
        }
    }

    /// A non-power metric (utilisation, temperature, clock, memory).
    pub fn metric(name: impl Into<String>, unit: Unit, source: impl Into<String>) -> Self {
        Channel {
            name: name.into(),
            unit,
            scope: Scope::Metric,
            role: Role::Metric,
            source: source.into(),
            wrap_j: None,
            pairs_with: None,
        }
    }

    pub fn is_power(&self) -> bool {
        self.unit == Unit::W
    }
}

/// One row of readings taken at one moment. `values` is indexed like the
/// session's channel list; `None` means no reading for that channel in this
/// row (another source's row, or a read that failed), never zero.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Seconds since the session started (monotonic clock for live data).
    pub t_s: f64,
    pub values: Vec<Option<f64>>,
}

/// Human label for the scope of a session's total: the distinct scopes of its
/// total channels joined with " + ", e.g. "GPU only + CPU package".
pub fn total_scope_label(channels: &[Channel]) -> String {
    let mut labels: Vec<&'static str> = Vec::new();
    for c in channels
        .iter()
        .filter(|c| c.role == Role::Total && c.is_power())
    {
        let l = c.scope.label();
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    if labels.is_empty() {
        "no power channel".to_string()
    } else {
        labels.join(" + ")
    }
}

/// True when any channel counted in the total is an estimate.
pub fn total_is_estimate(channels: &[Channel]) -> bool {
    channels
        .iter()
        .any(|c| c.role == Role::Total && c.scope == Scope::Estimate)
}

/// One CPU-estimate total, the channel most unit tests record.
#[cfg(test)]
impl Channel {
    pub fn cpu_estimate_total() -> Channel {
        Channel::power("cpu", Scope::Estimate, Role::Total, "cpu_estimate")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_scope_label_joins_distinct_scopes_of_totals_only() {
        let chans = vec![
            Channel::power("gpu0", Scope::GpuOnly, Role::Total, "nvml"),
            Channel::power("gpu1", Scope::GpuOnly, Role::Total, "nvml"),
            Channel::power("core", Scope::Rail, Role::Part, "rapl"),
            Channel::power("package-0", Scope::CpuPackage, Role::Total, "rapl"),
        ];
        assert_eq!(total_scope_label(&chans), "GPU only + CPU package");
        assert!(!total_is_estimate(&chans));
    }

    #[test]
    fn scope_serialises_snake_case() {
        let s = serde_json::to_string(&Scope::ModuleRailsSum).unwrap();
        assert_eq!(s, "\"module_rails_sum\"");
        let u = serde_json::to_string(&Unit::Percent).unwrap();
        assert_eq!(u, "\"%\"");
    }
}
