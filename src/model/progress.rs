//! A training run folded from its events: epoch, step, images, loss,
//! accuracy, start and end, and the fraction of the run done. Energy is not
//! kept here: the session fold (fold.rs) reads it off the total timeline at
//! the instants this records.
use super::event::{RunStatus, TrainConfig, TrainEvent};

/// Epoch and step numbers above this are not plausible (a corrupt line).
pub const MAX_PLAUSIBLE_COUNT: u32 = 10_000_000;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunProgress {
    pub model: Option<String>,
    pub dataset: Option<String>,
    pub batch_size: Option<u32>,
    pub epochs: Option<u32>,
    pub steps_per_epoch: Option<u32>,
    /// Current (1-based) epoch; 0 before the first step.
    pub epoch: u32,
    /// Steps done in the current epoch.
    pub step: u32,
    /// The current epoch has ended.
    pub epoch_done: bool,
    pub start_t: Option<f64>,
    pub end_t: Option<f64>,
    /// When the run first stood at `fraction()`: the time of the latest
    /// progress event (step, epoch end, run end) that changed it.
    pub progress_t: Option<f64>,
    /// Optimiser steps of the epochs before the current one.
    steps_before: u64,
    pub images: Option<u64>,
    pub images_per_s: Option<f64>,
    pub loss: Option<f64>,
    pub val_acc: Option<f64>,
    pub status: Option<RunStatus>,
    pub message: Option<String>,
}

impl RunProgress {
    /// What the session header announces about the run.
    pub fn from_config(cfg: Option<&TrainConfig>) -> Self {
        RunProgress {
            model: cfg.map(|t| t.model.clone()),
            dataset: cfg.map(|t| t.dataset.clone()),
            batch_size: cfg.and_then(|t| t.batch_size),
            epochs: cfg.and_then(|t| t.epochs),
            steps_per_epoch: cfg.and_then(|t| t.steps_per_epoch),
            ..Default::default()
        }
    }

    /// Fold one training event. Returns a problem (an implausible or
    /// out-of-order event, which is then ignored) for the caller to report.
    pub fn apply(&mut self, te: &TrainEvent) -> Option<String> {
        if let Some(problem) = self.implausible(te) {
            return Some(problem);
        }
        let before = self.fraction();
        self.apply_valid(te);
        // Where the run stood at its fraction: the first time it got there
        // (without a known fraction, the latest progress event).
        let now = self.fraction();
        if now != before || now.is_none() || self.progress_t.is_none() {
            if let TrainEvent::Step { .. }
            | TrainEvent::EpochEnd { .. }
            | TrainEvent::RunEnd { .. } = te
            {
                self.progress_t = Some(te.t_s());
            }
        }
        None
    }

    fn apply_valid(&mut self, te: &TrainEvent) {
        match te {
            TrainEvent::RunStart { t_s, config } => {
                // A wrapped command announces its configuration after it has
                // started (its `start` line): that updates the run, it does
                // not restart it.
                if self.start_t.is_none() {
                    self.start_t = Some(*t_s);
                }
                self.epochs = config.epochs.or(self.epochs);
                self.steps_per_epoch = config.steps_per_epoch.or(self.steps_per_epoch);
                self.model = Some(config.model.clone());
                self.dataset = Some(config.dataset.clone());
                self.batch_size = config.batch_size.or(self.batch_size);
            }
            TrainEvent::Step {
                t_s,
                epoch,
                step,
                steps_per_epoch,
                loss,
                images_per_s,
                images,
            } => {
                self.reached(*t_s);
                self.enter_epoch(*epoch);
                self.step = *step;
                self.epoch_done = false;
                self.steps_per_epoch = steps_per_epoch.or(self.steps_per_epoch);
                self.loss = loss.or(self.loss);
                self.images_per_s = images_per_s.or(self.images_per_s);
                self.images = images.or(self.images);
            }
            TrainEvent::EpochEnd {
                t_s,
                epoch,
                train_loss,
                val_acc,
                images,
                ..
            } => {
                self.reached(*t_s);
                self.enter_epoch(*epoch);
                self.epoch_done = true;
                if let Some(spe) = self.steps_per_epoch {
                    self.step = spe;
                }
                self.val_acc = val_acc.or(self.val_acc);
                self.loss = train_loss.or(self.loss);
                self.images = images.or(self.images);
            }
            TrainEvent::RunEnd {
                t_s,
                status,
                message,
            } => {
                self.start_t.get_or_insert(*t_s);
                self.end_t = Some(*t_s);
                self.status = Some(status.clone());
                self.message = message.clone();
            }
        }
    }

    /// Why `te` cannot be folded: counts past [`MAX_PLAUSIBLE_COUNT`], a
    /// run that ends before it started, events after the run's end.
    fn implausible(&self, te: &TrainEvent) -> Option<String> {
        let t = te.t_s();
        if !t.is_finite() {
            return Some("a training event without a finite time".into());
        }
        if self.end_t.is_some() && !matches!(te, TrainEvent::RunStart { .. }) {
            return Some(format!("a training event at {t:.3} s after the run ended"));
        }
        let counts = match te {
            TrainEvent::Step { epoch, step, .. } => [*epoch, *step],
            TrainEvent::EpochEnd { epoch, .. } => [*epoch, 0],
            _ => [0, 0],
        };
        if counts.iter().any(|&c| c > MAX_PLAUSIBLE_COUNT) {
            return Some(format!(
                "an epoch or step count above {MAX_PLAUSIBLE_COUNT} at {t:.3} s"
            ));
        }
        if let (TrainEvent::RunEnd { .. }, Some(t0)) = (te, self.start_t) {
            if t < t0 {
                return Some(format!(
                    "the run ends at {t:.3} s, before it started at {t0:.3} s"
                ));
            }
        }
        None
    }

    /// A progress event at `t_s`: the run has started by then.
    fn reached(&mut self, t_s: f64) {
        self.start_t.get_or_insert(t_s);
    }

    /// Moving to a later epoch banks the steps of the one before, and whole
    /// epochs for any skipped in between (their steps were not reported).
    fn enter_epoch(&mut self, epoch: u32) {
        if epoch > self.epoch {
            if self.epoch > 0 {
                let done = if self.epoch_done {
                    self.steps_per_epoch.map_or(self.step, |s| s.max(self.step))
                } else {
                    self.step
                };
                self.steps_before += u64::from(done);
            }
            let skipped = u64::from(epoch - self.epoch - 1);
            self.steps_before += skipped * u64::from(self.steps_per_epoch.unwrap_or(0));
        }
        self.epoch = self.epoch.max(epoch);
    }

    /// Optimiser steps done so far (None while no step count is known).
    pub fn steps(&self) -> Option<u64> {
        let current = if self.epoch_done {
            self.steps_per_epoch.map_or(self.step, |s| s.max(self.step))
        } else {
            self.step
        };
        let n = self.steps_before + u64::from(current);
        (n > 0).then_some(n)
    }

    /// Whether training events have been seen (or announced in the header).
    pub fn has_training(&self) -> bool {
        self.start_t.is_some() || self.epochs.is_some()
    }

    /// Fraction of the whole run done, 0..=1, when the run's size is known.
    pub fn fraction(&self) -> Option<f64> {
        if self.status == Some(RunStatus::Completed) {
            return Some(1.0);
        }
        let epochs = self.epochs.filter(|&e| e > 0)? as f64;
        let within = match (self.epoch_done, self.steps_per_epoch) {
            (false, Some(spe)) if spe > 0 && self.epoch > 0 => {
                (self.step as f64 / spe as f64).min(1.0)
            }
            _ => 0.0,
        };
        Some(((self.epochs_done() as f64 + within) / epochs).clamp(0.0, 1.0))
    }

    /// Epochs completed.
    pub fn epochs_done(&self) -> u32 {
        if self.epoch_done || self.status == Some(RunStatus::Completed) {
            self.epoch
        } else {
            self.epoch.saturating_sub(1)
        }
    }

    /// Seconds of training from the run start to `now_s` or the run's end.
    pub fn elapsed_s(&self, now_s: f64) -> Option<f64> {
        let start = self.start_t?;
        Some((self.end_t.unwrap_or(now_s) - start).max(0.0))
    }

    /// Images per second as reported, or the mean since the start.
    pub fn images_per_s(&self, now_s: f64) -> Option<f64> {
        self.images_per_s.or_else(|| {
            let spent = self.elapsed_s(now_s)?;
            let n = self.images? as f64;
            (spent > 0.0).then(|| n / spent)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_counts_finished_epochs_and_steps() {
        let mut p = RunProgress::from_config(Some(&TrainConfig {
            epochs: Some(4),
            steps_per_epoch: Some(10),
            ..Default::default()
        }));
        assert_eq!(p.fraction(), Some(0.0));
        let step = |epoch, step| TrainEvent::Step {
            t_s: 1.0,
            epoch,
            step,
            steps_per_epoch: None,
            loss: None,
            images_per_s: None,
            images: Some(80),
        };
        p.apply(&step(2, 5));
        assert_eq!(p.fraction(), Some(0.375));
        assert_eq!(p.epochs_done(), 1);
        p.apply(&TrainEvent::EpochEnd {
            t_s: 2.0,
            epoch: 2,
            train_loss: Some(0.5),
            train_acc: None,
            val_acc: Some(0.6),
            images: None,
        });
        assert_eq!(p.fraction(), Some(0.5));
        assert_eq!(p.steps(), Some(20), "epoch 1 banked whole, epoch 2 ended");
        assert_eq!(p.loss, Some(0.5));
        assert_eq!(p.images_per_s(3.0), Some(40.0));
    }

    #[test]
    fn a_second_run_start_updates_the_config_without_restarting_the_run() {
        let mut p = RunProgress::default();
        let start = |t_s, epochs| TrainEvent::RunStart {
            t_s,
            config: TrainConfig {
                model: "python train.py".into(),
                dataset: "external".into(),
                epochs,
                ..Default::default()
            },
        };
        p.apply(&start(0.5, None));
        p.apply(&start(4.0, Some(3)));
        assert_eq!(p.start_t, Some(0.5));
        assert_eq!(p.epochs, Some(3));
    }

    #[test]
    fn epoch_end_only_trainers_update_the_loss_and_the_progress_point() {
        let mut p = RunProgress::default();
        for (epoch, loss) in [(1, 2.0), (2, 1.0)] {
            p.apply(&TrainEvent::EpochEnd {
                t_s: epoch as f64 * 10.0,
                epoch,
                train_loss: Some(loss),
                train_acc: None,
                val_acc: None,
                images: None,
            });
        }
        assert_eq!(p.loss, Some(1.0));
        assert_eq!(p.progress_t, Some(20.0));
        assert_eq!(p.steps(), None, "epoch ends without steps per epoch");
    }

    #[test]
    fn implausible_and_out_of_order_events_are_refused_with_a_reason() {
        let mut p = RunProgress::default();
        let huge = TrainEvent::Step {
            t_s: 1.0,
            epoch: 4_294_967_295,
            step: 1,
            steps_per_epoch: None,
            loss: None,
            images_per_s: None,
            images: None,
        };
        assert!(p.apply(&huge).unwrap().contains("above 10000000"));
        assert_eq!(p.epoch, 0);
        p.apply(&TrainEvent::RunStart {
            t_s: 5.0,
            config: TrainConfig::default(),
        });
        let early_end = TrainEvent::RunEnd {
            t_s: 2.0,
            status: RunStatus::Completed,
            message: None,
        };
        assert!(p.apply(&early_end).unwrap().contains("before it started"));
        assert_eq!(p.end_t, None);
    }
}
