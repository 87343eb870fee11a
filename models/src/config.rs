//! Model and training configuration with the five Long Range Arena presets.
//!
//! Field names are those of the official Skyformer `config.py`, so a config that
//! the official `main.py` prints (`json.dumps(model_config)`) deserialises into
//! [`Config`] unchanged.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Reduction of the encoder output to one vector per sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolingMode {
    /// Mean over all positions, padding included (padded rows are zero).
    #[serde(rename = "MEAN")]
    Mean,
    /// The output at position 0, after a CLS token (id `vocab_size - 1`) is prepended.
    #[serde(rename = "CLS")]
    Cls,
}

/// The attention kernels this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionKind {
    /// `SoftmaxAttention`: softmax(QKᵀ/√p) V with attention dropout.
    Softmax,
    /// `SoftmaxAttention_RBF`: the unnormalised Gaussian kernel, exp(−‖q−k‖²/2) V.
    Kernelized,
    /// Skyformer: a Nyström approximation of the Gaussian kernel attention.
    Skyformer,
    /// Nyströmformer with segment-mean landmarks.
    Nystrom,
}

impl AttentionKind {
    /// Selects the kernel for an `attn_type` string the way the official code does:
    /// by prefix, so `softmaxRBF32` selects plain softmax attention.
    pub fn from_attn_type(attn_type: &str) -> Result<Self> {
        let kinds = [
            ("softmax", Self::Softmax),
            ("kernelized", Self::Kernelized),
            ("nystrom", Self::Nystrom),
            ("skyformer", Self::Skyformer),
        ];
        kinds
            .iter()
            .find(|(prefix, _)| attn_type.starts_with(prefix))
            .map(|(_, kind)| *kind)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unsupported attn_type {attn_type:?}: expected a name starting with \
                     softmax, kernelized, nystrom or skyformer"
                ))
            })
    }
}

/// Model configuration: the `model` block of a task in `config.py`, merged with the
/// task's `extra_attn_config` entry and the keys `main.py` adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Ignored by the official code: position embeddings are always learned.
    pub learn_pos_emb: bool,
    /// Shared weights across layers. Every LRA config sets `false`.
    pub tied_weights: bool,
    pub embedding_dim: usize,
    pub transformer_dim: usize,
    /// Width of the MLP inside each layer and of the classifier's hidden layer.
    pub transformer_hidden_dim: usize,
    pub head_dim: usize,
    pub num_head: usize,
    pub num_layers: usize,
    pub vocab_size: usize,
    /// Rows of the position embedding table, and the sequence length Nyström requires.
    pub max_seq_len: usize,
    pub dropout_prob: f64,
    pub attention_dropout: f64,
    pub pooling_mode: PoolingMode,
    pub num_classes: usize,
    /// Attention kernel name, matched by prefix (see [`AttentionKind::from_attn_type`]).
    #[serde(default = "default_attn_type")]
    pub attn_type: String,
    /// Set by `main.py`. This crate always computes in float32.
    #[serde(default)]
    pub mixed_precision: bool,
    /// Seed that `main.py` records. Model initialisation here takes its seed explicitly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_seed: Option<u64>,
    /// Device string read by the official Skyformer module, ignored here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Gradient-accumulation chunks per training step (`accumu_steps` in `main.py`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bz_rate: Option<usize>,
    /// Skyformer: number of landmarks d.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nb_features: Option<usize>,
    /// Skyformer: sketch kernel, always `kernel_RS_RBF`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sketched_kernel: Option<String>,
    /// Skyformer: landmarks summed per sketch column (r).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accumulation: Option<usize>,
    /// Skyformer: d = ⌊sampling_factor · ln(max_seq_len)⌋ when `nb_features` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_factor: Option<f64>,
    /// Skyformer: read by the official constructor, unused by its forward pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_projection: Option<bool>,
    /// Nyström: number of segment-mean landmarks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_landmarks: Option<usize>,
}

fn default_attn_type() -> String {
    "softmax".to_string()
}

impl Config {
    /// Returns the attention kernel that `attn_type` selects.
    pub fn attention_kind(&self) -> Result<AttentionKind> {
        AttentionKind::from_attn_type(&self.attn_type)
    }

    /// Whether the official `Attention` wrapper recomputes the kernel in the backward
    /// pass (gradient checkpointing): only for `attn_type` exactly `"softmax"`.
    pub fn grad_checkpointing(&self) -> bool {
        self.attn_type == "softmax"
    }

    /// Number of Skyformer landmarks: `nb_features`, or ⌊sampling_factor · ln(max_seq_len)⌋.
    pub fn skyformer_features(&self) -> Result<usize> {
        match (self.nb_features, self.sampling_factor) {
            (Some(d), _) => Ok(d),
            (None, Some(factor)) => Ok((factor * (self.max_seq_len as f64).ln()) as usize),
            (None, None) => Err(Error::Config(
                "skyformer needs nb_features or sampling_factor; merge the task's \
                 extra_attn_config (TaskConfig::model_config does)"
                    .to_string(),
            )),
        }
    }

    /// Rounds `max_seq_len` up to a power of two, as `main.py` does before building
    /// the model (2000 → 2048, 4000 → 4096, 1024 → 1024).
    pub fn with_rounded_max_seq_len(mut self) -> Self {
        self.max_seq_len = round_up_to_power_of_two(self.max_seq_len);
        self
    }

    /// Checks the invariants the official modules assert or rely on.
    pub fn validate(&self) -> Result<()> {
        let fail = |msg: String| Err(Error::Config(msg));
        if self.embedding_dim != self.transformer_dim {
            return fail(format!(
                "embedding_dim ({}) must equal transformer_dim ({})",
                self.embedding_dim, self.transformer_dim
            ));
        }
        if self.tied_weights {
            return fail(
                "tied_weights = true is not supported; every LRA config sets false".into(),
            );
        }
        for (name, value) in [
            ("embedding_dim", self.embedding_dim),
            ("transformer_hidden_dim", self.transformer_hidden_dim),
            ("head_dim", self.head_dim),
            ("num_head", self.num_head),
            ("vocab_size", self.vocab_size),
            ("max_seq_len", self.max_seq_len),
            ("num_classes", self.num_classes),
        ] {
            if value == 0 {
                return fail(format!("{name} must be positive"));
            }
        }
        for (name, p) in [
            ("dropout_prob", self.dropout_prob),
            ("attention_dropout", self.attention_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                return fail(format!("{name} must be in [0, 1), got {p}"));
            }
        }
        match self.attention_kind()? {
            AttentionKind::Skyformer => {
                if self.accumulation.is_none() {
                    return fail(
                        "skyformer needs `accumulation` (the official constructor raises \
                         KeyError 'accumulation'); merge the task's extra_attn_config"
                            .into(),
                    );
                }
                if self.accumulation == Some(0) {
                    return fail("accumulation must be positive".into());
                }
                if let Some(kernel) = &self.sketched_kernel
                    && kernel != "kernel_RS_RBF"
                {
                    return fail(format!(
                        "sketched_kernel {kernel:?} is not supported; use \"kernel_RS_RBF\""
                    ));
                }
                if self.skyformer_features()? == 0 {
                    return fail("skyformer needs at least one landmark".into());
                }
            }
            AttentionKind::Nystrom => match self.num_landmarks {
                None => return fail("nystrom needs `num_landmarks`".into()),
                Some(0) => return fail("num_landmarks must be positive".into()),
                Some(d) if !self.max_seq_len.is_multiple_of(d) => {
                    return fail(format!(
                        "nystrom needs max_seq_len ({}) divisible by num_landmarks ({d})",
                        self.max_seq_len
                    ));
                }
                Some(_) => {}
            },
            AttentionKind::Softmax | AttentionKind::Kernelized => {}
        }
        Ok(())
    }
}

/// 2^⌈log₂ n⌉, the rounding `main.py` applies to `max_seq_len`.
pub fn round_up_to_power_of_two(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// Per-attention keys of a task's `extra_attn_config` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraAttnConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bz_rate: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nb_features: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sketched_kernel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accumulation: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_projection: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_landmarks: Option<usize>,
}

impl ExtraAttnConfig {
    fn merge_into(&self, config: &mut Config) {
        let merge = |dst: &mut Option<usize>, src: Option<usize>| {
            if src.is_some() {
                *dst = src;
            }
        };
        merge(&mut config.bz_rate, self.bz_rate);
        merge(&mut config.nb_features, self.nb_features);
        merge(&mut config.accumulation, self.accumulation);
        merge(&mut config.num_landmarks, self.num_landmarks);
        if self.sketched_kernel.is_some() {
            config.sketched_kernel.clone_from(&self.sketched_kernel);
        }
        if self.sampling_factor.is_some() {
            config.sampling_factor = self.sampling_factor;
        }
        if self.no_projection.is_some() {
            config.no_projection = self.no_projection;
        }
    }
}

/// The `training` block of a task in `config.py`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Warm-up steps of the one-cycle schedule.
    pub warmup: usize,
    /// Annealing of the one-cycle schedule, always `"linear"`.
    pub lr_decay: String,
    pub weight_decay: f64,
    /// Training steps between dev evaluations.
    pub eval_frequency: usize,
    pub num_train_steps: usize,
    /// Unused by `main.py`.
    #[serde(default)]
    pub num_init_steps: usize,
    /// Dev batches per evaluation.
    pub num_eval_steps: usize,
    /// Unused by `main.py` (there is no early stopping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patience: Option<usize>,
}

/// Split sizes of a task's `dataset` block (absent for pathfinder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetSizes {
    pub train: usize,
    pub dev: usize,
    pub test: usize,
}

/// The five Long Range Arena tasks of the official `config.py`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    ListOps,
    Text,
    Retrieval,
    Image,
    Pathfinder,
}

impl Task {
    pub const ALL: [Task; 5] = [
        Task::ListOps,
        Task::Text,
        Task::Retrieval,
        Task::Image,
        Task::Pathfinder,
    ];

    /// The task's key in `config.py` (`lra-listops`, …).
    pub fn name(self) -> &'static str {
        match self {
            Task::ListOps => "lra-listops",
            Task::Text => "lra-text",
            Task::Retrieval => "lra-retrieval",
            Task::Image => "lra-image",
            Task::Pathfinder => "lra-pathfinder",
        }
    }

    /// Looks a task up by its `config.py` key; `main.py`'s long pathfinder alias is accepted.
    pub fn from_name(name: &str) -> Result<Task> {
        if name == "lra-pathfinder32-curv_contour_length_14" {
            return Ok(Task::Pathfinder);
        }
        Task::ALL
            .into_iter()
            .find(|task| task.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Task::ALL.iter().map(|t| t.name()).collect();
                Error::Config(format!(
                    "unknown task {name:?}; expected one of {}",
                    names.join(", ")
                ))
            })
    }

    /// Retrieval compares two documents with [`crate::ModelForSCDual`].
    pub fn is_dual(self) -> bool {
        self == Task::Retrieval
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One task's entry of `config.py`: model, training, dataset sizes and per-attention extras.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskConfig {
    pub task: Task,
    pub dataset: Option<DatasetSizes>,
    pub model: Config,
    pub training: TrainingConfig,
    pub extra_attn_config: BTreeMap<String, ExtraAttnConfig>,
}

/// Seed `main.py` uses unless `--random` says otherwise.
pub const DEFAULT_SEED: u64 = 42;

impl TaskConfig {
    /// The task's entry as `config.py` defines it.
    pub fn preset(task: Task) -> TaskConfig {
        // Every task shares the architecture; only these five values differ.
        let (vocab_size, max_seq_len, num_classes) = match task {
            Task::ListOps => (32, 2000, 10),
            Task::Text => (512, 4000, 2),
            Task::Retrieval => (512, 4000, 2),
            Task::Image => (256, 1024, 10),
            Task::Pathfinder => (512, 1024, 2),
        };
        let model = Config {
            learn_pos_emb: true,
            tied_weights: false,
            embedding_dim: 64,
            transformer_dim: 64,
            transformer_hidden_dim: 128,
            head_dim: 32,
            num_head: 2,
            num_layers: 2,
            vocab_size,
            max_seq_len,
            dropout_prob: 0.1,
            attention_dropout: 0.1,
            pooling_mode: PoolingMode::Mean,
            num_classes,
            attn_type: default_attn_type(),
            mixed_precision: false,
            random_seed: None,
            device: None,
            bz_rate: None,
            nb_features: None,
            sketched_kernel: None,
            accumulation: None,
            sampling_factor: None,
            no_projection: None,
            num_landmarks: None,
        };
        // (batch, lr, warmup, eval_frequency, num_init_steps, num_eval_steps, patience)
        let (
            batch_size,
            learning_rate,
            warmup,
            eval_frequency,
            num_init_steps,
            num_eval_steps,
            patience,
        ) = match task {
            Task::ListOps => (32, 1e-4, 1000, 500, 1000, 62, Some(10)),
            Task::Text => (32, 1e-4, 80, 500, 3000, 200, Some(10)),
            Task::Retrieval => (16, 2e-4, 800, 1000, 3000, 300, Some(10)),
            Task::Image => (256, 1e-4, 175, 50, 0, 20, None),
            Task::Pathfinder => (128, 2e-4, 312, 500, 3500, 156, Some(10)),
        };
        let training = TrainingConfig {
            batch_size,
            learning_rate,
            warmup,
            lr_decay: "linear".to_string(),
            weight_decay: 0.0,
            eval_frequency,
            num_train_steps: 50_000,
            num_init_steps,
            num_eval_steps,
            patience,
        };
        let dataset = match task {
            Task::ListOps => Some(DatasetSizes {
                train: 96_000,
                dev: 2_000,
                test: 2_000,
            }),
            Task::Text => Some(DatasetSizes {
                train: 25_000,
                dev: 25_000,
                test: 25_000,
            }),
            Task::Retrieval => Some(DatasetSizes {
                train: 147_086,
                dev: 18_090,
                test: 17_437,
            }),
            Task::Image => Some(DatasetSizes {
                train: 45_000,
                dev: 5_000,
                test: 10_000,
            }),
            Task::Pathfinder => None,
        };
        TaskConfig {
            task,
            dataset,
            model,
            training,
            extra_attn_config: extra_attn_presets(task),
        }
    }

    /// Looks a preset up by its `config.py` key (`lra-listops`, …).
    pub fn from_name(name: &str) -> Result<TaskConfig> {
        Ok(Self::preset(Task::from_name(name)?))
    }

    /// The model config as `main.py` builds it: the task's `model` block updated with
    /// `extra_attn_config[attn_type]` when present, then `mixed_precision = true`,
    /// `attn_type`, `max_seq_len` rounded up to a power of two and `random_seed = 42`.
    pub fn model_config(&self, attn_type: &str) -> Config {
        self.model_config_unrounded(attn_type)
            .with_rounded_max_seq_len()
    }

    /// [`TaskConfig::model_config`] without the power-of-two rounding of `max_seq_len`.
    pub fn model_config_unrounded(&self, attn_type: &str) -> Config {
        let mut config = self.snippet_config(attn_type);
        if let Some(extra) = self.extra_attn_config.get(attn_type) {
            extra.merge_into(&mut config);
        }
        config.random_seed = Some(DEFAULT_SEED);
        config
    }

    /// The model config of the README-style snippet: the task's `model` block with
    /// only `mixed_precision = true` and `attn_type` set. Neither the extras nor the
    /// rounding are applied, so lra-text keeps `max_seq_len = 4000`.
    pub fn snippet_config(&self, attn_type: &str) -> Config {
        let mut config = self.model.clone();
        config.mixed_precision = true;
        config.attn_type = attn_type.to_string();
        config
    }

    /// Gradient-accumulation chunks for an attention type (`bz_rate`, default 1).
    pub fn accumulation_steps(&self, attn_type: &str) -> usize {
        self.extra_attn_config
            .get(attn_type)
            .and_then(|extra| extra.bz_rate)
            .unwrap_or(1)
    }
}

fn extra_attn_presets(task: Task) -> BTreeMap<String, ExtraAttnConfig> {
    let bz = |bz_rate: usize| ExtraAttnConfig {
        bz_rate: Some(bz_rate),
        ..Default::default()
    };
    // Text and retrieval halve the batch for the memory-hungry kernelized attention.
    let kernelized_bz_rate = match task {
        Task::Text | Task::Retrieval => 2,
        _ => 1,
    };
    let skyformer = ExtraAttnConfig {
        bz_rate: Some(1),
        nb_features: Some(128),
        sketched_kernel: Some("kernel_RS_RBF".to_string()),
        accumulation: Some(1),
        sampling_factor: Some(4.0),
        no_projection: Some(false),
        num_landmarks: None,
    };
    let nystrom = ExtraAttnConfig {
        bz_rate: Some(1),
        num_landmarks: Some(128),
        ..Default::default()
    };
    BTreeMap::from([
        ("softmax".to_string(), bz(1)),
        ("softmaxRBF32".to_string(), bz(kernelized_bz_rate)),
        ("kernelized".to_string(), bz(kernelized_bz_rate)),
        ("skyformer".to_string(), skyformer),
        ("nystrom".to_string(), nystrom),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_matches_main_py() {
        assert_eq!(round_up_to_power_of_two(2000), 2048);
        assert_eq!(round_up_to_power_of_two(4000), 4096);
        assert_eq!(round_up_to_power_of_two(1024), 1024);
        assert_eq!(round_up_to_power_of_two(64), 64);
    }

    #[test]
    fn main_py_merge_sets_skyformer_extras() {
        let config = TaskConfig::preset(Task::ListOps).model_config("skyformer");
        assert_eq!(config.max_seq_len, 2048);
        assert_eq!(config.nb_features, Some(128));
        assert_eq!(config.accumulation, Some(1));
        assert!(config.mixed_precision);
        assert_eq!(config.random_seed, Some(42));
        config.validate().unwrap();
    }

    #[test]
    fn snippet_config_keeps_unrounded_length() {
        let config = TaskConfig::preset(Task::Text).snippet_config("softmax");
        assert_eq!(config.max_seq_len, 4000);
        assert_eq!(config.nb_features, None);
    }

    #[test]
    fn snippet_skyformer_fails_validation_like_original() {
        let config = TaskConfig::preset(Task::Text).snippet_config("skyformer");
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("accumulation"), "{err}");
    }

    #[test]
    fn attn_type_matches_by_prefix() {
        assert_eq!(
            AttentionKind::from_attn_type("softmaxRBF32").unwrap(),
            AttentionKind::Softmax
        );
        assert_eq!(
            AttentionKind::from_attn_type("kernelized").unwrap(),
            AttentionKind::Kernelized
        );
        assert!(AttentionKind::from_attn_type("sketchedRBF32128").is_err());
    }

    #[test]
    fn official_model_config_json_deserialises() {
        let json = r#"{"learn_pos_emb": true, "tied_weights": false, "embedding_dim": 64,
            "transformer_dim": 64, "transformer_hidden_dim": 128, "head_dim": 32, "num_head": 2,
            "num_layers": 2, "vocab_size": 32, "max_seq_len": 2048, "dropout_prob": 0.1,
            "attention_dropout": 0.1, "pooling_mode": "MEAN", "num_classes": 10, "bz_rate": 1,
            "nb_features": 128, "sketched_kernel": "kernel_RS_RBF", "accumulation": 1,
            "sampling_factor": 4, "no_projection": false, "mixed_precision": true,
            "attn_type": "skyformer", "random_seed": 42}"#;
        let config: Config = serde_json::from_str(json).unwrap();
        assert_eq!(
            config,
            TaskConfig::preset(Task::ListOps).model_config("skyformer")
        );
    }

    #[test]
    fn unknown_config_key_is_rejected() {
        let json = r#"{"learn_pos_emb": true, "tied_weights": false, "embedding_dim": 64,
            "transformer_dim": 64, "transformer_hidden_dim": 128, "head_dim": 32, "num_head": 2,
            "num_layers": 2, "vocab_size": 32, "max_seq_len": 2048, "dropout_prob": 0.1,
            "attention_dropout": 0.1, "pooling_mode": "MEAN", "num_classes": 10, "num_heads": 2}"#;
        let err = serde_json::from_str::<Config>(json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("num_heads"), "{err}");
    }
}
