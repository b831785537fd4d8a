//! The project's own small fixtures (`tests/fixtures`, written for these
//! tests in the formats of real logs): always run, exact expectations with the
//! arithmetic stated beside each.
mod sensor_fixture_support;

use sensor_fixture_support::*;
use trainwatt::import::nvidia_smi::CsvError;
use trainwatt::model::sample::{Role, Scope};
use trainwatt::sensors::ina3221::Ina3221Source;
use trainwatt::sensors::rapl::RaplSource;
use trainwatt::sensors::PowerSource;

#[test]
fn own_tegrastats_fixtures() {
    // 2, 3, 3, 2 W at 1 s: 2.5 + 3 + 2.5 = 8 J. Prompt and ^C skipped, one blank line.
    check_teg(
        &own("tegrastats/nano_jp4_unitless_prompt.log"),
        &Teg {
            data: 4,
            skipped: 2,
            rails: &["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"],
            total: "POM_5V_IN",
            energy_j: 8.0,
        },
    );
    // 10 W over 8 lines spread 0.25 s apart: 17.5 J; the localized `date` line skipped.
    let p = own("tegrastats/xavieragx_jp5_stamped_250ms.log");
    check_teg(
        &p,
        &Teg {
            data: 8,
            skipped: 1,
            rails: &["GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"],
            total: "module_rails_sum",
            energy_j: 17.5,
        },
    );
    let imp = teg(&p, Some(250.0)).unwrap();
    assert_eq!(imp.header.interval_ms, 250.0);
    assert_eq!(imp.header.start_utc, "2024-05-06T11:23:06.000Z");
    // 7.5 W (NC rails skipped) over 0.4 s from the epoch prefixes: 3 J.
    let p = own("tegrastats/orinagx_jp5_epoch_nc.log");
    check_teg(
        &p,
        &Teg {
            data: 5,
            skipped: 1,
            rails: &[
                "VDD_GPU_SOC",
                "VDD_CPU_CV",
                "VIN_SYS_5V0",
                "VDDQ_VDD2_1V8AO",
            ],
            total: "module_rails_sum",
            energy_j: 3.0,
        },
    );
    let imp = teg(&p, Some(5.0)).unwrap();
    assert_eq!(imp.report.placeholder_rails, 10);
    assert_eq!(
        imp.header.interval_ms, 100.0,
        "effective spacing wins over a 5 ms request: {}",
        imp.header.interval_ms
    );
    // Three values per rail and a negative rail: the sum keeps it as printed (10 W), 20 J.
    let p = own("tegrastats/orinagx_jp7_triple_negative.log");
    check_teg(
        &p,
        &Teg {
            data: 3,
            skipped: 0,
            rails: &["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"],
            total: "module_rails_sum",
            energy_j: 20.0,
        },
    );
    assert_eq!(teg(&p, None).unwrap().report.negative_readings, 3);
    // VDD_IN fifth of six rails: 3 W for 2 s = 6 J.
    check_teg(
        &own("tegrastats/tx2_l4t32_vdd_in_not_first.log"),
        &Teg {
            data: 3,
            skipped: 0,
            rails: &[
                "VDD_SYS_GPU",
                "VDD_SYS_SOC",
                "VDD_4V0_WIFI",
                "VDD_IN",
                "VDD_SYS_CPU",
                "VDD_SYS_DDR",
            ],
            total: "VDD_IN",
            energy_j: 6.0,
        },
    );
    check_teg_refused(
        &own("tegrastats/xaviernx_jp5_nonroot_no_rails.log"),
        Some(2),
    );
    check_teg_refused(&own("tegrastats/tx1_legacy_no_rails.log"), Some(2));
    check_teg_refused(&own("tegrastats/garbage_only.log"), None);
}

#[test]
fn own_nvidia_smi_fixtures() {
    // 200 W for 2 s; the cut last row is counted, not parsed.
    let imp = smi(
        &own("nvidia-smi/units_timestamp_not_first_truncated.csv"),
        None,
        None,
        None,
    )
    .unwrap();
    assert_eq!(imp.report.samples, 5);
    assert_eq!(imp.report.truncated_lines, 1);
    assert_eq!(imp.report.total_channel.as_deref(), Some("gpu0"));
    assert!(
        close(imp.report.energy_j.unwrap_or(f64::NAN), 400.0),
        "{}",
        imp.report.energy_j.unwrap_or(f64::NAN)
    );
    assert_eq!(imp.header.device.gpus, ["NVIDIA H100 NVL"]);
    assert_eq!(imp.header.channels[0].scope, Scope::GpuOnly);
    // Header-less, two GPUs inferred from row stamps 1 ms apart; [N/A] leaves the sum out at t=1.
    let p = own("nvidia-smi/noheader_nounits_2gpu_row_order.csv");
    assert!(matches!(
        smi(&p, None, None, None),
        Err(CsvError::NoHeader { .. })
    ));
    let imp = smi(&p, Some("timestamp,power.draw,temperature.gpu"), None, None).unwrap();
    assert_eq!(
        imp.report.channels,
        ["gpu0", "gpu1", "gpu_sum", "gpu0_temp", "gpu1_temp"]
    );
    assert_eq!(imp.report.samples, 3);
    assert!(
        close(imp.report.energy_j.unwrap_or(f64::NAN), 300.0),
        "{}",
        imp.report.energy_j.unwrap_or(f64::NAN)
    );
    assert!(close(imp.report.channel_energy_j["gpu0"], 200.0));
    // Table first, CSV without a power column: refused, naming the header line.
    let e = smi(
        &own("nvidia-smi/table_then_csv_no_power.csv"),
        None,
        None,
        None,
    )
    .unwrap_err();
    assert!(
        matches!(&e, CsvError::NoPower { at, .. } if at == "header on line 5"),
        "{e}"
    );
    // NUL bytes and strays counted; a GPU without power is left out of the total.
    let imp = smi(
        &own("nvidia-smi/index_nul_strays_not_supported.csv"),
        None,
        None,
        None,
    )
    .unwrap();
    assert_eq!(imp.report.nul_bytes, 4);
    assert_eq!(imp.report.skipped_lines, 1);
    assert_eq!(imp.report.samples, 3);
    assert_eq!(imp.report.total_channel.as_deref(), Some("gpu0"));
    assert!(
        close(imp.report.energy_j.unwrap_or(f64::NAN), 300.0),
        "{}",
        imp.report.energy_j.unwrap_or(f64::NAN)
    );
    assert!(imp
        .header
        .notes
        .iter()
        .any(|n| n.contains("GPU 1 reports no power")));
    let e = smi(&own("nvidia-smi/dmon.txt"), None, None, None).unwrap_err();
    assert!(e.to_string().contains("dmon"), "{e}");
}

#[test]
fn own_sysfs_dumps() {
    let dir = tempfile::tempdir().unwrap();
    tree_from_dump(&read(&own("sysfs/rapl_grep_dump.txt")), dir.path());
    // dram is only under the nested path; found there, and beside (not inside) the package.
    assert_eq!(
        rapl_channels(dir.path()).unwrap(),
        ch(&[
            ("package-0", Role::Total),
            ("core", Role::Part),
            ("dram", Role::Total),
            ("package-0_energy", Role::Counter),
            ("core_energy", Role::Counter),
            ("dram_energy", Role::Counter)
        ])
    );
    let mut s = RaplSource::open(dir.path(), None).unwrap();
    let v = s.read().unwrap();
    assert_eq!(v[0], None, "no power before two readings");
    assert!(close(v[3].unwrap(), 26963.529117));

    let dir = tempfile::tempdir().unwrap();
    tree_from_dump(&read(&own("sysfs/ina3221_find_cat_dump.txt")), dir.path());
    let mut s = Ina3221Source::open(dir.path(), None).unwrap();
    let names: Vec<&str> = s.channels().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["VDD_IN", "VDD_CPU_GPU_CV"],
        "channel 7 (sum of shunts) skipped"
    );
    assert_eq!(s.read().unwrap(), vec![Some(6.0), Some(1.5)]);
}
