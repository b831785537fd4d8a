//! A run of the built-in trainer, step by step: the device and the data,
//! the RunStart event, the epochs ([`crate::training`]), the weights saved,
//! and a final RunEnd however the run ended (completed, cancelled, out of
//! memory, an error or a panic).
use std::ops::ControlFlow;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use tch::{nn, Device};

use trainwatt::model::event::{RunStatus, TrainConfig, TrainEvent};
use trainwatt::train::{steps_per_epoch, train_config, DeviceSpec, TrainArgs};

use crate::data::Dataset;
use crate::run_error::{first_line, RunError};
pub use crate::training::Hooks;
use crate::training::{Link, Outcome, Training};

/// Train to the end, or until `cancel` is set (checked before every step),
/// passing each event to `emit`: RunStart once the data is loaded, Step
/// (throttled to one per [`STEP_EVERY`](crate::training::STEP_EVERY) plus
/// each epoch's last), EpochEnd, and a final RunEnd. Returns the run's
/// status. `hooks` are test hooks.
pub fn train(
    args: &TrainArgs,
    hooks: &Hooks,
    cancel: &AtomicBool,
    emit: &mut dyn FnMut(TrainEvent),
) -> RunStatus {
    let origin = Instant::now();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let link = Link {
            origin,
            send: &mut *emit,
            cancel,
        };
        run(args, hooks, link)
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

fn run<'a>(args: &'a TrainArgs, hooks: &'a Hooks, mut link: Link<'a>) -> Result<Outcome, RunError> {
    let threads = args.threads_resolved();
    tch::set_num_threads(threads as i32);
    let device = resolve_device(args.device)?;
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }
    let (ds, steps) = load_data(args)?;
    let config = run_config(args, &ds, steps, device, threads);
    link.emit(TrainEvent::RunStart {
        t_s: link.t(),
        config,
    });
    let mut training = Training::new(args, hooks, ds, device, steps, link)?;
    for epoch in 1..=args.epochs {
        if let ControlFlow::Break(stopped) = training.epoch(epoch)? {
            return Ok(stopped);
        }
    }
    save_weights(args, training.weights())
}

/// The dataset, and its steps per epoch (at least one).
fn load_data(args: &TrainArgs) -> Result<(Dataset, u32), RunError> {
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
    Ok((ds, steps))
}

/// The RunStart configuration: the options, with the dataset's real figures
/// and where the run trains.
fn run_config(
    args: &TrainArgs,
    ds: &Dataset,
    steps: u32,
    device: Device,
    threads: u32,
) -> TrainConfig {
    let mut config = train_config(args);
    config.train_images = Some(ds.train.len() as u64);
    config.val_images = Some(ds.val.len() as u64);
    config.steps_per_epoch = Some(steps);
    config.device = Some(device_name(device));
    config.threads = Some(threads);
    config
        .extra
        .insert("classes".into(), serde_json::json!(ds.classes));
    config
}

/// Save the weights when `--save-model` asks for them: the end of a
/// completed run.
fn save_weights(args: &TrainArgs, vs: &nn::VarStore) -> Result<Outcome, RunError> {
    let Some(path) = &args.save_model else {
        return Ok((RunStatus::Completed, None));
    };
    vs.save(path).map_err(|e| RunError::Save {
        path: path.display().to_string(),
        message: first_line(&e),
    })?;
    Ok((
        RunStatus::Completed,
        Some(format!("weights saved to {}", path.display())),
    ))
}
