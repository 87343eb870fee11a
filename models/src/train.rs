//! The training loop of the official `main.py`: AdamW with a one-cycle schedule,
//! element-wise gradient clipping, periodic dev evaluation, the best-checkpoint rule and
//! a final test pass.
//!
//! Differences from `main.py`, all forced by running on the CPU in float32: there is no
//! fp16 autocast and no GradScaler (so no step is ever skipped for inf/NaN gradients),
//! and the random numbers come from seeded Rust generators, not torch's.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::checkpoint;
use crate::config::{Config, TrainingConfig};
use crate::data::{Batch, EncodedExample, EndlessOrder, single_pass_batches};
use crate::error::{Error, Result};
use crate::init::seeded_var_builder;
use crate::memory;
use crate::model::{ClassifierOutput, ModelForSC, ModelForSCDual};
use crate::{ForwardContext, Task};

/// AdamW's ε in `main.py`.
pub const ADAM_EPS: f64 = 1e-6;
/// β₂ of AdamW; β₁ follows the one-cycle momentum schedule.
pub const ADAM_BETA2: f64 = 0.999;
/// Gradients are clipped element-wise to [−1, 1].
pub const GRAD_CLIP_VALUE: f64 = 1.0;
/// A better dev accuracy is saved only after this fraction of the training steps.
pub const SAVE_AFTER_FRACTION: f64 = 0.2;

/// torch's `OneCycleLR` with two phases, as `main.py` configures it: the learning rate
/// rises from max_lr/25 to max_lr over the warm-up and falls to max_lr/(25·10⁴) at the
/// last step, while AdamW's β₁ falls from 0.95 to 0.85 and rises back.
#[derive(Debug, Clone, PartialEq)]
pub struct OneCycleSchedule {
    pub max_lr: f64,
    pub total_steps: usize,
    /// Last step of the first phase: pct_start · total_steps − 1 (= warm-up − 1).
    pub warmup_end: f64,
    pub initial_lr: f64,
    pub min_lr: f64,
    pub base_momentum: f64,
    pub max_momentum: f64,
    /// `"linear"` or `"cos"` annealing.
    pub anneal: Anneal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anneal {
    Linear,
    Cos,
}

impl OneCycleSchedule {
    /// Builds the schedule of `main.py`: pct_start = warmup / num_train_steps, div_factor 25,
    /// final_div_factor 10⁴, momentum 0.85–0.95.
    pub fn new(max_lr: f64, warmup: usize, total_steps: usize, lr_decay: &str) -> Result<Self> {
        let anneal = match lr_decay {
            "linear" => Anneal::Linear,
            "cos" => Anneal::Cos,
            other => {
                return Err(Error::Config(format!(
                    "lr_decay {other:?} is not supported; use \"linear\" or \"cos\""
                )));
            }
        };
        if total_steps < 2 || warmup >= total_steps {
            return Err(Error::Config(format!(
                "the one-cycle schedule needs at least 2 steps and warmup < num_train_steps, got warmup {warmup} of {total_steps}"
            )));
        }
        let pct_start = warmup as f64 / total_steps as f64;
        let initial_lr = max_lr / 25.0;
        Ok(Self {
            max_lr,
            total_steps,
            warmup_end: pct_start * total_steps as f64 - 1.0,
            initial_lr,
            min_lr: initial_lr / 1e4,
            base_momentum: 0.85,
            max_momentum: 0.95,
            anneal,
        })
    }

    fn anneal(&self, start: f64, end: f64, pct: f64) -> f64 {
        match self.anneal {
            Anneal::Linear => (end - start) * pct + start,
            Anneal::Cos => end + (start - end) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0),
        }
    }

    /// (learning rate, β₁) for training step `step` (0-based), following torch's phase search.
    fn values(&self, step: usize) -> (f64, f64) {
        let step = step as f64;
        let last = (self.total_steps - 1) as f64;
        if step <= self.warmup_end {
            let pct = step / self.warmup_end;
            (
                self.anneal(self.initial_lr, self.max_lr, pct),
                self.anneal(self.max_momentum, self.base_momentum, pct),
            )
        } else {
            let pct = (step - self.warmup_end) / (last - self.warmup_end);
            (
                self.anneal(self.max_lr, self.min_lr, pct),
                self.anneal(self.base_momentum, self.max_momentum, pct),
            )
        }
    }

    /// Learning rate used by training step `step` (0-based).
    pub fn learning_rate(&self, step: usize) -> f64 {
        self.values(step).0
    }

    /// AdamW β₁ used by training step `step` (0-based).
    pub fn beta1(&self, step: usize) -> f64 {
        self.values(step).1
    }
}

/// The classifier being trained: single-sequence or pair.
enum Classifier {
    Single(ModelForSC),
    Dual(ModelForSCDual),
}

impl Classifier {
    fn forward(
        &self,
        batch: &Batch,
        ctx: &mut ForwardContext,
    ) -> candle_core::Result<ClassifierOutput> {
        match (self, &batch.pair) {
            (Classifier::Single(model), _) => {
                model.forward_with_labels(&batch.ids, &batch.mask, &batch.labels, ctx)
            }
            (Classifier::Dual(model), Some((ids_1, mask_1))) => model.forward_with_labels(
                &batch.ids,
                ids_1,
                &batch.mask,
                mask_1,
                &batch.labels,
                ctx,
            ),
            (Classifier::Dual(_), None) => {
                candle_core::bail!("the pair model needs examples with a second document")
            }
        }
    }

    fn num_parameters(&self) -> usize {
        match self {
            Classifier::Single(model) => model.num_parameters(),
            Classifier::Dual(model) => model.num_parameters(),
        }
    }
}

/// Options of a training run that are not part of `config.py`.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Seeds initialisation, data order, dropout and landmarks (`main.py --random`, 42).
    pub seed: u64,
    /// File the best checkpoint is written to. With `None` it is kept in memory only.
    pub checkpoint_path: Option<PathBuf>,
    /// Gradient-accumulation chunks per step (`bz_rate`).
    pub accumulation_steps: usize,
    /// Shows an indicatif progress bar on stderr (drawn only on a terminal).
    pub progress: bool,
    /// Use the pair model (LRA retrieval).
    pub dual: bool,
    pub device: Device,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            seed: crate::config::DEFAULT_SEED,
            checkpoint_path: None,
            accumulation_steps: 1,
            progress: true,
            dual: false,
            device: Device::Cpu,
        }
    }
}

impl TrainOptions {
    /// Returns the options `main.py` derives for a task and attention type: `bz_rate` chunks and
    /// the pair model for retrieval.
    pub fn for_task(task: Task, attn_type: &str) -> Self {
        let preset = crate::TaskConfig::preset(task);
        Self {
            accumulation_steps: preset.accumulation_steps(attn_type),
            dual: task.is_dual(),
            ..Self::default()
        }
    }
}

/// One dev evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRecord {
    /// Training steps done before this evaluation.
    pub step: usize,
    /// Seconds spent in training steps so far (evaluations excluded).
    pub train_seconds: f64,
    /// Wall-clock seconds since training started (evaluations included).
    pub elapsed_seconds: f64,
    /// Mean of the per-batch dev accuracies.
    pub dev_accuracy: f64,
    pub dev_loss: f64,
    /// Mean training loss and accuracy of the steps since the previous evaluation.
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub learning_rate: f64,
    /// Whether this evaluation improved the best dev accuracy.
    pub improved: bool,
    /// Whether the weights were saved as the best checkpoint.
    pub saved: bool,
}

/// Loss and accuracy of a pass over an evaluation set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalResult {
    pub accuracy: f64,
    pub loss: f64,
    pub batches: usize,
}

/// Everything a training run reports.
#[derive(Debug, Clone)]
pub struct TrainReport {
    pub evals: Vec<EvalRecord>,
    pub best_dev_accuracy: f64,
    /// Whether a best checkpoint was saved (and then used for the test pass).
    pub checkpoint_saved: bool,
    /// The test pass, absent when the test split is smaller than one batch.
    pub test: Option<EvalResult>,
    pub steps: usize,
    /// Mean wall-clock seconds of a training step (forward, backward, optimizer).
    pub seconds_per_step: f64,
    /// Median wall-clock seconds of a training step.
    pub median_seconds_per_step: f64,
    /// Seconds spent in training steps, and in the whole run including evaluations.
    pub train_seconds: f64,
    pub total_seconds: f64,
    /// Peak RSS of the process during the run, when the platform reports it.
    pub peak_rss_bytes: Option<u64>,
    pub num_parameters: usize,
}

/// The data of a run; the examples of each split share one padded length.
pub struct TrainData<'a> {
    pub train: &'a [EncodedExample],
    pub dev: &'a [EncodedExample],
    pub test: &'a [EncodedExample],
}

/// A model with its variables, optimizer and schedule, as `main.py` sets them up.
pub struct Trainer {
    model: Classifier,
    varmap: VarMap,
    vars: Vec<(String, Var)>,
    optimizer: AdamW,
    schedule: OneCycleSchedule,
    training: TrainingConfig,
    options: TrainOptions,
    config: Config,
}

impl Trainer {
    /// Builds the model with seeded initialisation and the optimizer.
    pub fn new(config: &Config, training: &TrainingConfig, options: TrainOptions) -> Result<Self> {
        config.validate()?;
        if training.batch_size == 0 || training.eval_frequency == 0 {
            return Err(Error::Config(
                "batch_size and eval_frequency must be positive".into(),
            ));
        }
        if options.accumulation_steps == 0
            || !training
                .batch_size
                .is_multiple_of(options.accumulation_steps)
        {
            return Err(Error::Config(format!(
                "batch_size {} must be a positive multiple of the accumulation steps {}",
                training.batch_size, options.accumulation_steps
            )));
        }
        let schedule = OneCycleSchedule::new(
            training.learning_rate,
            training.warmup,
            training.num_train_steps,
            &training.lr_decay,
        )?;
        let varmap = VarMap::new();
        let vb = seeded_var_builder(&varmap, options.seed, &options.device);
        let model = if options.dual {
            Classifier::Dual(ModelForSCDual::new(config, vb)?)
        } else {
            Classifier::Single(ModelForSC::new(config, vb)?)
        };
        let mut vars: Vec<(String, Var)> = varmap
            .data()
            .lock()
            .expect("the VarMap lock is never poisoned")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let params = ParamsAdamW {
            lr: schedule.learning_rate(0),
            beta1: schedule.beta1(0),
            beta2: ADAM_BETA2,
            eps: ADAM_EPS,
            weight_decay: training.weight_decay,
        };
        let optimizer = AdamW::new(vars.iter().map(|(_, v)| v.clone()).collect(), params)?;
        Ok(Self {
            model,
            varmap,
            vars,
            optimizer,
            schedule,
            training: training.clone(),
            options,
            config: config.clone(),
        })
    }

    pub fn schedule(&self) -> &OneCycleSchedule {
        &self.schedule
    }

    /// Returns the trained single-sequence model, if this trainer built one.
    pub fn model(&self) -> Option<&ModelForSC> {
        match &self.model {
            Classifier::Single(model) => Some(model),
            Classifier::Dual(_) => None,
        }
    }

    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    fn check_data(&self, data: &TrainData) -> Result<()> {
        for (name, split) in [
            ("train", data.train),
            ("dev", data.dev),
            ("test", data.test),
        ] {
            if let Some(example) = split.iter().find(|e| e.ids.len() > self.config.max_seq_len) {
                return Err(Error::InvalidArgument(format!(
                    "{name} examples have {} positions but max_seq_len is {}",
                    example.ids.len(),
                    self.config.max_seq_len
                )));
            }
            if split.iter().any(|e| e.pair.is_some() != self.options.dual) {
                return Err(Error::InvalidArgument(format!(
                    "{name} examples {} a second document, but the model is {}",
                    if self.options.dual { "lack" } else { "have" },
                    if self.options.dual {
                        "a pair model"
                    } else {
                        "a single-sequence model"
                    }
                )));
            }
        }
        if data.train.is_empty() || data.dev.is_empty() {
            return Err(Error::InvalidArgument(
                "the train and dev splits need at least one example".into(),
            ));
        }
        Ok(())
    }

    /// Runs one optimisation step on `batch`: forward and backward per accumulation chunk,
    /// clip every gradient element to [−1, 1], AdamW with the scheduled lr and β₁.
    fn train_step(
        &mut self,
        step: usize,
        examples: &[&EncodedExample],
        ctx: &mut ForwardContext,
    ) -> Result<(f64, f64)> {
        let chunks = self.options.accumulation_steps;
        let chunk_size = examples.len() / chunks;
        let mut grads: Option<GradStore> = None;
        let (mut loss_sum, mut accuracy_sum) = (0.0, 0.0);
        for chunk in examples.chunks(chunk_size) {
            let batch = Batch::new(chunk, &self.options.device)?;
            let output = self.model.forward(&batch, ctx)?;
            let loss = (output.loss.mean_all()? / chunks as f64)?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            accuracy_sum += output.accuracy.mean_all()?.to_scalar::<f32>()? as f64 / chunks as f64;
            let chunk_grads = loss.backward()?;
            grads = Some(match grads {
                None => chunk_grads,
                Some(mut total) => {
                    for (_, var) in &self.vars {
                        if let Some(g) = chunk_grads.get(var.as_tensor()) {
                            let sum = match total.get(var.as_tensor()) {
                                Some(t) => (t + g)?,
                                None => g.clone(),
                            };
                            total.insert(var.as_tensor(), sum);
                        }
                    }
                    total
                }
            });
        }
        let mut grads = grads.expect("at least one chunk");
        for (_, var) in &self.vars {
            if let Some(g) = grads.remove(var.as_tensor()) {
                grads.insert(var.as_tensor(), g.clamp(-GRAD_CLIP_VALUE, GRAD_CLIP_VALUE)?);
            }
        }
        let mut params = self.optimizer.params().clone();
        params.lr = self.schedule.learning_rate(step);
        params.beta1 = self.schedule.beta1(step);
        self.optimizer.set_params(params);
        self.optimizer.step(&grads)?;
        Ok((loss_sum, accuracy_sum))
    }

    /// Mean per-batch loss and accuracy over the given batches, in eval mode.
    fn evaluate(
        &self,
        data: &[EncodedExample],
        batches: &[Vec<usize>],
        ctx: &mut ForwardContext,
    ) -> Result<EvalResult> {
        ctx.set_training(false);
        let (mut loss, mut accuracy) = (0.0, 0.0);
        for indices in batches {
            let examples: Vec<&EncodedExample> = indices.iter().map(|&i| &data[i]).collect();
            let batch = Batch::new(&examples, &self.options.device)?;
            let output = self.model.forward(&batch, ctx)?;
            loss += output.loss.mean_all()?.to_scalar::<f32>()? as f64;
            accuracy += output.accuracy.mean_all()?.to_scalar::<f32>()? as f64;
        }
        ctx.set_training(true);
        let count = batches.len().max(1) as f64;
        Ok(EvalResult {
            accuracy: accuracy / count,
            loss: loss / count,
            batches: batches.len(),
        })
    }

    fn snapshot(&self) -> Result<Vec<Tensor>> {
        Ok(self
            .vars
            .iter()
            .map(|(_, var)| var.as_tensor().copy())
            .collect::<candle_core::Result<_>>()?)
    }

    fn restore(&self, snapshot: &[Tensor]) -> Result<()> {
        for ((_, var), value) in self.vars.iter().zip(snapshot) {
            var.set(value)?;
        }
        Ok(())
    }

    /// Trains for `num_train_steps` steps, evaluating on dev every `eval_frequency` steps,
    /// then tests with the best checkpoint if one was saved. `on_eval` receives every
    /// dev evaluation as it happens.
    pub fn run(
        &mut self,
        data: &TrainData,
        mut on_eval: impl FnMut(&EvalRecord),
    ) -> Result<TrainReport> {
        self.check_data(data)?;
        let training = self.training.clone();
        let mut data_rng = StdRng::seed_from_u64(self.options.seed);
        let mut train_order = EndlessOrder::new(data.train.len(), &mut data_rng);
        let mut dev_order = EndlessOrder::new(data.dev.len(), &mut data_rng);
        let test_batches = single_pass_batches(data.test.len(), training.batch_size, &mut data_rng);
        let mut ctx = ForwardContext::training(self.options.seed.wrapping_add(1));

        memory::reset_peak_rss();
        let progress = if self.options.progress {
            let bar = ProgressBar::new(training.num_train_steps as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} steps {elapsed_precise} (eta {eta}) {msg}",
                )
                .expect("the progress template is valid"),
            );
            bar
        } else {
            ProgressBar::hidden()
        };

        let start = Instant::now();
        let mut step_times = Vec::with_capacity(training.num_train_steps);
        let mut evals = Vec::new();
        let (mut window_loss, mut window_accuracy, mut window_steps) = (0.0, 0.0, 0usize);
        let mut best_dev_accuracy = 0.0;
        let mut best: Option<Vec<Tensor>> = None;

        for step in 0..training.num_train_steps {
            let indices = train_order.next_batch(training.batch_size, &mut data_rng);
            let examples: Vec<&EncodedExample> = indices.iter().map(|&i| &data.train[i]).collect();
            let step_start = Instant::now();
            let (loss, accuracy) = self.train_step(step, &examples, &mut ctx)?;
            step_times.push(step_start.elapsed().as_secs_f64());
            if !loss.is_finite() {
                return Err(Error::InvalidArgument(format!(
                    "training diverged: loss {loss} at step {step}"
                )));
            }
            window_loss += loss;
            window_accuracy += accuracy;
            window_steps += 1;
            progress.inc(1);
            progress.set_message(format!("loss {loss:.4} accuracy {accuracy:.3}"));

            if (step + 1) % training.eval_frequency == 0 {
                let dev_batches: Vec<Vec<usize>> = (0..training.num_eval_steps)
                    .map(|_| dev_order.next_batch(training.batch_size, &mut data_rng))
                    .collect();
                let dev = self.evaluate(data.dev, &dev_batches, &mut ctx)?;
                let improved = dev.accuracy > best_dev_accuracy;
                let mut saved = false;
                if improved {
                    best_dev_accuracy = dev.accuracy;
                    if (step + 1) as f64 > training.num_train_steps as f64 * SAVE_AFTER_FRACTION {
                        best = Some(self.snapshot()?);
                        if let Some(path) = &self.options.checkpoint_path {
                            match &self.model {
                                Classifier::Single(model) => model.save_safetensors(path)?,
                                Classifier::Dual(model) => model.save_safetensors(path)?,
                            }
                        }
                        saved = true;
                    }
                }
                let record = EvalRecord {
                    step: step + 1,
                    train_seconds: step_times.iter().sum(),
                    elapsed_seconds: start.elapsed().as_secs_f64(),
                    dev_accuracy: dev.accuracy,
                    dev_loss: dev.loss,
                    train_loss: window_loss / window_steps as f64,
                    train_accuracy: window_accuracy / window_steps as f64,
                    learning_rate: self.schedule.learning_rate(step),
                    improved,
                    saved,
                };
                progress.println(format!(
                    "step {}: dev accuracy {:.4} (loss {:.4}), train accuracy {:.4}{}",
                    record.step,
                    record.dev_accuracy,
                    record.dev_loss,
                    record.train_accuracy,
                    if saved { ", saved" } else { "" }
                ));
                on_eval(&record);
                evals.push(record);
                (window_loss, window_accuracy, window_steps) = (0.0, 0.0, 0);
            }
        }
        progress.finish_and_clear();
        let train_seconds: f64 = step_times.iter().sum();

        // The test pass uses the best checkpoint when one was saved, else the final weights.
        let checkpoint_saved = best.is_some();
        if let Some(snapshot) = &best {
            match &self.options.checkpoint_path {
                Some(path) => checkpoint::load_into_varmap(&self.varmap, path)?,
                None => self.restore(snapshot)?,
            }
        }
        let test = if test_batches.is_empty() {
            None
        } else {
            Some(self.evaluate(data.test, &test_batches, &mut ctx)?)
        };

        let mut sorted = step_times.clone();
        sorted.sort_by(f64::total_cmp);
        let steps = step_times.len();
        Ok(TrainReport {
            evals,
            best_dev_accuracy,
            checkpoint_saved,
            test,
            steps,
            seconds_per_step: if steps > 0 {
                train_seconds / steps as f64
            } else {
                0.0
            },
            median_seconds_per_step: sorted.get(steps / 2).copied().unwrap_or(0.0),
            train_seconds,
            total_seconds: start.elapsed().as_secs_f64(),
            peak_rss_bytes: memory::peak_rss_bytes(),
            num_parameters: self.model.num_parameters(),
        })
    }
}

/// Accuracy of `model` on full batches of `examples` in eval mode (a final partial
/// batch is dropped, as in the official test pass).
pub fn evaluate_model(
    model: &ModelForSC,
    examples: &[EncodedExample],
    batch_size: usize,
    seed: u64,
    device: &Device,
) -> Result<EvalResult> {
    let mut ctx = ForwardContext::evaluation(seed);
    let (mut loss, mut accuracy, mut batches) = (0.0, 0.0, 0usize);
    for chunk in examples.chunks_exact(batch_size) {
        let refs: Vec<&EncodedExample> = chunk.iter().collect();
        let batch = Batch::new(&refs, device)?;
        let output = model.forward_with_labels(&batch.ids, &batch.mask, &batch.labels, &mut ctx)?;
        loss += output.loss.mean_all()?.to_scalar::<f32>()? as f64;
        accuracy += output.accuracy.mean_all()?.to_scalar::<f32>()? as f64;
        batches += 1;
    }
    let count = batches.max(1) as f64;
    Ok(EvalResult {
        accuracy: accuracy / count,
        loss: loss / count,
        batches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_matches_listops_values() {
        let schedule = OneCycleSchedule::new(1e-4, 1000, 50_000, "linear").unwrap();
        let expected = [
            (0, 4.0e-6),
            (500, 5.2048e-5),
            (999, 1.0e-4),
            (1000, 9.99980e-5),
            (25_000, 5.10186e-5),
            (49_999, 4.0e-10),
        ];
        for (step, lr) in expected {
            let got = schedule.learning_rate(step);
            assert!((got - lr).abs() <= 1e-5 * lr, "step {step}: {got} vs {lr}");
        }
        assert!((schedule.beta1(0) - 0.95).abs() < 1e-12);
        assert!((schedule.beta1(999) - 0.85).abs() < 1e-12);
        assert!((schedule.beta1(49_999) - 0.95).abs() < 1e-12);
        assert!((schedule.beta1(25_499) - 0.90).abs() < 1e-9);
    }

    #[test]
    fn schedule_rejects_bad_settings() {
        assert!(
            OneCycleSchedule::new(1e-4, 10, 10, "linear")
                .unwrap_err()
                .to_string()
                .contains("warmup")
        );
        assert!(
            OneCycleSchedule::new(1e-4, 1, 10, "step")
                .unwrap_err()
                .to_string()
                .contains("lr_decay")
        );
    }
}
