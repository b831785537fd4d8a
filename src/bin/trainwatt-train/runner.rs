//! The built-in training loop: SGD with momentum and weight decay over a
//! [`Dataset`], reporting progress as [`TrainEvent`]s (which `main` prints as
//! protocol lines).
//!
//! Every libtorch call in the loop is fallible (`f_`), so an allocation failure
//! ends the run with [`RunStatus::OutOfMemory`] and the batch size, as a result
//! to record rather than a crash.
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tch::{nn, COptimizer, Device, Kind, Reduction, TchError, Tensor};

use trainwatt::model::event::{RunStatus, TrainEvent};
use trainwatt::train::child::is_oom_message;
use trainwatt::train::{steps_per_epoch, train_config, DeviceSpec, TrainArgs};

use crate::data::{DataError, Dataset};
use crate::random::{with_torch_seed, Rng};
use crate::resnet::ResNet18;

/// At most one Step event per this interval (plus the last step of each epoch).
pub const STEP_EVERY: Duration = Duration::from_millis(200);

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("dataset {spec}: {source}")]
    Data {
        spec: String,
        #[source]
        source: DataError,
    },
    #[error("{0}")]
    Device(String),
    #[error("{0}")]
    Config(String),
    #[error("libtorch failed at epoch {epoch}, step {step}: {message}")]
    Torch {
        epoch: u32,
        step: u32,
        batch_size: u32,
        message: String,
    },
    #[error("training finished but the weights could not be written to {path}: {message}")]
    Save { path: String, message: String },
}

impl RunError {
    fn status(&self) -> RunStatus {
        match self {
            RunError::Torch { message, .. } if is_oom_message(message) => RunStatus::OutOfMemory,
            _ => RunStatus::Error,
        }
    }

    fn message(&self) -> String {
        match self {
            RunError::Torch {
                epoch,
                step,
                batch_size,
                message,
            } if is_oom_message(message) => format!(
                "out of memory at batch size {batch_size} (epoch {epoch}, step {step}): {message}"
            ),
            e => e.to_string(),
        }
    }
}

/// libtorch errors carry a C++ backtrace after the first line.
fn first_line(e: &TchError) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or("").trim().to_string()
}

/// Train to the end, or until `cancel` is set (checked before every step),
/// passing each event to `emit`: RunStart once the data is loaded, Step
/// (throttled to one per [`STEP_EVERY`] plus each epoch's last), EpochEnd, and
/// a final RunEnd. Returns the run's status. `hooks` are test hooks.
pub fn train(
    args: &TrainArgs,
    hooks: &Hooks,
    cancel: &AtomicBool,
    emit: &mut dyn FnMut(TrainEvent),
) -> RunStatus {
    let origin = Instant::now();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        run(args, hooks, origin, &mut *emit, cancel)
    }));
    let (status, message) = match outcome {
        Ok(Ok((status, message))) => (status, message),
        Ok(Err(e)) => (e.status(), Some(e.message())),
        Err(p) => {
            let what = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("unknown cause");
            (
                RunStatus::Error,
                Some(format!("the trainer panicked: {what}")),
            )
        }
    };
    emit(TrainEvent::RunEnd {
        t_s: origin.elapsed().as_secs_f64(),
        status: status.clone(),
        message,
    });
    status
}

/// Test hooks (only settable with the `test-util` feature).
#[derive(Debug, Default, Clone)]
pub struct Hooks {
    /// A batch size above this fails like an out-of-memory error.
    pub inject_oom_above: Option<u32>,
}

fn resolve_device(d: DeviceSpec) -> Result<Device, RunError> {
    match d {
        DeviceSpec::Auto if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        DeviceSpec::Auto | DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Cuda(n) => {
            let count = tch::Cuda::device_count();
            if (n as i64) < count {
                Ok(Device::Cuda(n))
            } else {
                Err(RunError::Device(format!(
                    "--device cuda:{n}: libtorch sees {count} CUDA device(s){}",
                    if count == 0 {
                        " (a CPU-only libtorch, or no visible GPU); use --device cpu, \
                         or build against a CUDA libtorch (see the README)"
                    } else {
                        ""
                    }
                )))
            }
        }
    }
}

fn device_name(d: Device) -> String {
    match d {
        Device::Cuda(n) => format!("cuda:{n}"),
        _ => "cpu".into(),
    }
}

/// Where in the run a libtorch call failed, to turn its error into a RunError.
#[derive(Clone, Copy)]
struct At {
    epoch: u32,
    step: u32,
    batch_size: u32,
}

impl At {
    fn err(self, e: TchError) -> RunError {
        RunError::Torch {
            epoch: self.epoch,
            step: self.step,
            batch_size: self.batch_size,
            message: first_line(&e),
        }
    }
}

fn run(
    args: &TrainArgs,
    hooks: &Hooks,
    origin: Instant,
    send: &mut dyn FnMut(TrainEvent),
    cancel: &AtomicBool,
) -> Result<(RunStatus, Option<String>), RunError> {
    let t = || origin.elapsed().as_secs_f64();
    let threads = args.threads_resolved();
    tch::set_num_threads(threads as i32);
    let device = resolve_device(args.device)?;
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }
    let ds = Dataset::load(&args.data, args.image_size(), args.val_fraction, args.seed).map_err(
        |source| RunError::Data {
            spec: args.data.to_string(),
            source,
        },
    )?;
    let bs = args.batch_size;
    let train_n = ds.train.len();
    let steps = steps_per_epoch(train_n as u64, bs, args.steps_per_epoch);
    if steps == 0 {
        return Err(RunError::Config(format!(
            "--batch-size {bs} is larger than the {train_n} training images of {}; \
             use a smaller batch size or more images",
            args.data
        )));
    }
    let mut config = train_config(args);
    config.train_images = Some(train_n as u64);
    config.val_images = Some(ds.val.len() as u64);
    config.steps_per_epoch = Some(steps);
    config.device = Some(device_name(device));
    config.threads = Some(threads);
    config
        .extra
        .insert("classes".into(), serde_json::json!(ds.classes));
    send(TrainEvent::RunStart { t_s: t(), config });

    let mut at = At {
        epoch: 0,
        step: 0,
        batch_size: bs,
    };
    let (vs, net) = with_torch_seed(args.seed, || {
        let vs = nn::VarStore::new(device);
        let net = ResNet18::new(&vs.root(), args.model_kind(), ds.classes);
        (vs, net)
    });
    let mut rng = Rng::new(args.seed);
    let mut opt = COptimizer::sgd(args.lr, args.momentum, 0.0, args.weight_decay, false)
        .map_err(|e| at.err(e))?;
    for v in vs.trainable_variables() {
        opt.add_parameters(&v, 0).map_err(|e| at.err(e))?;
    }

    let bs_i = i64::from(bs);
    let mut images_total: u64 = 0;
    let mut last_report: Option<Instant> = None;
    for epoch in 1..=args.epochs {
        at.epoch = epoch;
        at.step = 0;
        let perm =
            Tensor::f_randperm(train_n, (Kind::Int64, Device::Cpu)).map_err(|e| at.err(e))?;
        let mut loss_sum = Tensor::f_zeros([1], (Kind::Float, device)).map_err(|e| at.err(e))?;
        let mut correct = Tensor::f_zeros([1], (Kind::Int64, device)).map_err(|e| at.err(e))?;
        let mut epoch_images: u64 = 0;
        let epoch_start = Instant::now();
        for step in 1..=steps {
            at.step = step;
            if cancel.load(Ordering::Relaxed) {
                return Ok((
                    RunStatus::Cancelled,
                    Some(format!("cancelled at epoch {epoch}, step {step}")),
                ));
            }
            if let Some(limit) = hooks.inject_oom_above.filter(|&l| bs > l) {
                return Err(at.err(TchError::Torch(format!(
                    "DefaultCPUAllocator: can't allocate memory (injected by --inject-oom-above {limit})"
                ))));
            }
            let augment = args.augment.then_some(&mut rng);
            let loss = train_step(&net, &ds, &mut opt, &perm, step, bs_i, device, augment)
                .and_then(|(loss, hits)| {
                    let _guard = tch::no_grad_guard();
                    let _ = loss_sum.f_add_(&loss.f_mul_scalar(bs_i)?)?;
                    let _ = correct.f_add_(&hits)?;
                    Ok(loss)
                })
                .map_err(|e| at.err(e))?;
            epoch_images += u64::from(bs);
            images_total += u64::from(bs);
            let now = Instant::now();
            if step == steps || last_report.is_none_or(|r| now - r >= STEP_EVERY) {
                last_report = Some(now);
                let secs = (now - epoch_start).as_secs_f64();
                send(TrainEvent::Step {
                    t_s: t(),
                    epoch,
                    step,
                    steps_per_epoch: Some(steps),
                    loss: loss.f_double_value(&[]).ok().filter(|l| l.is_finite()),
                    images_per_s: (secs > 0.0).then(|| epoch_images as f64 / secs),
                    images: Some(images_total),
                });
            }
        }
        let n = epoch_images as f64;
        let train_loss = loss_sum.f_double_value(&[0]).map_err(|e| at.err(e))? / n;
        let train_acc = correct.f_double_value(&[0]).map_err(|e| at.err(e))? / n;
        let val_acc = match evaluate(&net, &ds, device, bs_i, cancel).map_err(|e| at.err(e))? {
            Evaluated::Accuracy(a) => a,
            Evaluated::Cancelled => {
                return Ok((
                    RunStatus::Cancelled,
                    Some(format!("cancelled during validation after epoch {epoch}")),
                ))
            }
        };
        send(TrainEvent::EpochEnd {
            t_s: t(),
            epoch,
            train_loss: Some(train_loss).filter(|l| l.is_finite()),
            train_acc: Some(train_acc),
            val_acc,
            images: Some(images_total),
        });
    }
    if let Some(path) = &args.save_model {
        vs.save(path).map_err(|e| RunError::Save {
            path: path.display().to_string(),
            message: first_line(&e),
        })?;
        return Ok((
            RunStatus::Completed,
            Some(format!("weights saved to {}", path.display())),
        ));
    }
    Ok((RunStatus::Completed, None))
}

/// One optimiser step on the `step`-th batch of `perm`. Returns the mean loss
/// and the number of correct predictions (both still on the device: reading
/// them would synchronise a GPU every step).
#[allow(clippy::too_many_arguments)]
fn train_step(
    net: &ResNet18,
    ds: &Dataset,
    opt: &mut COptimizer,
    perm: &Tensor,
    step: u32,
    bs: i64,
    device: Device,
    augment: Option<&mut Rng>,
) -> Result<(Tensor, Tensor), TchError> {
    let idx = perm.f_narrow(0, i64::from(step - 1) * bs, bs)?;
    let (xs, ys) = ds.batch(&ds.train, &idx, device, augment)?;
    let logits = net.forward(&xs, true)?;
    let loss = logits.f_cross_entropy_loss::<Tensor>(&ys, None, Reduction::Mean, -100, 0.0)?;
    opt.zero_grad()?;
    loss.f_backward()?;
    opt.step()?;
    let _guard = tch::no_grad_guard();
    let hits = logits
        .f_argmax(1, false)?
        .f_eq_tensor(&ys)?
        .f_sum(Kind::Int64)?;
    Ok((loss.f_detach()?, hits))
}

enum Evaluated {
    Accuracy(Option<f64>),
    Cancelled,
}

/// Accuracy on the validation images (None when there are none), without
/// gradients and with batch norm in inference mode.
fn evaluate(
    net: &ResNet18,
    ds: &Dataset,
    device: Device,
    bs: i64,
    cancel: &AtomicBool,
) -> Result<Evaluated, TchError> {
    if ds.val.is_empty() {
        return Ok(Evaluated::Accuracy(None));
    }
    let n = ds.val.len();
    let _guard = tch::no_grad_guard();
    let mut correct = 0i64;
    let mut start = 0;
    while start < n {
        if cancel.load(Ordering::Relaxed) {
            return Ok(Evaluated::Cancelled);
        }
        let len = bs.min(n - start);
        let idx = Tensor::f_arange_start(start, start + len, (Kind::Int64, Device::Cpu))?;
        let (xs, ys) = ds.batch(&ds.val, &idx, device, None)?;
        let hits = net
            .forward(&xs, false)?
            .f_argmax(1, false)?
            .f_eq_tensor(&ys)?
            .f_sum(Kind::Int64)?;
        correct += hits.f_int64_value(&[])?;
        start += len;
    }
    Ok(Evaluated::Accuracy(Some(correct as f64 / n as f64)))
}
