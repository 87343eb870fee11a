//! `seqmodels`: candle implementations of the sequence models of the survey, written
//! to match the official PyTorch code of Skyformer (github.com/pkuzengqi/Skyformer)
//! on the Long Range Arena (LRA) tasks.
//!
//! * [`config`]: the official config keys and the five LRA presets.
//! * [`model`]: `ModelForSC`, `ModelForSCDual` and their parts, with tensor names equal
//!   to the official `state_dict` keys and a PyTorch-style printed summary.
//! * [`attention`]: softmax, kernelized (Gaussian), Skyformer and Nyströmformer kernels.
//! * [`ops`]: fused CPU kernels with hand-written gradients.
//! * [`listops`]: the LRA ListOps generator, evaluator, tokenizer and TSV files.
//! * [`train`]: the training loop of the official `main.py`.
//! * [`checkpoint`]: safetensors weights under the official tensor names.
//! * [`experiments`]: the survey's measurements (spectral-norm error, forward cost,
//!   the ListOps settings).
//! * `plot` (feature `plot`): SVG line charts for the survey's figures.

pub mod attention;
pub mod checkpoint;
pub mod config;
mod context;
pub mod data;
mod error;
pub mod experiments;
pub mod init;
pub mod listops;
pub mod memory;
pub mod model;
pub mod nn;
pub mod ops;
#[cfg(feature = "plot")]
pub mod plot;
pub mod summary;
pub mod train;

pub use config::{AttentionKind, Config, PoolingMode, Task, TaskConfig, TrainingConfig};
pub use context::ForwardContext;
pub use error::{Error, Result};
pub use model::{Model, ModelForSC, ModelForSCDual};
pub use summary::ReprStyle;
pub use train::{EvalRecord, TrainData, TrainOptions, TrainReport, Trainer};
