//! What machine this is, as far as the files tell: the Jetson model from the
//! device tree, the nvpmodel power mode, the CPU model from `/proc/cpuinfo`.
use std::path::Path;

use crate::model::device::DeviceInfo;

/// Host facts under `proc_root` (normally `/proc`) and `etc_root` (normally `/`,
/// for `/var/lib/nvpmodel/status`).
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
}
