//! A labelled estimate where no sensor exists: CPU power from `/proc/stat`
//! utilisation, linearly between an idle and a TDP figure. Its channel's scope
//! is `estimate`, so every view and export says so.
//!
//! Defaults: 10 W idle, 65 W at full load. 65 W is the most common desktop
//! TDP class; deriving a TDP from the core count was rejected because core
//! counts map to very different TDPs across VMs, laptops and servers, and a
//! fixed, stated figure is easier to check and to override
//! (`--cpu-idle-w`, `--cpu-tdp-w`).
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{PowerSource, SensorError, SourceArgs};
use crate::model::sample::{Channel, Role, Scope, Unit};

pub const DEFAULT_IDLE_W: f64 = 10.0;
pub const DEFAULT_TDP_W: f64 = 65.0;
pub const NAME: &str = "cpu_estimate";
/// One `/proc/stat` tick: Linux reports CPU time to user space in USER_HZ
/// units, fixed at 100 per second by the ABI whatever the kernel's own HZ.
pub const USER_HZ_TICK: Duration = Duration::from_millis(10);

/// The two figures the estimate interpolates between.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EstimateParams {
    pub idle_w: f64,
    pub tdp_w: f64,
}

impl EstimateParams {
    pub fn from_args(a: &SourceArgs) -> Result<Self, SensorError> {
        let p = EstimateParams {
            idle_w: a.cpu_idle_w.unwrap_or(DEFAULT_IDLE_W),
            tdp_w: a.cpu_tdp_w.unwrap_or(DEFAULT_TDP_W),
        };
        if !(p.idle_w.is_finite() && p.tdp_w.is_finite() && p.idle_w >= 0.0 && p.tdp_w >= p.idle_w)
        {
            return Err(SensorError::Usage(format!(
                "--cpu-idle-w {} / --cpu-tdp-w {}: need 0 <= idle <= TDP",
                p.idle_w, p.tdp_w
            )));
        }
        Ok(p)
    }

    pub fn describe(&self) -> String {
        format!(
            "estimate: {:.0} W idle to {:.0} W at 100% CPU, linear in /proc/stat utilisation (--cpu-idle-w, --cpu-tdp-w)",
            self.idle_w, self.tdp_w
        )
    }

    pub fn watts(&self, utilisation: f64) -> f64 {
        self.idle_w + utilisation.clamp(0.0, 1.0) * (self.tdp_w - self.idle_w)
    }
}

/// Busy and total jiffies from the aggregate `cpu` line of `/proc/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTimes {
    pub busy: u64,
    pub total: u64,
}

/// Parse the first (`cpu `) line of `/proc/stat`. Idle time is `idle + iowait`;
/// guest time is already inside user time and is not added twice.
pub fn parse_proc_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|x| x.parse::<u64>())
        .collect::<Result<_, _>>()
        .ok()?;
    if v.len() < 4 {
        return None;
    }
    let total: u64 = v.iter().sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total.saturating_sub(idle),
        total,
    })
}

/// Utilisation between two readings, `None` when no time passed.
pub fn utilisation(a: CpuTimes, b: CpuTimes) -> Option<f64> {
    let dt = b.total.checked_sub(a.total)?;
    if dt == 0 {
        return None;
    }
    let db = b.busy.saturating_sub(a.busy);
    Some((db as f64 / dt as f64).clamp(0.0, 1.0))
}

pub struct CpuEstimateSource {
    path: PathBuf,
    params: EstimateParams,
    channels: Vec<Channel>,
    last: Option<CpuTimes>,
    interval: Option<Duration>,
    buf: Vec<u8>,
    file: Option<std::fs::File>,
}

impl CpuEstimateSource {
    pub fn open(
        proc_root: &Path,
        params: EstimateParams,
        interval: Option<Duration>,
    ) -> Result<Self, SensorError> {
        let path = proc_root.join("stat");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            SensorError::unavailable("estimate", format!("cannot read {}: {e}", path.display()))
        })?;
        let first = parse_proc_stat(&text).ok_or_else(|| {
            SensorError::unavailable("estimate", format!("{} has no `cpu` line", path.display()))
        })?;
        Ok(CpuEstimateSource {
            path,
            params,
            channels: vec![
                Channel::power("cpu_estimate", Scope::Estimate, Role::Total, NAME),
                Channel::metric("cpu_util", Unit::Percent, NAME),
            ],
            last: Some(first),
            interval,
            buf: Vec::new(),
            file: None,
        })
    }

    pub fn params(&self) -> EstimateParams {
        self.params
    }
}

impl PowerSource for CpuEstimateSource {
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
        super::Resolution {
            min_interval: USER_HZ_TICK,
            why: "/proc/stat counts CPU time in ticks of 10 ms (USER_HZ, 100 per second), \
                  so a shorter interval mostly sees no tick and estimates nothing",
        }
    }
    fn start(&mut self, _interval: Duration) -> Result<Option<super::StopHandle>, SensorError> {
        // Prime on the sampling thread so the first reading covers one interval.
        self.last = self.read_times().ok();
        Ok(None)
    }
    fn read(&mut self) -> Result<Vec<Option<f64>>, SensorError> {
        let now = self.read_times()?;
        let u = self.last.and_then(|a| utilisation(a, now));
        self.last = Some(now);
        Ok(vec![u.map(|u| self.params.watts(u)), u.map(|u| u * 100.0)])
    }
}

impl CpuEstimateSource {
    /// Re-reads the kept-open file from offset 0 (procfs regenerates it),
    /// with `pread`, until the aggregate `cpu` line is complete: a reading
    /// costs one system call (the line comes first), not a seek, a stat and
    /// reads to the end, nor an open and a close.
    fn read_times(&mut self) -> Result<CpuTimes, SensorError> {
        match self.read_cpu_line() {
            Ok(Some(t)) => Ok(t),
            Ok(None) => Err(SensorError::read(
                NAME,
                self.path.display().to_string(),
                "no `cpu` line",
            )),
            Err(e) => {
                self.file = None;
                Err(SensorError::read(NAME, self.path.display().to_string(), e))
            }
        }
    }

    /// Read from offset 0 until the whole `cpu ` line is there (a torn last
    /// line waits for the rest of it) or the file ends. `buf` keeps its
    /// size between readings, so a reading neither allocates nor clears it.
    fn read_cpu_line(&mut self) -> std::io::Result<Option<CpuTimes>> {
        use std::os::unix::fs::FileExt;
        if self.file.is_none() {
            self.file = Some(std::fs::File::open(&self.path)?);
        }
        let Some(f) = self.file.as_ref() else {
            return Ok(None);
        };
        if self.buf.is_empty() {
            self.buf.resize(4096, 0);
        }
        let mut filled = 0;
        loop {
            if filled == self.buf.len() {
                self.buf.resize(filled * 2, 0);
            }
            let n = f.read_at(&mut self.buf[filled..], filled as u64)?;
            filled += n;
            let whole = match n {
                0 => filled,
                _ => self.buf[..filled]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1),
            };
            let times = std::str::from_utf8(&self.buf[..whole])
                .ok()
                .and_then(parse_proc_stat);
            if times.is_some() || n == 0 {
                return Ok(times);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_utilisation_and_watts() {
        let a = parse_proc_stat("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        assert_eq!(
            a,
            CpuTimes {
                busy: 200,
                total: 1000
            }
        );
        let b = parse_proc_stat("cpu  150 0 150 850 50 0 0 0 0 0\n").unwrap();
        // +100 busy, +100 idle/iowait of +200 total.
        assert_eq!(utilisation(a, b), Some(0.5));
        assert_eq!(utilisation(a, a), None);
        let p = EstimateParams {
            idle_w: 10.0,
            tdp_w: 65.0,
        };
        assert_eq!(p.watts(0.5), 37.5);
        assert_eq!(p.watts(2.0), 65.0);
        assert!(parse_proc_stat("intr 1 2 3").is_none());
    }

    #[test]
    fn source_on_a_fake_proc_is_labelled_estimate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stat"), "cpu  100 0 100 800 0 0 0 0 0 0\n").unwrap();
        let p = EstimateParams {
            idle_w: 10.0,
            tdp_w: 50.0,
        };
        let mut s = CpuEstimateSource::open(dir.path(), p, None).unwrap();
        assert_eq!(s.channels()[0].scope, Scope::Estimate);
        assert_eq!(s.channels()[0].scope.label(), "estimate");
        s.start(Duration::from_millis(100)).unwrap();
        std::fs::write(dir.path().join("stat"), "cpu  200 0 100 900 0 0 0 0 0 0\n").unwrap();
        let v = s.read().unwrap();
        assert_eq!(v, vec![Some(30.0), Some(50.0)]);
        // No time passed: no reading, never zero.
        assert_eq!(s.read().unwrap(), vec![None, None]);
    }

    /// The `cpu` line is read whole wherever it lies: past the first
    /// 4 KiB read (after a line torn between two reads), or at the end of
    /// the file without a newline.
    #[test]
    fn the_cpu_line_is_read_whole_past_the_first_read() {
        let dir = tempfile::tempdir().unwrap();
        let stat = dir.path().join("stat");
        let filler = "intr 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n".repeat(80);
        std::fs::write(
            &stat,
            format!("{filler}cpu  100 0 100 800 0 0 0 0 0 0\n{filler}"),
        )
        .unwrap();
        let p = EstimateParams {
            idle_w: 10.0,
            tdp_w: 50.0,
        };
        let mut s = CpuEstimateSource::open(dir.path(), p, None).unwrap();
        s.start(Duration::from_millis(100)).unwrap();
        assert!(filler.len() > 4096 && filler.len() % 4096 != 0);
        std::fs::write(&stat, format!("{filler}cpu  200 0 100 900 0 0 0 0 0 0")).unwrap();
        assert_eq!(s.read().unwrap(), vec![Some(30.0), Some(50.0)]);
        std::fs::write(&stat, "cpu  300 0 100 1000 0 0 0 0 0 0\n").unwrap();
        assert_eq!(
            s.read().unwrap(),
            vec![Some(30.0), Some(50.0)],
            "a shorter file"
        );
        std::fs::write(&stat, &filler).unwrap();
        assert!(
            s.read().is_err(),
            "no `cpu` line is an error, not a reading"
        );
    }

    #[test]
    fn bad_params_are_refused() {
        let a = SourceArgs {
            cpu_idle_w: Some(80.0),
            cpu_tdp_w: Some(65.0),
            ..Default::default()
        };
        assert!(EstimateParams::from_args(&a).is_err());
    }
}
