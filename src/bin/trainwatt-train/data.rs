//! Datasets for the built-in trainer, held whole in memory as tensors and cut
//! into batches by tensor indexing (no per-image work in the training loop).
//! Where the images come from (synthetic patterns, CIFAR-10, a folder of
//! images) is [`crate::loaders`]'s; the seeded randomness is
//! [`crate::random`]'s.
use std::path::PathBuf;

use tch::{Device, Kind, TchError, Tensor};

use trainwatt::train::{val_count, DataSpec};

use crate::loaders::{cifar10, folder, synthetic};
use crate::random::Rng;

/// Why a dataset could not be loaded: what, where, and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: not found; expected {expected}", path.display())]
    Missing { path: PathBuf, expected: String },
    #[error("{}: {detail}", path.display())]
    Malformed { path: PathBuf, detail: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("libtorch: {0}")]
    Torch(#[from] TchError),
}

/// Images and labels of one side of the split.
#[derive(Debug)]
pub struct Split {
    /// `N x 3 x H x W`, `Float` (already normalised) or `Uint8`.
    pub images: Tensor,
    /// `N`, `Int64`.
    pub labels: Tensor,
}

impl Split {
    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A dataset in memory, split into training and validation images.
#[derive(Debug)]
pub struct Dataset {
    pub classes: i64,
    /// Side of the images the network sees.
    pub image_size: i64,
    pub train: Split,
    pub val: Split,
    /// For byte images: per-channel mean and standard deviation, `1 x 3 x 1 x 1`.
    pub norm: Option<(Tensor, Tensor)>,
    /// Whether `--augment` applies (photographs, not synthetic patterns).
    pub augmentable: bool,
}

impl Dataset {
    /// Load `spec`, images resized to `image_size`, `val_fraction` held out
    /// (CIFAR-10 uses `test_batch.bin` when present), shuffled with `seed`.
    pub fn load(
        spec: &DataSpec,
        image_size: u32,
        val_fraction: f64,
        seed: u64,
    ) -> Result<Dataset, DataError> {
        if !(0.0..1.0).contains(&val_fraction) {
            return Err(DataError::Invalid(format!(
                "--val-fraction {val_fraction}: expected a share in [0, 1)"
            )));
        }
        match spec {
            DataSpec::Synthetic { images } => synthetic(*images, image_size, val_fraction, seed),
            DataSpec::Cifar10 { dir } => cifar10(dir, image_size, val_fraction, seed),
            DataSpec::Folder { dir } => folder(dir, image_size, val_fraction, seed),
        }
    }

    /// The batch of images `idx` (an `Int64` index tensor into `split`) as
    /// normalised floats on `device`, with labels. `augment` (with its random
    /// source) applies random crops and flips to image datasets (not to
    /// synthetic patterns).
    pub fn batch(
        &self,
        split: &Split,
        idx: &Tensor,
        device: Device,
        augment: Option<&mut Rng>,
    ) -> Result<(Tensor, Tensor), TchError> {
        let mut xs = split.images.f_index_select(0, idx)?.f_to(device)?;
        let ys = split.labels.f_index_select(0, idx)?.f_to(device)?;
        if let Some((mean, std)) = &self.norm {
            xs = xs
                .f_to_kind(Kind::Float)?
                .f_div_scalar(255.0)?
                .f_sub(&mean.f_to(device)?)?
                .f_div(&std.f_to(device)?)?;
        }
        if xs.size()[2] != self.image_size || xs.size()[3] != self.image_size {
            xs = xs.f_upsample_bilinear2d([self.image_size, self.image_size], false, None, None)?;
        }
        if let Some(rng) = augment.filter(|_| self.augmentable) {
            xs = augment_batch(&xs, rng)?;
        }
        Ok((xs, ys))
    }
}

/// Random 4-pixel-padded crops and horizontal flips, per image.
fn augment_batch(xs: &Tensor, rng: &mut Rng) -> Result<Tensor, TchError> {
    let (n, side) = (xs.size()[0], xs.size()[2]);
    let flips: Vec<bool> = (0..n).map(|_| rng.next_u64() & 1 == 1).collect();
    let flip = Tensor::f_from_slice(&flips)?
        .f_view([n, 1, 1, 1])?
        .f_to(xs.device())?;
    let xs = xs.f_flip([3])?.f_where_self(&flip, xs)?;
    let padded = xs.f_constant_pad_nd([4, 4, 4, 4])?;
    let crops = (0..n)
        .map(|i| {
            let (dy, dx) = ((rng.next_u64() % 9) as i64, (rng.next_u64() % 9) as i64);
            padded
                .f_get(i)?
                .f_narrow(1, dy, side)?
                .f_narrow(2, dx, side)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Tensor::f_stack(&crops, 0)
}

/// Per-channel mean and standard deviation as `1 x 3 x 1 x 1` tensors, to
/// normalise byte images.
pub fn norm_tensors(mean: [f64; 3], std: [f64; 3]) -> Result<(Tensor, Tensor), TchError> {
    Ok((
        Tensor::f_from_slice(&mean)?
            .f_to_kind(Kind::Float)?
            .f_view([1, 3, 1, 1])?,
        Tensor::f_from_slice(&std)?
            .f_to_kind(Kind::Float)?
            .f_view([1, 3, 1, 1])?,
    ))
}

/// `images` and `labels` shuffled with `seed`, `val_fraction` of them held
/// out for validation.
pub fn split_from(
    images: &Tensor,
    labels: &Tensor,
    val_fraction: f64,
    seed: u64,
) -> Result<(Split, Split), TchError> {
    let n = labels.size()[0];
    let val = val_count(n as u64, val_fraction) as i64;
    let perm = Tensor::f_from_slice(&Rng::new(seed).permutation(n as usize))?;
    let take = |start: i64, len: i64| -> Result<Split, TchError> {
        let idx = perm.f_narrow(0, start, len)?;
        Ok(Split {
            images: images.f_index_select(0, &idx)?,
            labels: labels.f_index_select(0, &idx)?,
        })
    };
    Ok((take(0, n - val)?, take(n - val, val)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_is_deterministic_and_split() {
        let a = Dataset::load(&DataSpec::Synthetic { images: 50 }, 32, 0.2, 3).unwrap();
        let b = Dataset::load(&DataSpec::Synthetic { images: 50 }, 32, 0.2, 3).unwrap();
        assert_eq!(a.train.len(), 40);
        assert_eq!(a.val.len(), 10);
        assert_eq!(a.train.images.size(), vec![40, 3, 32, 32]);
        assert!(a.train.images.equal(&b.train.images));
        let idx = Tensor::from_slice(&[0i64, 5, 9]);
        let (x, y) = a
            .batch(&a.train, &idx, Device::Cpu, Some(&mut Rng::new(1)))
            .unwrap();
        assert_eq!(x.size(), vec![3, 3, 32, 32]);
        assert_eq!(y.size(), vec![3]);
    }

    #[test]
    fn augmentation_keeps_shapes() {
        let x = Tensor::arange(4 * 3 * 16 * 16, (Kind::Float, Device::Cpu)).view([4, 3, 16, 16]);
        let y = augment_batch(&x, &mut Rng::new(2)).unwrap();
        assert_eq!(y.size(), vec![4, 3, 16, 16]);
        assert!(!y.equal(&x), "nothing was cropped or flipped");
    }
}
