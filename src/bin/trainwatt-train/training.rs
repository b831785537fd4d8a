//! The training loop of the built-in trainer: SGD with momentum and weight
//! decay over a [`Dataset`], epoch by epoch and step by step, with
//! validation after each epoch, reporting progress as [`TrainEvent`]s.
//!
//! Every libtorch call in the loop is fallible (`f_`), so an allocation failure
//! ends the run with [`RunError::Torch`] (out of memory, with the batch size)
//! rather than a crash.
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tch::{nn, COptimizer, Device, Kind, Reduction, TchError, Tensor};

use trainwatt::model::event::{RunStatus, TrainEvent};
use trainwatt::train::TrainArgs;

use crate::data::Dataset;
use crate::random::{with_torch_seed, Rng};
use crate::resnet::ResNet18;
use crate::run_error::{At, RunError};

/// At most one Step event per this interval (plus the last step of each epoch).
pub const STEP_EVERY: Duration = Duration::from_millis(200);

/// How a run ended, and what to say about it.
pub type Outcome = (RunStatus, Option<String>);

/// Test hooks (only settable with the `test-util` feature).
#[derive(Debug, Default, Clone)]
pub struct Hooks {
    /// A batch size above this fails like an out-of-memory error.
    pub inject_oom_above: Option<u32>,
}

/// The run's link to its parent: the clock its events are stamped with,
/// where they go, and the flag that cancels it (checked before every step).
pub struct Link<'a> {
    pub origin: Instant,
    pub send: &'a mut dyn FnMut(TrainEvent),
    pub cancel: &'a AtomicBool,
}

impl Link<'_> {
    /// Seconds since the run began.
    pub fn t(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }

    pub fn emit(&mut self, ev: TrainEvent) {
        (self.send)(ev)
    }
}

/// The network, its weights and its optimiser.
struct Model {
    vs: nn::VarStore,
    net: ResNet18,
    opt: COptimizer,
}

impl Model {
    /// The network initialised from the seed, and SGD with momentum and
    /// weight decay over its weights.
    fn new(args: &TrainArgs, device: Device, classes: i64) -> Result<Model, RunError> {
        let at = At::start(args.batch_size);
        let (vs, net) = with_torch_seed(args.seed, || {
            let vs = nn::VarStore::new(device);
            let net = ResNet18::new(&vs.root(), args.model_kind(), classes);
            (vs, net)
        });
        let mut opt = COptimizer::sgd(args.lr, args.momentum, 0.0, args.weight_decay, false)
            .map_err(|e| at.err(e))?;
        for v in vs.trainable_variables() {
            opt.add_parameters(&v, 0).map_err(|e| at.err(e))?;
        }
        Ok(Model { vs, net, opt })
    }
}

/// A run under way: the data, the network and its optimiser, and the
/// counts its progress events report.
pub struct Training<'a> {
    args: &'a TrainArgs,
    hooks: &'a Hooks,
    ds: Dataset,
    device: Device,
    steps: u32,
    model: Model,
    /// Augmentation's random source.
    rng: Rng,
    /// Where the run is, for libtorch's errors.
    at: At,
    images_total: u64,
    /// When the last Step event went out (they are throttled).
    last_report: Option<Instant>,
    link: Link<'a>,
}

/// One epoch's sums, kept on the device until the epoch ends.
struct EpochTally {
    loss_sum: Tensor,
    correct: Tensor,
    images: u64,
    start: Instant,
}

impl<'a> Training<'a> {
    /// A run of `steps` steps an epoch over `ds`, before its first epoch.
    pub fn new(
        args: &'a TrainArgs,
        hooks: &'a Hooks,
        ds: Dataset,
        device: Device,
        steps: u32,
        link: Link<'a>,
    ) -> Result<Self, RunError> {
        let model = Model::new(args, device, ds.classes)?;
        Ok(Training {
            args,
            hooks,
            ds,
            device,
            steps,
            model,
            rng: Rng::new(args.seed),
            at: At::start(args.batch_size),
            images_total: 0,
            last_report: None,
            link,
        })
    }

    /// The weights as trained so far.
    pub fn weights(&self) -> &nn::VarStore {
        &self.model.vs
    }

    /// Train one epoch (in a fresh random order) and validate; Break when
    /// the run was cancelled.
    pub fn epoch(&mut self, epoch: u32) -> Result<ControlFlow<Outcome>, RunError> {
        self.at.epoch = epoch;
        self.at.step = 0;
        let at = self.at;
        let perm = Tensor::f_randperm(self.ds.train.len(), (Kind::Int64, Device::Cpu))
            .map_err(|e| at.err(e))?;
        let mut tally = EpochTally {
            loss_sum: Tensor::f_zeros([1], (Kind::Float, self.device)).map_err(|e| at.err(e))?,
            correct: Tensor::f_zeros([1], (Kind::Int64, self.device)).map_err(|e| at.err(e))?,
            images: 0,
            start: Instant::now(),
        };
        for step in 1..=self.steps {
            self.at.step = step;
            if self.link.cancel.load(Ordering::Relaxed) {
                return Ok(ControlFlow::Break((
                    RunStatus::Cancelled,
                    Some(format!("cancelled at epoch {epoch}, step {step}")),
                )));
            }
            self.injected_oom()?;
            let loss = self.step(&perm, step, &mut tally)?;
            self.report_step(epoch, step, &loss, &tally);
        }
        self.end_epoch(epoch, &tally)
    }

    /// The `--inject-oom-above` test hook: a batch size above it fails here
    /// like an allocation.
    fn injected_oom(&self) -> Result<(), RunError> {
        match self.hooks.inject_oom_above.filter(|&l| self.args.batch_size > l) {
            Some(limit) => Err(self.at.err(TchError::Torch(format!(
                "DefaultCPUAllocator: can't allocate memory (injected by --inject-oom-above {limit})"
            )))),
            None => Ok(()),
        }
    }

    /// One optimiser step, its loss and hits added to the epoch's sums.
    /// Returns the step's mean loss (on the device).
    fn step(
        &mut self,
        perm: &Tensor,
        step: u32,
        tally: &mut EpochTally,
    ) -> Result<Tensor, RunError> {
        let bs = self.args.batch_size;
        let bs_i = i64::from(bs);
        let augment = self.args.augment.then_some(&mut self.rng);
        let loss = train_step(
            &self.model.net,
            &self.ds,
            &mut self.model.opt,
            perm,
            step,
            bs_i,
            self.device,
            augment,
        )
        .and_then(|(loss, hits)| {
            let _guard = tch::no_grad_guard();
            let _ = tally.loss_sum.f_add_(&loss.f_mul_scalar(bs_i)?)?;
            let _ = tally.correct.f_add_(&hits)?;
            Ok(loss)
        })
        .map_err(|e| self.at.err(e))?;
        tally.images += u64::from(bs);
        self.images_total += u64::from(bs);
        Ok(loss)
    }

    /// A Step event, at most one per [`STEP_EVERY`] plus the epoch's last
    /// step (reading the loss synchronises a GPU).
    fn report_step(&mut self, epoch: u32, step: u32, loss: &Tensor, tally: &EpochTally) {
        let now = Instant::now();
        if step != self.steps && self.last_report.is_some_and(|r| now - r < STEP_EVERY) {
            return;
        }
        self.last_report = Some(now);
        let secs = (now - tally.start).as_secs_f64();
        let ev = TrainEvent::Step {
            t_s: self.link.t(),
            epoch,
            step,
            steps_per_epoch: Some(self.steps),
            loss: loss.f_double_value(&[]).ok().filter(|l| l.is_finite()),
            images_per_s: (secs > 0.0).then(|| tally.images as f64 / secs),
            images: Some(self.images_total),
        };
        self.link.emit(ev);
    }

    /// The epoch's training loss and accuracy, validation, and its EpochEnd
    /// event; Break when cancelled during validation.
    fn end_epoch(
        &mut self,
        epoch: u32,
        tally: &EpochTally,
    ) -> Result<ControlFlow<Outcome>, RunError> {
        let at = self.at;
        let n = tally.images as f64;
        let train_loss = tally.loss_sum.f_double_value(&[0]).map_err(|e| at.err(e))? / n;
        let train_acc = tally.correct.f_double_value(&[0]).map_err(|e| at.err(e))? / n;
        let bs_i = i64::from(self.args.batch_size);
        let val_acc = match evaluate(
            &self.model.net,
            &self.ds,
            self.device,
            bs_i,
            self.link.cancel,
        )
        .map_err(|e| at.err(e))?
        {
            Evaluated::Accuracy(a) => a,
            Evaluated::Cancelled => {
                return Ok(ControlFlow::Break((
                    RunStatus::Cancelled,
                    Some(format!("cancelled during validation after epoch {epoch}")),
                )))
            }
        };
        let ev = TrainEvent::EpochEnd {
            t_s: self.link.t(),
            epoch,
            train_loss: Some(train_loss).filter(|l| l.is_finite()),
            train_acc: Some(train_acc),
            val_acc,
            images: Some(self.images_total),
        };
        self.link.emit(ev);
        Ok(ControlFlow::Continue(()))
    }
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
