//! The measurements behind the survey's executed Skyformer chapter: the spectral-norm
//! error of the attention approximations, the time and memory of one forward pass
//! against the sequence length, and the ListOps training run of the Appendix.
//!
//! Everything is seeded, so a rerun on the same machine prints the same errors and
//! accuracies. Times and memory are measured and vary from run to run.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use crate::attention::{
    NystromAttention, exact_kernel_attention, exact_softmax_attention, landmark_indices,
    sequence_lengths, skyformer_attention,
};
use crate::data::EncodedExample;
use crate::listops::{self, GeneratorConfig};
use crate::{
    Error, ForwardContext, ModelForSC, Result, Task, TaskConfig, TrainData, TrainOptions,
    TrainReport, Trainer, TrainingConfig, memory,
};

/// Width of the model's token representations (the LRA configs' `transformer_dim`).
const MODEL_DIM: usize = 64;
/// Heads and their width in the LRA configs.
const HEADS: usize = 2;
const HEAD_DIM: usize = 32;

/// Computes the largest singular value of a 2-D tensor by power iteration on MᵀM in f64.
///
/// The iteration stops when the estimate changes by less than 1e-9 relative, or after
/// 1,000 steps. The start vector is fixed, so the result is deterministic.
pub fn spectral_norm(matrix: &Tensor) -> Result<f64> {
    let (rows, cols) = matrix.dims2()?;
    let values: Vec<f64> = matrix
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?;
    if rows == 0 || cols == 0 {
        return Ok(0.0);
    }
    // v has one entry per column; u = M v, then v = Mᵀ u.
    let mut v: Vec<f64> = (0..cols).map(|i| 1.0 + (i % 7) as f64 * 1e-3).collect();
    normalise(&mut v);
    let mut estimate = 0.0;
    for _ in 0..1000 {
        let u: Vec<f64> = values
            .par_chunks(cols)
            .map(|row| row.iter().zip(&v).map(|(a, b)| a * b).sum())
            .collect();
        let mut next = vec![0.0; cols];
        for (row, &weight) in values.chunks(cols).zip(&u) {
            for (out, value) in next.iter_mut().zip(row) {
                *out += weight * value;
            }
        }
        // ‖Mᵀ M v‖ with ‖v‖ = 1 converges to σ₁².
        let norm = normalise(&mut next);
        let sigma = norm.sqrt();
        v = next;
        if norm == 0.0 {
            return Ok(0.0);
        }
        let converged = (sigma - estimate).abs() <= 1e-9 * sigma;
        estimate = sigma;
        if converged {
            break;
        }
    }
    Ok(estimate)
}

/// Scales `v` to unit length and returns its previous length.
fn normalise(v: &mut [f64]) -> f64 {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    norm
}

/// Q and K of one randomly initialised attention layer applied to random inputs, and a
/// mask with no padding.
pub struct AttentionInputs {
    /// [1, heads, n, head_dim].
    pub q: Tensor,
    pub k: Tensor,
    /// [1, n], all ones.
    pub mask: Tensor,
}

impl AttentionInputs {
    /// Inputs X ~ N(0, 1) of shape [n, 64] projected by W_q and W_k drawn as PyTorch
    /// initialises `nn.Linear(64, 64)` (weights and biases uniform in ±1/√64), split
    /// into 2 heads of 32, as in the LRA models.
    pub fn random(n: usize, seed: u64, device: &Device) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let normal = Normal::new(0.0f32, 1.0).expect("a valid normal distribution");
        let inputs: Vec<f32> = (0..n * MODEL_DIM).map(|_| normal.sample(&mut rng)).collect();
        let x = Tensor::from_vec(inputs, (n, MODEL_DIM), device)?;
        let bound = 1.0 / (MODEL_DIM as f32).sqrt();
        let mut project = || -> Result<Tensor> {
            let weights: Vec<f32> = (0..MODEL_DIM * MODEL_DIM)
                .map(|_| rng.random_range(-bound..bound))
                .collect();
            let bias: Vec<f32> = (0..MODEL_DIM)
                .map(|_| rng.random_range(-bound..bound))
                .collect();
            let weights = Tensor::from_vec(weights, (MODEL_DIM, MODEL_DIM), device)?;
            let bias = Tensor::from_vec(bias, MODEL_DIM, device)?;
            let projected = x.matmul(&weights.t()?)?.broadcast_add(&bias)?;
            Ok(projected
                .reshape((1, n, HEADS, HEAD_DIM))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = project()?;
        let k = project()?;
        let mask = Tensor::ones((1, n), DType::F32, device)?;
        Ok(Self { q, k, mask })
    }

    fn len(&self) -> Result<usize> {
        Ok(self.q.dim(2)?)
    }

    /// The identity as V: an attention method applied to it returns its n × n
    /// attention matrix, [1, heads, n, n].
    fn identity_values(&self) -> Result<Tensor> {
        let n = self.len()?;
        Ok(Tensor::eye(n, DType::F32, self.q.device())?
            .reshape((1, 1, n, n))?
            .broadcast_as((1, HEADS, n, n))?
            .contiguous()?)
    }

    /// Computes the exact Gaussian-kernel attention matrix κ(Q̂, K̂) that Skyformer
    /// approximates.
    pub fn exact_kernel(&self) -> Result<Tensor> {
        let eye = self.identity_values()?;
        Ok(exact_kernel_attention(&self.q, &self.k, &eye, &self.mask)?)
    }

    /// Computes Skyformer's approximation of [`Self::exact_kernel`] with `landmarks`
    /// landmarks (half from Q, half from K, drawn with the seeded uniforms).
    pub fn skyformer(&self, landmarks: usize, seed: u64) -> Result<Tensor> {
        let n = self.len()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let uniforms: Vec<f32> = (0..landmarks).map(|_| rng.random::<f32>()).collect();
        let lengths = sequence_lengths(&self.mask)?;
        let indices = landmark_indices(&lengths, n, 1, landmarks, &uniforms);
        let eye = self.identity_values()?;
        Ok(skyformer_attention(&self.q, &self.k, &eye, &self.mask, &indices)?.output)
    }

    /// Computes the exact softmax attention matrix softmax(QKᵀ/√p).
    pub fn exact_softmax(&self) -> Result<Tensor> {
        let eye = self.identity_values()?;
        Ok(exact_softmax_attention(&self.q, &self.k, &eye, &self.mask)?)
    }

    /// Computes Nyströmformer's approximation of [`Self::exact_softmax`] with
    /// `landmarks` segment-mean landmarks. n must be a multiple of `landmarks`.
    pub fn nystrom(&self, landmarks: usize) -> Result<Tensor> {
        let n = self.len()?;
        if landmarks == 0 || n % landmarks != 0 {
            return Err(Error::InvalidArgument(format!(
                "Nyströmformer needs a sequence length divisible by the number of landmarks, got length {n} and {landmarks} landmarks; use a divisor of the length"
            )));
        }
        let eye = self.identity_values()?;
        let attention = NystromAttention::new(landmarks, n, HEAD_DIM);
        Ok(attention.forward(&self.q, &self.k, &eye, &self.mask)?)
    }
}

/// The error of an approximate attention matrix against the exact one, averaged over
/// heads: ‖Ã − A‖₂ and ‖Ã − A‖₂ / ‖A‖₂.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectralError {
    pub absolute: f64,
    pub relative: f64,
}

/// Compares two [1, heads, n, n] attention matrices head by head in spectral norm.
pub fn spectral_error(approx: &Tensor, exact: &Tensor) -> Result<SpectralError> {
    let heads = exact.dim(1)?;
    let (mut absolute, mut relative) = (0.0, 0.0);
    for head in 0..heads {
        let a = exact.get(0)?.get(head)?;
        let difference = (approx.get(0)?.get(head)? - &a)?;
        let error = spectral_norm(&difference)?;
        absolute += error;
        relative += error / spectral_norm(&a)?;
    }
    Ok(SpectralError {
        absolute: absolute / heads as f64,
        relative: relative / heads as f64,
    })
}

/// Time and memory of one forward pass of the ListOps model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForwardCost {
    pub n: usize,
    /// Median seconds of the timed passes.
    pub seconds: f64,
    pub passes: usize,
    /// Peak resident memory of the pass above the process's resident memory before it,
    /// when the platform reports it.
    pub peak_bytes: Option<u64>,
}

/// Times the evaluation forward pass of the lra-listops model with `attn_type` on a
/// batch of `batch` random sequences of length `n` without padding.
///
/// One untimed pass warms up; then passes repeat until at least `min_seconds` have
/// passed (at least 3, at most 20), and the median counts. A last pass measures memory:
/// freed heap memory is returned to the system first and the peak is reset, so the
/// peak is what this pass allocated.
pub fn forward_cost(attn_type: &str, n: usize, batch: usize, min_seconds: f64) -> Result<ForwardCost> {
    let device = Device::Cpu;
    let mut config = TaskConfig::preset(Task::ListOps).model_config(attn_type);
    config.max_seq_len = n;
    let varmap = VarMap::new();
    let vb = crate::init::seeded_var_builder(&varmap, 0, &device);
    let model = ModelForSC::new(&config, vb)?;
    let mut rng = StdRng::seed_from_u64(n as u64);
    let ids: Vec<u32> = (0..batch * n)
        .map(|_| rng.random_range(1..config.vocab_size as u32))
        .collect();
    let ids = Tensor::from_vec(ids, (batch, n), &device)?;
    let mask = Tensor::ones((batch, n), DType::F32, &device)?;
    let mut ctx = ForwardContext::evaluation(0);
    let mut pass = || -> Result<()> {
        model.forward(&ids, &mask, &mut ctx)?.to_vec2::<f32>()?;
        Ok(())
    };

    pass()?;
    let mut times = Vec::new();
    let started = Instant::now();
    while times.len() < 20
        && (times.len() < 3 || started.elapsed().as_secs_f64() < min_seconds)
    {
        let start = Instant::now();
        pass()?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let seconds = times[times.len() / 2];

    memory::release_freed_memory();
    let peak_bytes = if memory::reset_peak_rss() {
        let before = memory::current_rss_bytes();
        pass()?;
        match (memory::peak_rss_bytes(), before) {
            (Some(peak), Some(before)) => Some(peak.saturating_sub(before)),
            _ => None,
        }
    } else {
        None
    };
    Ok(ForwardCost {
        n,
        seconds,
        passes: times.len(),
        peak_bytes,
    })
}

/// Fits the least-squares slope of log y against log x: the exponent k of y ∝ xᵏ.
pub fn log_log_slope(points: &[(f64, f64)]) -> Result<f64> {
    if points.len() < 2 || points.iter().any(|(x, y)| *x <= 0.0 || *y <= 0.0) {
        return Err(Error::InvalidArgument(
            "a log-log slope needs at least two points with positive coordinates".into(),
        ));
    }
    let logs: Vec<(f64, f64)> = points.iter().map(|(x, y)| (x.ln(), y.ln())).collect();
    let count = logs.len() as f64;
    let mean_x = logs.iter().map(|p| p.0).sum::<f64>() / count;
    let mean_y = logs.iter().map(|p| p.1).sum::<f64>() / count;
    let covariance: f64 = logs.iter().map(|(x, y)| (x - mean_x) * (y - mean_y)).sum();
    let variance: f64 = logs.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    if variance == 0.0 {
        return Err(Error::InvalidArgument(
            "a log-log slope needs at least two distinct x values".into(),
        ));
    }
    Ok(covariance / variance)
}

/// A ListOps experiment: how the data is generated and encoded, and how each attention
/// type is trained. [`ListOpsSetup::paper`] is the Skyformer paper's setting;
/// [`ListOpsSetup::reduced`] is the setting the survey runs on a 2-core CPU.
#[derive(Debug, Clone)]
pub struct ListOpsSetup {
    pub generator: GeneratorConfig,
    /// Tokens kept per example (Skyformer's pipeline truncates at 2,000).
    pub max_tokens: usize,
    /// Length every example is padded to, and the model's `max_seq_len`.
    pub seq_len: usize,
    pub training: TrainingConfig,
    /// Skyformer's landmarks (`nb_features`, 128 in the LRA configs).
    pub nb_features: usize,
    /// Seeds the data, the initialisation, the data order, dropout and landmarks.
    pub seed: u64,
    pub device: Device,
}

/// Encoded ListOps splits.
pub struct ListOpsData {
    pub train: Vec<EncodedExample>,
    pub dev: Vec<EncodedExample>,
    pub test: Vec<EncodedExample>,
}

impl ListOpsSetup {
    /// The setting of the Skyformer paper and its `main.py`: the LRA generator (96,000 / 2,000 / 2,000 examples of
    /// lengths strictly between 500 and 2,000), sequences padded to 2,048, and
    /// `main.py`'s lra-listops training (batch 32, 50,000 steps, learning rate 1e-4
    /// with 1,000 warm-up steps, dev evaluation every 500 steps on 62 batches).
    pub fn paper() -> Self {
        Self {
            generator: GeneratorConfig::lra(),
            max_tokens: listops::LRA_MAX_TOKENS,
            seq_len: listops::LRA_PADDED_LENGTH,
            training: TaskConfig::preset(Task::ListOps).training,
            nb_features: 128,
            seed: crate::config::DEFAULT_SEED,
            device: Device::Cpu,
        }
    }

    /// The survey's setting, sized so that training softmax and Skyformer takes about
    /// five minutes on two CPU cores (4 min 46 s for the whole Appendix in one run). It keeps the LRA generator's rules with lengths
    /// strictly between 20 and 250 (padded to 256) and draws 6,000 / 512 / 512
    /// examples. It trains 600 steps of batch 32 at learning rate 2e-3 with 50 warm-up
    /// steps and evaluates on the whole dev split every 50 steps. Everything else is
    /// as in [`Self::paper`]. With MEAN pooling over the padded length, a model
    /// padded to 512 still predicted one class after 500 such steps, so the
    /// sequences are shorter than the budget alone would require.
    pub fn reduced() -> Self {
        let paper = Self::paper();
        let generator = GeneratorConfig {
            min_length: 20,
            max_length: 250,
            num_train: 6_000,
            num_dev: 512,
            num_test: 512,
            ..paper.generator.clone()
        };
        let training = TrainingConfig {
            num_train_steps: 600,
            eval_frequency: 50,
            num_eval_steps: 512 / paper.training.batch_size,
            warmup: 50,
            learning_rate: 2e-3,
            ..paper.training.clone()
        };
        Self {
            generator,
            max_tokens: 256,
            seq_len: 256,
            training,
            ..paper
        }
    }

    /// Generates and encodes the three splits.
    pub fn generate(&self) -> Result<ListOpsData> {
        let splits = listops::generate(&self.generator, self.seed)?;
        let encode = |examples: &[listops::Example]| {
            listops::encode_examples(examples, self.max_tokens, self.seq_len)
        };
        Ok(ListOpsData {
            train: encode(&splits.train)?,
            dev: encode(&splits.dev)?,
            test: encode(&splits.test)?,
        })
    }

    /// Returns the model config of `attn_type` in this setting.
    pub fn model_config(&self, attn_type: &str) -> crate::Config {
        let mut config = TaskConfig::preset(Task::ListOps).model_config(attn_type);
        config.max_seq_len = self.seq_len;
        config.nb_features = config.nb_features.map(|_| self.nb_features);
        config.num_landmarks = config.num_landmarks.map(|d| d.min(self.seq_len));
        config
    }

    /// Trains `attn_type` from the seeded initialisation, calling `on_eval` after each
    /// dev evaluation, and evaluates the best checkpoint on the test split.
    ///
    /// Freed heap memory is returned to the system first, so that the report's peak
    /// memory does not count what an earlier run in the same process left behind.
    pub fn train(
        &self,
        attn_type: &str,
        data: &ListOpsData,
        on_eval: impl FnMut(&crate::EvalRecord),
    ) -> Result<TrainReport> {
        memory::release_freed_memory();
        let options = TrainOptions {
            seed: self.seed,
            progress: false,
            device: self.device.clone(),
            ..TrainOptions::for_task(Task::ListOps, attn_type)
        };
        let mut trainer = Trainer::new(&self.model_config(attn_type), &self.training, options)?;
        trainer.run(
            &TrainData {
                train: &data.train,
                dev: &data.dev,
                test: &data.test,
            },
            on_eval,
        )
    }
}

/// Describes the CPU this process runs on by its model name and the number of threads
/// available to the process, for example "AMD EPYC, 2 threads".
pub fn cpu_description() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, name)| name.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {threads} threads")
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::D;

    #[test]
    fn spectral_norm_matches_known_singular_values() {
        // diag(3, 2) rotated: singular values stay 3 and 2.
        let m = Tensor::new(&[[0.0f32, 3.0], [2.0, 0.0]], &Device::Cpu).unwrap();
        assert!((spectral_norm(&m).unwrap() - 3.0).abs() < 1e-9);
        // A rank-one matrix u vᵀ has norm ‖u‖‖v‖, here 5 · √2.
        let m = Tensor::new(&[[3.0f32, 3.0], [4.0, 4.0]], &Device::Cpu).unwrap();
        assert!((spectral_norm(&m).unwrap() - 5.0 * 2f64.sqrt()).abs() < 1e-6);
        // The Frobenius norm of this matrix is larger than its spectral norm.
        let m = Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0]], &Device::Cpu).unwrap();
        assert!((spectral_norm(&m).unwrap() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn approximations_converge_to_the_exact_matrices() {
        let inputs = AttentionInputs::random(128, 7, &Device::Cpu).unwrap();
        let kernel = inputs.exact_kernel().unwrap();
        let softmax = inputs.exact_softmax().unwrap();
        // Softmax rows sum to one; the identity trick returns the attention matrix.
        let sums = softmax.sum(D::Minus1).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-4), "{sums:?}");
        let coarse = spectral_error(&inputs.nystrom(8).unwrap(), &softmax).unwrap();
        let fine = spectral_error(&inputs.nystrom(128).unwrap(), &softmax).unwrap();
        assert!(fine.relative < 1e-3, "Nyström with every position is exact: {fine:?}");
        assert!(coarse.relative > fine.relative);
        let few = spectral_error(&inputs.skyformer(8, 1).unwrap(), &kernel).unwrap();
        let many = spectral_error(&inputs.skyformer(128, 1).unwrap(), &kernel).unwrap();
        assert!(many.relative < few.relative, "{few:?} vs {many:?}");
        assert!(few.relative > 0.0 && few.absolute > few.relative);
    }

    #[test]
    fn slope_of_a_power_law_is_its_exponent() {
        let points: Vec<(f64, f64)> = [256.0, 512.0, 1024.0]
            .iter()
            .map(|&n: &f64| (n, 3.0 * n.powi(2)))
            .collect();
        assert!((log_log_slope(&points).unwrap() - 2.0).abs() < 1e-12);
        assert!(log_log_slope(&[(1.0, 1.0)]).is_err());
        assert!(log_log_slope(&[(1.0, 0.0), (2.0, 1.0)]).is_err());
    }

    #[test]
    fn reduced_setting_keeps_the_paper_rules() {
        let (paper, reduced) = (ListOpsSetup::paper(), ListOpsSetup::reduced());
        assert_eq!(paper.training.num_train_steps, 50_000);
        assert_eq!(paper.generator.num_train, 96_000);
        assert_eq!(paper.seq_len, 2048);
        assert_eq!(reduced.generator.max_depth, paper.generator.max_depth);
        assert_eq!(reduced.generator.max_args, paper.generator.max_args);
        assert_eq!(reduced.training.batch_size, paper.training.batch_size);
        assert!(reduced.generator.max_length <= reduced.seq_len);
        assert_eq!(reduced.model_config("skyformer").max_seq_len, 256);
    }

    #[test]
    fn forward_cost_measures_something() {
        let cost = forward_cost("skyformer", 256, 1, 0.0).unwrap();
        assert!(cost.seconds > 0.0 && cost.passes >= 3);
        assert_eq!(cost.n, 256);
    }
}
