//! The two residual sub-layers of a pre-norm Transformer layer as single operations:
//! x + dropout(ff(attention(LN1(x)))) and x + MLP(LN2(x)).
//!
//! Only the residual stream x is kept for the backward pass, plus the merged attention
//! output that the output projection's weight gradient needs. The backward pass
//! recomputes the LayerNorm, the projections and the hidden activations.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::attention::Dims as SoftmaxDims;
use super::block::{
    BlockDims, BlockKernel, Kernel, MlpDropout, MlpOp, build_kernel, permute_heads, project,
    project_backward,
};
use super::linear::{linear_backward, linear_forward};
use super::norm::{layer_norm_backward, layer_norm_forward};
use super::skyformer_op::Saved as SkyformerSaved;
use super::{cpu_f32, fused_cpu, kernels, with_f32};

/// A LayerNorm's scale, shift and eps.
#[derive(Debug, Clone, Copy)]
pub struct NormParams<'a> {
    pub weight: &'a Tensor,
    pub bias: &'a Tensor,
    pub eps: f64,
}

/// x + MLP(LN(x)) for x [.., D], with the MLP of [`super::mlp_block`].
pub fn mlp_sublayer(
    x: &Tensor,
    norm: NormParams,
    w1: &Tensor,
    b1: &Tensor,
    w2: &Tensor,
    b2: &Tensor,
    dropout: Option<MlpDropout>,
) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let dim = *dims
        .last()
        .ok_or_else(|| candle_core::Error::Msg("mlp_sublayer: x has no dimensions".into()))?;
    let hidden = w1.dim(0)?;
    if !fused_cpu(&[x, norm.weight, norm.bias, w1, b1, w2, b2]) || norm.weight.dims1()? != dim {
        let normed = super::layer_norm(x, norm.weight, norm.bias, norm.eps)?;
        return super::mlp_block(&normed, w1, b1, w2, b2, dropout)? + x;
    }
    // Validates the MLP weights' shapes.
    super::block::check_mlp_shapes(dim, w1, b1, w2, b2)?;
    let packed = Tensor::cat(
        &[
            norm.weight,
            norm.bias,
            &w1.flatten_all()?,
            b1,
            &w2.flatten_all()?,
            b2,
        ],
        0,
    )?;
    let dropout = dropout
        .filter(|d| d.p > 0.0)
        .map(|d| (d.p as f32, d.hidden_seed, d.output_seed));
    let op = MlpSublayerOp {
        mlp: MlpOp {
            dim,
            hidden,
            dropout,
        },
        eps: norm.eps as f32,
    };
    let rows = x.elem_count() / dim;
    x.reshape((rows, dim))?
        .contiguous()?
        .apply_op2(&packed, op)?
        .reshape(dims)
}

struct MlpSublayerOp {
    mlp: MlpOp,
    eps: f32,
}

impl CustomOp2 for MlpSublayerOp {
    fn name(&self) -> &'static str {
        "seqmodels-mlp-sublayer"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = cpu_f32(s1, l1, self.name())?;
        let packed = cpu_f32(s2, l2, self.name())?;
        let dim = self.mlp.dim;
        let (norm_weight, rest) = packed.split_at(dim);
        let (norm_bias, mlp_params) = rest.split_at(dim);
        let normed = layer_norm_forward(x, norm_weight, norm_bias, self.eps);
        let mut out = self.mlp.forward(&normed, mlp_params);
        add_in_place(&mut out, x);
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        packed: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let name = self.name();
        let dim = self.mlp.dim;
        let (dx, d_packed) = with_f32(x, name, |x| {
            with_f32(packed, name, |packed| {
                with_f32(grad, name, |grad| {
                    let (norm_weight, rest) = packed.split_at(dim);
                    let (norm_bias, mlp_params) = rest.split_at(dim);
                    let normed = layer_norm_forward(x, norm_weight, norm_bias, self.eps);
                    let (d_normed, d_mlp) = self.mlp.backward(&normed, mlp_params, grad);
                    let (mut dx, d_norm_weight, d_norm_bias) =
                        layer_norm_backward(x, norm_weight, &d_normed, self.eps);
                    add_in_place(&mut dx, grad);
                    Ok((dx, [d_norm_weight, d_norm_bias, d_mlp].concat()))
                })
            })
        })?;
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), x.device())?),
            Some(Tensor::from_vec(d_packed, packed.shape(), packed.device())?),
        ))
    }
}

/// x + dropout(ff(attention(LN(x)))) for x [b, n, D]: the attention sub-layer of the
/// official `TransformerLayer`, with `w_qkv`/`b_qkv` the stacked Q, K, V projections,
/// `w_ff`/`b_ff` the output projection and `dropout` the `(p, seed)` of `dropout1`.
#[allow(clippy::too_many_arguments)]
pub fn attention_sublayer(
    x: &Tensor,
    norm: NormParams,
    w_qkv: &Tensor,
    b_qkv: &Tensor,
    w_ff: &Tensor,
    b_ff: &Tensor,
    mask: &Tensor,
    heads: usize,
    kernel: BlockKernel,
    dropout: Option<(f64, u64)>,
) -> Result<Tensor> {
    let (b, n, dim) = x.dims3()?;
    let dropout = dropout.filter(|(p, _)| *p > 0.0);
    let (rows, w_dim) = w_qkv.dims2()?;
    let consistent = w_dim == dim
        && rows % (3 * heads) == 0
        && b_qkv.dims1()? == rows
        && w_ff.dims2()? == (dim, rows / 3)
        && b_ff.dims1()? == dim
        && norm.weight.dims1()? == dim
        && norm.bias.dims1()? == dim;
    if !consistent {
        candle_core::bail!(
            "attention_sublayer: x {:?}, w_qkv {:?}, w_ff {:?} do not fit {heads} heads",
            x.shape(),
            w_qkv.shape(),
            w_ff.shape()
        );
    }
    if !fused_cpu(&[x, norm.weight, norm.bias, w_qkv, b_qkv, w_ff, b_ff]) {
        let normed = super::layer_norm(x, norm.weight, norm.bias, norm.eps)?;
        let attn = super::attention_block(&normed, w_qkv, b_qkv, mask, heads, kernel)?;
        let out =
            super::linear(&attn.reshape((b * n, rows / 3))?, w_ff, b_ff)?.reshape((b, n, dim))?;
        let out = match dropout {
            Some((p, seed)) => super::dropout(&out, p, seed)?,
            None => out,
        };
        return out + x;
    }
    if mask.dims2()? != (b, n) {
        candle_core::bail!(
            "attention_sublayer: mask must be [b, n] = [{b}, {n}], got {:?}",
            mask.shape()
        );
    }
    let kernel = build_kernel(kernel, mask, b, n)?;
    let packed = Tensor::cat(
        &[
            norm.weight,
            norm.bias,
            &w_qkv.flatten_all()?,
            b_qkv,
            &w_ff.flatten_all()?,
            b_ff,
        ],
        0,
    )?;
    let op = AttentionSublayerOp {
        kernel,
        heads,
        head_dim: rows / (3 * heads),
        eps: norm.eps as f32,
        dropout: dropout.map(|(p, seed)| (p as f32, seed)),
        saved: Mutex::new(None),
    };
    x.contiguous()?.apply_op2(&packed, op)
}

struct AttentionSublayerOp {
    kernel: Kernel,
    heads: usize,
    head_dim: usize,
    eps: f32,
    dropout: Option<(f32, u64)>,
    saved: Mutex<Option<SublayerSaved>>,
}

/// State the forward pass keeps: the merged attention output and Skyformer's state.
struct SublayerSaved {
    merged: Vec<f32>,
    skyformer: Option<SkyformerSaved>,
}

/// Views of the packed parameters [LN weight, LN bias, W_qkv, b_qkv, W_ff, b_ff].
struct Params<'a> {
    norm_weight: &'a [f32],
    norm_bias: &'a [f32],
    w_qkv: &'a [f32],
    b_qkv: &'a [f32],
    w_ff: &'a [f32],
    b_ff: &'a [f32],
}

fn unpack(packed: &[f32], dim: usize, hp: usize) -> Params<'_> {
    let (norm_weight, rest) = packed.split_at(dim);
    let (norm_bias, rest) = rest.split_at(dim);
    let (w_qkv, rest) = rest.split_at(3 * hp * dim);
    let (b_qkv, rest) = rest.split_at(3 * hp);
    let (w_ff, b_ff) = rest.split_at(dim * hp);
    Params {
        norm_weight,
        norm_bias,
        w_qkv,
        b_qkv,
        w_ff,
        b_ff,
    }
}

fn add_in_place(dst: &mut [f32], src: &[f32]) {
    use rayon::prelude::*;
    dst.par_chunks_mut(super::ELEMENTS_PER_TASK)
        .zip(src.par_chunks(super::ELEMENTS_PER_TASK))
        .for_each(|(d, s)| {
            kernels::with_simd(|| {
                for (d, s) in d.iter_mut().zip(s) {
                    *d += s;
                }
            })
        });
}

impl AttentionSublayerOp {
    fn dims(&self, b: usize, n: usize, dim: usize) -> BlockDims {
        BlockDims {
            b,
            n,
            dim,
            heads: self.heads,
            p: self.head_dim,
        }
    }
}

impl CustomOp2 for AttentionSublayerOp {
    fn name(&self) -> &'static str {
        "seqmodels-attention-sublayer"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = cpu_f32(s1, l1, self.name())?;
        let packed = cpu_f32(s2, l2, self.name())?;
        let (b, n, dim) = l1.shape().dims3()?;
        let dims = self.dims(b, n, dim);
        let (heads, p, hp) = (self.heads, self.head_dim, self.heads * self.head_dim);
        let params = unpack(packed, dim, hp);

        let normed = layer_norm_forward(x, params.norm_weight, params.norm_bias, self.eps);
        let [q, k, v] = project(&normed, params.w_qkv, params.b_qkv, dims);
        let (out, skyformer) = match &self.kernel {
            Kernel::Softmax(kernel) => (
                kernel.forward(&q, &k, &v, b * heads, SoftmaxDims { heads, n, p }),
                None,
            ),
            Kernel::Skyformer(kernel) => {
                let (count, sky_dims) = kernel.dims_of(b, heads, n, p)?;
                let (out, saved) = kernel.forward(&q, &k, &v, count, sky_dims);
                (out, Some(saved))
            }
        };
        let merged = permute_heads(&out, dims, true);
        let mut projected = linear_forward(&merged, params.w_ff, params.b_ff, hp);
        if let Some((p, seed)) = self.dropout {
            dropout_in_place(&mut projected, p, seed);
        }
        add_in_place(&mut projected, x);
        *self
            .saved
            .lock()
            .expect("the saved-state lock is never poisoned") =
            Some(SublayerSaved { merged, skyformer });
        Ok((CpuStorage::F32(projected), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        packed: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (b, n, dim) = x.dims3()?;
        let dims = self.dims(b, n, dim);
        let (heads, p, hp) = (self.heads, self.head_dim, self.heads * self.head_dim);
        let name = self.name();
        let guard = self
            .saved
            .lock()
            .expect("the saved-state lock is never poisoned");
        let Some(saved) = guard.as_ref() else {
            candle_core::bail!("attention sub-layer: backward pass without a forward pass");
        };
        let (dx, d_packed) = with_f32(x, name, |x| {
            with_f32(packed, name, |packed| {
                with_f32(grad, name, |grad| {
                    let params = unpack(packed, dim, hp);

                    // out = x + dropout(merged W_ffᵀ + b_ff).
                    let mut d_projected = grad.to_vec();
                    if let Some((p, seed)) = self.dropout {
                        dropout_in_place(&mut d_projected, p, seed);
                    }
                    let (d_merged, d_w_ff, d_b_ff) =
                        linear_backward(&saved.merged, params.w_ff, &d_projected, b * n, hp, dim);
                    let d_out = permute_heads(&d_merged, dims, false);

                    // The kernel, from recomputed Q, K and V.
                    let normed =
                        layer_norm_forward(x, params.norm_weight, params.norm_bias, self.eps);
                    let [q, k, v] = project(&normed, params.w_qkv, params.b_qkv, dims);
                    let (dq, dk, dv) = match (&self.kernel, &saved.skyformer) {
                        (Kernel::Softmax(kernel), _) => kernel.backward(
                            &q,
                            &k,
                            &v,
                            &d_out,
                            b * heads,
                            SoftmaxDims { heads, n, p },
                        ),
                        (Kernel::Skyformer(kernel), Some(state)) => {
                            let (count, sky_dims) = kernel.dims_of(b, heads, n, p)?;
                            kernel.backward(state, &q, &k, &v, &d_out, count, sky_dims)
                        }
                        (Kernel::Skyformer(_), None) => {
                            candle_core::bail!("attention sub-layer: missing Skyformer state")
                        }
                    };
                    let (d_normed, d_w_qkv, d_b_qkv) =
                        project_backward(&normed, params.w_qkv, [&dq, &dk, &dv], dims);

                    // normed = LN(x), plus the residual path.
                    let (mut dx, d_norm_weight, d_norm_bias) =
                        layer_norm_backward(x, params.norm_weight, &d_normed, self.eps);
                    add_in_place(&mut dx, grad);
                    let d_packed =
                        [d_norm_weight, d_norm_bias, d_w_qkv, d_b_qkv, d_w_ff, d_b_ff].concat();
                    Ok((dx, d_packed))
                })
            })
        })?;
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), x.device())?),
            Some(Tensor::from_vec(d_packed, packed.shape(), packed.device())?),
        ))
    }
}

/// Applies the mask of [`super::dropout`] with this seed to a whole tensor.
fn dropout_in_place(values: &mut [f32], p: f32, seed: u64) {
    use rayon::prelude::*;
    values
        .par_chunks_mut(super::ELEMENTS_PER_TASK)
        .enumerate()
        .for_each(|(task, chunk)| {
            kernels::apply_dropout_span(chunk, task * super::ELEMENTS_PER_TASK, p, seed);
        });
}
