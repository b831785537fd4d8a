//! Where the built-in trainer's images come from, each loaded whole into a
//! [`Dataset`]:
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

use trainwatt::train::{val_count, SYNTHETIC_CLASSES};

use crate::data::{norm_tensors, split_from, DataError, Dataset, Split};
use crate::random::with_torch_seed;

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

pub fn synthetic(
    images: u64,
    side: u32,
    val_fraction: f64,
    seed: u64,
) -> Result<Dataset, DataError> {
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

pub fn cifar10(dir: &Path, side: u32, val_fraction: f64, seed: u64) -> Result<Dataset, DataError> {
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

pub fn folder(dir: &Path, side: u32, val_fraction: f64, seed: u64) -> Result<Dataset, DataError> {
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
    use crate::random::Rng;
    use trainwatt::train::DataSpec;

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
