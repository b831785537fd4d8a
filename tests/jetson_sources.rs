//! `trainwatt sources` on a fake AGX Thor tree (INA3221 module rails, the
//! INA238 VIN, a USB-C power-supply entry), and what it says where NVML loads
//! on a Jetson but answers NotSupported for power.
#[path = "../src/sensors/fake_tree.rs"]
mod fake_tree;

#[path = "support/isolated.rs"]
mod isolated;

use trainwatt::cmd::sources::{auto_pick, render};
use trainwatt::model::sample::{Channel, Role, Scope};
use trainwatt::sensors::nvml::{decide, GpuProbe, PowerProbe};
use trainwatt::sensors::{SourceKind, SourceReport};

#[test]
fn sources_on_a_fake_thor_counts_vin_once_and_never_usb_c() {
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("sys");
    fake_tree::hwmon(
        &sys,
        "1-0040",
        "hwmon1",
        &[("VDD_GPU", 5000, 2000), ("VDD_CPU_SOC_MSS", 5000, 1000)],
    );
    fake_tree::ina238(&sys, "2-0044", "hwmon3", 19_200, 2_500, 48_000_000);
    fake_tree::ucsi_power_supply(&sys, "ucsi-source-psy-USBC000:001", "hwmon5");
    let proc_root = dir.path().join("proc");
    std::fs::create_dir_all(&proc_root).unwrap();
    std::fs::write(proc_root.join("stat"), "cpu  100 0 100 800 0 0 0 0 0 0\n").unwrap();
    let o = isolated::trainwatt()
        .args(["sources", "--sysfs-root"])
        .arg(&sys)
        .arg("--proc-root")
        .arg(&proc_root)
        .args(["--tegrastats-bin", "/nonexistent/tegrastats"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("VIN                  W    board input          total"),
        "{out}"
    );
    assert!(
        out.contains("VDD_GPU              W    rail                 part"),
        "{out}"
    );
    assert!(!out.to_lowercase().contains("ucsi"), "{out}");
    assert!(!out.contains("module_rails_sum"), "{out}");
}

#[test]
fn nvml_not_supported_on_a_jetson_is_said_and_the_jetson_reader_is_picked() {
    let why = decide(
        vec![GpuProbe {
            index: 0,
            name: "Orin (nvgpu)".into(),
            power: PowerProbe::NotSupported,
            energy_counter: false,
            power_limit_w: None,
        }],
        true,
    )
    .unwrap_err();
    let reports = vec![
        SourceReport {
            kind: SourceKind::Nvml,
            status: Err(why),
            detail: None,
        },
        SourceReport {
            kind: SourceKind::Ina3221,
            status: Ok(vec![Channel::power(
                "VDD_IN",
                Scope::BoardInput,
                Role::Total,
                "ina3221",
            )]),
            detail: None,
        },
    ];
    assert_eq!(auto_pick(&reports), vec![SourceKind::Ina3221]);
    let out = render(&reports);
    assert!(
        out.contains("nvml        not available: NVML loads but answers NotSupported for power on Orin (nvgpu)"),
        "{out}"
    );
    assert!(
        out.contains("Jetson readers (ina3221, tegrastats) are used instead"),
        "{out}"
    );
    assert!(out.contains("auto        uses ina3221\n"), "{out}");
}

/// A live `record` on a fake Jetson: the header names the board from the
/// device tree, the power mode from a fake `nvpmodel -q` on PATH, and says in
/// its notes whether `jetson_clocks` pinned the clocks.
#[test]
fn record_on_a_fake_jetson_names_board_power_mode_and_clocks() {
    use std::os::unix::fs::PermissionsExt;
    use trainwatt::record::{ReadOptions, SessionReader};
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("sys");
    fake_tree::iio(&sys, "6-0040", &[("POM_5V_IN", 4000), ("POM_5V_GPU", 900)]);
    let w = |p: std::path::PathBuf, s: &str| {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    };
    w(
        sys.join("class/devfreq/57000000.gpu/min_freq"),
        "76800000\n",
    );
    w(
        sys.join("class/devfreq/57000000.gpu/max_freq"),
        "921600000\n",
    );
    w(
        sys.join("devices/system/cpu/cpu0/cpufreq/scaling_min_freq"),
        "102000\n",
    );
    w(
        sys.join("devices/system/cpu/cpu0/cpufreq/scaling_max_freq"),
        "1479000\n",
    );
    let proc_root = dir.path().join("proc");
    w(proc_root.join("stat"), "cpu  100 0 100 800 0 0 0 0 0 0\n");
    w(
        proc_root.join("device-tree/model"),
        "NVIDIA Jetson Nano Developer Kit\0",
    );
    let bin = dir.path().join("bin");
    w(
        bin.join("nvpmodel"),
        "#!/bin/sh\necho 'NV Power Mode: 5W'\necho 1\n",
    );
    std::fs::set_permissions(bin.join("nvpmodel"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("s.jsonl");
    let o = isolated::trainwatt()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .args([
            "record",
            "--no-train",
            "--duration",
            "300ms",
            "--quiet",
            "--source",
            "ina3221",
        ])
        .arg("--sysfs-root")
        .arg(&sys)
        .arg("--proc-root")
        .arg(&proc_root)
        .arg("-o")
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = SessionReader::open(&path, ReadOptions::default()).unwrap();
    let h = r.header();
    assert_eq!(
        h.device.model.as_deref(),
        Some("NVIDIA Jetson Nano Developer Kit")
    );
    assert_eq!(h.device.power_mode.as_deref(), Some("5W (nvpmodel mode 1)"));
    assert!(
        h.notes
            .iter()
            .any(|n| n.starts_with("jetson_clocks: not active")),
        "{:?}",
        h.notes
    );
}
