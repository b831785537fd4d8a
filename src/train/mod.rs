//! Training is always a child process: the user's own command, or a built-in
//! trainer (the `trainwatt-train` binary on libtorch, built with the `train`
//! feature, or the Python trainer). One supervisor ([`child`]) runs them all
//! and only sends [`Event::Train`] messages; it never touches application
//! state (see DESIGN.md: data flows one way). This module holds the trainers'
//! options and what can be known of a run before it starts; nothing here links
//! libtorch.
//!
//! [`Event::Train`]: crate::model::event::Event::Train
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::model::event::TrainConfig;

pub mod child;
pub mod protocol;
pub mod trainer;

pub use child::{spawn_child, spawn_external, ChildOutput, ChildSpec};
pub use trainer::{TrainerArgs, TrainerKind};

/// Images in `--data synthetic` when no count is given (80% train, 20% validation
/// by default). ResNet18-CIFAR trains at about 35 images/s at batch 16 on a quiet
/// 2-core CPU (a few images/s when other work competes for it), so an epoch of
/// 512 images takes about 15 s there, and validation accuracy is near 100% after
/// two epochs.
pub const SYNTHETIC_DEFAULT_IMAGES: u64 = 640;
/// Classes of the synthetic dataset (as many as CIFAR-10).
pub const SYNTHETIC_CLASSES: u32 = 10;
/// Side of the images when `--image-size` is not given.
pub const DEFAULT_IMAGE_SIZE: u32 = 32;

/// The network to train.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
pub enum ModelKind {
    /// ResNet18 with the torchvision layout: 7x7 stride-2 stem and max-pool (for 224x224 images)
    #[value(name = "resnet18")]
    #[serde(rename = "resnet18")]
    Resnet18,
    /// ResNet18 for small images: 3x3 stride-1 stem, no max-pool (for 32x32 images)
    #[value(name = "resnet18-cifar")]
    #[serde(rename = "resnet18-cifar")]
    Resnet18Cifar,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Resnet18 => "resnet18",
            ModelKind::Resnet18Cifar => "resnet18-cifar",
        }
    }

    /// The variant that suits images of this side: the CIFAR stem up to 64 pixels.
    pub fn for_image_size(side: u32) -> ModelKind {
        if side <= 64 {
            ModelKind::Resnet18Cifar
        } else {
            ModelKind::Resnet18
        }
    }
}

/// Where the training images come from (`--data`). Serialised as its text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum DataSpec {
    /// Generated from the seed: a pattern per class plus noise. `images` in total
    /// (training and validation together).
    Synthetic { images: u64 },
    /// The CIFAR-10 binary version: `data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`.
    Cifar10 { dir: PathBuf },
    /// One subfolder per class of PNG/JPEG images.
    Folder { dir: PathBuf },
}

impl FromStr for DataSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, rest) = match s.split_once(':') {
            Some((k, r)) => (k, Some(r)),
            None => (s, None),
        };
        match (kind, rest) {
            ("synthetic", None) => Ok(DataSpec::Synthetic {
                images: SYNTHETIC_DEFAULT_IMAGES,
            }),
            ("synthetic", Some(n)) => match n.parse::<u64>() {
                Ok(images) if images >= 2 => Ok(DataSpec::Synthetic { images }),
                _ => Err(format!(
                    "`synthetic:{n}`: expected a number of images of at least 2, e.g. `synthetic:640`"
                )),
            },
            ("cifar10", Some(d)) if !d.is_empty() => Ok(DataSpec::Cifar10 { dir: d.into() }),
            ("folder", Some(d)) if !d.is_empty() => Ok(DataSpec::Folder { dir: d.into() }),
            ("cifar10" | "folder", _) => Err(format!(
                "`{s}`: give the directory, e.g. `{kind}:/data/{kind}`"
            )),
            _ => Err(format!(
                "`{s}`: expected `synthetic`, `synthetic:N`, `cifar10:DIR` or `folder:DIR`"
            )),
        }
    }
}

impl From<DataSpec> for String {
    fn from(d: DataSpec) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for DataSpec {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSpec::Synthetic { images } => write!(f, "synthetic:{images}"),
            DataSpec::Cifar10 { dir } => write!(f, "cifar10:{}", dir.display()),
            DataSpec::Folder { dir } => write!(f, "folder:{}", dir.display()),
        }
    }
}

/// Where the built-in trainer runs (`--device`). Serialised as its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum DeviceSpec {
    /// CUDA device 0 when libtorch sees one, else the CPU.
    Auto,
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(DeviceSpec::Cuda(n)),
                _ => Err(format!("`{s}`: expected `auto`, `cpu`, `cuda` or `cuda:N`")),
            },
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Default `--batch-size`.
pub const DEFAULT_BATCH_SIZE: u32 = 16;
/// Default `--epochs`.
pub const DEFAULT_EPOCHS: u32 = 3;

/// The shape of one run: `train`, `record` and `watch` take these flags;
/// `sweep` takes lists instead (`--batch-sizes`, `--epochs 1,5,10`).
#[derive(Debug, Clone, PartialEq, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct ShapeArgs {
    /// Images per optimiser step
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Passes over the training images
    #[arg(long, default_value_t = DEFAULT_EPOCHS, value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: u32,
}

impl ShapeArgs {
    /// The trainer options with this run's batch size and epochs.
    pub fn apply(&self, mut t: TrainArgs) -> TrainArgs {
        t.batch_size = self.batch_size;
        t.epochs = self.epochs;
        t
    }
}

/// The built-in trainer's options. `train`, `record`, `watch` and the trainer
/// binaries flatten these ([`trainer::train_flags`] turns them back into flags).
#[derive(Debug, Clone, PartialEq, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct TrainArgs {
    /// Network [default: resnet18-cifar up to 64-pixel images, resnet18 above]
    #[arg(long, value_enum)]
    pub model: Option<ModelKind>,
    /// Dataset: `synthetic[:N]` (generated from the seed, learnable), `cifar10:DIR`
    /// (CIFAR-10 binary files) or `folder:DIR` (one subfolder of PNG/JPEG images per class)
    #[arg(long, default_value = "synthetic", value_name = "SPEC")]
    pub data: DataSpec,
    /// Images per optimiser step: set from [`ShapeArgs`] (`--batch-size`), or per run by `sweep`
    #[arg(skip = DEFAULT_BATCH_SIZE)]
    pub batch_size: u32,
    /// Passes over the training images: set from [`ShapeArgs`] (`--epochs`), or per run by `sweep`
    #[arg(skip = DEFAULT_EPOCHS)]
    pub epochs: u32,
    /// Learning rate (SGD)
    #[arg(long, default_value_t = 0.01)]
    pub lr: f64,
    /// SGD momentum
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// L2 weight decay
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    /// Seed for the synthetic data, the weights, the shuffling and the split
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// CPU threads for libtorch [default: all cores]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// `auto` (CUDA when libtorch sees it), `cpu`, `cuda` or `cuda:N`
    #[arg(long, default_value = "auto", value_name = "DEVICE")]
    pub device: DeviceSpec,
    /// Random crops (4-pixel padding) and horizontal flips for cifar10/folder images
    #[arg(long)]
    pub augment: bool,
    /// Side in pixels the images are resized to [default: 32]
    #[arg(long, value_parser = clap::value_parser!(u32).range(8..=1024))]
    pub image_size: Option<u32>,
    /// Share of the images held out for validation (cifar10 uses test_batch.bin when present)
    #[arg(long, default_value_t = 0.2)]
    pub val_fraction: f64,
    /// At most this many steps per epoch (quick runs and tests)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub steps_per_epoch: Option<u32>,
    /// Write the trained weights here at the end (libtorch VarStore format)
    #[arg(long, value_name = "PATH")]
    pub save_model: Option<PathBuf>,
}

impl Default for TrainArgs {
    fn default() -> Self {
        TrainArgs {
            model: None,
            data: DataSpec::Synthetic {
                images: SYNTHETIC_DEFAULT_IMAGES,
            },
            batch_size: DEFAULT_BATCH_SIZE,
            epochs: DEFAULT_EPOCHS,
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 5e-4,
            seed: 42,
            threads: None,
            device: DeviceSpec::Auto,
            augment: false,
            image_size: None,
            val_fraction: 0.2,
            steps_per_epoch: None,
            save_model: None,
        }
    }
}

impl TrainArgs {
    pub fn image_size(&self) -> u32 {
        self.image_size.unwrap_or(DEFAULT_IMAGE_SIZE)
    }

    pub fn model_kind(&self) -> ModelKind {
        self.model
            .unwrap_or_else(|| ModelKind::for_image_size(self.image_size()))
    }

    /// libtorch's CPU threads: `--threads`, else every core.
    pub fn threads_resolved(&self) -> u32 {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1)
        })
    }
}

/// Images held out for validation out of `total`: at least one of each side when
/// the fraction is positive and there are two or more images.
pub fn val_count(total: u64, val_fraction: f64) -> u64 {
    if total < 2 || val_fraction <= 0.0 || !val_fraction.is_finite() {
        return 0;
    }
    let v = (total as f64 * val_fraction.min(1.0)).round() as u64;
    v.clamp(1, total - 1)
}

/// Optimiser steps in one epoch of `train_images` at `batch_size` (incomplete
/// last batches are dropped: batch norm cannot train on a single image), capped
/// by `--steps-per-epoch`.
pub fn steps_per_epoch(train_images: u64, batch_size: u32, cap: Option<u32>) -> u32 {
    let full = (train_images / u64::from(batch_size.max(1))).min(u64::from(u32::MAX)) as u32;
    match cap {
        Some(c) => full.min(c),
        None => full,
    }
}

/// The configuration as far as it is known before any data is read: image counts
/// and steps per epoch are filled in for synthetic data only (the trainer's
/// `start` line carries them for every dataset). This is the header's `train`
/// for a built-in run.
pub fn train_config(args: &TrainArgs) -> TrainConfig {
    let (train_images, val_images, steps) = match args.data {
        DataSpec::Synthetic { images } => {
            let val = val_count(images, args.val_fraction);
            let train = images - val;
            (
                Some(train),
                Some(val),
                Some(steps_per_epoch(
                    train,
                    args.batch_size,
                    args.steps_per_epoch,
                )),
            )
        }
        _ => (None, None, None),
    };
    let mut extra = std::collections::BTreeMap::new();
    extra.insert("momentum".into(), serde_json::json!(args.momentum));
    extra.insert("weight_decay".into(), serde_json::json!(args.weight_decay));
    extra.insert("image_size".into(), serde_json::json!(args.image_size()));
    extra.insert("augment".into(), serde_json::json!(args.augment));
    extra.insert("val_fraction".into(), serde_json::json!(args.val_fraction));
    TrainConfig {
        model: args.model_kind().name().to_string(),
        dataset: args.data.to_string(),
        batch_size: Some(args.batch_size),
        epochs: Some(args.epochs),
        steps_per_epoch: steps,
        train_images,
        val_images,
        lr: Some(args.lr),
        device: Some(args.device.to_string()),
        threads: Some(args.threads_resolved()),
        seed: Some(args.seed),
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        t: TrainArgs,
    }

    #[test]
    fn data_specs_parse_and_print_back() {
        for s in ["synthetic:100", "cifar10:/d/c", "folder:rel/x"] {
            assert_eq!(s.parse::<DataSpec>().unwrap().to_string(), s);
        }
        assert_eq!(
            "synthetic".parse::<DataSpec>().unwrap(),
            DataSpec::Synthetic {
                images: SYNTHETIC_DEFAULT_IMAGES
            }
        );
        assert!("synthetic:x".parse::<DataSpec>().is_err());
        assert!("cifar10"
            .parse::<DataSpec>()
            .unwrap_err()
            .contains("give the directory"));
        assert!("imagenet:/x".parse::<DataSpec>().is_err());
        assert!("cifar10:".parse::<DataSpec>().is_err());
    }

    #[test]
    fn devices_parse() {
        assert_eq!("cuda:1".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(1)));
        assert_eq!("cuda".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(0)));
        assert!("gpu".parse::<DeviceSpec>().is_err());
    }

    #[test]
    fn defaults_match_the_cli_and_fill_the_config() {
        let w = Wrap::parse_from(["x"]);
        let d = TrainArgs::default();
        assert_eq!(w.t.batch_size, d.batch_size);
        assert_eq!(w.t.epochs, d.epochs);
        assert_eq!(w.t.data, d.data);
        assert_eq!(w.t.lr, d.lr);
        let c = train_config(&w.t);
        assert_eq!(c.model, "resnet18-cifar");
        assert_eq!(c.train_images, Some(512));
        assert_eq!(c.val_images, Some(128));
        assert_eq!(c.steps_per_epoch, Some(32));
        let w = Wrap::parse_from(["x", "--image-size", "224", "--steps-per-epoch", "3"]);
        let c = train_config(&w.t);
        assert_eq!(c.model, "resnet18");
        assert_eq!(c.steps_per_epoch, Some(3));
    }

    #[test]
    fn validation_split_keeps_both_sides() {
        assert_eq!(val_count(10, 0.2), 2);
        assert_eq!(val_count(2, 0.9), 1);
        assert_eq!(val_count(10, 0.0), 0);
        assert_eq!(steps_per_epoch(100, 16, None), 6);
        assert_eq!(steps_per_epoch(100, 16, Some(2)), 2);
    }
}
