//! Attention kernels: they map per-head Q, K, V [b, h, n, p] and a key mask [b, n]
//! to per-head outputs [b, h, n, p]. Projections and head split/merge live in
//! [`crate::model::Attention`].

mod inverse;
mod nystrom;
mod skyformer;

use candle_core::{D, Result, Tensor};

pub use inverse::{InverseInit, InverseResult, iterative_inv};
pub use nystrom::NystromAttention;
pub use skyformer::{
    DATA_NORMALIZER, INVERSE_ITERATIONS, Landmarks, REGULARIZER, Skyformer, SkyformerOutput,
    landmark_indices, sequence_lengths, skyformer_attention,
};

use crate::config::{AttentionKind, Config};
use crate::nn::Dropout;
use crate::ops;
use crate::summary::ModuleRepr;
use crate::{Error, ForwardContext};

/// `SoftmaxAttention`: softmax(QKᵀ/√p − 10⁶(1 − m_key)) V, with dropout on the
/// attention probabilities. Query rows are not masked.
#[derive(Debug, Clone)]
pub struct SoftmaxAttention {
    drop_attn: Dropout,
    head_dim: usize,
}

impl SoftmaxAttention {
    pub fn new(head_dim: usize, attention_dropout: f64) -> Self {
        Self {
            drop_attn: Dropout::new(attention_dropout),
            head_dim,
        }
    }

    pub fn forward(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: &Tensor,
        ctx: &mut ForwardContext,
    ) -> Result<Tensor> {
        let dropout = self.draw_dropout(ctx);
        ops::softmax_attention(q, k, v, mask, self.scale(), dropout)
    }

    /// 1/√p, the score scale.
    pub fn scale(&self) -> f64 {
        1.0 / (self.head_dim as f64).sqrt()
    }

    /// Draws the `(p, seed)` of the attention dropout in training; `None` in evaluation.
    pub fn draw_dropout(&self, ctx: &mut ForwardContext) -> Option<(f64, u64)> {
        (ctx.is_training() && self.drop_attn.p() > 0.0)
            .then(|| (self.drop_attn.p(), ctx.next_seed()))
    }
}

/// `SoftmaxAttention_RBF`, selected by `attn_type = "kernelized"`: the Gaussian kernel
/// exp(−‖q̂ − k̂‖²/2) with q̂ = m·q/p^(1/4), k̂ = m·k/p^(1/4), padded keys removed,
/// no row normalisation, and dropout on the kernel weights.
#[derive(Debug, Clone)]
pub struct KernelizedAttention {
    drop_attn: Dropout,
    head_dim: usize,
}

impl KernelizedAttention {
    pub fn new(head_dim: usize, attention_dropout: f64) -> Self {
        Self {
            drop_attn: Dropout::new(attention_dropout),
            head_dim,
        }
    }

    pub fn forward(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: &Tensor,
        ctx: &mut ForwardContext,
    ) -> Result<Tensor> {
        let (b, _, n, _) = q.dims4()?;
        let mask = mask.to_dtype(q.dtype())?;
        let normalizer = (self.head_dim as f64).powf(-0.25);
        let row_scale = (mask.reshape((b, 1, n, 1))? * normalizer)?;
        let q = q.broadcast_mul(&row_scale)?;
        let k = k.broadcast_mul(&row_scale)?;

        // The official code subtracts 10⁹ from padded keys before exp, which yields
        // exactly 0; multiplying by the key mask gives the same weights.
        let weights = ops::rbf_kernel(&q, &k)?.broadcast_mul(&mask.reshape((b, 1, 1, n))?)?;
        let weights = self.drop_attn.forward(&weights, ctx)?;
        weights.matmul(v)
    }
}

/// The attention kernel selected by `attn_type`.
#[derive(Debug, Clone)]
pub enum AttentionKernel {
    Softmax(SoftmaxAttention),
    Kernelized(KernelizedAttention),
    Skyformer(Skyformer),
    Nystrom(NystromAttention),
}

impl AttentionKernel {
    pub fn new(config: &Config) -> std::result::Result<Self, Error> {
        config.validate()?;
        Ok(match config.attention_kind()? {
            AttentionKind::Softmax => Self::Softmax(SoftmaxAttention::new(
                config.head_dim,
                config.attention_dropout,
            )),
            AttentionKind::Kernelized => Self::Kernelized(KernelizedAttention::new(
                config.head_dim,
                config.attention_dropout,
            )),
            AttentionKind::Skyformer => Self::Skyformer(Skyformer::new(
                config.skyformer_features()?,
                config
                    .accumulation
                    .expect("validate() checked accumulation"),
            )),
            AttentionKind::Nystrom => Self::Nystrom(NystromAttention::new(
                config
                    .num_landmarks
                    .expect("validate() checked num_landmarks"),
                config.max_seq_len,
                config.head_dim,
            )),
        })
    }

    pub fn forward(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: &Tensor,
        ctx: &mut ForwardContext,
    ) -> Result<Tensor> {
        match self {
            Self::Softmax(attn) => attn.forward(q, k, v, mask, ctx),
            Self::Kernelized(attn) => attn.forward(q, k, v, mask, ctx),
            Self::Skyformer(attn) => attn.forward(q, k, v, mask, ctx),
            Self::Nystrom(attn) => attn.forward(q, k, v, mask),
        }
    }

    pub(crate) fn repr(&self) -> ModuleRepr {
        match self {
            Self::Softmax(attn) => ModuleRepr::node(
                "SoftmaxAttention",
                vec![("drop_attn".into(), attn.drop_attn.repr())],
            ),
            Self::Kernelized(attn) => ModuleRepr::node(
                "SoftmaxAttention_RBF",
                vec![("drop_attn".into(), attn.drop_attn.repr())],
            ),
            Self::Skyformer(_) => ModuleRepr::leaf("Skyformer", ""),
            Self::Nystrom(attn) => ModuleRepr::leaf(
                "NystromAttention",
                format!(
                    "num_landmarks={}, seq_len={}",
                    attn.num_landmarks(),
                    attn.seq_len()
                ),
            ),
        }
    }
}

/// Exact softmax attention (no dropout, keys masked with −10⁹), the reference the
/// approximation experiments compare Skyformer and Nyströmformer against.
pub fn exact_softmax_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
) -> Result<Tensor> {
    let (b, _, n, p) = q.dims4()?;
    let scores = (q.matmul(&k.transpose(D::Minus1, D::Minus2)?)? / (p as f64).sqrt())?;
    let bias = mask
        .to_dtype(q.dtype())?
        .affine(1e9, -1e9)?
        .reshape((b, 1, 1, n))?;
    candle_nn::ops::softmax(&scores.broadcast_add(&bias)?, D::Minus1)?.matmul(v)
}

/// Exact Gaussian-kernel attention κ(Q·c, K·c) V̂ with c = 32^(−1/4) and padded keys
/// removed: the quantity Skyformer approximates.
pub fn exact_kernel_attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let (b, _, n, _) = q.dims4()?;
    let mask = mask.to_dtype(q.dtype())?;
    let row_scale = (mask.reshape((b, 1, n, 1))? * DATA_NORMALIZER)?;
    let weights = ops::rbf_kernel(&q.broadcast_mul(&row_scale)?, &k.broadcast_mul(&row_scale)?)?;
    weights
        .broadcast_mul(&mask.reshape((b, 1, 1, n))?)?
        .matmul(v)
}

/// ‖approx − exact‖_F / ‖exact‖_F over the query rows where `mask` [b, n] is 1, for
/// attention outputs [b, h, n, p]. Padded query rows are left out because the kernels
/// treat them differently (Nyström zeroes them, softmax attends from them).
pub fn relative_error(approx: &Tensor, exact: &Tensor, mask: &Tensor) -> Result<f64> {
    let (b, _, n, _) = exact.dims4()?;
    let rows = mask.to_dtype(exact.dtype())?.reshape((b, 1, n, 1))?;
    let diff = (approx - exact)?.broadcast_mul(&rows)?;
    let reference = exact.broadcast_mul(&rows)?;
    let diff = diff
        .sqr()?
        .sum_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_scalar::<f64>()?;
    let reference = reference
        .sqr()?
        .sum_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_scalar::<f64>()?;
    Ok((diff / reference).sqrt())
}
