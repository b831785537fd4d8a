//! Fake Jetson sysfs trees for tests: the INA3221 layouts (JetPack 4 iio,
//! JetPack 5+ hwmon), Thor's INA238, USB-C power-supply entries, the device
//! tree model and the clocks `jetson_clocks` pins. Test code only: the
//! library includes it under `cfg(test)`, integration tests and benches with
//! `#[path = "../src/sensors/fake_tree.rs"] mod fake_tree;`. Only `std`.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

/// JetPack 4 iio layout: `(label, mW)` per channel.
pub fn iio(root: &Path, dev: &str, rails: &[(&str, i64)]) -> PathBuf {
    let d = root
        .join("bus/i2c/drivers/ina3221x")
        .join(dev)
        .join("iio:device0");
    std::fs::create_dir_all(&d).expect("fake iio dir");
    for (k, (label, mw)) in rails.iter().enumerate() {
        std::fs::write(d.join(format!("rail_name_{k}")), format!("{label}\n")).expect("write");
        std::fs::write(d.join(format!("in_power{k}_input")), format!("{mw}\n")).expect("write");
        std::fs::write(d.join(format!("in_voltage{k}_input")), "5000\n").expect("write");
        std::fs::write(
            d.join(format!("in_current{k}_input")),
            format!("{}\n", mw / 5),
        )
        .expect("write");
    }
    d
}

/// JetPack 5+ hwmon layout: `(label, mV, mA)` per channel 1..=3, plus the
/// channel-7 shunt sum the reader must skip.
pub fn hwmon(root: &Path, dev: &str, hw: &str, rails: &[(&str, i64, i64)]) -> PathBuf {
    let d = root
        .join("bus/i2c/drivers/ina3221")
        .join(dev)
        .join("hwmon")
        .join(hw);
    std::fs::create_dir_all(&d).expect("fake hwmon dir");
    std::fs::write(root.join("bus/i2c/drivers/ina3221/uevent"), "").expect("write");
    for (k, (label, mv, ma)) in rails.iter().enumerate() {
        let k = k + 1;
        std::fs::write(d.join(format!("in{k}_label")), format!("{label}\n")).expect("write");
        std::fs::write(d.join(format!("in{k}_input")), format!("{mv}\n")).expect("write");
        std::fs::write(d.join(format!("curr{k}_input")), format!("{ma}\n")).expect("write");
    }
    std::fs::write(d.join("in7_label"), "sum of shunt voltages\n").expect("write");
    std::fs::write(d.join("in7_input"), "40\n").expect("write");
    std::fs::write(d.join("curr7_input"), "9999\n").expect("write");
    std::fs::write(d.join("name"), "ina3221\n").expect("write");
    d
}

/// Thor INA238 hwmon layout: bus mV, mA and µW, plus the shunt voltage
/// (`in0_input`) the reader must not take for a rail.
pub fn ina238(root: &Path, dev: &str, hw: &str, mv: i64, ma: i64, uw: i64) -> PathBuf {
    let d = root
        .join("bus/i2c/drivers/ina238")
        .join(dev)
        .join("hwmon")
        .join(hw);
    std::fs::create_dir_all(&d).expect("fake ina238 dir");
    std::fs::write(d.join("name"), "ina238\n").expect("write");
    std::fs::write(d.join("in0_input"), "12\n").expect("write");
    std::fs::write(d.join("in1_input"), format!("{mv}\n")).expect("write");
    std::fs::write(d.join("curr1_input"), format!("{ma}\n")).expect("write");
    std::fs::write(d.join("power1_input"), format!("{uw}\n")).expect("write");
    d
}

/// A USB-C power-supply entry (`class/power_supply/ucsi-source-psy-*`) and
/// the hwmon device the kernel registers for it: negotiated USB-PD status.
pub fn ucsi_power_supply(root: &Path, psy: &str, hw: &str) -> PathBuf {
    let p = root.join("class/power_supply").join(psy);
    std::fs::create_dir_all(&p).expect("fake psy dir");
    std::fs::write(p.join("type"), "USB\n").expect("write");
    std::fs::write(p.join("voltage_now"), "20000000\n").expect("write");
    std::fs::write(p.join("current_now"), "3000000\n").expect("write");
    let h = p.join("hwmon").join(hw);
    std::fs::create_dir_all(&h).expect("fake psy hwmon");
    std::fs::write(h.join("name"), format!("{}\n", psy.replace('-', "_"))).expect("write");
    std::fs::write(h.join("in0_input"), "20000\n").expect("write");
    std::fs::write(h.join("curr1_input"), "3000\n").expect("write");
    std::fs::create_dir_all(root.join("class/hwmon")).expect("class hwmon");
    let _ = std::os::unix::fs::symlink(&h, root.join("class/hwmon").join(hw));
    h
}

/// A RAPL powercap zone: `class/powercap/ZONE/{name,energy_uj,max_energy_range_uj}`.
pub fn write_fake_zone(
    sysfs_root: &Path,
    zone: &str,
    name: &str,
    energy_uj: u64,
    max_range_uj: u64,
) -> PathBuf {
    let dir = sysfs_root.join("class/powercap").join(zone);
    std::fs::create_dir_all(&dir).expect("create fake zone");
    std::fs::write(dir.join("name"), format!("{name}\n")).expect("write name");
    std::fs::write(dir.join("energy_uj"), format!("{energy_uj}\n")).expect("write energy");
    std::fs::write(dir.join("max_energy_range_uj"), format!("{max_range_uj}\n"))
        .expect("write range");
    dir
}
