//! Whole sub-layers as single operations: the attention block (Q/K/V projections, head
//! split, kernel, head merge) and the MLP block (Linear, GELU, dropout, Linear,
//! dropout).
//!
//! candle keeps every intermediate tensor of the graph alive until the backward pass
//! finishes. Fusing a sub-layer keeps only its input: the backward pass recomputes the
//! projections and hidden activations, which costs a few small matrix products and
//! saves several [b, n, ·] tensors per layer.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, D, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::attention::{Dims as SoftmaxDims, SoftmaxKernel};
use super::kernels::{self, MatRef, with_simd};
use super::skyformer_op::{Saved as SkyformerSaved, SkyformerKernel};
use super::{cpu_f32, fused_cpu, with_f32};
use crate::attention::Landmarks;

/// The attention kernel of a fused attention block.
#[derive(Debug, Clone, Copy)]
pub enum BlockKernel<'a> {
    /// Softmax attention with scale 1/√p and optional `(p, seed)` dropout.
    Softmax {
        scale: f64,
        dropout: Option<(f64, u64)>,
    },
    /// Skyformer with the given landmarks.
    Skyformer { landmarks: &'a Landmarks },
}

pub(crate) enum Kernel {
    Softmax(SoftmaxKernel),
    Skyformer(SkyformerKernel),
}

/// Computes the attention block of the official `Attention` module without its output
/// projection: x [b, n, D] → per-head Q, K, V through `w_qkv` [3·h·p, D] (the rows of
/// W_q, W_k and W_v stacked) and `b_qkv` [3·h·p], the kernel, and heads merged back
/// into [b, n, h·p].
pub fn attention_block(
    x: &Tensor,
    w_qkv: &Tensor,
    b_qkv: &Tensor,
    mask: &Tensor,
    heads: usize,
    kernel: BlockKernel,
) -> Result<Tensor> {
    let (b, n, dim) = x.dims3()?;
    let (rows, w_dim) = w_qkv.dims2()?;
    if w_dim != dim || rows % (3 * heads) != 0 || b_qkv.dims1()? != rows {
        candle_core::bail!(
            "attention_block: x {:?}, w_qkv {:?} and b_qkv {:?} do not fit {heads} heads",
            x.shape(),
            w_qkv.shape(),
            b_qkv.shape()
        );
    }
    if mask.dims2()? != (b, n) {
        candle_core::bail!(
            "attention_block: mask must be [b, n] = [{b}, {n}], got {:?}",
            mask.shape()
        );
    }
    let p = rows / (3 * heads);
    if !fused_cpu(&[x, w_qkv, b_qkv]) {
        return attention_block_reference(x, w_qkv, b_qkv, mask, heads, kernel);
    }
    let kernel = build_kernel(kernel, mask, b, n)?;
    let op = AttentionBlockOp {
        kernel,
        heads,
        head_dim: p,
        saved: Mutex::new(None),
    };
    x.contiguous()?
        .apply_op3(&w_qkv.contiguous()?, &b_qkv.contiguous()?, op)
}

/// Builds the fused kernel for a [b, n] batch, with its mask and landmarks.
pub(crate) fn build_kernel(
    kernel: BlockKernel,
    mask: &Tensor,
    b: usize,
    n: usize,
) -> Result<Kernel> {
    Ok(match kernel {
        BlockKernel::Softmax { scale, dropout } => {
            Kernel::Softmax(SoftmaxKernel::new(mask, scale, dropout)?)
        }
        BlockKernel::Skyformer { landmarks } => {
            if landmarks.indices.len() != b || landmarks.n != n {
                candle_core::bail!(
                    "attention_block: landmarks do not fit the input [b={b}, n={n}]"
                );
            }
            let mask = mask
                .to_dtype(candle_core::DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            Kernel::Skyformer(SkyformerKernel::new(
                mask,
                landmarks.indices.clone(),
                crate::attention::DATA_NORMALIZER,
                crate::attention::REGULARIZER,
                crate::attention::INVERSE_ITERATIONS,
            ))
        }
    })
}

/// [`attention_block`] from candle operations and the per-kernel functions.
fn attention_block_reference(
    x: &Tensor,
    w_qkv: &Tensor,
    b_qkv: &Tensor,
    mask: &Tensor,
    heads: usize,
    kernel: BlockKernel,
) -> Result<Tensor> {
    let (b, n, dim) = x.dims3()?;
    let hp = w_qkv.dim(0)? / 3;
    let qkv = x
        .reshape((b * n, dim))?
        .matmul(&w_qkv.t()?)?
        .broadcast_add(b_qkv)?;
    let split = |i: usize| -> Result<Tensor> {
        qkv.narrow(D::Minus1, i * hp, hp)?
            .reshape((b, n, heads, hp / heads))?
            .transpose(1, 2)?
            .contiguous()
    };
    let (q, k, v) = (split(0)?, split(1)?, split(2)?);
    let out = match kernel {
        BlockKernel::Softmax { scale, dropout } => {
            super::softmax_attention(&q, &k, &v, mask, scale, dropout)?
        }
        BlockKernel::Skyformer { landmarks } => super::skyformer(&q, &k, &v, mask, landmarks)?,
    };
    out.transpose(1, 2)?.reshape((b, n, hp))
}

struct AttentionBlockOp {
    kernel: Kernel,
    heads: usize,
    head_dim: usize,
    saved: Mutex<Option<SkyformerSaved>>,
}

/// Sizes of an attention block call.
#[derive(Clone, Copy)]
pub(crate) struct BlockDims {
    pub(crate) b: usize,
    pub(crate) n: usize,
    pub(crate) dim: usize,
    pub(crate) heads: usize,
    pub(crate) p: usize,
}

impl BlockDims {
    fn hp(&self) -> usize {
        self.heads * self.p
    }
}

/// Q, K and V [b, h, n, p] from x [b, n, D]: x Wᵀ + bias, with heads taking consecutive
/// blocks of p columns.
pub(crate) fn project(x: &[f32], weight: &[f32], bias: &[f32], dims: BlockDims) -> [Vec<f32>; 3] {
    let BlockDims {
        b,
        n,
        dim,
        heads,
        p,
    } = dims;
    let hp = dims.hp();
    let per_batch = heads * n * p;
    let mut q = kernels::buffer(b * per_batch);
    let mut k = kernels::buffer(b * per_batch);
    let mut v = kernels::buffer(b * per_batch);
    q.par_chunks_mut(per_batch)
        .zip(k.par_chunks_mut(per_batch))
        .zip(v.par_chunks_mut(per_batch))
        .enumerate()
        .for_each(|(batch, ((q, k), v))| {
            let x = &x[batch * n * dim..][..n * dim];
            let mut qkv = kernels::buffer(n * 3 * hp);
            for row in qkv.chunks_exact_mut(3 * hp) {
                row.copy_from_slice(bias);
            }
            let w_t = MatRef::row_major(weight, 3 * hp, dim).t();
            kernels::matmul(&mut qkv, MatRef::row_major(x, n, dim), w_t, 1.0, true);
            for (i, row) in qkv.chunks_exact(3 * hp).enumerate() {
                for h in 0..heads {
                    let target = (h * n + i) * p;
                    q[target..target + p].copy_from_slice(&row[h * p..][..p]);
                    k[target..target + p].copy_from_slice(&row[hp + h * p..][..p]);
                    v[target..target + p].copy_from_slice(&row[2 * hp + h * p..][..p]);
                }
            }
        });
    [q, k, v]
}

/// Gradients of [`project`]: dx [b, n, D], dW [3·h·p, D] and dbias [3·h·p].
pub(crate) fn project_backward(
    x: &[f32],
    weight: &[f32],
    grads: [&[f32]; 3],
    dims: BlockDims,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let BlockDims {
        b,
        n,
        dim,
        heads,
        p,
    } = dims;
    let hp = dims.hp();
    let per_batch = heads * n * p;
    let mut dx = kernels::buffer(b * n * dim);
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(n * dim)
        .enumerate()
        .map(|(batch, dx)| {
            let mut d_qkv = kernels::buffer(n * 3 * hp);
            for (part, grad) in grads.iter().enumerate() {
                let grad = &grad[batch * per_batch..][..per_batch];
                for (i, row) in d_qkv.chunks_exact_mut(3 * hp).enumerate() {
                    for h in 0..heads {
                        row[part * hp + h * p..][..p]
                            .copy_from_slice(&grad[(h * n + i) * p..][..p]);
                    }
                }
            }
            let x = &x[batch * n * dim..][..n * dim];
            let d_mat = MatRef::row_major(&d_qkv, n, 3 * hp);
            kernels::matmul(
                dx,
                d_mat,
                MatRef::row_major(weight, 3 * hp, dim),
                1.0,
                false,
            );
            let mut dw = vec![0f32; 3 * hp * dim];
            kernels::matmul(&mut dw, d_mat.t(), MatRef::row_major(x, n, dim), 1.0, false);
            let mut db = vec![0f32; 3 * hp];
            for row in d_qkv.chunks_exact(3 * hp) {
                for (d, g) in db.iter_mut().zip(row) {
                    *d += g;
                }
            }
            (dw, db)
        })
        .collect();
    let (dw, db) = sum_partials(partials, 3 * hp * dim, 3 * hp);
    (dx, dw, db)
}

/// Sums per-task (weight, bias) gradient partials in task order.
fn sum_partials(
    partials: Vec<(Vec<f32>, Vec<f32>)>,
    weight_len: usize,
    bias_len: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut dw = vec![0f32; weight_len];
    let mut db = vec![0f32; bias_len];
    for (pw, pb) in partials {
        for (d, v) in dw.iter_mut().zip(&pw) {
            *d += v;
        }
        for (d, v) in db.iter_mut().zip(&pb) {
            *d += v;
        }
    }
    (dw, db)
}

/// [b, h, n, p] → [b, n, h·p] (`merge = true`) or back.
pub(crate) fn permute_heads(src: &[f32], dims: BlockDims, merge: bool) -> Vec<f32> {
    let BlockDims { b, n, heads, p, .. } = dims;
    let mut dst = kernels::buffer(src.len());
    dst.par_chunks_mut(heads * n * p)
        .enumerate()
        .for_each(|(batch, dst)| {
            let src = &src[batch * heads * n * p..][..heads * n * p];
            for h in 0..heads {
                for i in 0..n {
                    let per_head = (h * n + i) * p;
                    let merged = (i * heads + h) * p;
                    let (to, from) = if merge {
                        (merged, per_head)
                    } else {
                        (per_head, merged)
                    };
                    dst[to..to + p].copy_from_slice(&src[from..from + p]);
                }
            }
        });
    let _ = b;
    dst
}

impl AttentionBlockOp {
    fn dims(&self, layout: &Layout) -> Result<BlockDims> {
        let (b, n, dim) = layout.shape().dims3()?;
        Ok(BlockDims {
            b,
            n,
            dim,
            heads: self.heads,
            p: self.head_dim,
        })
    }
}

impl CustomOp3 for AttentionBlockOp {
    fn name(&self) -> &'static str {
        "seqmodels-attention-block"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = cpu_f32(s1, l1, self.name())?;
        let weight = cpu_f32(s2, l2, self.name())?;
        let bias = cpu_f32(s3, l3, self.name())?;
        let dims = self.dims(l1)?;
        let BlockDims { b, n, heads, p, .. } = dims;
        let [q, k, v] = project(x, weight, bias, dims);
        let out = match &self.kernel {
            Kernel::Softmax(kernel) => {
                kernel.forward(&q, &k, &v, b * heads, SoftmaxDims { heads, n, p })
            }
            Kernel::Skyformer(kernel) => {
                let (count, sky_dims) = kernel.dims_of(b, heads, n, p)?;
                let (out, saved) = kernel.forward(&q, &k, &v, count, sky_dims);
                *self
                    .saved
                    .lock()
                    .expect("the saved-state lock is never poisoned") = Some(saved);
                out
            }
        };
        Ok((
            CpuStorage::F32(permute_heads(&out, dims, true)),
            Shape::from((b, n, dims.hp())),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (b, n, dim) = x.dims3()?;
        let dims = BlockDims {
            b,
            n,
            dim,
            heads: self.heads,
            p: self.head_dim,
        };
        let name = self.name();
        let (dx, dw, db) = with_f32(x, name, |x| {
            with_f32(weight, name, |weight| {
                with_f32(bias, name, |bias| {
                    with_f32(grad, name, |grad| {
                        let [q, k, v] = project(x, weight, bias, dims);
                        let d_out = permute_heads(grad, dims, false);
                        let (heads, p) = (self.heads, self.head_dim);
                        let (dq, dk, dv) = match &self.kernel {
                            Kernel::Softmax(kernel) => kernel.backward(
                                &q,
                                &k,
                                &v,
                                &d_out,
                                b * heads,
                                SoftmaxDims { heads, n, p },
                            ),
                            Kernel::Skyformer(kernel) => {
                                let (count, sky_dims) = kernel.dims_of(b, heads, n, p)?;
                                let guard = self
                                    .saved
                                    .lock()
                                    .expect("the saved-state lock is never poisoned");
                                let Some(saved) = guard.as_ref() else {
                                    candle_core::bail!(
                                        "attention block: backward pass without a forward pass"
                                    );
                                };
                                kernel.backward(saved, &q, &k, &v, &d_out, count, sky_dims)
                            }
                        };
                        Ok(project_backward(x, weight, [&dq, &dk, &dv], dims))
                    })
                })
            })
        })?;
        let device = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), device)?),
            Some(Tensor::from_vec(dw, weight.shape(), device)?),
            Some(Tensor::from_vec(db, bias.shape(), device)?),
        ))
    }
}

/// Dropout settings of the MLP block: probability and one seed per dropout layer.
#[derive(Debug, Clone, Copy)]
pub struct MlpDropout {
    pub p: f64,
    pub hidden_seed: u64,
    pub output_seed: u64,
}

/// Computes the MLP block of a Transformer layer, as in the official `mlpblock`:
/// dropout(W2 · dropout(GELU(W1 x + b1)) + b2) for x [.., D], W1 [H, D], W2 [D, H].
/// The dropout masks are those [`super::dropout`] draws for the same seeds.
pub fn mlp_block(
    x: &Tensor,
    w1: &Tensor,
    b1: &Tensor,
    w2: &Tensor,
    b2: &Tensor,
    dropout: Option<MlpDropout>,
) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let dim = *dims
        .last()
        .ok_or_else(|| candle_core::Error::Msg("mlp_block: x has no dimensions".into()))?;
    let hidden = check_mlp_shapes(dim, w1, b1, w2, b2)?;
    let dropout = dropout.filter(|d| d.p > 0.0);
    let rows = x.elem_count() / dim;
    let x2 = x.reshape((rows, dim))?;
    if !fused_cpu(&[x, w1, b1, w2, b2]) {
        let hidden_out = super::gelu(&super::linear(&x2, w1, b1)?)?;
        let hidden_out = match dropout {
            Some(d) => super::dropout(&hidden_out, d.p, d.hidden_seed)?,
            None => hidden_out,
        };
        let out = super::linear(&hidden_out, w2, b2)?;
        let out = match dropout {
            Some(d) => super::dropout(&out, d.p, d.output_seed)?,
            None => out,
        };
        return out.reshape(dims);
    }
    let packed = Tensor::cat(&[&w1.flatten_all()?, b1, &w2.flatten_all()?, b2], 0)?;
    let op = MlpOp {
        dim,
        hidden,
        dropout: dropout.map(|d| (d.p as f32, d.hidden_seed, d.output_seed)),
    };
    x2.contiguous()?.apply_op2(&packed, op)?.reshape(dims)
}

/// Checks W1 [H, D], b1 [H], W2 [D, H] and b2 [D]; returns H.
pub(crate) fn check_mlp_shapes(
    dim: usize,
    w1: &Tensor,
    b1: &Tensor,
    w2: &Tensor,
    b2: &Tensor,
) -> Result<usize> {
    let (hidden, w1_dim) = w1.dims2()?;
    if w1_dim != dim || b1.dims1()? != hidden || w2.dims2()? != (dim, hidden) || b2.dims1()? != dim
    {
        candle_core::bail!(
            "mlp_block: weights W1 {:?}, b1 {:?}, W2 {:?}, b2 {:?} do not fit inputs of width {dim}",
            w1.shape(),
            b1.shape(),
            w2.shape(),
            b2.shape()
        );
    }
    Ok(hidden)
}

pub(crate) struct MlpOp {
    pub(crate) dim: usize,
    pub(crate) hidden: usize,
    /// (p, seed of the hidden dropout, seed of the output dropout).
    pub(crate) dropout: Option<(f32, u64, u64)>,
}

/// Rows per rayon task in the MLP block.
const MLP_ROWS_PER_TASK: usize = 512;

/// Views of the packed parameters [W1 (H×D), b1 (H), W2 (D×H), b2 (D)].
fn unpack(packed: &[f32], dim: usize, hidden: usize) -> (&[f32], &[f32], &[f32], &[f32]) {
    let (w1, rest) = packed.split_at(hidden * dim);
    let (b1, rest) = rest.split_at(hidden);
    let (w2, b2) = rest.split_at(dim * hidden);
    (w1, b1, w2, b2)
}

impl MlpOp {
    /// Hidden pre-activations h = x W1ᵀ + b1 for a block of rows.
    fn hidden_preactivation(&self, x: &[f32], w1: &[f32], b1: &[f32]) -> Vec<f32> {
        let rows = x.len() / self.dim;
        let mut h = kernels::buffer(rows * self.hidden);
        for row in h.chunks_exact_mut(self.hidden) {
            row.copy_from_slice(b1);
        }
        let w1_t = MatRef::row_major(w1, self.hidden, self.dim).t();
        kernels::matmul(
            &mut h,
            MatRef::row_major(x, rows, self.dim),
            w1_t,
            1.0,
            true,
        );
        h
    }
}

impl MlpOp {
    /// Computes the block's output for x [rows, D] and the packed parameters.
    pub(crate) fn forward(&self, x: &[f32], packed: &[f32]) -> Vec<f32> {
        let (dim, hidden) = (self.dim, self.hidden);
        let (w1, b1, w2, b2) = unpack(packed, dim, hidden);
        let rows = x.len() / dim;
        let mut out = kernels::buffer(rows * dim);
        out.par_chunks_mut(MLP_ROWS_PER_TASK * dim)
            .zip(x.par_chunks(MLP_ROWS_PER_TASK * dim))
            .enumerate()
            .for_each(|(task, (out, x))| {
                let first_row = task * MLP_ROWS_PER_TASK;
                let block = x.len() / dim;
                let mut h = self.hidden_preactivation(x, w1, b1);
                with_simd(|| {
                    for value in h.iter_mut() {
                        *value *= kernels::normal_cdf(*value);
                    }
                });
                if let Some((p, hidden_seed, _)) = self.dropout {
                    kernels::apply_dropout_span(&mut h, first_row * hidden, p, hidden_seed);
                }
                for row in out.chunks_exact_mut(dim) {
                    row.copy_from_slice(b2);
                }
                let w2_t = MatRef::row_major(w2, dim, hidden).t();
                kernels::matmul(out, MatRef::row_major(&h, block, hidden), w2_t, 1.0, true);
                if let Some((p, _, output_seed)) = self.dropout {
                    kernels::apply_dropout_span(out, first_row * dim, p, output_seed);
                }
            });
        out
    }
}

impl CustomOp2 for MlpOp {
    fn name(&self) -> &'static str {
        "seqmodels-mlp-block"
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
        let out = self.forward(x, packed);
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
        let (dx, d_packed) = with_f32(x, name, |x| {
            with_f32(packed, name, |packed| {
                with_f32(grad, name, |grad| Ok(self.backward(x, packed, grad)))
            })
        })?;
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), x.device())?),
            Some(Tensor::from_vec(d_packed, packed.shape(), packed.device())?),
        ))
    }
}

impl MlpOp {
    /// Recomputes the hidden activations per block of rows and returns dx and the packed
    /// parameter gradients.
    pub(crate) fn backward(&self, x: &[f32], packed: &[f32], grad: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (dim, hidden) = (self.dim, self.hidden);
        let (w1, b1, w2, _) = unpack(packed, dim, hidden);
        let rows = x.len() / dim;
        let mut dx = kernels::buffer(rows * dim);
        let partials: Vec<Vec<f32>> = dx
            .par_chunks_mut(MLP_ROWS_PER_TASK * dim)
            .zip(x.par_chunks(MLP_ROWS_PER_TASK * dim))
            .zip(grad.par_chunks(MLP_ROWS_PER_TASK * dim))
            .enumerate()
            .map(|(task, ((dx, x), grad))| {
                let first_row = task * MLP_ROWS_PER_TASK;
                let block = x.len() / dim;
                let pre = self.hidden_preactivation(x, w1, b1);
                let mut activation = pre.clone();
                with_simd(|| {
                    for value in activation.iter_mut() {
                        *value *= kernels::normal_cdf(*value);
                    }
                });
                let mut d_out = grad.to_vec();
                if let Some((p, hidden_seed, output_seed)) = self.dropout {
                    kernels::apply_dropout_span(
                        &mut activation,
                        first_row * hidden,
                        p,
                        hidden_seed,
                    );
                    kernels::apply_dropout_span(&mut d_out, first_row * dim, p, output_seed);
                }
                let mut partial = vec![0f32; packed.len()];
                let (dw1, rest) = partial.split_at_mut(hidden * dim);
                let (db1, rest) = rest.split_at_mut(hidden);
                let (dw2, db2) = rest.split_at_mut(dim * hidden);

                // y = a W2ᵀ + b2.
                let d_out_mat = MatRef::row_major(&d_out, block, dim);
                kernels::matmul(
                    dw2,
                    d_out_mat.t(),
                    MatRef::row_major(&activation, block, hidden),
                    1.0,
                    false,
                );
                column_sums(db2, &d_out, dim);
                let mut d_hidden = kernels::buffer(block * hidden);
                kernels::matmul(
                    &mut d_hidden,
                    d_out_mat,
                    MatRef::row_major(w2, dim, hidden),
                    1.0,
                    false,
                );

                // a = dropout(GELU(h)).
                if let Some((p, hidden_seed, _)) = self.dropout {
                    kernels::apply_dropout_span(&mut d_hidden, first_row * hidden, p, hidden_seed);
                }
                with_simd(|| {
                    for (g, &h) in d_hidden.iter_mut().zip(&pre) {
                        *g *= kernels::normal_cdf(h) + h * kernels::normal_pdf(h);
                    }
                });

                // h = x W1ᵀ + b1.
                let d_hidden_mat = MatRef::row_major(&d_hidden, block, hidden);
                kernels::matmul(
                    dw1,
                    d_hidden_mat.t(),
                    MatRef::row_major(x, block, dim),
                    1.0,
                    false,
                );
                column_sums(db1, &d_hidden, hidden);
                kernels::matmul(
                    dx,
                    d_hidden_mat,
                    MatRef::row_major(w1, hidden, dim),
                    1.0,
                    false,
                );
                partial
            })
            .collect();
        let mut d_packed = vec![0f32; packed.len()];
        for partial in partials {
            for (d, v) in d_packed.iter_mut().zip(&partial) {
                *d += v;
            }
        }
        (dx, d_packed)
    }
}

/// dst[j] = Σ_rows x[row, j] for a row-major matrix with `cols` columns.
fn column_sums(dst: &mut [f32], x: &[f32], cols: usize) {
    dst.fill(0.0);
    for row in x.chunks_exact(cols) {
        for (d, v) in dst.iter_mut().zip(row) {
            *d += v;
        }
    }
}
