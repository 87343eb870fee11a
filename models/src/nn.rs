//! The `torch.nn` layers the official model is made of, with PyTorch's printed form.
//!
//! Each layer loads its tensors from a `VarBuilder` under PyTorch's parameter names
//! (`weight`, `bias`) and initialises new ones the way PyTorch does: Linear weight
//! and bias ~ U(−1/√fan_in, 1/√fan_in), LayerNorm scale 1 and shift 0. Embeddings
//! are initialised by their owner (N(0, 0.02²) in the official `Embeddings`).

use candle_core::{D, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use crate::ops;
use crate::summary::{ModuleRepr, ReprStyle, python_float};

/// A named parameter in the order of PyTorch's `named_parameters()`.
pub type NamedTensor = (String, Tensor);

pub(crate) fn push_param(out: &mut Vec<NamedTensor>, prefix: &str, name: &str, tensor: &Tensor) {
    let full = if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    };
    out.push((full, tensor.clone()));
}

pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// `torch.nn.Linear`: y = x Wᵀ + b with W stored as [out_features, in_features].
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Tensor,
    in_features: usize,
    out_features: usize,
}

impl Linear {
    pub fn new(in_features: usize, out_features: usize, vb: VarBuilder) -> Result<Self> {
        let bound = 1.0 / (in_features as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let weight = vb.get_with_hints((out_features, in_features), "weight", init)?;
        let bias = vb.get_with_hints(out_features, "bias", init)?;
        Ok(Self {
            weight,
            bias,
            in_features,
            out_features,
        })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let dims = xs.dims().to_vec();
        let rows = xs.elem_count() / self.in_features;

        // One [rows, in] × [in, out] product instead of a batched one.
        let xs = xs.reshape((rows, self.in_features))?;
        let ys = ops::linear(&xs, &self.weight, &self.bias)?;

        let mut out_dims = dims;
        *out_dims
            .last_mut()
            .expect("Linear input has at least one dimension") = self.out_features;
        ys.reshape(out_dims)
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    pub(crate) fn visit_params(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        push_param(out, prefix, "weight", &self.weight);
        push_param(out, prefix, "bias", &self.bias);
    }

    pub(crate) fn repr(&self) -> ModuleRepr {
        ModuleRepr::leaf(
            "Linear",
            format!(
                "in_features={}, out_features={}, bias=True",
                self.in_features, self.out_features
            ),
        )
    }
}

/// `torch.nn.LayerNorm` over the last dimension, with learned scale and shift.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    size: usize,
    eps: f64,
}

impl LayerNorm {
    /// PyTorch's default eps.
    pub const DEFAULT_EPS: f64 = 1e-5;

    pub fn new(size: usize, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_with_hints(size, "weight", Init::Const(1.0))?;
        let bias = vb.get_with_hints(size, "bias", Init::Const(0.0))?;
        Ok(Self {
            weight,
            bias,
            size,
            eps: Self::DEFAULT_EPS,
        })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        ops::layer_norm(xs, &self.weight, &self.bias, self.eps)
    }

    /// Scale, shift and eps, for the fused sub-layers.
    pub fn params(&self) -> ops::NormParams<'_> {
        ops::NormParams {
            weight: &self.weight,
            bias: &self.bias,
            eps: self.eps,
        }
    }

    pub(crate) fn visit_params(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        push_param(out, prefix, "weight", &self.weight);
        push_param(out, prefix, "bias", &self.bias);
    }

    pub(crate) fn repr(&self, style: ReprStyle) -> ModuleRepr {
        let mut extra = format!(
            "({},), eps={}, elementwise_affine=True",
            self.size,
            python_float(self.eps)
        );
        if style == ReprStyle::Torch2 {
            extra.push_str(", bias=True");
        }
        ModuleRepr::leaf("LayerNorm", extra)
    }
}

/// `torch.nn.Embedding`: a lookup table of `num_embeddings` rows.
#[derive(Debug, Clone)]
pub struct Embedding {
    weight: Tensor,
    num_embeddings: usize,
    embedding_dim: usize,
}

impl Embedding {
    /// Loads or creates the table; new tables are drawn from N(0, std²).
    pub fn new(
        num_embeddings: usize,
        embedding_dim: usize,
        std: f64,
        vb: VarBuilder,
    ) -> Result<Self> {
        let init = Init::Randn {
            mean: 0.0,
            stdev: std,
        };
        let weight = vb.get_with_hints((num_embeddings, embedding_dim), "weight", init)?;
        Ok(Self {
            weight,
            num_embeddings,
            embedding_dim,
        })
    }

    /// Looks up integer ids of any shape; the result has one more dimension.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let mut dims = ids.dims().to_vec();
        let flat = ids.flatten_all()?;
        let rows = self.weight.index_select(&flat, 0)?;
        dims.push(self.embedding_dim);
        rows.reshape(dims)
    }

    /// Returns the first `n` rows, as the position table is used for a length-`n` input.
    pub fn first_rows(&self, n: usize) -> Result<Tensor> {
        if n > self.num_embeddings {
            candle_core::bail!(
                "sequence length {n} exceeds the {} rows of the position embedding table \
                 (max_seq_len); build the model with a larger max_seq_len",
                self.num_embeddings
            );
        }
        self.weight.narrow(0, 0, n)
    }

    pub fn num_embeddings(&self) -> usize {
        self.num_embeddings
    }

    pub(crate) fn visit_params(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        push_param(out, prefix, "weight", &self.weight);
    }

    pub(crate) fn repr(&self) -> ModuleRepr {
        ModuleRepr::leaf(
            "Embedding",
            format!("{}, {}", self.num_embeddings, self.embedding_dim),
        )
    }
}

/// `torch.nn.Dropout`: zeroes elements with probability p in training and scales the
/// rest by 1/(1 − p); the identity in evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Dropout {
    p: f64,
}

impl Dropout {
    pub fn new(p: f64) -> Self {
        Self { p }
    }

    pub fn p(&self) -> f64 {
        self.p
    }

    pub fn forward(&self, xs: &Tensor, ctx: &mut crate::ForwardContext) -> Result<Tensor> {
        if !ctx.is_training() || self.p == 0.0 {
            return Ok(xs.clone());
        }
        let seed = ctx.next_seed();
        ops::dropout(xs, self.p, seed)
    }

    pub(crate) fn repr(&self) -> ModuleRepr {
        ModuleRepr::leaf(
            "Dropout",
            format!("p={}, inplace=False", python_float(self.p)),
        )
    }
}

/// `torch.nn.GELU` in its exact form, x·Φ(x) with the Gaussian CDF from erf.
pub fn gelu(xs: &Tensor) -> Result<Tensor> {
    ops::gelu(xs)
}

pub(crate) fn gelu_repr(style: ReprStyle) -> ModuleRepr {
    match style {
        ReprStyle::Torch18 => ModuleRepr::leaf("GELU", ""),
        ReprStyle::Torch2 => ModuleRepr::leaf("GELU", "approximate='none'"),
    }
}

pub(crate) fn relu_repr() -> ModuleRepr {
    ModuleRepr::leaf("ReLU", "")
}

/// Mean over dimension 1 (the sequence), padding rows included.
pub(crate) fn mean_over_positions(xs: &Tensor) -> Result<Tensor> {
    xs.mean(1)
}

/// Computes the cross-entropy per example between logits [b, classes] and labels [b] (u32).
pub fn cross_entropy_per_example(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = log_probs.gather(&labels.unsqueeze(1)?, 1)?.squeeze(1)?;
    picked.neg()
}
