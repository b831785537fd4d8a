//! What machine this is, as far as the files tell: the Jetson model from the
//! device tree, the nvpmodel power mode (`nvpmodel -q`, else its status
//! file), whether `jetson_clocks` pinned the clocks, the CPU model from
//! `/proc/cpuinfo`. Nothing here fails a session: what cannot be told is None.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::model::device::DeviceInfo;

/// Host facts under `proc_root` (normally `/proc`) and `root` (normally `/`,
/// for `/var/lib/nvpmodel/status`), without running `nvpmodel`.
pub fn host_device_info(proc_root: &Path, root: &Path) -> DeviceInfo {
    DeviceInfo {
        model: read_trimmed(&proc_root.join("device-tree/model")),
        cpu: std::fs::read_to_string(proc_root.join("cpuinfo"))
            .ok()
            .and_then(|s| cpu_model(&s)),
        power_mode: read_trimmed(&root.join("var/lib/nvpmodel/status"))
            .map(|s| format!("nvpmodel {s}")),
        ..Default::default()
    }
}

/// What the header learns about the host: device facts and notes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostFacts {
    pub device: DeviceInfo,
    pub notes: Vec<String>,
}

/// Host facts for a live session: the device tree model under `proc_root`,
/// the power mode from `nvpmodel` (the program given, else on PATH; its
/// status file under `root` when it cannot be run), and `jetson_clocks`'
/// state from the clocks under `sysfs_root` (Jetsons only).
pub fn host_facts(
    proc_root: &Path,
    sysfs_root: &Path,
    root: &Path,
    nvpmodel: Option<&Path>,
) -> HostFacts {
    let mut device = host_device_info(proc_root, root);
    let mut notes = Vec::new();
    if let Some(q) = nvpmodel
        .map(Path::to_path_buf)
        .or_else(find_nvpmodel)
        .and_then(|p| run_quietly(&p, &["-q"], Duration::from_secs(3)))
        .and_then(|out| parse_nvpmodel_query(&out))
    {
        device.power_mode = Some(q.describe());
    }
    if let Some(c) = jetson_clocks_state(sysfs_root) {
        notes.push(c.note());
    }
    HostFacts { device, notes }
}

/// The host's facts with what the sources describe: the sources add GPUs,
/// and a power mode (NVML's power limit) only where the host has none.
pub fn merge(host: DeviceInfo, sources: DeviceInfo) -> DeviceInfo {
    DeviceInfo {
        model: host.model.or(sources.model),
        power_mode: host.power_mode.or(sources.power_mode),
        cpu: host.cpu.or(sources.cpu),
        gpus: if host.gpus.is_empty() {
            sources.gpus
        } else {
            host.gpus
        },
    }
}

/// Whether this machine is a Jetson: its device tree names one, or an
/// INA3221/INA238 driver is bound.
pub fn is_jetson(proc_root: &Path, sysfs_root: &Path) -> bool {
    read_trimmed(&proc_root.join("device-tree/model")).is_some_and(|m| m.contains("Jetson"))
        || ["ina3221x", "ina3221", "ina238"]
            .iter()
            .any(|d| sysfs_root.join("bus/i2c/drivers").join(d).is_dir())
}

/// An nvpmodel mode as `nvpmodel -q` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PowerMode {
    pub name: String,
    pub id: Option<u32>,
}

impl PowerMode {
    pub fn describe(&self) -> String {
        match self.id {
            Some(id) => format!("{} (nvpmodel mode {id})", self.name),
            None => format!("{} (nvpmodel)", self.name),
        }
    }
}

/// `nvpmodel -q` output: `NV Power Mode: MAXN` then the mode number on the
/// next line (other lines, such as `NV Fan Mode:quiet`, are ignored).
pub fn parse_nvpmodel_query(out: &str) -> Option<PowerMode> {
    let mut lines = out.lines().map(str::trim).filter(|l| !l.is_empty());
    while let Some(l) = lines.next() {
        if let Some(name) = l.strip_prefix("NV Power Mode:") {
            let name = name.trim();
            if name.is_empty() {
                return None;
            }
            let id = lines.next().and_then(|n| n.parse::<u32>().ok());
            return Some(PowerMode {
                name: name.to_string(),
                id,
            });
        }
    }
    None
}

/// `nvpmodel` on PATH, else where JetPack installs it.
pub fn find_nvpmodel() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("nvpmodel"))
            .find(|c| c.is_file())
    });
    on_path.or_else(|| {
        ["/usr/sbin/nvpmodel", "/usr/bin/nvpmodel"]
            .iter()
            .map(PathBuf::from)
            .find(|c| c.is_file())
    })
}

/// Run a program, its stdout if it exits 0 within `limit` (killed otherwise).
fn run_quietly(program: &Path, args: &[&str], limit: Duration) -> Option<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let end = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if Instant::now() >= end => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
    Some(out)
}

/// Whether `jetson_clocks` pinned the clocks: every online CPU and the GPU
/// have their minimum frequency at their maximum (what `jetson_clocks`
/// sets, and what `jetson_clocks --show` reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClocksState {
    Active,
    Inactive,
}

impl ClocksState {
    pub fn note(self) -> String {
        match self {
            ClocksState::Active => "jetson_clocks: active (CPU and GPU minimum frequencies are pinned at their maximum)".into(),
            ClocksState::Inactive => "jetson_clocks: not active (CPU and GPU clocks scale with load)".into(),
        }
    }
}

/// The GPU devfreq device of a Jetson (`57000000.gpu`, `17000000.ga10b`,
/// `17000000.gv11b`, `gpu-gpc-0`, ...), by its name.
fn is_jetson_gpu_devfreq(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".gpu")
        || n.starts_with("gpu-gpc")
        || ["gm20b", "gp10b", "gv11b", "ga10b", "gb10b"]
            .iter()
            .any(|g| n.ends_with(g))
}

fn read_u64(p: &Path) -> Option<u64> {
    read_trimmed(p)?.parse().ok()
}

/// `jetson_clocks`' state from `sysfs_root`: None where there is no Jetson
/// GPU devfreq or no CPU frequency files (not a Jetson, or unreadable).
pub fn jetson_clocks_state(sysfs_root: &Path) -> Option<ClocksState> {
    let mut gpus = std::fs::read_dir(sysfs_root.join("class/devfreq"))
        .ok()?
        .flatten()
        .filter(|e| is_jetson_gpu_devfreq(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .peekable();
    gpus.peek()?;
    let mut pinned = true;
    for g in gpus {
        let (min, max) = (
            read_u64(&g.join("min_freq"))?,
            read_u64(&g.join("max_freq"))?,
        );
        pinned &= min == max;
    }
    let cpus = sysfs_root.join("devices/system/cpu");
    let mut any_cpu = false;
    for e in std::fs::read_dir(&cpus).ok()?.flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if !n
            .strip_prefix("cpu")
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        if read_trimmed(&e.path().join("online")).as_deref() == Some("0") {
            continue;
        }
        let f = e.path().join("cpufreq");
        let (Some(min), Some(max)) = (
            read_u64(&f.join("scaling_min_freq")),
            read_u64(&f.join("scaling_max_freq")),
        ) else {
            continue;
        };
        any_cpu = true;
        pinned &= min == max;
    }
    any_cpu.then_some(if pinned {
        ClocksState::Active
    } else {
        ClocksState::Inactive
    })
}

fn read_trimmed(p: &Path) -> Option<String> {
    let s = std::fs::read_to_string(p).ok()?;
    let s = s
        .trim_matches(|c: char| c.is_whitespace() || c == '\0')
        .to_string();
    (!s.is_empty()).then_some(s)
}

/// The CPU model name and logical CPU count from `/proc/cpuinfo` text.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    let mut model = None;
    let mut n = 0usize;
    for line in cpuinfo.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let k = k.trim();
        if k == "processor" {
            n += 1;
        }
        if model.is_none() && (k == "model name" || k == "Model" || k == "Hardware") {
            let v = v.trim();
            if !v.is_empty() {
                model = Some(v.to_string());
            }
        }
    }
    match (model, n) {
        (Some(m), n) if n > 0 => Some(format!("{m} ({n} logical CPUs)")),
        (Some(m), _) => Some(m),
        (None, n) if n > 0 => Some(format!("{n} logical CPUs")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_model_power_mode_and_cpu_from_a_fake_tree() {
        let dir = tempfile::tempdir().unwrap();
        let proc_root = dir.path().join("proc");
        std::fs::create_dir_all(proc_root.join("device-tree")).unwrap();
        std::fs::write(
            proc_root.join("device-tree/model"),
            "NVIDIA Jetson Nano Developer Kit\0",
        )
        .unwrap();
        std::fs::write(
            proc_root.join("cpuinfo"),
            "processor\t: 0\nmodel name\t: ARMv8 Processor rev 1 (v8l)\nprocessor\t: 1\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/nvpmodel")).unwrap();
        std::fs::write(dir.path().join("var/lib/nvpmodel/status"), "pmode:0000\n").unwrap();
        let d = host_device_info(&proc_root, dir.path());
        assert_eq!(d.model.as_deref(), Some("NVIDIA Jetson Nano Developer Kit"));
        assert_eq!(
            d.cpu.as_deref(),
            Some("ARMv8 Processor rev 1 (v8l) (2 logical CPUs)")
        );
        assert_eq!(d.power_mode.as_deref(), Some("nvpmodel pmode:0000"));
    }

    fn write(p: &Path, s: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    }

    #[test]
    fn nvpmodel_query_is_parsed() {
        let q = parse_nvpmodel_query("NV Fan Mode:quiet\nNV Power Mode: MAXN\n0\n").unwrap();
        assert_eq!(q.name, "MAXN");
        assert_eq!(q.id, Some(0));
        assert_eq!(q.describe(), "MAXN (nvpmodel mode 0)");
        let q = parse_nvpmodel_query("NV Power Mode: 15W\n").unwrap();
        assert_eq!(q.describe(), "15W (nvpmodel)");
        assert_eq!(parse_nvpmodel_query("nvpmodel: command not found"), None);
        assert_eq!(parse_nvpmodel_query("NV Power Mode:\n0"), None);
    }

    fn fake_clocks(sys: &Path, gpu: (u64, u64), cpus: &[(u64, u64, &str)]) {
        let g = sys.join("class/devfreq/57000000.gpu");
        write(&g.join("min_freq"), &format!("{}\n", gpu.0));
        write(&g.join("max_freq"), &format!("{}\n", gpu.1));
        for (i, (min, max, online)) in cpus.iter().enumerate() {
            let c = sys.join(format!("devices/system/cpu/cpu{i}"));
            write(&c.join("online"), online);
            write(&c.join("cpufreq/scaling_min_freq"), &format!("{min}\n"));
            write(&c.join("cpufreq/scaling_max_freq"), &format!("{max}\n"));
        }
    }

    #[test]
    fn jetson_clocks_state_from_a_fake_tree() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(jetson_clocks_state(dir.path()), None);
        let a = dir.path().join("a");
        // An offline core with a low minimum does not count.
        fake_clocks(
            &a,
            (921_600_000, 921_600_000),
            &[(1_479_000, 1_479_000, "1"), (102_000, 1_479_000, "0")],
        );
        assert_eq!(jetson_clocks_state(&a), Some(ClocksState::Active));
        let b = dir.path().join("b");
        fake_clocks(
            &b,
            (76_800_000, 921_600_000),
            &[(1_479_000, 1_479_000, "1")],
        );
        assert_eq!(jetson_clocks_state(&b), Some(ClocksState::Inactive));
        assert!(ClocksState::Active.note().contains("active"));
    }

    #[test]
    fn host_facts_run_a_fake_nvpmodel_and_read_the_clocks() {
        let dir = tempfile::tempdir().unwrap();
        let proc_root = dir.path().join("proc");
        write(
            &proc_root.join("device-tree/model"),
            "NVIDIA Jetson Nano Developer Kit\0",
        );
        let sys = dir.path().join("sys");
        fake_clocks(
            &sys,
            (921_600_000, 921_600_000),
            &[(1_479_000, 1_479_000, "1")],
        );
        let nv = dir.path().join("nvpmodel");
        write(&nv, "#!/bin/sh\necho 'NV Power Mode: 5W'\necho 1\n");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&nv, std::fs::Permissions::from_mode(0o755)).unwrap();
        let h = host_facts(&proc_root, &sys, dir.path(), Some(&nv));
        assert_eq!(
            h.device.model.as_deref(),
            Some("NVIDIA Jetson Nano Developer Kit")
        );
        assert_eq!(h.device.power_mode.as_deref(), Some("5W (nvpmodel mode 1)"));
        assert_eq!(h.notes, vec![ClocksState::Active.note()]);
        assert!(is_jetson(&proc_root, &sys));
        // A missing nvpmodel and no clocks: nothing, and no failure.
        let h = host_facts(
            &proc_root,
            dir.path(),
            dir.path(),
            Some(&dir.path().join("none")),
        );
        assert_eq!(h.device.power_mode, None);
        assert!(h.notes.is_empty());
    }
}
