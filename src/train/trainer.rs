//! Which built-in trainer runs a run, and its command line. Both are children
//! like a user's own command (see [`super::child`]):
//!
//! - `tch`: the `trainwatt-train` binary (libtorch), looked for in
//!   `TRAINWATT_TRAINER_BIN`, next to the running executable (or one folder up,
//!   for test binaries in `target/*/deps`), then on PATH;
//! - `python`: `PYTHON -u trainwatt_train.py ARGS`, the script embedded in this
//!   binary and written once to the per-user cache folder;
//! - `auto`: tch when that binary is found and `--probe` runs, else python
//!   when `PYTHON -c "import torch"` works, else an error naming what to install.
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use super::child::{ChildOutput, ChildSpec};
use super::{train_config, TrainArgs};

/// The Python trainer, embedded so that an installed `trainwatt` needs no
/// files beside it.
pub const PYTHON_TRAINER: &str = include_str!("../../trainer/python/trainwatt_train.py");
/// The trainer binary's name.
pub const TRAINER_BIN: &str = "trainwatt-train";
/// Overrides where the trainer binary is looked for.
pub const TRAINER_BIN_ENV: &str = "TRAINWATT_TRAINER_BIN";

/// `--trainer`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum TrainerKind {
    /// The trainwatt-train binary (ResNet18 on libtorch)
    Tch,
    /// The same training in PyTorch, through the Python interpreter (--python)
    Python,
    /// tch when its binary is found and runs here, else python when PyTorch imports
    #[default]
    Auto,
}

/// How the built-in training runs (`--trainer`, `--python`).
#[derive(Debug, Clone, PartialEq, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct TrainerArgs {
    /// Built-in trainer: tch (the trainwatt-train binary), python (PyTorch), or auto
    #[arg(long, value_enum, default_value_t = TrainerKind::Auto)]
    pub trainer: TrainerKind,
    /// Python interpreter for --trainer python (and auto)
    #[arg(long, default_value = "python3", value_name = "PATH")]
    pub python: PathBuf,
}

impl Default for TrainerArgs {
    fn default() -> Self {
        TrainerArgs {
            trainer: TrainerKind::Auto,
            python: PathBuf::from("python3"),
        }
    }
}

/// A trainer that was found: the start of its argument vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// `tch` or `python`.
    pub kind: TrainerKind,
    /// The program and the arguments before the training flags.
    pub prefix: Vec<OsString>,
    /// What was chosen and why, for the user (like `sources`).
    pub note: String,
}

impl Resolved {
    /// The child that trains `args` (batch size and epochs already applied).
    pub fn child(&self, args: &TrainArgs, output: ChildOutput) -> ChildSpec {
        let mut config = train_config(args);
        config
            .extra
            .insert("trainer".into(), serde_json::json!(self.name()));
        let mut argv = self.prefix.clone();
        argv.extend(train_flags(args));
        ChildSpec {
            argv,
            config,
            label: format!("the {} trainer", self.name()),
            output,
            env: Vec::new(),
        }
    }

    pub fn name(&self) -> &'static str {
        match self.kind {
            TrainerKind::Python => "python",
            _ => "tch",
        }
    }
}

/// The flags of `trainwatt train` (and `trainwatt-train`) that reproduce `a`.
pub fn train_flags(a: &TrainArgs) -> Vec<OsString> {
    let mut v: Vec<OsString> = Vec::new();
    let mut flag = |k: &str, val: String| {
        v.push(k.into());
        v.push(val.into());
    };
    if let Some(m) = a.model {
        flag("--model", m.name().into());
    }
    flag("--data", a.data.to_string());
    flag("--batch-size", a.batch_size.to_string());
    flag("--epochs", a.epochs.to_string());
    // `{}` of an f64 is the shortest text that parses back to the same value.
    flag("--lr", a.lr.to_string());
    flag("--momentum", a.momentum.to_string());
    flag("--weight-decay", a.weight_decay.to_string());
    flag("--seed", a.seed.to_string());
    if let Some(t) = a.threads {
        flag("--threads", t.to_string());
    }
    flag("--device", a.device.to_string());
    if let Some(s) = a.image_size {
        flag("--image-size", s.to_string());
    }
    flag("--val-fraction", a.val_fraction.to_string());
    if let Some(s) = a.steps_per_epoch {
        flag("--steps-per-epoch", s.to_string());
    }
    if a.augment {
        v.push("--augment".into());
    }
    if let Some(p) = &a.save_model {
        v.push("--save-model".into());
        v.push(p.as_os_str().to_owned());
    }
    v
}

/// Where the trainer binary is: `TRAINWATT_TRAINER_BIN`, beside the running
/// executable (or its parent folder: test binaries live in `target/*/deps`),
/// then PATH. The error lists where it looked.
pub fn find_trainer_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(TRAINER_BIN_ENV) {
        let p = PathBuf::from(p);
        return if crate::sys::is_executable(&p) {
            Ok(p)
        } else {
            Err(format!(
                "{TRAINER_BIN_ENV}={} is not an executable file",
                p.display()
            ))
        };
    }
    let mut looked = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let mut dirs = vec![dir.clone()];
        if dir.file_name().is_some_and(|n| n == "deps") {
            dirs.extend(dir.parent().map(Path::to_path_buf));
        }
        for d in dirs {
            let p = d.join(TRAINER_BIN);
            if crate::sys::is_executable(&p) {
                return Ok(p);
            }
            looked.push(d.display().to_string());
        }
    }
    if let Some(p) = crate::sys::find_program(TRAINER_BIN.as_ref()) {
        return Ok(p);
    }
    looked.push("PATH".into());
    Err(format!(
        "{TRAINER_BIN} not found (looked in {})",
        looked.join(", ")
    ))
}

/// `trainwatt-train --probe`: its one line, or why it did not run.
fn probe_tch(bin: &Path) -> Result<String, String> {
    let out = Command::new(bin)
        .arg("--probe")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} does not start: {e}", bin.display()))?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        let err = text(&out.stderr);
        let first = err.lines().next().unwrap_or("no message");
        Err(format!(
            "{} --probe failed ({}): {first}",
            bin.display(),
            out.status
        ))
    }
}

/// Whether `PYTHON -c "import torch"` works, with torch's version.
fn probe_python(python: &Path) -> Result<String, String> {
    let out = Command::new(python)
        .args(["-c", "import torch; print(torch.__version__)"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} does not start: {e}", python.display()))?;
    if out.status.success() {
        Ok(format!(
            "torch {}",
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    } else {
        Err(format!(
            "`{} -c \"import torch\"` failed: PyTorch is not installed for it",
            python.display()
        ))
    }
}

/// The embedded Python trainer as a file: `trainwatt_train-HASH.py` under the
/// per-user cache folder (`$XDG_CACHE_HOME/trainwatt`, else `~/.cache/trainwatt`),
/// named by its content so that every version of trainwatt finds its own.
pub fn python_script() -> std::io::Result<PathBuf> {
    let dir = cache_dir().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no cache folder: set XDG_CACHE_HOME or HOME",
        )
    })?;
    let path = dir.join(format!("trainwatt_train-{:016x}.py", fnv1a(PYTHON_TRAINER)));
    if std::fs::read_to_string(&path).is_ok_and(|t| t == PYTHON_TRAINER) {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir)?;
    // Written aside and renamed: a second trainwatt never runs half a script.
    let tmp = dir.join(format!(".trainwatt_train-{}.tmp", std::process::id()));
    std::fs::write(&tmp, PYTHON_TRAINER)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("trainwatt"))
}

/// 64-bit FNV-1a: a stable content hash for the script's file name.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn tch(bin: PathBuf, why: String) -> Resolved {
    Resolved {
        kind: TrainerKind::Tch,
        note: format!("tch: {} ({why})", bin.display()),
        prefix: vec![bin.into_os_string()],
    }
}

fn python(python: &Path, why: String) -> Result<Resolved, String> {
    let script = python_script().map_err(|e| format!("cannot write the Python trainer: {e}"))?;
    Ok(Resolved {
        kind: TrainerKind::Python,
        note: format!(
            "python: {} -u {} ({why})",
            python.display(),
            script.display()
        ),
        prefix: vec![
            python.as_os_str().to_owned(),
            "-u".into(),
            script.into_os_string(),
        ],
    })
}

fn resolve_uncached(a: &TrainerArgs) -> Result<Resolved, String> {
    match a.trainer {
        TrainerKind::Tch => {
            let bin = find_trainer_bin().map_err(|e| {
                format!("--trainer tch: {e}; build it with `cargo build --release --features train` (or `make build`), or use --trainer python")
            })?;
            Ok(tch(bin, "--trainer tch".into()))
        }
        TrainerKind::Python => python(&a.python, "--trainer python".into()),
        TrainerKind::Auto => {
            let tch_err = match find_trainer_bin().and_then(|b| probe_tch(&b).map(|v| (b, v))) {
                Ok((bin, version)) => return Ok(tch(bin, version)),
                Err(e) => e,
            };
            match probe_python(&a.python) {
                Ok(v) => python(&a.python, format!("{v}; tch: {tch_err}")),
                Err(py_err) => Err(format!(
                    "no built-in trainer can run here:\n  tch: {tch_err}\n  python: {py_err}\n\
                     build the trainer binary (`make build`, or `cargo build --release --features train`), \
                     or install PyTorch (`pip install torch`) and pass --python if it is not python3; \
                     or wrap your own training command after `--`, or record power alone with --no-train"
                )),
            }
        }
    }
}

/// Find the trainer `a` asks for. Remembered per process: a sweep probes once.
pub fn resolve(a: &TrainerArgs) -> Result<Resolved, String> {
    static CACHE: Mutex<Option<(TrainerArgs, Resolved)>> = Mutex::new(None);
    let mut c = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((k, r)) = c.as_ref() {
        if k == a {
            return Ok(r.clone());
        }
    }
    let r = resolve_uncached(a)?;
    *c = Some((a.clone(), r.clone()));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{DataSpec, DeviceSpec, ModelKind, ShapeArgs};
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        shape: ShapeArgs,
        #[command(flatten)]
        t: TrainArgs,
    }

    #[test]
    fn flags_parse_back_to_the_same_options() {
        let a = TrainArgs {
            model: Some(ModelKind::Resnet18),
            data: DataSpec::Folder {
                dir: "/data/my plants".into(),
            },
            batch_size: 24,
            epochs: 7,
            lr: 0.1 + 0.2,
            momentum: 0.85,
            weight_decay: 1e-4,
            seed: 9,
            threads: Some(3),
            device: DeviceSpec::Cuda(1),
            augment: true,
            image_size: Some(96),
            val_fraction: 0.125,
            steps_per_epoch: Some(5),
            save_model: Some("/tmp/w.ot".into()),
        };
        let argv = std::iter::once(OsString::from("x")).chain(train_flags(&a));
        let w = Wrap::parse_from(argv);
        assert_eq!(w.shape.apply(w.t), a);
        let d = TrainArgs::default();
        let w = Wrap::parse_from(std::iter::once(OsString::from("x")).chain(train_flags(&d)));
        assert_eq!(w.shape.apply(w.t), d);
    }

    #[test]
    fn the_script_name_follows_its_content() {
        assert_ne!(fnv1a("a"), fnv1a("b"));
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
    }

    #[test]
    fn the_child_carries_the_header_config() {
        let r = Resolved {
            kind: TrainerKind::Tch,
            prefix: vec!["/x/trainwatt-train".into()],
            note: String::new(),
        };
        let a = TrainArgs::default();
        let c = r.child(&a, ChildOutput::Discard);
        assert_eq!(c.argv[0], "/x/trainwatt-train");
        assert_eq!(c.argv[1..], train_flags(&a)[..]);
        let mut want = train_config(&a);
        want.extra.insert("trainer".into(), "tch".into());
        assert_eq!(c.config, want);
    }
}
