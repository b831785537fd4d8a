//! Jetson AGX Thor's INA238 (hwmon driver `ina238`): one channel measuring the
//! carrier board's input (VIN), read beside the module's INA3221 rails by the
//! `ina3221` source.
//!
//! hwmon files (kernel Documentation/hwmon/ina238.rst): `in0_input` is the
//! shunt voltage (mV, not a rail: skipped), `in1_input` bus voltage (mV),
//! `curr1_input` current (mA), `power1_input` power (µW).
//!
//! Found under `bus/i2c/drivers/ina238/<BUS-ADDR>/hwmon/hwmonN`, and under
//! `class/hwmon/*` by the hwmon `name` file. USB-C power-supply entries
//! (`ucsi-source-psy-*`, also registered as hwmon devices) describe negotiated
//! USB-PD status, not a measured rail, and are never taken.
use std::path::{Path, PathBuf};

use super::ina3221::{Ina3221Rail, RailFiles};
use super::sysfs_file::read_text;

pub const DRIVER: &str = "ina238";
/// The name given to an unlabelled INA238 channel: on Thor it measures VIN.
pub const DEFAULT_LABEL: &str = "VIN";

fn sorted_dir(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Whether a hwmon directory belongs to a USB-C / power-supply entry.
pub fn is_power_supply_entry(hwmon_dir: &Path) -> bool {
    let name = read_text(&hwmon_dir.join("name")).unwrap_or_default();
    let canon = std::fs::canonicalize(hwmon_dir).unwrap_or_else(|_| hwmon_dir.to_path_buf());
    name.to_ascii_lowercase().starts_with("ucsi")
        || canon.components().any(|c| c.as_os_str() == "power_supply")
}

/// Every INA238 hwmon directory under `sysfs_root`, each once.
fn hwmon_dirs(sysfs_root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut push = |d: PathBuf| {
        let c = std::fs::canonicalize(&d).unwrap_or_else(|_| d.clone());
        if !seen.contains(&c) && !is_power_supply_entry(&d) {
            seen.push(c);
            dirs.push(d);
        }
    };
    let ddir = sysfs_root.join("bus/i2c/drivers").join(DRIVER);
    for dev in sorted_dir(&ddir) {
        let fname = dev.file_name().map(|f| f.to_string_lossy().to_string());
        if !fname.is_some_and(|f| f.contains('-')) || !dev.is_dir() {
            continue;
        }
        for h in sorted_dir(&dev.join("hwmon")) {
            push(h);
        }
    }
    for h in sorted_dir(&sysfs_root.join("class/hwmon")) {
        if read_text(&h.join("name")).as_deref() == Some(DRIVER) {
            push(h);
        }
    }
    dirs
}

/// INA238 channels as rails: power from `power1_input` (µW) where present,
/// else bus voltage × current. Named by `in1_label` where the kernel gives
/// one, else `VIN`.
pub fn discover(sysfs_root: &Path) -> Vec<Ina3221Rail> {
    hwmon_dirs(sysfs_root)
        .into_iter()
        .filter_map(|d| {
            let label = read_text(&d.join("in1_label"))
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| DEFAULT_LABEL.to_string());
            if label.to_ascii_lowercase().starts_with("sum") {
                return None;
            }
            let uw = d.join("power1_input");
            let mv = d.join("in1_input");
            let ma = d.join("curr1_input");
            let files = if uw.exists() {
                RailFiles::PowerUw(uw)
            } else if mv.exists() && ma.exists() {
                RailFiles::VoltCurrent { mv, ma }
            } else {
                return None;
            };
            Some(Ina3221Rail {
                label,
                files,
                ina238: true,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensors::fake_tree;

    #[test]
    fn thor_vin_is_found_once_and_usb_c_entries_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let h = fake_tree::ina238(dir.path(), "2-0044", "hwmon3", 19_200, 2_500, 48_000_000);
        fake_tree::ucsi_power_supply(dir.path(), "ucsi-source-psy-USBC000:001", "hwmon5");
        // The same device seen through class/hwmon is not counted twice.
        std::fs::create_dir_all(dir.path().join("class/hwmon")).unwrap();
        std::os::unix::fs::symlink(&h, dir.path().join("class/hwmon/hwmon3")).unwrap();
        let rails = discover(dir.path());
        assert_eq!(rails.len(), 1, "{rails:?}");
        assert_eq!(rails[0].label, "VIN");
        assert!(matches!(rails[0].files, RailFiles::PowerUw(_)));
    }
}
