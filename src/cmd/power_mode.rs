//! `sweep --power-modes`: setting Jetson nvpmodel modes between runs, and
//! putting back the mode the sweep found. The restore lives in a guard's
//! Drop, so a normal end, an error and an interrupt (the sweep's stop flag
//! ends the loop, then the guard drops) all restore it. The mode found is
//! also kept in the sweep's directory until it is restored, so a sweep killed
//! with SIGKILL and resumed restores the mode found first, not its own.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

use crate::sensors::device::{find_nvpmodel, parse_nvpmodel_query, PowerMode};

/// Whether this process may change the power mode (nvpmodel needs root).
/// Under `test-util`, `TRAINWATT_TEST_ASSUME_ROOT=1` (or `0`) decides.
fn is_root() -> bool {
    #[cfg(feature = "test-util")]
    if let Ok(v) = std::env::var("TRAINWATT_TEST_ASSUME_ROOT") {
        return v == "1";
    }
    crate::sys::calls::is_root()
}

/// The nvpmodel program and the mode it reported before the sweep.
pub struct ModeControl {
    program: PathBuf,
    original: PowerMode,
    original_id: u32,
    /// Where the mode found is kept until it is restored.
    found_file: PathBuf,
}

/// The file in a sweep's directory that holds the mode found.
pub fn found_file(out: &Path) -> PathBuf {
    out.join("power-mode-found.txt")
}

/// `found_file`'s text: the mode number, then its name.
fn read_found(path: &Path) -> Option<PowerMode> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let id = lines.next()?.trim().parse::<u32>().ok()?;
    let name = lines.next().unwrap_or("").trim().to_string();
    Some(PowerMode { name, id: Some(id) })
}

impl ModeControl {
    /// Check that modes can be set and read back, before the first run.
    pub fn open(modes: &[u32], found_file: PathBuf) -> anyhow::Result<Self> {
        let list = modes
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let Some(program) = find_nvpmodel() else {
            bail!(
                "--power-modes {list} needs nvpmodel (JetPack's power-mode tool) on PATH or in /usr/sbin: \
                 run the sweep on a Jetson, or drop --power-modes"
            );
        };
        if !is_root() {
            bail!(
                "--power-modes {list} needs root (nvpmodel -m changes the power mode): \
                 run `sudo -E trainwatt sweep ...`, or drop --power-modes"
            );
        }
        let now = query(&program)?;
        // A sweep here that was killed before restoring left what it found.
        let original = read_found(&found_file).unwrap_or(now);
        let Some(original_id) = original.id else {
            bail!(
                "`{} -q` printed the mode name ({}) but not its number, so the sweep could not restore it: \
                 set the mode by hand and drop --power-modes",
                program.display(),
                original.name
            );
        };
        eprintln!(
            "trainwatt sweep: power mode now {}; it is restored when the sweep ends",
            original.describe()
        );
        Ok(ModeControl {
            program,
            original,
            original_id,
            found_file,
        })
    }

    /// Keep the mode found in the sweep's directory (once it exists).
    pub fn save(&self) -> anyhow::Result<()> {
        let text = format!("{}\n{}\n", self.original_id, self.original.name);
        std::fs::write(&self.found_file, text)
            .with_context(|| format!("cannot write {}", self.found_file.display()))
    }

    /// Set `mode` and read it back; an error when nvpmodel refuses or the
    /// mode read back is another one.
    pub fn set(&self, mode: u32) -> anyhow::Result<PowerMode> {
        set_mode(&self.program, mode)?;
        let now = query(&self.program)?;
        if now.id != Some(mode) {
            bail!(
                "asked nvpmodel for mode {mode} but `{} -q` reports {} (some modes need a reboot): \
                 drop mode {mode} from --power-modes",
                self.program.display(),
                now.describe()
            );
        }
        Ok(now)
    }
}

impl Drop for ModeControl {
    fn drop(&mut self) {
        let back = set_mode(&self.program, self.original_id)
            .and_then(|()| query(&self.program))
            .map(|m| m.id == Some(self.original_id));
        match back {
            Ok(true) => {
                let _ = std::fs::remove_file(&self.found_file);
                eprintln!(
                    "trainwatt sweep: power mode restored to {}",
                    self.original.describe()
                )
            }
            Ok(false) | Err(_) => eprintln!(
                "trainwatt sweep: could not restore the power mode to {}: run `sudo {} -m {}`",
                self.original.describe(),
                self.program.display(),
                self.original_id
            ),
        }
    }
}

fn set_mode(program: &Path, mode: u32) -> anyhow::Result<()> {
    // stdin is closed: nvpmodel asks before a mode change that needs a
    // reboot, and the answer must not be "yes" by accident.
    let out = Command::new(program)
        .args(["-m", &mode.to_string()])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "`{} -m {mode}` failed ({}): {}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn query(program: &Path) -> anyhow::Result<PowerMode> {
    let out = Command::new(program)
        .arg("-q")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", program.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match parse_nvpmodel_query(&text) {
        Some(m) if out.status.success() => Ok(m),
        _ => bail!(
            "`{} -q` did not report a power mode ({}): {}",
            program.display(),
            out.status,
            text.trim()
        ),
    }
}
