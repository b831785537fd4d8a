//! `/metrics`: a [`MetricsSnapshot`] in the Prometheus text format 0.0.4, or
//! in OpenMetrics 1.0 when the scraper asks for it. Base units in names,
//! `_total` on counters, `# HELP`/`# TYPE`/`# UNIT` (a comment in 0.0.4),
//! `host` and `label` on every series. A figure that is unknown is absent,
//! never 0.
//!
//! Channel series carry `channel`, `scope` (snake case, `estimate` for an
//! estimate), `source` and `role`: `in_total` for a channel counted in the
//! session total, `part` for a part of one, `counter` for a hardware energy
//! counter; the session total itself is `channel="total",role="total"`.
use std::fmt::Write as _;

use super::snapshot::{ChannelFigures, MetricsSnapshot};

pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the Accept header names it, else the classic text.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => CONTENT_TYPE_TEXT,
            Format::OpenMetrics => CONTENT_TYPE_OPENMETRICS,
        }
    }
}

/// The monitor's own cost, read at scrape time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SelfCost {
    pub cpu_s: Option<f64>,
    pub resident_bytes: Option<u64>,
}

impl SelfCost {
    /// From /proc/self/stat (utime + stime) and /proc/self/statm (resident pages).
    pub fn read() -> SelfCost {
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let statm = std::fs::read_to_string("/proc/self/statm").ok();
        let tick = clock_ticks_per_s();
        let page = page_size();
        SelfCost {
            cpu_s: stat.as_deref().and_then(|s| proc_cpu_s(s, tick)),
            resident_bytes: statm
                .as_deref()
                .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
                .map(|pages| pages * page),
        }
    }
}

use crate::sys::calls::{clock_ticks_per_s, page_size};

/// utime + stime of a /proc/PID/stat line, in seconds (fields 14 and 15;
/// the command name in parentheses may contain spaces).
pub fn proc_cpu_s(stat: &str, ticks_per_s: f64) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let utime: f64 = f.next()?.parse().ok()?;
    let stime: f64 = f.next()?.parse().ok()?;
    Some((utime + stime) / ticks_per_s)
}

/// A label value escaped for both formats: backslash, double quote, newline.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    Info,
}

/// One metric family being written.
struct Writer {
    out: String,
    format: Format,
    common: String,
}

impl Writer {
    /// `name` is the sample name (with `_total` / `_info`); OpenMetrics
    /// names the family without that suffix.
    fn family(&mut self, name: &str, kind: Kind, unit: &str, help: &str) {
        let family = match (self.format, kind) {
            (Format::OpenMetrics, Kind::Counter) => name.trim_end_matches("_total"),
            (Format::OpenMetrics, Kind::Info) => name.trim_end_matches("_info"),
            _ => name,
        };
        let ty = match (kind, self.format) {
            (Kind::Counter, _) => "counter",
            (Kind::Gauge, _) | (Kind::Info, Format::Text) => "gauge",
            (Kind::Info, Format::OpenMetrics) => "info",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {family} {help}");
        let _ = writeln!(self.out, "# TYPE {family} {ty}");
        if !unit.is_empty() {
            let _ = writeln!(self.out, "# UNIT {family} {unit}");
        }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.out, "{name}{{{}", self.common);
        for (k, v) in labels {
            let _ = write!(self.out, ",{k}=\"{}\"", escape_label(v));
        }
        let _ = writeln!(self.out, "}} {}", number(value));
    }

    fn gauge(&mut self, name: &str, unit: &str, help: &str, v: Option<f64>) {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            self.family(name, Kind::Gauge, unit, help);
            self.sample(name, &[], v);
        }
    }

    fn counter(&mut self, name: &str, unit: &str, help: &str, v: Option<f64>) {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            self.family(name, Kind::Counter, unit, help);
            self.sample(name, &[], v);
        }
    }
}

/// A finite number as both formats write it (integers without a fraction).
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The whole exposition for one scrape.
pub fn render(s: &MetricsSnapshot, cost: SelfCost, format: Format) -> String {
    let mut w = Writer {
        out: String::with_capacity(4096),
        format,
        common: format!(
            "host=\"{}\",label=\"{}\"",
            escape_label(&s.host),
            escape_label(&s.label)
        ),
    };
    energy_and_power(&mut w, s);
    w.counter(
        "trainwatt_uncovered_seconds_total",
        "seconds",
        "Time the session total was unknown or in a sensor gap (not integrated).",
        Some(s.uncovered_s),
    );
    w.counter(
        "trainwatt_samples_total",
        "",
        "Sample rows recorded.",
        Some(s.samples as f64),
    );
    w.counter(
        "trainwatt_missed_samples_total",
        "",
        "Sensor reads missed: sensor-gap markers while recording (a lower bound), the sampler's count after the session closed.",
        Some(s.missed_samples as f64),
    );
    w.gauge(
        "trainwatt_session_elapsed_seconds",
        "seconds",
        "Session time of the latest event folded into these figures.",
        Some(s.elapsed_s),
    );
    training(&mut w, s);
    w.counter(
        "trainwatt_self_cpu_seconds_total",
        "seconds",
        "CPU time used by this trainwatt process (user + system).",
        cost.cpu_s,
    );
    w.gauge(
        "trainwatt_self_resident_memory_bytes",
        "bytes",
        "Resident memory of this trainwatt process.",
        cost.resident_bytes.map(|b| b as f64),
    );
    if format == Format::OpenMetrics {
        w.out.push_str("# EOF\n");
    }
    w.out
}

fn chan_labels(c: &ChannelFigures) -> [(&'static str, &str); 4] {
    [
        ("channel", c.name.as_str()),
        ("scope", c.scope),
        ("source", c.source.as_str()),
        ("role", c.role),
    ]
}

fn energy_and_power(w: &mut Writer, s: &MetricsSnapshot) {
    let total_labels = [
        ("channel", "total"),
        ("scope", s.total_scope),
        ("source", s.total_source.as_str()),
        ("role", "total"),
    ];
    let energy: Vec<_> = s
        .channels
        .iter()
        .filter(|c| !c.is_counter)
        .filter_map(|c| Some((chan_labels(c), c.energy_j?)))
        .collect();
    if s.total_energy_j.is_some() || !energy.is_empty() {
        w.family(
            "trainwatt_energy_joules_total",
            Kind::Counter,
            "joules",
            "Energy integrated from power readings over covered time; role=\"total\" is the session total.",
        );
        if let Some(j) = s.total_energy_j {
            w.sample("trainwatt_energy_joules_total", &total_labels, j);
        }
        for (l, j) in &energy {
            w.sample("trainwatt_energy_joules_total", l, *j);
        }
    }
    let counters: Vec<_> = s
        .channels
        .iter()
        .filter(|c| c.is_counter)
        .filter_map(|c| Some((chan_labels(c), c.energy_j?)))
        .collect();
    if !counters.is_empty() {
        w.family(
            "trainwatt_counter_energy_joules_total",
            Kind::Counter,
            "joules",
            "Energy from a hardware energy counter (wraps and resets unwrapped) since the session started.",
        );
        for (l, j) in &counters {
            w.sample("trainwatt_counter_energy_joules_total", l, *j);
        }
    }
    let power: Vec<_> = s
        .channels
        .iter()
        .filter(|c| !c.is_counter)
        .filter_map(|c| Some((chan_labels(c), c.power_w?)))
        .collect();
    if s.total_power_w.is_some() || !power.is_empty() {
        w.family(
            "trainwatt_power_watts",
            Kind::Gauge,
            "watts",
            "Latest power reading; absent when unknown or stale; role=\"total\" is the session total.",
        );
        if let Some(p) = s.total_power_w {
            w.sample("trainwatt_power_watts", &total_labels, p);
        }
        for (l, p) in &power {
            w.sample("trainwatt_power_watts", l, *p);
        }
    }
}

fn training(w: &mut Writer, s: &MetricsSnapshot) {
    if let Some(r) = &s.run {
        let bs = r.batch_size.map(|b| b.to_string()).unwrap_or_default();
        let ep = r.epochs.map(|e| e.to_string()).unwrap_or_default();
        w.family(
            "trainwatt_run_info",
            Kind::Info,
            "",
            "The training run (value 1): model, dataset, batch size, epochs, device, status.",
        );
        w.sample(
            "trainwatt_run_info",
            &[
                ("model", r.model.as_str()),
                ("dataset", r.dataset.as_str()),
                ("batch_size", bs.as_str()),
                ("epochs", ep.as_str()),
                ("device", r.device.as_deref().unwrap_or("")),
                ("status", r.status),
            ],
            1.0,
        );
    }
    w.gauge(
        "trainwatt_training_progress_ratio",
        "ratio",
        "Fraction of the training run done, 0 to 1.",
        s.progress,
    );
    w.gauge(
        "trainwatt_epoch",
        "",
        "Current epoch (1-based).",
        s.epoch.map(f64::from),
    );
    w.counter(
        "trainwatt_images_total",
        "",
        "Training images processed.",
        s.images.map(|n| n as f64),
    );
    w.gauge("trainwatt_loss", "", "Latest training loss.", s.loss);
    w.gauge(
        "trainwatt_validation_accuracy_ratio",
        "ratio",
        "Validation accuracy of the latest epoch, 0 to 1.",
        s.val_acc,
    );
    w.gauge(
        "trainwatt_projected_energy_joules",
        "joules",
        "Training energy projected at completion (energy so far + recent mean power x ETA).",
        s.projected_j,
    );
    w.gauge(
        "trainwatt_energy_per_image_joules",
        "joules",
        "Energy of the training window per image processed.",
        s.joules_per_image,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::snapshot::{ChannelFigures, RunInfo};

    fn snap() -> MetricsSnapshot {
        MetricsSnapshot {
            host: "h\"1".into(),
            label: "nano\\bs8\nx".into(),
            channels: vec![
                ChannelFigures {
                    name: "gpu0".into(),
                    scope: "gpu_only",
                    source: "nvml".into(),
                    role: "in_total",
                    power_w: None,
                    energy_j: Some(12.5),
                    is_counter: false,
                },
                ChannelFigures {
                    name: "gpu0_energy".into(),
                    scope: "gpu_only",
                    source: "nvml".into(),
                    role: "counter",
                    power_w: None,
                    energy_j: Some(13.0),
                    is_counter: true,
                },
            ],
            total_scope: "gpu_only",
            total_source: "nvml".into(),
            total_energy_j: Some(12.5),
            total_power_w: None,
            uncovered_s: 0.25,
            samples: 10,
            missed_samples: 0,
            elapsed_s: 1.0,
            run: Some(RunInfo {
                model: "resnet18".into(),
                dataset: "synthetic:64".into(),
                batch_size: Some(8),
                epochs: None,
                device: None,
                status: "running",
            }),
            progress: Some(0.5),
            epoch: Some(1),
            images: Some(64),
            loss: None,
            val_acc: None,
            projected_j: None,
            joules_per_image: None,
            ended: false,
            interval_ms: 100.0,
        }
    }

    #[test]
    fn text_format_escapes_labels_and_leaves_unknown_out() {
        let t = render(&snap(), SelfCost::default(), Format::Text);
        assert!(
            t.contains("host=\"h\\\"1\",label=\"nano\\\\bs8\\nx\""),
            "{t}"
        );
        assert!(t.contains("# TYPE trainwatt_energy_joules_total counter\n"));
        assert!(t.contains(
            "trainwatt_energy_joules_total{host=\"h\\\"1\",label=\"nano\\\\bs8\\nx\",channel=\"total\",scope=\"gpu_only\",source=\"nvml\",role=\"total\"} 12.5\n"
        ));
        assert!(
            !t.contains("trainwatt_power_watts"),
            "unknown power is absent, not 0"
        );
        assert!(!t.contains("trainwatt_loss"));
        assert!(t.contains("trainwatt_counter_energy_joules_total{"));
        assert!(t.contains("epochs=\"\""));
        assert!(!t.contains("# EOF"));
    }

    #[test]
    fn openmetrics_names_families_without_total_and_ends_with_eof() {
        let t = render(&snap(), SelfCost::default(), Format::OpenMetrics);
        assert!(t.contains(
            "# TYPE trainwatt_energy_joules counter\n# UNIT trainwatt_energy_joules joules\n"
        ));
        assert!(t.contains("# TYPE trainwatt_run info\n"));
        assert!(t.contains("\ntrainwatt_run_info{"));
        assert!(t.contains("\ntrainwatt_samples_total{"));
        assert!(t.ends_with("# EOF\n"));
        assert_eq!(
            Format::from_accept(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(Format::from_accept(Some("*/*")), Format::Text);
    }

    #[test]
    fn proc_stat_cpu_time_survives_a_name_with_spaces() {
        let stat = "1234 (a b) R 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0";
        assert_eq!(proc_cpu_s(stat, 100.0), Some(2.0));
        assert!(SelfCost::read().resident_bytes.unwrap_or(0) > 0);
    }
}
