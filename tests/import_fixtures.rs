//! Every file under the shared fixtures (real logs, `../shared/fixtures`) is
//! parsed without a panic and meets the expectations below, derived by reading
//! each log (and cross-checked with an independent script: same data-line
//! counts, rails, totals and energies). The project's own small fixtures in
//! `tests/fixtures` cover the same cases and always run.
use std::path::{Path, PathBuf};

use trainwatt::model::event::Event;
use trainwatt::model::sample::{total_scope_label, Role, Scope};
use trainwatt::sensors::ina3221::Ina3221Source;
use trainwatt::sensors::nvidia_smi_csv::{import_nvidia_smi, CsvError, CsvImportOptions};
use trainwatt::sensors::rapl::RaplSource;
use trainwatt::sensors::tegrastats_log::{
    import_tegrastats, ImportError, Imported, TegraImportOptions,
};
use trainwatt::sensors::tegrastats_parse::parse_line;
use trainwatt::sensors::PowerSource;

/// The shared fixtures: `TRAINWATT_SHARED_FIXTURES`, then `../shared/fixtures`
/// beside the crate, then `/work/shared/fixtures`.
fn shared_fixtures() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("TRAINWATT_SHARED_FIXTURES").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")),
        Some(PathBuf::from("/work/shared/fixtures")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_dir())
}

fn own(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn read(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .into_owned()
}

fn teg(p: &Path, interval_ms: Option<f64>) -> Result<Imported, ImportError> {
    let start = time::macros::datetime!(2024-01-01 0:00 UTC);
    import_tegrastats(
        &read(p),
        &TegraImportOptions {
            interval_ms,
            start: Some(start),
            origin: p.display().to_string(),
        },
    )
}

fn smi(
    p: &Path,
    columns: Option<&str>,
    gpus: Option<usize>,
    interval_ms: Option<f64>,
) -> Result<Imported, CsvError> {
    import_nvidia_smi(
        &read(p),
        &CsvImportOptions {
            columns: columns.map(String::from),
            gpus,
            interval_ms,
            start: None,
            origin: p.display().to_string(),
        },
    )
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 0.01 + 1e-3 * want.abs()
}

/// What a tegrastats log must give.
struct Teg {
    data: u64,
    skipped: u64,
    rails: &'static [&'static str],
    total: &'static str,
    energy_j: f64,
}

fn check_teg(p: &Path, e: &Teg) {
    let imp = teg(p, None).unwrap_or_else(|err| panic!("{}: {err}", p.display()));
    let r = &imp.report;
    let name = p.display();
    assert_eq!(r.data_lines, e.data, "{name}: data lines");
    assert_eq!(r.skipped_lines, e.skipped, "{name}: skipped lines");
    assert_eq!(r.rails, e.rails, "{name}: rails");
    assert_eq!(r.total_channel.as_deref(), Some(e.total), "{name}: total");
    assert!(
        close(r.energy_j, e.energy_j),
        "{name}: energy {} J, expected {} J",
        r.energy_j,
        e.energy_j
    );
    // The total is labelled: a total rail is "board input", a sum "sum of module rails".
    let label = total_scope_label(&imp.header.channels);
    if e.total == "module_rails_sum" {
        assert_eq!(label, "sum of module rails", "{name}");
    } else {
        assert_eq!(label, "board input", "{name}");
    }
    // Exactly one total; a total rail is never added to its parts.
    let totals = imp
        .header
        .channels
        .iter()
        .filter(|c| c.role == Role::Total)
        .count();
    assert_eq!(totals, 1, "{name}");
    // Every sample is as wide as the channel list; the session closes.
    let n = imp.header.channels.len();
    assert!(imp
        .events
        .iter()
        .all(|ev| !matches!(ev, Event::Sample(s) if s.values.len() != n)));
    assert!(matches!(imp.events.last(), Some(Event::End(_))));
}

fn check_teg_refused(p: &Path, data_lines: Option<u64>) {
    match teg(p, None) {
        Err(ImportError::NoRails { data_lines: d, .. }) => {
            assert_eq!(
                Some(d),
                data_lines,
                "{}: data lines of a log without rails",
                p.display()
            )
        }
        Err(ImportError::NoData { .. }) => assert_eq!(data_lines, None, "{}", p.display()),
        other => panic!(
            "{}: expected a refusal, got {:?}",
            p.display(),
            other.map(|i| i.report)
        ),
    }
}

// ---------------------------------------------------------------- own fixtures

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
    assert!(close(imp.report.energy_j, 400.0), "{}", imp.report.energy_j);
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
    assert!(close(imp.report.energy_j, 300.0), "{}", imp.report.energy_j);
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
    assert!(close(imp.report.energy_j, 300.0), "{}", imp.report.energy_j);
    assert!(imp
        .header
        .notes
        .iter()
        .any(|n| n.contains("GPU 1 reports no power")));
    let e = smi(&own("nvidia-smi/dmon.txt"), None, None, None).unwrap_err();
    assert!(e.to_string().contains("dmon"), "{e}");
}

// ---------------------------------------------------------------- sysfs dumps

/// Rebuild a sysfs tree under `root` from a dump in either shape seen in bug
/// reports: `grep -r .` (`/sys/path:value`) or `find -print -exec cat`
/// (a path line, then its value lines; `cat: ...` errors mean unreadable).
/// Mirrors the real `/sys/class/powercap` link to `devices/virtual/powercap`.
fn tree_from_dump(text: &str, root: &Path) -> usize {
    let mut files: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, Vec<String>, bool)> = None;
    let flush = |cur: &mut Option<(String, Vec<String>, bool)>,
                 files: &mut Vec<(String, String)>| {
        if let Some((p, lines, ok)) = cur.take() {
            if ok && !lines.is_empty() {
                files.push((p, lines.join("\n")));
            }
        }
    };
    for line in text.lines() {
        let l = line.trim_end();
        if l.is_empty() || l == "---" {
            continue;
        }
        if l.starts_with("/sys/") {
            let slash = l.rfind('/').unwrap_or(0);
            if let Some(c) = l[slash..].find(':') {
                flush(&mut current, &mut files);
                files.push((l[..slash + c].to_string(), l[slash + c + 1..].to_string()));
            } else {
                flush(&mut current, &mut files);
                current = Some((l.to_string(), Vec::new(), true));
            }
        } else if let Some((_, lines, ok)) = current.as_mut() {
            if l.starts_with("cat: ") {
                *ok = false;
            } else {
                lines.push(l.to_string());
            }
        }
    }
    flush(&mut current, &mut files);
    for (p, v) in &files {
        let dest = root.join(p.trim_start_matches("/sys/"));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, format!("{v}\n")).unwrap();
    }
    let virt = root.join("devices/virtual/powercap");
    if virt.is_dir() && !root.join("class/powercap").exists() {
        std::fs::create_dir_all(root.join("class")).unwrap();
        std::os::unix::fs::symlink(&virt, root.join("class/powercap")).unwrap();
    }
    files.len()
}

/// Rebuild a powercap tree from `powercap-info` output (`Zone 0`, `Zone 0:1`).
fn tree_from_powercap_info(text: &str, root: &Path) -> usize {
    let mut zone: Option<PathBuf> = None;
    let mut n = 0;
    for l in text.lines() {
        let t = l.trim();
        if let Some(z) = t.strip_prefix("Zone ") {
            let d = root.join("class/powercap").join(format!("intel-rapl:{z}"));
            std::fs::create_dir_all(&d).unwrap();
            zone = Some(d);
        } else if t.starts_with("Constraint") {
            zone = zone.filter(|_| false);
        } else if let (Some(d), Some((k, v))) = (&zone, t.split_once(": ")) {
            if ["name", "energy_uj", "max_energy_range_uj", "enabled"].contains(&k) {
                std::fs::write(d.join(k), format!("{v}\n")).unwrap();
                n += 1;
            }
        }
    }
    n
}

fn rapl_channels(root: &Path) -> Result<Vec<(String, Role)>, String> {
    RaplSource::open(root, None)
        .map(|s| {
            s.channels()
                .iter()
                .map(|c| (c.name.clone(), c.role))
                .collect()
        })
        .map_err(|e| e.to_string())
}

fn ch(v: &[(&str, Role)]) -> Vec<(String, Role)> {
    v.iter().map(|(n, r)| (n.to_string(), *r)).collect()
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

// ---------------------------------------------------------------- shared fixtures

#[test]
fn every_shared_fixture_parses_and_meets_expectations() {
    let Some(root) = shared_fixtures() else {
        println!("shared fixtures not found (TRAINWATT_SHARED_FIXTURES, ../shared/fixtures, /work/shared/fixtures): skipped; tests/fixtures cover the same cases");
        return;
    };
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "PROVENANCE.md") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut checked = Vec::new();
    for p in &files {
        let rel = p.strip_prefix(&root).unwrap().to_string_lossy().to_string();
        // No input makes either parser panic, whatever the file.
        let text = read(p);
        for line in text.lines() {
            let _ = parse_line(line);
        }
        let _ = teg(p, Some(1000.0));
        let _ = smi(p, None, None, Some(1000.0));
        check_shared(&rel, p);
        checked.push(rel);
    }
    assert!(
        checked.len() >= 40,
        "expected the whole collection, found {}",
        checked.len()
    );
}

fn check_shared(rel: &str, p: &Path) {
    const ORIN4: &[&str] = &[
        "VDD_GPU_SOC",
        "VDD_CPU_CV",
        "VIN_SYS_5V0",
        "VDDQ_VDD2_1V8AO",
    ];
    const ORIN3: &[&str] = &["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"];
    const NX: &[&str] = &["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"];
    const XAVIER: &[&str] = &["GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"];
    const NANO: &[&str] = &["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"];
    const TX2: &[&str] = &[
        "VDD_SYS_GPU",
        "VDD_SYS_SOC",
        "VDD_4V0_WIFI",
        "VDD_IN",
        "VDD_SYS_CPU",
        "VDD_SYS_DDR",
    ];
    let t = |data, skipped, rails, total, energy_j| {
        check_teg(
            p,
            &Teg {
                data,
                skipped,
                rails,
                total,
                energy_j,
            },
        )
    };
    match rel {
        "tegrastats/agxorin64_jp6_ts_llm.log" => t(43, 0, ORIN3, "module_rails_sum", 285.155),
        "tegrastats/nano_jp4_sudo_training.log" => t(114, 0, NANO, "POM_5V_IN", 504.521),
        "tegrastats/orinnanosuper_jp62_ts_sudo_noswap_vlm.log" => {
            t(661, 0, NX, "VDD_IN", 881.835);
            // --interval 100: up to 10 lines share a one-second stamp.
            assert!(teg(p, Some(100.0))
                .unwrap()
                .report
                .timing
                .contains("up to 10 lines per second"));
        }
        "tegrastats/tx2_l4t32_nosudo_with_date_header.log" => t(432, 1, TX2, "VDD_IN", 1652.261),
        "tegrastats/tx2_l4t32_sudo_with_prompt.log" => t(2, 2, TX2, "VDD_IN", 3.505),
        "tegrastats/xavieragx32_jp46_nosudo_short.log" => check_teg_refused(p, Some(10)),
        "tegrastats/xavieragx32_jp5_ts_mW_localized_date_header_100ms.log" => {
            t(356, 1, XAVIER, "module_rails_sum", 1223.740)
        }
        "tegrastats/xaviernx_jp5_ts_idle_sudo_short.log" => t(2, 0, NX, "VDD_IN", 4.532),
        "tegrastats/jetsontools/orinagx_32gb_nosudo_epochprefix_5ms.log" => {
            check_teg_refused(p, Some(129))
        }
        "tegrastats/jetsontools/orinagx_32gb_sudo_readall_epochprefix_5ms.log" => {
            t(37, 0, ORIN4, "module_rails_sum", 10.552);
            assert_eq!(
                teg(p, None).unwrap().report.placeholder_rails,
                74,
                "two NC rails per line"
            );
        }
        "tegrastats/jetsontools/orinagx_64gb_nosudo_epochprefix_5ms.log" => {
            t(92, 0, ORIN4, "module_rails_sum", 11.735)
        }
        "tegrastats/jetsontools/orinagx_64gb_sudo_readall_epochprefix_5ms.log" => {
            t(56, 0, ORIN4, "module_rails_sum", 11.470)
        }
        "tegrastats/jetsontools/orinnx_16gb_nosudo_epochprefix_5ms.log" => {
            t(91, 0, NX, "VDD_IN", 5.506)
        }
        "tegrastats/jetsontools/orinnx_16gb_sudo_readall_epochprefix_5ms.log" => {
            t(55, 0, NX, "VDD_IN", 5.453)
        }
        "tegrastats/jetsontools/xavieragx_16gb_nosudo_epochprefix_5ms.log" => {
            check_teg_refused(p, Some(129))
        }
        "tegrastats/jetsontools/xavieragx_16gb_readall_unsupported_error.log" => {
            check_teg_refused(p, None)
        }
        "tegrastats/jetsontools/xavieragx_16gb_sudo_readall_epochprefix_5ms.log" => {
            t(42, 0, XAVIER, "module_rails_sum", 7.057)
        }
        "tegrastats/jetsontools/xaviernx_8gb_nosudo_epochprefix_5ms.log" => {
            check_teg_refused(p, Some(127))
        }
        "tegrastats/jetsontools/xaviernx_8gb_sudo_readall_epochprefix_5ms.log" => {
            t(56, 0, NX, "VDD_IN", 5.524)
        }
        "tegrastats/snippets/agxorin64_jp6_negative_power_line.log" => {
            t(1, 0, ORIN4, "module_rails_sum", 0.0);
            let imp = teg(p, None).unwrap();
            assert_eq!(imp.report.negative_readings, 1);
            // 1592 - 398 + 2624 + 403 mW, the negative rail kept as printed.
            let Some(Event::Sample(s)) = imp.events.first() else {
                panic!()
            };
            assert!(close(s.values[4].unwrap(), 4.221));
        }
        "tegrastats/snippets/agxorin_jp7_r39_triple_value_line.log" => {
            t(1, 0, ORIN3, "module_rails_sum", 0.0);
            let Some(Event::Sample(s)) = teg(p, None).unwrap().events.first().cloned() else {
                panic!()
            };
            assert_eq!(
                &s.values[..4],
                &[Some(5.139), Some(3.268), Some(5.5), Some(13.907)]
            );
        }
        "tegrastats/snippets/nano4gb_5w_2coresoff_no_power_rails.log" => {
            check_teg_refused(p, Some(1))
        }
        "tegrastats/snippets/nano_jp4_nvdec_vicfreq_issue_excerpt.log" => {
            t(4, 0, NANO, "POM_5V_IN", 13.380)
        }
        "tegrastats/snippets/tx1_l4t28_1_legacy_format_readme_excerpt.log" => {
            check_teg_refused(p, Some(4))
        }
        "tegrastats/snippets/tx2_l4t28_sudo_mts_issue_excerpt.log" => t(
            3,
            0,
            &[
                "VDD_IN", "VDD_CPU", "VDD_GPU", "VDD_SOC", "VDD_WIFI", "VDD_DDR",
            ],
            "VDD_IN",
            3.611,
        ),
        "tegrastats/snippets/xavieragx16_jp42_nosudo_issue_excerpt.log" => {
            t(1, 0, XAVIER, "module_rails_sum", 0.0)
        }
        "jetson-csv/agxorin_powergui_style.csv" => {
            check_teg_refused(p, None);
            assert!(matches!(
                smi(p, None, None, None),
                Err(CsvError::NoHeader { .. })
            ));
        }
        "nvidia-smi/4gpu_csv_noheader_nounits_ts_util_mem_1s.csv" => {
            assert!(matches!(
                smi(p, None, None, None),
                Err(CsvError::NoHeader { .. })
            ));
            // The query it was written with (testoutput.sh) has no power column.
            assert!(matches!(
                smi(p, Some("timestamp,utilization.gpu,memory.used"), None, None),
                Err(CsvError::NoPower { .. })
            ));
        }
        "nvidia-smi/dmon_default_morpheus_readme_excerpt.txt"
        | "nvidia-smi/snippets/dmon_pucvmet_4gpu_old_driver_issue_excerpt.txt" => {
            let e = smi(p, None, None, None).unwrap_err();
            assert!(e.to_string().contains("dmon"), "{e}");
        }
        "nvidia-smi/h100nvl_csv_units_truncated_lastline.csv"
        | "nvidia-smi/jetson_orin_nvidiasmi_csv_nounits.csv" => {
            assert!(
                matches!(smi(p, None, None, None), Err(CsvError::NoPower { at, .. }) if at == "header on line 1")
            );
        }
        "nvidia-smi/v100sxm2_table_then_csv_units_long.csv" => {
            assert!(
                matches!(smi(p, None, None, None), Err(CsvError::NoPower { at, .. }) if at == "header on line 21")
            );
        }
        "nvidia-smi/timestamp_powerdraw_units_50ms.csv" => {
            let imp = smi(p, None, None, None).unwrap();
            assert_eq!(imp.report.samples, 73);
            assert_eq!(imp.report.total_channel.as_deref(), Some("gpu0"));
            assert_eq!(imp.header.interval_ms, 50.0);
            assert!(
                close(imp.report.energy_j, 79.820),
                "{}",
                imp.report.energy_j
            );
        }
        "nvidia-smi/snippets/gtx770_csv_noheader_not_supported_issue_excerpt.csv" => {
            // The query stated in the issue; power.draw is [Not Supported].
            let cols = "gpu_name,utilization.gpu,utilization.memory,temperature.gpu,power.draw,power.limit,fan.speed,pstate,clocks.current.graphics,clocks.current.memory,power.max_limit,power.default_limit";
            assert!(matches!(
                smi(p, Some(cols), None, None),
                Err(CsvError::NoPowerReadings { rows: 1, .. })
            ));
        }
        "nvidia-smi/snippets/multi_gpu_powerdraw_noheader_nounits_issue_excerpt.csv" => {
            let imp = smi(p, Some("power.draw"), Some(3), Some(1000.0)).unwrap();
            assert_eq!(imp.report.samples, 1);
            assert_eq!(imp.report.channels, ["gpu0", "gpu1", "gpu2", "gpu_sum"]);
            let Some(Event::Sample(s)) = imp.events.first() else {
                panic!()
            };
            assert!(close(s.values[3].unwrap(), 133.91 + 189.84 + 104.34));
        }
        "nvidia-smi/snippets/rtx3080_csv_noheader_nounits_NA_issue_excerpt.csv" => {
            assert!(matches!(
                smi(p, None, None, None),
                Err(CsvError::NoHeader { .. })
            ));
            // The issue does not state its query; an assumed list of 27 names with
            // power.draw on the 5th field ([N/A] in the row) exercises the sentinel.
            let mut cols: Vec<String> = (0..27).map(|i| format!("field.{i}")).collect();
            cols[0] = "timestamp".into();
            cols[1] = "index".into();
            cols[4] = "power.draw".into();
            assert!(matches!(
                smi(p, Some(&cols.join(",")), None, Some(1000.0)),
                Err(CsvError::NoPowerReadings { rows: 1, .. })
            ));
        }
        "sysfs/ina3221_agxorin_1-0041_find_cat_dump_issue_excerpt.txt" => {
            let dir = tempfile::tempdir().unwrap();
            assert!(tree_from_dump(&read(p), dir.path()) > 5);
            let e = Ina3221Source::open(dir.path(), None)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("exposes no readable rails"), "{e}");
        }
        "sysfs/rapl_find_cat_dump_intel-rapl1_issue_excerpt.txt" => {
            // The excerpt has energy_uj but no `name` for intel-rapl:1: not a usable zone.
            let dir = tempfile::tempdir().unwrap();
            assert!(tree_from_dump(&read(p), dir.path()) > 5);
            assert!(dir
                .path()
                .join("class/powercap/intel-rapl/intel-rapl:1/energy_uj")
                .exists());
            assert!(rapl_channels(dir.path())
                .unwrap_err()
                .contains("no intel-rapl zones"));
        }
        "sysfs/rapl_haswell_i7-4770S_grep_dump_part1_issue_excerpt.txt" => {
            let dir = tempfile::tempdir().unwrap();
            tree_from_dump(&read(p), dir.path());
            // Only `core` is whole in this part (uncore lacks energy_uj): a part, never a total.
            assert_eq!(
                rapl_channels(dir.path()).unwrap(),
                ch(&[("core", Role::Part), ("core_energy", Role::Counter)])
            );
            let s = RaplSource::open(dir.path(), None).unwrap();
            assert!(close(s.channels()[1].wrap_j.unwrap(), 262_144.0));
        }
        "sysfs/rapl_haswell_i7-4770S_grep_dump_part2_issue_excerpt.txt" => {
            let dir = tempfile::tempdir().unwrap();
            tree_from_dump(&read(p), dir.path());
            assert_eq!(
                rapl_channels(dir.path()).unwrap(),
                ch(&[("dram", Role::Total), ("dram_energy", Role::Counter)])
            );
            let mut s = RaplSource::open(dir.path(), None).unwrap();
            assert!(close(s.read().unwrap()[1].unwrap(), 2469.474853));
        }
        "sysfs/rapl_powercap-info_intel_laptop_mangohud_issue_excerpt.txt" => {
            let dir = tempfile::tempdir().unwrap();
            assert!(tree_from_powercap_info(&read(p), dir.path()) >= 9);
            assert_eq!(
                rapl_channels(dir.path()).unwrap(),
                ch(&[
                    ("package-0", Role::Total),
                    ("core", Role::Part),
                    ("uncore", Role::Part),
                    ("package-0_energy", Role::Counter),
                    ("core_energy", Role::Counter),
                    ("uncore_energy", Role::Counter)
                ])
            );
        }
        other => {
            panic!("{other}: a shared fixture without expectations; read it and add them here")
        }
    }
}
