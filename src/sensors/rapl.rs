//! RAPL through powercap (`/sys/class/powercap/intel-rapl:*`): package, DRAM
//! and psys energy counters in µJ, unwrapped at `max_energy_range_uj`, turned
//! into power between readings. Nested domains are never added: with `psys`
//! present it is the total and the packages are parts; without it each
//! package and each DRAM domain (beside the package, not inside it) is a
//! total; `core`/`uncore` (inside a package) are always parts.
//! `intel-rapl-mmio` duplicates `intel-rapl` and is skipped.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::sysfs_file::{open_plain, read_text, Opener, SysfsFile};
use super::{PowerSource, SensorError};
use crate::model::sample::{Channel, Role, Scope};

pub const NAME: &str = "rapl";
pub const PERMISSION_HINT: &str = "RAPL energy counters are root-only on Linux 5.10 and newer: run as root, or grant read access with `sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj` (until reboot)";

/// One powercap zone.
#[derive(Clone, Debug, PartialEq)]
pub struct RaplDomain {
    /// `intel-rapl:0`, `intel-rapl:0:1`.
    pub zone: String,
    /// `package-0`, `dram`, `psys`, `core`, `uncore`.
    pub name: String,
    pub dir: PathBuf,
    pub max_energy_range_uj: Option<u64>,
    /// Depth in the zone tree: 0 for `intel-rapl:N`, 1 for `intel-rapl:N:M`.
    pub depth: usize,
}

impl RaplDomain {
    /// Scope and role under the no-double-counting rule, given whether a psys
    /// domain exists.
    pub fn scope_role(&self, has_psys: bool) -> (Scope, Role) {
        let n = self.name.as_str();
        if n == "psys" {
            (Scope::Platform, Role::Total)
        } else if n.starts_with("package") {
            (
                Scope::CpuPackage,
                if has_psys { Role::Part } else { Role::Total },
            )
        } else if n == "dram" {
            (Scope::Dram, if has_psys { Role::Part } else { Role::Total })
        } else {
            // core, uncore: inside a package.
            (Scope::Rail, Role::Part)
        }
    }

    /// Channel name for the power channel: `package-0`, `dram-0` (zone-qualified
    /// when a name repeats across packages).
    fn channel_name(&self, unique: bool) -> String {
        if unique {
            self.name.clone()
        } else {
            format!(
                "{}-{}",
                self.name,
                self.zone.trim_start_matches("intel-rapl:")
            )
        }
    }
}

/// Find RAPL zones under `sysfs_root/class/powercap`.
pub fn discover(sysfs_root: &Path) -> Result<Vec<RaplDomain>, SensorError> {
    let base = sysfs_root.join("class/powercap");
    let rd = std::fs::read_dir(&base).map_err(|_| {
        SensorError::unavailable(NAME, format!("no {} (no RAPL powercap interface: not an Intel/AMD host with the powercap driver, or a VM)", base.display()))
    })?;
    // Zones are listed flat (`intel-rapl:0:1` links) and nested under the
    // `intel-rapl` control type; take both, once each.
    let mut dirs: Vec<(String, PathBuf)> = Vec::new();
    let mut push = |zone: String, dir: PathBuf| {
        if !dirs.iter().any(|(z, _)| *z == zone) {
            dirs.push((zone, dir));
        }
    };
    for e in rd.flatten() {
        push(e.file_name().to_string_lossy().to_string(), e.path());
    }
    let mut stack = vec![base.join("intel-rapl")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.starts_with("intel-rapl:") && e.path().is_dir() {
                stack.push(e.path());
                push(n, e.path());
            }
        }
    }
    let mut out = Vec::new();
    for (zone, dir) in dirs {
        let Some(rest) = zone.strip_prefix("intel-rapl:") else {
            continue;
        };
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit() || b == b':') {
            continue;
        }
        let Some(name) = read_text(&dir.join("name")) else {
            continue;
        };
        if !dir.join("energy_uj").exists() {
            continue;
        }
        out.push(RaplDomain {
            depth: rest.matches(':').count(),
            zone,
            name,
            max_energy_range_uj: read_text(&dir.join("max_energy_range_uj"))
                .and_then(|s| s.parse().ok()),
            dir,
        });
    }
    if out.is_empty() {
        return Err(SensorError::unavailable(
            NAME,
            format!("{} has no intel-rapl zones", base.display()),
        ));
    }
    out.sort_by(|a, b| a.zone.cmp(&b.zone));
    Ok(out)
}

/// Unwrap a counter step: `prev` → `now` in µJ with wrap at `range` (+1).
pub fn unwrap_delta_uj(prev: u64, now: u64, range: Option<u64>) -> Option<u64> {
    if now >= prev {
        Some(now - prev)
    } else {
        range
            .map(|r| r.saturating_sub(prev) + now + 1)
            .filter(|d| Some(*d) <= range.map(|r| r / 2))
    }
}

struct Reader {
    file: SysfsFile,
    range: Option<u64>,
    last: Option<(Instant, u64)>,
}

pub struct RaplSource {
    domains: Vec<RaplDomain>,
    readers: Vec<Reader>,
    channels: Vec<Channel>,
    interval: Option<Duration>,
    values: Vec<Option<f64>>,
}

impl RaplSource {
    pub fn open(sysfs_root: &Path, interval: Option<Duration>) -> Result<Self, SensorError> {
        Self::open_with(sysfs_root, interval, open_plain)
    }

    /// `opener` opens each `energy_uj` (tests inject a permission error).
    pub fn open_with(
        sysfs_root: &Path,
        interval: Option<Duration>,
        opener: Opener,
    ) -> Result<Self, SensorError> {
        let domains = discover(sysfs_root)?;
        let has_psys = domains.iter().any(|d| d.name == "psys");
        let mut readers = Vec::new();
        let mut power = Vec::new();
        let mut counters = Vec::new();
        for d in &domains {
            let p = d.dir.join("energy_uj");
            let mut file = SysfsFile::open(&p, opener).map_err(|e| map_open_error(&p, e))?;
            file.read_i64().map_err(|e| map_open_error(&p, e))?;
            let unique = domains.iter().filter(|o| o.name == d.name).count() == 1;
            let cname = d.channel_name(unique);
            let (scope, role) = d.scope_role(has_psys);
            power.push(Channel::power(&cname, scope, role, NAME));
            counters.push(Channel::counter(
                format!("{cname}_energy"),
                scope,
                NAME,
                &cname,
                d.max_energy_range_uj.map(|r| (r + 1) as f64 / 1e6),
            ));
            readers.push(Reader {
                file,
                range: d.max_energy_range_uj,
                last: None,
            });
        }
        let n = power.len();
        power.extend(counters);
        Ok(RaplSource {
            domains,
            readers,
            channels: power,
            interval,
            values: vec![None; 2 * n],
        })
    }

    pub fn domains(&self) -> &[RaplDomain] {
        &self.domains
    }
}

fn map_open_error(path: &Path, e: std::io::Error) -> SensorError {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        SensorError::Permission {
            source_name: NAME.into(),
            path: path.to_path_buf(),
            hint: PERMISSION_HINT.into(),
        }
    } else {
        SensorError::unavailable(NAME, format!("cannot read {}: {e}", path.display()))
    }
}

impl PowerSource for RaplSource {
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
            min_interval: Duration::from_millis(1),
            why: "RAPL energy counters update about once a millisecond",
        }
    }
    fn read(&mut self) -> Result<Vec<Option<f64>>, SensorError> {
        let n = self.readers.len();
        let mut first_err = None;
        for (i, r) in self.readers.iter_mut().enumerate() {
            let t = Instant::now();
            match r.file.read_i64() {
                Ok(v) if v >= 0 => {
                    let v = v as u64;
                    self.values[i] = r.last.and_then(|(t0, e0)| {
                        let dt = t.duration_since(t0).as_secs_f64();
                        let d = unwrap_delta_uj(e0, v, r.range)?;
                        (dt > 0.0).then(|| d as f64 / 1e6 / dt)
                    });
                    self.values[n + i] = Some(v as f64 / 1e6);
                    r.last = Some((t, v));
                }
                Ok(v) => {
                    self.values[i] = None;
                    self.values[n + i] = None;
                    first_err.get_or_insert_with(|| {
                        SensorError::read(
                            NAME,
                            r.file.path.display().to_string(),
                            format!("negative counter {v}"),
                        )
                    });
                }
                Err(e) => {
                    self.values[i] = None;
                    self.values[n + i] = None;
                    first_err.get_or_insert_with(|| {
                        SensorError::read(NAME, r.file.path.display().to_string(), e)
                    });
                }
            }
        }
        match first_err {
            Some(e) if self.values.iter().all(Option::is_none) => Err(e),
            _ => Ok(self.values.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensors::fake_tree::write_fake_zone;

    #[test]
    fn discovers_domains_without_double_counting() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write_fake_zone(r, "intel-rapl:0", "package-0", 1_000, 262_143_999_999);
        write_fake_zone(r, "intel-rapl:0:0", "core", 10, 262_143_999_999);
        write_fake_zone(r, "intel-rapl:0:1", "dram", 10, 65_532_610_987);
        write_fake_zone(r, "intel-rapl-mmio:0", "package-0", 10, 262_143_999_999);
        let s = RaplSource::open(r, None).unwrap();
        let names: Vec<(&str, Role)> = s
            .channels()
            .iter()
            .map(|c| (c.name.as_str(), c.role))
            .collect();
        assert_eq!(
            names,
            [
                ("package-0", Role::Total),
                ("core", Role::Part),
                ("dram", Role::Total),
                ("package-0_energy", Role::Counter),
                ("core_energy", Role::Counter),
                ("dram_energy", Role::Counter)
            ]
        );
        assert_eq!(
            crate::model::sample::total_scope_label(s.channels()),
            "CPU package + DRAM"
        );

        write_fake_zone(r, "intel-rapl:1", "psys", 10, 262_143_999_999);
        let s = RaplSource::open(r, None).unwrap();
        let totals: Vec<&str> = s
            .channels()
            .iter()
            .filter(|c| c.role == Role::Total)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(totals, ["psys"]);
    }

    #[test]
    fn counter_wrap_is_unwrapped() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let zone = write_fake_zone(r, "intel-rapl:0", "package-0", 999_000_000, 999_999_999);
        let mut s = RaplSource::open(r, None).unwrap();
        let v = s.read().unwrap();
        assert_eq!(v[0], None, "no power before a second reading");
        assert_eq!(v[1], Some(999.0));
        // Wrapped: 999_000_000 → 999_999_999 → 0 → 500_000 is 1.5 J.
        std::fs::write(zone.join("energy_uj"), "500000\n").unwrap();
        let v = s.read().unwrap();
        assert!(v[0].unwrap() > 0.0, "{v:?}");
        assert_eq!(
            unwrap_delta_uj(999_000_000, 500_000, Some(999_999_999)),
            Some(1_500_000)
        );
        // A drop larger than half the range is not a wrap.
        assert_eq!(unwrap_delta_uj(400, 10, Some(1000)), None);
        assert_eq!(unwrap_delta_uj(900, 10, Some(1000)), Some(111));
        let mut k = crate::model::energy::CounterIntegrator::new(s.channels()[1].wrap_j);
        k.push(Some(999.0));
        k.push(Some(0.5));
        assert!((k.joules - 1.5).abs() < 1e-9, "{}", k.joules);
        assert_eq!(k.wraps, 1);
    }

    #[test]
    fn permission_error_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        write_fake_zone(dir.path(), "intel-rapl:0", "package-0", 1, 100);
        fn denied(p: &Path) -> std::io::Result<std::fs::File> {
            if p.ends_with("energy_uj") {
                Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
            } else {
                std::fs::File::open(p)
            }
        }
        let e = RaplSource::open_with(dir.path(), None, denied)
            .err()
            .unwrap();
        assert!(matches!(e, SensorError::Permission { .. }));
        let msg = e.to_string();
        assert!(msg.contains("energy_uj") && msg.contains("root"), "{msg}");
    }

    #[test]
    fn missing_powercap_is_unavailable_with_reason() {
        let dir = tempfile::tempdir().unwrap();
        let e = RaplSource::open(dir.path(), None).err().unwrap();
        assert!(e.to_string().contains("class/powercap"), "{e}");
    }
}
