//! Datasets for the built-in trainer, held whole in memory as tensors and cut
//! into batches by tensor indexing (no per-image work in the training loop):
//! - `synthetic[:N]`: a smooth random pattern per class plus Gaussian noise,
//!   generated from the seed in a few tensor operations; learnable, so accuracy
//!   climbs well above chance within a few epochs on a CPU;
//! - `cifar10:DIR`: the CIFAR-10 binary version (`data_batch_1.bin` …
//!   `data_batch_5.bin`, `test_batch.bin`), kept as bytes (a quarter of the
//!   memory of floats) and normalised per batch;
//! - `folder:DIR`: one subfolder per class of PNG/JPEG images, resized on load.
use std::fs;
use std::path::{Path, PathBuf};

use tch::{Device, Kind, TchError, Tensor};

use trainwatt::train::{val_count, DataSpec, SYNTHETIC_CLASSES};

/// Bytes in one CIFAR-10 record: a label byte, then 1024 red, 1024 green and 1024 blue bytes.
pub const CIFAR_RECORD: usize = 1 + 3 * 32 * 32;
const CIFAR_TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
const CIFAR_TEST_FILE: &str = "test_batch.bin";
const CIFAR_MEAN: [f64; 3] = [0.4914, 0.4822, 0.4465];
const CIFAR_STD: [f64; 3] = [0.2470, 0.2435, 0.2616];
const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];
const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

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
    norm: Option<(Tensor, Tensor)>,
    /// Whether `--augment` applies (photographs, not synthetic patterns).
    augmentable: bool,
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

/// libtorch has one process-wide random generator. Seeding it and drawing from
/// it happen under this lock, so a seed gives the same data and weights even
/// when several trainers (or tests) run at once. Everything random after that
/// (shuffling, augmentation) uses [`Rng`], one per run.
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Run `f` with libtorch's generator seeded with `seed` and nobody else drawing.
pub fn with_torch_seed<T>(seed: u64, f: impl FnOnce() -> T) -> T {
    let _guard = TORCH_RNG.lock().unwrap_or_else(|p| p.into_inner());
    tch::manual_seed(seed as i64);
    f()
}

/// A small seeded generator (splitmix64) for shuffling and augmentation.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `0..n` in random order (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<i64> {
        let mut v: Vec<i64> = (0..n as i64).collect();
        for i in (1..n).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
        v
    }
}

fn synthetic(images: u64, side: u32, val_fraction: f64, seed: u64) -> Result<Dataset, DataError> {
    let n = images as i64;
    let s = i64::from(side);
    let classes = i64::from(SYNTHETIC_CLASSES);
    let opts = (Kind::Float, Device::Cpu);
    // A coarse random 4x4 pattern per class, smoothly upsampled to the image
    // size, plus per-pixel noise stronger than the pattern.
    let (labels, xs) = with_torch_seed(seed, || -> Result<(Tensor, Tensor), TchError> {
        let patterns = Tensor::f_randn([classes, 3, 4, 4], opts)?.f_upsample_bilinear2d(
            [s, s],
            false,
            None,
            None,
        )?;
        let labels = Tensor::f_randint(classes, [n], (Kind::Int64, Device::Cpu))?;
        let noise = Tensor::f_randn([n, 3, s, s], opts)?.f_mul_scalar(1.5)?;
        let xs = patterns.f_index_select(0, &labels)?.f_add(&noise)?;
        Ok((labels, xs))
    })?;
    let val = val_count(images, val_fraction) as i64;
    let train_n = n - val;
    Ok(Dataset {
        classes,
        image_size: s,
        train: Split {
            images: xs.f_narrow(0, 0, train_n)?,
            labels: labels.f_narrow(0, 0, train_n)?,
        },
        val: Split {
            images: xs.f_narrow(0, train_n, val)?,
            labels: labels.f_narrow(0, train_n, val)?,
        },
        norm: None,
        augmentable: false,
    })
}

fn norm_tensors(mean: [f64; 3], std: [f64; 3]) -> Result<(Tensor, Tensor), TchError> {
    Ok((
        Tensor::f_from_slice(&mean)?
            .f_to_kind(Kind::Float)?
            .f_view([1, 3, 1, 1])?,
        Tensor::f_from_slice(&std)?
            .f_to_kind(Kind::Float)?
            .f_view([1, 3, 1, 1])?,
    ))
}

fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Parse one CIFAR-10 binary file into pixel bytes and labels.
pub fn parse_cifar_file(path: &Path, bytes: &[u8]) -> Result<(Vec<u8>, Vec<i64>), DataError> {
    if bytes.is_empty() || bytes.len() % CIFAR_RECORD != 0 {
        return Err(DataError::Malformed {
            path: path.to_path_buf(),
            detail: format!(
                "{} bytes is not a whole number of {CIFAR_RECORD}-byte CIFAR-10 records \
                 (1 label byte, then 1024 red, 1024 green and 1024 blue bytes); \
                 is this the binary version (cifar-10-binary.tar.gz), not the Python one?",
                bytes.len()
            ),
        });
    }
    let n = bytes.len() / CIFAR_RECORD;
    let mut pixels = Vec::with_capacity(n * (CIFAR_RECORD - 1));
    let mut labels = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(CIFAR_RECORD).enumerate() {
        if rec[0] > 9 {
            return Err(DataError::Malformed {
                path: path.to_path_buf(),
                detail: format!(
                    "record {} (byte {}): label {} is not a CIFAR-10 class (0 to 9)",
                    i + 1,
                    i * CIFAR_RECORD,
                    rec[0]
                ),
            });
        }
        labels.push(i64::from(rec[0]));
        pixels.extend_from_slice(&rec[1..]);
    }
    Ok((pixels, labels))
}

fn split_from(
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

fn cifar10(dir: &Path, side: u32, val_fraction: f64, seed: u64) -> Result<Dataset, DataError> {
    let expected = "the CIFAR-10 binary version: data_batch_1.bin … data_batch_5.bin and \
                    test_batch.bin (cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html)";
    if !dir.is_dir() {
        return Err(DataError::Missing {
            path: dir.to_path_buf(),
            expected: format!("a directory holding {expected}"),
        });
    }
    // The archive unpacks into cifar-10-batches-bin/: accept its parent too.
    let nested = dir.join("cifar-10-batches-bin");
    let dir = if !dir.join(CIFAR_TRAIN_FILES[0]).exists() && nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    };
    let present: Vec<PathBuf> = CIFAR_TRAIN_FILES
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.exists())
        .collect();
    if present.is_empty() {
        return Err(DataError::Missing {
            path: dir.join(CIFAR_TRAIN_FILES[0]),
            expected: expected.to_string(),
        });
    }
    let load = |paths: &[PathBuf]| -> Result<(Tensor, Tensor), DataError> {
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        for p in paths {
            let (px, lb) = parse_cifar_file(p, &read_file(p)?)?;
            pixels.extend_from_slice(&px);
            labels.extend_from_slice(&lb);
        }
        let n = labels.len() as i64;
        Ok((
            Tensor::f_from_slice(&pixels)?.f_view([n, 3, 32, 32])?,
            Tensor::f_from_slice(&labels)?,
        ))
    };
    let (images, labels) = load(&present)?;
    let test = dir.join(CIFAR_TEST_FILE);
    let (train, val) = if test.exists() {
        let (vi, vl) = load(&[test])?;
        let (train, _) = split_from(&images, &labels, 0.0, seed)?;
        (
            train,
            Split {
                images: vi,
                labels: vl,
            },
        )
    } else {
        split_from(&images, &labels, val_fraction, seed)?
    };
    Ok(Dataset {
        classes: 10,
        image_size: i64::from(side),
        train,
        val,
        norm: Some(norm_tensors(CIFAR_MEAN, CIFAR_STD)?),
        augmentable: true,
    })
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let rd = fs::read_dir(dir).map_err(|source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut v = Vec::new();
    for e in rd {
        let e = e.map_err(|source| DataError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        v.push(e.path());
    }
    v.sort();
    Ok(v)
}

fn folder(dir: &Path, side: u32, val_fraction: f64, seed: u64) -> Result<Dataset, DataError> {
    let expected = "a directory with one subfolder per class, each holding .png/.jpg/.jpeg images";
    if !dir.is_dir() {
        return Err(DataError::Missing {
            path: dir.to_path_buf(),
            expected: expected.into(),
        });
    }
    let class_dirs: Vec<PathBuf> = sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    if class_dirs.len() < 2 {
        return Err(DataError::Malformed {
            path: dir.to_path_buf(),
            detail: format!(
                "found {} class subfolder(s); expected {expected}, at least two classes",
                class_dirs.len()
            ),
        });
    }
    let s = side as usize;
    let mut pixels: Vec<u8> = Vec::new();
    let mut labels: Vec<i64> = Vec::new();
    for (class, cdir) in class_dirs.iter().enumerate() {
        let files: Vec<PathBuf> = sorted_entries(cdir)?
            .into_iter()
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        if files.is_empty() {
            return Err(DataError::Malformed {
                path: cdir.clone(),
                detail:
                    "class folder holds no .png/.jpg/.jpeg images; every class needs at least one"
                        .into(),
            });
        }
        for f in files {
            let img = image::open(&f).map_err(|e| DataError::Malformed {
                path: f.clone(),
                detail: format!("cannot decode the image: {e}"),
            })?;
            let rgb = img
                .resize_exact(side, side, image::imageops::FilterType::Triangle)
                .to_rgb8();
            // Interleaved RGB (HWC) now; permuted to CHW once for the whole set.
            pixels.extend_from_slice(rgb.as_raw());
            labels.push(class as i64);
        }
    }
    let n = labels.len() as i64;
    let images = Tensor::f_from_slice(&pixels)?
        .f_view([n, s as i64, s as i64, 3])?
        .f_permute([0, 3, 1, 2])?
        .f_contiguous()?;
    let labels = Tensor::f_from_slice(&labels)?;
    let (train, val) = split_from(&images, &labels, val_fraction, seed)?;
    Ok(Dataset {
        classes: class_dirs.len() as i64,
        image_size: i64::from(side),
        train,
        val,
        norm: Some(norm_tensors(IMAGENET_MEAN, IMAGENET_STD)?),
        augmentable: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let a = Rng::new(7).permutation(100);
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_eq!(a, Rng::new(7).permutation(100));
        assert_ne!(a, Rng::new(8).permutation(100));
    }

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
    fn cifar_records_are_checked() {
        let p = Path::new("data_batch_1.bin");
        let mut rec = vec![3u8; CIFAR_RECORD];
        assert_eq!(parse_cifar_file(p, &rec).unwrap().1, vec![3]);
        rec.push(0);
        let e = parse_cifar_file(p, &rec).unwrap_err().to_string();
        assert!(e.starts_with("data_batch_1.bin: 3074 bytes"), "{e}");
        let mut two = vec![1u8; 2 * CIFAR_RECORD];
        two[CIFAR_RECORD] = 12;
        let e = parse_cifar_file(p, &two).unwrap_err().to_string();
        assert!(e.contains("record 2 (byte 3073): label 12"), "{e}");
    }

    #[test]
    fn augmentation_keeps_shapes() {
        let x = Tensor::arange(4 * 3 * 16 * 16, (Kind::Float, Device::Cpu)).view([4, 3, 16, 16]);
        let y = augment_batch(&x, &mut Rng::new(2)).unwrap();
        assert_eq!(y.size(), vec![4, 3, 16, 16]);
        assert!(!y.equal(&x), "nothing was cropped or flipped");
    }

    /// Write `n` CIFAR-10 records: label `i % 10`, then the red, green and blue planes.
    fn write_cifar(path: &Path, n: usize) {
        let mut bytes = Vec::with_capacity(n * CIFAR_RECORD);
        for i in 0..n {
            let label = (i % 10) as u8;
            bytes.push(label);
            for plane in 0..3u8 {
                bytes.extend(std::iter::repeat_n(label * 20 + plane, 1024));
            }
        }
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn cifar10_binary_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        write_cifar(&dir.path().join("data_batch_1.bin"), 20);
        write_cifar(&dir.path().join("data_batch_2.bin"), 6);
        write_cifar(&dir.path().join("test_batch.bin"), 10);
        let spec = DataSpec::Cifar10 {
            dir: dir.path().to_path_buf(),
        };
        let ds = Dataset::load(&spec, 32, 0.2, 1).unwrap();
        assert_eq!(ds.classes, 10);
        assert_eq!(ds.train.len(), 26);
        assert_eq!(ds.val.len(), 10, "test_batch.bin is the validation set");
        // Labels and planes survive: image i of the test file has label i % 10
        // and its green plane holds label * 20 + 1.
        assert_eq!(ds.val.labels.int64_value(&[3]), 3);
        assert_eq!(ds.val.images.int64_value(&[3, 1, 5, 7]), 61);
        let idx = Tensor::from_slice(&[0i64, 1, 2, 3]);
        let (x, y) = ds
            .batch(&ds.train, &idx, Device::Cpu, Some(&mut Rng::new(1)))
            .unwrap();
        assert_eq!(x.size(), vec![4, 3, 32, 32]);
        assert_eq!(y.size(), vec![4]);
    }

    #[test]
    fn malformed_or_missing_cifar10_says_which_file_and_what_was_expected() {
        let dir = tempfile::tempdir().unwrap();
        let spec = DataSpec::Cifar10 {
            dir: dir.path().to_path_buf(),
        };
        let e = Dataset::load(&spec, 32, 0.2, 1).unwrap_err().to_string();
        assert!(e.contains("data_batch_1.bin: not found"), "{e}");
        std::fs::write(dir.path().join("data_batch_1.bin"), vec![0u8; 5000]).unwrap();
        let e = Dataset::load(&spec, 32, 0.2, 1).unwrap_err().to_string();
        assert!(
            e.contains("data_batch_1.bin: 5000 bytes is not a whole number of 3073-byte"),
            "{e}"
        );
    }

    #[test]
    fn image_folders_are_read_one_class_per_subfolder() {
        let dir = tempfile::tempdir().unwrap();
        for (class, color) in [("cat", [200u8, 30, 30]), ("dog", [30u8, 30, 200])] {
            let cdir = dir.path().join(class);
            std::fs::create_dir(&cdir).unwrap();
            for i in 0..4u8 {
                let img = image::RgbImage::from_fn(20, 12, |x, _| {
                    image::Rgb([color[0], color[1].wrapping_add(x as u8 * i), color[2]])
                });
                let ext = if i == 3 { "jpg" } else { "png" };
                img.save(cdir.join(format!("{i}.{ext}"))).unwrap();
            }
            std::fs::write(cdir.join("notes.txt"), "not an image").unwrap();
        }
        let spec = DataSpec::Folder {
            dir: dir.path().to_path_buf(),
        };
        let ds = Dataset::load(&spec, 16, 0.25, 1).unwrap();
        assert_eq!(ds.classes, 2);
        assert_eq!(ds.train.len() + ds.val.len(), 8);
        assert_eq!(ds.val.len(), 2);
        assert_eq!(ds.train.images.size(), vec![6, 3, 16, 16]);
        std::fs::write(dir.path().join("dog").join("broken.png"), b"not a png").unwrap();
        let e = Dataset::load(&spec, 16, 0.25, 1).unwrap_err().to_string();
        assert!(e.contains("broken.png: cannot decode the image"), "{e}");
    }
}
