//! Jetson INA3221 power monitors read straight from sysfs: far cheaper than
//! spawning tegrastats, and fast enough for 1 kHz.
//!
//! Two layouts, under either driver name (`ina3221x`, `ina3221`):
//! - iio (JetPack 4): `<dev>/iio:deviceN/rail_name_K`, `in_powerK_input` (mW).
//! - hwmon (JetPack 5+): `<dev>/hwmon/hwmonN/inK_label`, `inK_input` (mV),
//!   `currK_input` (mA); channel 7 is a sum of shunts and is skipped.
//!
//! `NC` channels are skipped. The board's total follows the same per-board
//! rule as tegrastats ([`super::jetson_rails`]). AGX Thor's INA238
//! ([`super::ina238`]) is read by this source too: its one channel (VIN) is
//! the board's input and the INA3221 rails are parts of it.
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::jetson_rails::{
    is_placeholder_rail, rail_channels, sum_of_rails, total_rule, TotalRule,
};
use super::sysfs_file::{open_plain, read_text, Opener, SysfsFile};
use super::{PowerSource, SensorError};
use crate::model::sample::Channel;

pub const NAME: &str = "ina3221";
pub const DRIVERS: [&str; 2] = ["ina3221x", "ina3221"];

/// How one rail is read.
#[derive(Clone, Debug, PartialEq)]
pub enum RailFiles {
    /// iio: one file in milliwatts.
    PowerMw(PathBuf),
    /// INA238 hwmon `power1_input`: one file in microwatts.
    PowerUw(PathBuf),
    /// hwmon: bus voltage (mV) and current (mA).
    VoltCurrent { mv: PathBuf, ma: PathBuf },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ina3221Rail {
    pub label: String,
    pub files: RailFiles,
    /// Read from an INA238 (Thor's board input), not an INA3221.
    pub ina238: bool,
}

fn sorted_dir(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Find every INA3221 rail under `sysfs_root/bus/i2c/drivers/{ina3221x,ina3221}`.
pub fn discover(sysfs_root: &Path) -> Result<Vec<Ina3221Rail>, SensorError> {
    let mut rails = Vec::new();
    let mut any_driver = false;
    for driver in DRIVERS {
        let ddir = sysfs_root.join("bus/i2c/drivers").join(driver);
        if !ddir.is_dir() {
            continue;
        }
        any_driver = true;
        for dev in sorted_dir(&ddir) {
            let fname = dev
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default();
            // Devices are `BUS-ADDR` entries (`6-0040`); skip bind/unbind/uevent.
            if !fname.contains('-') || !dev.is_dir() {
                continue;
            }
            for sub in sorted_dir(&dev) {
                let n = sub
                    .file_name()
                    .map(|f| f.to_string_lossy().to_string())
                    .unwrap_or_default();
                if n.starts_with("iio:device") {
                    rails.extend(iio_rails(&sub));
                } else if n == "hwmon" {
                    for h in sorted_dir(&sub) {
                        rails.extend(hwmon_rails(&h));
                    }
                }
            }
        }
    }
    let thor = super::ina238::discover(sysfs_root);
    any_driver |= !thor.is_empty();
    rails.extend(thor);
    if rails.is_empty() {
        let reason = if any_driver {
            "the INA3221 driver is bound but exposes no readable rails (only NC channels, or an unknown layout)".to_string()
        } else {
            format!(
                "no {}, {} or {} (not a Jetson, or the INA3221/INA238 driver is not loaded)",
                sysfs_root.join("bus/i2c/drivers/ina3221x").display(),
                sysfs_root.join("bus/i2c/drivers/ina3221").display(),
                sysfs_root.join("bus/i2c/drivers/ina238").display()
            )
        };
        return Err(SensorError::unavailable(NAME, reason));
    }
    // Distinct names: a label repeated across devices gets its device's index.
    let mut seen: Vec<String> = Vec::new();
    for r in &mut rails {
        if seen.contains(&r.label) {
            let mut k = 2;
            while seen.contains(&format!("{}_{k}", r.label)) {
                k += 1;
            }
            r.label = format!("{}_{k}", r.label);
        }
        seen.push(r.label.clone());
    }
    Ok(rails)
}

fn iio_rails(dir: &Path) -> Vec<Ina3221Rail> {
    (0..3)
        .filter_map(|k| {
            let label = read_text(&dir.join(format!("rail_name_{k}")))?;
            let p = dir.join(format!("in_power{k}_input"));
            (!label.is_empty() && !is_placeholder_rail(&label) && p.exists()).then_some(
                Ina3221Rail {
                    label,
                    files: RailFiles::PowerMw(p),
                    ina238: false,
                },
            )
        })
        .collect()
}

fn hwmon_rails(dir: &Path) -> Vec<Ina3221Rail> {
    (1..=8)
        .filter(|k| *k != 7)
        .filter_map(|k| {
            let label = read_text(&dir.join(format!("in{k}_label")))?;
            let mv = dir.join(format!("in{k}_input"));
            let ma = dir.join(format!("curr{k}_input"));
            let sum_label = label.to_ascii_lowercase().starts_with("sum");
            (!label.is_empty()
                && !is_placeholder_rail(&label)
                && !sum_label
                && mv.exists()
                && ma.exists())
            .then_some(Ina3221Rail {
                label,
                files: RailFiles::VoltCurrent { mv, ma },
                ina238: false,
            })
        })
        .collect()
}

enum Reader {
    Mw(SysfsFile),
    Uw(SysfsFile),
    Vi(SysfsFile, SysfsFile),
}

pub struct Ina3221Source {
    rails: Vec<Ina3221Rail>,
    readers: Vec<Reader>,
    channels: Vec<Channel>,
    rule: TotalRule,
    has_sum: bool,
    interval: Option<Duration>,
}

impl Ina3221Source {
    pub fn open(sysfs_root: &Path, interval: Option<Duration>) -> Result<Self, SensorError> {
        Self::open_with(sysfs_root, interval, open_plain)
    }

    pub fn open_with(
        sysfs_root: &Path,
        interval: Option<Duration>,
        opener: Opener,
    ) -> Result<Self, SensorError> {
        let rails = discover(sysfs_root)?;
        let mut readers = Vec::new();
        for r in &rails {
            let open = |p: &Path| {
                SysfsFile::open(p, opener).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::PermissionDenied {
                        SensorError::Permission {
                            source_name: NAME.into(),
                            path: p.to_path_buf(),
                            hint: "run as root or add read access to the INA3221 sysfs files"
                                .into(),
                        }
                    } else {
                        SensorError::unavailable(NAME, format!("cannot read {}: {e}", p.display()))
                    }
                })
            };
            readers.push(match &r.files {
                RailFiles::PowerMw(p) => Reader::Mw(open(p)?),
                RailFiles::PowerUw(p) => Reader::Uw(open(p)?),
                RailFiles::VoltCurrent { mv, ma } => Reader::Vi(open(mv)?, open(ma)?),
            });
        }
        let names: Vec<&str> = rails.iter().map(|r| r.label.as_str()).collect();
        // One INA238 (Thor's VIN) is the board's input whatever its label.
        let ina238: Vec<&str> = rails
            .iter()
            .filter(|r| r.ina238)
            .map(|r| r.label.as_str())
            .collect();
        let rule = match ina238.as_slice() {
            [one] => TotalRule::Rail((*one).to_string()),
            _ => total_rule(&names),
        };
        let (channels, has_sum) = rail_channels(&names, &rule, NAME);
        Ok(Ina3221Source {
            rails,
            readers,
            channels,
            rule,
            has_sum,
            interval,
        })
    }

    pub fn rails(&self) -> &[Ina3221Rail] {
        &self.rails
    }

    pub fn total_rule(&self) -> &TotalRule {
        &self.rule
    }
}

impl PowerSource for Ina3221Source {
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
            why: "the INA3221 converts each channel in about 1 ms, so sysfs repeats readings faster than that",
        }
    }
    fn read(&mut self) -> Result<Vec<Option<f64>>, SensorError> {
        let mut out = Vec::with_capacity(self.channels.len());
        let mut first_err = None;
        for r in &mut self.readers {
            let v = match r {
                Reader::Mw(f) => f.read_i64().map(|mw| mw as f64 / 1e3),
                Reader::Uw(f) => f.read_i64().map(|uw| uw as f64 / 1e6),
                Reader::Vi(v, i) => v
                    .read_i64()
                    .and_then(|mv| i.read_i64().map(|ma| mv as f64 * ma as f64 / 1e6)),
            };
            match v {
                Ok(w) => out.push(Some(w)),
                Err(e) => {
                    first_err.get_or_insert(e);
                    out.push(None);
                }
            }
        }
        if self.has_sum {
            out.push(sum_of_rails(&out));
        }
        match first_err {
            Some(e) if out.iter().all(Option::is_none) => Err(SensorError::read(NAME, "rails", e)),
            _ => Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample::{Role, Scope};
    use crate::sensors::fake_tree as fake;

    #[test]
    fn jetpack4_iio_nano_layout() {
        let dir = tempfile::tempdir().unwrap();
        fake::iio(
            dir.path(),
            "6-0040",
            &[
                ("POM_5V_IN", 4122),
                ("POM_5V_GPU", 109),
                ("POM_5V_CPU", 1167),
            ],
        );
        let mut s = Ina3221Source::open(dir.path(), None).unwrap();
        assert_eq!(s.total_rule(), &TotalRule::Rail("POM_5V_IN".into()));
        assert_eq!(s.channels().len(), 3);
        assert_eq!(s.channels()[0].scope, Scope::BoardInput);
        assert_eq!(s.channels()[0].role, Role::Total);
        assert_eq!(
            s.read().unwrap(),
            vec![Some(4.122), Some(0.109), Some(1.167)]
        );
    }

    #[test]
    fn jetpack5_hwmon_agx_orin_layout_sums_rails_and_skips_nc_and_sum_channel() {
        let dir = tempfile::tempdir().unwrap();
        fake::hwmon(
            dir.path(),
            "1-0040",
            "hwmon1",
            &[
                ("VDD_GPU_SOC", 5000, 1000),
                ("VDD_CPU_CV", 5000, 400),
                ("VIN_SYS_5V0", 5000, 800),
            ],
        );
        fake::hwmon(
            dir.path(),
            "1-0041",
            "hwmon2",
            &[("NC", 0, 0), ("VDDQ_VDD2_1V8AO", 5000, 80), ("NC", 0, 0)],
        );
        let mut s = Ina3221Source::open(dir.path(), None).unwrap();
        let names: Vec<&str> = s.channels().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "VDD_GPU_SOC",
                "VDD_CPU_CV",
                "VIN_SYS_5V0",
                "VDDQ_VDD2_1V8AO",
                "module_rails_sum"
            ]
        );
        assert_eq!(s.total_rule(), &TotalRule::SumOfRails);
        let v = s.read().unwrap();
        assert_eq!(v[0], Some(5.0));
        let sum = v[4].unwrap();
        assert!((sum - (5.0 + 2.0 + 4.0 + 0.4)).abs() < 1e-9, "{sum}");
        assert_eq!(s.channels()[4].scope, Scope::ModuleRailsSum);
    }

    #[test]
    fn hwmon_under_the_old_driver_name_and_iio_under_the_new_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir
            .path()
            .join("bus/i2c/drivers/ina3221x/1-0040/hwmon/hwmon0");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("in1_label"), "VDD_IN\n").unwrap();
        std::fs::write(d.join("in1_input"), "19000\n").unwrap();
        std::fs::write(d.join("curr1_input"), "300\n").unwrap();
        let mut s = Ina3221Source::open(dir.path(), None).unwrap();
        assert!((s.read().unwrap()[0].unwrap() - 5.7).abs() < 1e-9);
    }

    #[test]
    fn absent_driver_and_failing_reads() {
        let dir = tempfile::tempdir().unwrap();
        let e = Ina3221Source::open(dir.path(), None).err().unwrap();
        assert!(e.to_string().contains("not a Jetson"), "{e}");
        let d = fake::iio(dir.path(), "6-0040", &[("POM_5V_IN", 1000)]);
        let mut s = Ina3221Source::open(dir.path(), None).unwrap();
        std::fs::write(d.join("in_power0_input"), "garbage\n").unwrap();
        assert!(s.read().is_err());
    }

    #[test]
    fn thor_ina238_vin_is_the_total_and_module_rails_are_parts() {
        let dir = tempfile::tempdir().unwrap();
        fake::hwmon(
            dir.path(),
            "1-0040",
            "hwmon1",
            &[("VDD_GPU", 5000, 2000), ("VDD_CPU_SOC_MSS", 5000, 1000)],
        );
        fake::ina238(dir.path(), "2-0044", "hwmon3", 19_200, 2_500, 48_000_000);
        fake::ucsi_power_supply(dir.path(), "ucsi-source-psy-USBC000:001", "hwmon5");
        let mut s = Ina3221Source::open(dir.path(), None).unwrap();
        let names: Vec<&str> = s.channels().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["VDD_GPU", "VDD_CPU_SOC_MSS", "VIN"]);
        assert_eq!(s.total_rule(), &TotalRule::Rail("VIN".into()));
        assert_eq!(s.channels()[2].scope, Scope::BoardInput);
        assert_eq!(s.channels()[2].role, Role::Total);
        assert!(s.channels()[..2].iter().all(|c| c.role == Role::Part));
        // 48 W from power1_input (µW), not the sum of anything.
        assert_eq!(s.read().unwrap(), vec![Some(10.0), Some(5.0), Some(48.0)]);
    }

    #[test]
    fn thor_ina238_alone_without_power_file_uses_volts_times_amps() {
        let dir = tempfile::tempdir().unwrap();
        let d = fake::ina238(dir.path(), "2-0044", "hwmon3", 20_000, 2_000, 0);
        std::fs::remove_file(d.join("power1_input")).unwrap();
        std::fs::write(d.join("in1_label"), "VIN_CARRIER\n").unwrap();
        let mut s = Ina3221Source::open(dir.path(), None).unwrap();
        assert_eq!(s.channels().len(), 1);
        assert_eq!(s.channels()[0].name, "VIN_CARRIER");
        assert_eq!(s.channels()[0].role, Role::Total);
        assert!((s.read().unwrap()[0].unwrap() - 40.0).abs() < 1e-9);
    }

    #[test]
    fn usb_c_power_supply_alone_is_not_a_source() {
        let dir = tempfile::tempdir().unwrap();
        fake::ucsi_power_supply(dir.path(), "ucsi-source-psy-USBC000:001", "hwmon5");
        let e = Ina3221Source::open(dir.path(), None).err().unwrap();
        assert!(e.to_string().contains("not a Jetson"), "{e}");
    }
}
