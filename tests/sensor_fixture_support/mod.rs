//! Helpers shared by the fixture tests: where the fixtures are, running the
//! importers on a file, checking a tegrastats import, and rebuilding sysfs
//! trees from the dumps people paste into bug reports.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

use trainwatt::import::nvidia_smi::{import_nvidia_smi, CsvError, CsvImportOptions};
use trainwatt::import::tegrastats::{import_tegrastats, ImportError, TegraImportOptions};
use trainwatt::import::Imported;
use trainwatt::model::event::Event;
use trainwatt::model::sample::{total_scope_label, Role};
use trainwatt::sensors::rapl::RaplSource;
use trainwatt::sensors::PowerSource;

/// The shared fixtures: `TRAINWATT_SHARED_FIXTURES`, then `../shared/fixtures`
/// beside the crate, then `/work/shared/fixtures`.
pub fn shared_fixtures() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("TRAINWATT_SHARED_FIXTURES").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")),
        Some(PathBuf::from("/work/shared/fixtures")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_dir())
}

pub fn own(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub fn read(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .into_owned()
}

pub fn teg(p: &Path, interval_ms: Option<f64>) -> Result<Imported, ImportError> {
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

pub fn smi(
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

pub fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 0.01 + 1e-3 * want.abs()
}

/// What a tegrastats log must give.
pub struct Teg {
    pub data: u64,
    pub skipped: u64,
    pub rails: &'static [&'static str],
    pub total: &'static str,
    pub energy_j: f64,
}

pub fn check_teg(p: &Path, e: &Teg) {
    let imp = teg(p, None).unwrap_or_else(|err| panic!("{}: {err}", p.display()));
    let r = &imp.report;
    let name = p.display();
    assert_eq!(r.data_lines, e.data, "{name}: data lines");
    assert_eq!(r.skipped_lines, e.skipped, "{name}: skipped lines");
    assert_eq!(r.rails, e.rails, "{name}: rails");
    assert_eq!(r.total_channel.as_deref(), Some(e.total), "{name}: total");
    assert!(
        close(r.energy_j.unwrap_or(f64::NAN), e.energy_j),
        "{name}: energy {:?} J, expected {} J",
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

pub fn check_teg_refused(p: &Path, data_lines: Option<u64>) {
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

/// Rebuild a sysfs tree under `root` from a dump in either shape seen in bug
/// reports: `grep -r .` (`/sys/path:value`) or `find -print -exec cat`
/// (a path line, then its value lines; `cat: ...` errors mean unreadable).
/// Mirrors the real `/sys/class/powercap` link to `devices/virtual/powercap`.
pub fn tree_from_dump(text: &str, root: &Path) -> usize {
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
pub fn tree_from_powercap_info(text: &str, root: &Path) -> usize {
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

pub fn rapl_channels(root: &Path) -> Result<Vec<(String, Role)>, String> {
    RaplSource::open(root, None)
        .map(|s| {
            s.channels()
                .iter()
                .map(|c| (c.name.clone(), c.role))
                .collect()
        })
        .map_err(|e| e.to_string())
}

pub fn ch(v: &[(&str, Role)]) -> Vec<(String, Role)> {
    v.iter().map(|(n, r)| (n.to_string(), *r)).collect()
}
