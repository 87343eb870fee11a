//! Softmax attention and the Gaussian (RBF) kernel matrix, fused on the CPU.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, D, Device, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::kernels::{self, MatRef, with_simd};
use super::{cpu_f32, fused_cpu, with_f32};

/// Key-mask constant of the official `SoftmaxAttention`: masked scores get −10⁶.
const SOFTMAX_MASK_PENALTY: f32 = 1e6;

/// Softmax attention over [b, h, n, p] inputs:
/// `dropout(softmax(Q Kᵀ · scale − 10⁶ (1 − m_key))) V`, masking keys only.
///
/// Like the official code this materialises the [b, h, n, n] attention matrix for
/// the whole batch. The forward pass keeps only its inputs; the backward pass
/// recomputes the matrix, as the official `Attention` wrapper's gradient
/// checkpointing does. `dropout` is `(p, seed)`; the mask is a hash of the seed and
/// the element's position, so the recomputation reproduces it.
pub fn softmax_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
    scale: f64,
    dropout: Option<(f64, u64)>,
) -> Result<Tensor> {
    let (b, h, n, p) = q.dims4()?;
    if k.dims4()? != (b, h, n, p) || v.dims4()? != (b, h, n, p) {
        candle_core::bail!(
            "softmax_attention: q, k and v must share the shape [b, h, n, p], got {:?}, {:?}, {:?}",
            q.shape(),
            k.shape(),
            v.shape()
        );
    }
    if mask.dims2()? != (b, n) {
        candle_core::bail!(
            "softmax_attention: mask must be [b, n] = [{b}, {n}], got {:?}",
            mask.shape()
        );
    }
    let dropout = dropout.filter(|(p, _)| *p > 0.0);
    if !fused_cpu(&[q, k, v]) {
        return softmax_attention_reference(q, k, v, mask, scale, dropout);
    }
    let op = SoftmaxAttentionOp(SoftmaxKernel::new(mask, scale, dropout)?);
    q.contiguous()?
        .apply_op3(&k.contiguous()?, &v.contiguous()?, op)
}

/// −10⁶ (1 − m) per key, as a flat [b · n] vector.
fn key_bias(mask: &Tensor) -> Result<Vec<f32>> {
    let mask = mask
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok(mask
        .iter()
        .map(|m| -SOFTMAX_MASK_PENALTY * (1.0 - m))
        .collect())
}

/// Softmax attention as a composition of candle operations (no recomputation).
pub fn softmax_attention_reference(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
    scale: f64,
    dropout: Option<(f64, u64)>,
) -> Result<Tensor> {
    let (b, h, n, _) = q.dims4()?;
    let scores = (q.matmul(&k.transpose(D::Minus1, D::Minus2)?)? * scale)?;
    let bias = mask
        .affine(SOFTMAX_MASK_PENALTY as f64, -(SOFTMAX_MASK_PENALTY as f64))?
        .reshape((b, 1, 1, n))?;
    let scores = scores.broadcast_add(&bias.to_dtype(scores.dtype())?)?;
    let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
    let probs = match dropout {
        Some((p, seed)) => {
            let factors = attention_dropout_factors(b * h, n, p as f32, seed);
            let factors = Tensor::from_vec(factors, (b, h, n, n), &Device::Cpu)?
                .to_device(q.device())?
                .to_dtype(q.dtype())?;
            probs.mul(&factors)?
        }
        None => probs,
    };
    probs.matmul(v)
}

/// Builds the dropout multipliers of [`softmax_attention`] as a flat [bh, n, n] vector.
fn attention_dropout_factors(bh: usize, n: usize, p: f32, seed: u64) -> Vec<f32> {
    let scale = 1.0 / (1.0 - p);
    let mut factors = kernels::buffer(bh * n * n);
    for (row, chunk) in factors.chunks_mut(n).enumerate() {
        let stream = kernels::stream_seed(seed, row as u64);
        for (j, f) in chunk.iter_mut().enumerate() {
            *f = kernels::dropout_factor(stream, j as u32, p, scale);
        }
    }
    factors
}

/// Softmax attention on [b·h] row-major (n × p) matrices, shared by the standalone op
/// and the fused attention block.
pub(crate) struct SoftmaxKernel {
    /// −10⁶ (1 − m) for every key, [b · n].
    key_bias: Arc<Vec<f32>>,
    scale: f32,
    dropout: Option<(f32, u64)>,
}

struct SoftmaxAttentionOp(SoftmaxKernel);

/// Sizes of one attention call: heads per batch element, sequence length, head size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub heads: usize,
    pub n: usize,
    pub p: usize,
}

impl SoftmaxKernel {
    pub(crate) fn new(mask: &Tensor, scale: f64, dropout: Option<(f64, u64)>) -> Result<Self> {
        Ok(Self {
            key_bias: Arc::new(key_bias(mask)?),
            scale: scale as f32,
            dropout: dropout
                .filter(|(p, _)| *p > 0.0)
                .map(|(p, seed)| (p as f32, seed)),
        })
    }

    /// Overwrites `probs` (n × n) with the softmax of scale · q kᵀ + key bias.
    fn probabilities(&self, probs: &mut [f32], q: &[f32], k: &[f32], bias: &[f32], dims: Dims) {
        let Dims { n, p, .. } = dims;
        kernels::matmul(
            probs,
            MatRef::row_major(q, n, p),
            MatRef::row_major(k, n, p).t(),
            self.scale,
            false,
        );
        with_simd(|| {
            for row in probs.chunks_exact_mut(n) {
                for (s, b) in row.iter_mut().zip(bias) {
                    *s += b;
                }
                let max = kernels::max(row);
                let mut acc = [0f32; kernels::LANES];
                let mut chunks = row.chunks_exact_mut(kernels::LANES);
                for chunk in &mut chunks {
                    for i in 0..kernels::LANES {
                        chunk[i] = kernels::exp(chunk[i] - max);
                        acc[i] += chunk[i];
                    }
                }
                let mut total = 0f32;
                for s in chunks.into_remainder() {
                    *s = kernels::exp(*s - max);
                    total += *s;
                }
                for lane in acc {
                    total += lane;
                }
                let inv = 1.0 / total;
                for s in row.iter_mut() {
                    *s *= inv;
                }
            }
        })
    }

    /// Multiplies row `i` of (bh, ·) by its dropout factors.
    fn apply_dropout(&self, matrix: &mut [f32], bh: usize, n: usize) {
        let Some((p, seed)) = self.dropout else {
            return;
        };
        let scale = 1.0 / (1.0 - p);
        with_simd(|| {
            for (i, row) in matrix.chunks_exact_mut(n).enumerate() {
                let stream = kernels::stream_seed(seed, (bh * n + i) as u64);
                for (j, x) in row.iter_mut().enumerate() {
                    *x *= kernels::dropout_factor(stream, j as u32, p, scale);
                }
            }
        })
    }
}

impl SoftmaxKernel {
    /// Attention outputs for `count` (batch, head) matrices.
    pub(crate) fn forward(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        count: usize,
        dims: Dims,
    ) -> Vec<f32> {
        let Dims { n, p, heads } = dims;
        // The [b, h, n, n] attention matrix, as the official code materialises it.
        let mut probs = kernels::buffer(count * n * n);
        let mut out = kernels::buffer(count * n * p);
        probs
            .par_chunks_mut(n * n)
            .zip(out.par_chunks_mut(n * p))
            .enumerate()
            .for_each(|(i, (probs, out))| {
                let block = i * n * p..(i + 1) * n * p;
                let (q, k, v) = (&q[block.clone()], &k[block.clone()], &v[block]);
                let bias = &self.key_bias[(i / heads) * n..][..n];
                self.probabilities(probs, q, k, bias, dims);
                self.apply_dropout(probs, i, n);
                kernels::matmul(
                    out,
                    MatRef::row_major(probs, n, n),
                    MatRef::row_major(v, n, p),
                    1.0,
                    false,
                );
            });
        out
    }
}

impl CustomOp3 for SoftmaxAttentionOp {
    fn name(&self) -> &'static str {
        "seqmodels-softmax-attention"
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
        let q = cpu_f32(s1, l1, self.name())?;
        let k = cpu_f32(s2, l2, self.name())?;
        let v = cpu_f32(s3, l3, self.name())?;
        let (b, h, n, p) = l1.shape().dims4()?;
        let out = self.0.forward(q, k, v, b * h, Dims { heads: h, n, p });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (b, h, n, p) = q.dims4()?;
        let dims = Dims { heads: h, n, p };
        let name = self.name();
        let (dq, dk, dv) = with_f32(q, name, |q| {
            with_f32(k, name, |k| {
                with_f32(v, name, |v| {
                    with_f32(grad, name, |dout| {
                        Ok(self.0.backward(q, k, v, dout, b * h, dims))
                    })
                })
            })
        })?;
        let device = q.device();
        Ok((
            Some(Tensor::from_vec(dq, q.shape(), device)?),
            Some(Tensor::from_vec(dk, k.shape(), device)?),
            Some(Tensor::from_vec(dv, v.shape(), device)?),
        ))
    }
}

impl SoftmaxKernel {
    /// Recomputes the attention matrix P and returns (dQ, dK, dV):
    /// dV = P̃ᵀ dO with P̃ the dropped-out P, dP = (dO Vᵀ) ⊙ dropout factors,
    /// dS = P ⊙ (dP − rowsum(P ⊙ dP)) · scale, dQ = dS K, dK = dSᵀ Q.
    pub(crate) fn backward(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        dout: &[f32],
        bh: usize,
        dims: Dims,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let Dims { n, p, heads } = dims;
        // Two [b, h, n, n] buffers: P and the gradient flowing into it.
        let mut probs = kernels::buffer(bh * n * n);
        let mut grads = kernels::buffer(bh * n * n);
        let mut dq = kernels::buffer(bh * n * p);
        let mut dk = kernels::buffer(bh * n * p);
        let mut dv = kernels::buffer(bh * n * p);
        probs
            .par_chunks_mut(n * n)
            .zip(grads.par_chunks_mut(n * n))
            .zip(dq.par_chunks_mut(n * p))
            .zip(dk.par_chunks_mut(n * p))
            .zip(dv.par_chunks_mut(n * p))
            .enumerate()
            .for_each(|(i, ((((probs, grads), dq), dk), dv))| {
                let range = i * n * p..(i + 1) * n * p;
                let (q, k, v, dout) = (
                    &q[range.clone()],
                    &k[range.clone()],
                    &v[range.clone()],
                    &dout[range],
                );
                let bias = &self.key_bias[(i / heads) * n..][..n];
                self.probabilities(probs, q, k, bias, dims);

                // dV = P̃ᵀ dO, with P̃ built in the gradient buffer while it is free.
                let dropped: &[f32] = if self.dropout.is_some() {
                    grads.copy_from_slice(probs);
                    self.apply_dropout(grads, i, n);
                    grads
                } else {
                    probs
                };
                kernels::matmul(
                    dv,
                    MatRef::row_major(dropped, n, n).t(),
                    MatRef::row_major(dout, n, p),
                    1.0,
                    false,
                );

                // dP = (dO Vᵀ) ⊙ factors, then the softmax backward in place.
                kernels::matmul(
                    grads,
                    MatRef::row_major(dout, n, p),
                    MatRef::row_major(v, n, p).t(),
                    1.0,
                    false,
                );
                self.apply_dropout(grads, i, n);
                let scale = self.scale;
                with_simd(|| {
                    for (g, pr) in grads.chunks_exact_mut(n).zip(probs.chunks_exact(n)) {
                        let c = kernels::dot(g, pr);
                        for j in 0..n {
                            g[j] = pr[j] * (g[j] - c) * scale;
                        }
                    }
                });

                kernels::matmul(
                    dq,
                    MatRef::row_major(grads, n, n),
                    MatRef::row_major(k, n, p),
                    1.0,
                    false,
                );
                kernels::matmul(
                    dk,
                    MatRef::row_major(grads, n, n).t(),
                    MatRef::row_major(q, n, p),
                    1.0,
                    false,
                );
            });
        (dq, dk, dv)
    }
}

/// Computes the Gaussian kernel matrix between the rows of `x` [.., m, p] and `l` [.., d, p]:
/// `exp(x_i·l_j − ½‖x_i‖² − ½‖l_j‖²) = exp(−½‖x_i − l_j‖²)`, shape [.., m, d].
/// Leading dimensions are batch dimensions and must agree.
pub fn rbf_kernel(x: &Tensor, l: &Tensor) -> Result<Tensor> {
    let (x_dims, l_dims) = (x.dims(), l.dims());
    let rank = x_dims.len();
    if rank < 2
        || l_dims.len() != rank
        || x_dims[..rank - 2] != l_dims[..rank - 2]
        || x_dims[rank - 1] != l_dims[rank - 1]
    {
        candle_core::bail!(
            "rbf_kernel: expected x [.., m, p] and l [.., d, p] with equal batch dimensions, got {:?} and {:?}",
            x.shape(),
            l.shape()
        );
    }
    if fused_cpu(&[x, l]) {
        x.contiguous()?.apply_op2(&l.contiguous()?, RbfKernelOp)
    } else {
        rbf_kernel_reference(x, l)
    }
}

/// [`rbf_kernel`] as a composition of candle operations, in the official order of operations.
pub fn rbf_kernel_reference(x: &Tensor, l: &Tensor) -> Result<Tensor> {
    let half_norm_x = (x.sqr()?.sum_keepdim(D::Minus1)? * 0.5)?;
    let half_norm_l = (l.sqr()?.sum_keepdim(D::Minus1)? * 0.5)?.transpose(D::Minus1, D::Minus2)?;
    let product = x.matmul(&l.transpose(D::Minus1, D::Minus2)?.contiguous()?)?;
    product
        .broadcast_sub(&half_norm_x)?
        .broadcast_sub(&half_norm_l)?
        .exp()
}

struct RbfKernelOp;

/// Rows of `x` per rayon task in the forward pass.
const RBF_ROWS_PER_TASK: usize = 512;

#[inline(always)]
fn half_squared_norms(rows: &[f32], p: usize) -> Vec<f32> {
    with_simd(|| {
        rows.chunks_exact(p)
            .map(|r| kernels::dot(r, r) * 0.5)
            .collect()
    })
}

impl CustomOp2 for RbfKernelOp {
    fn name(&self) -> &'static str {
        "seqmodels-rbf-kernel"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = cpu_f32(s1, l1, self.name())?;
        let l = cpu_f32(s2, l2, self.name())?;
        let dims = l1.shape().dims();
        let (m, p) = (dims[dims.len() - 2], dims[dims.len() - 1]);
        let d = l2.shape().dims()[dims.len() - 2];
        let batch = x.len() / (m * p).max(1);

        let half_norm_l: Vec<Vec<f32>> = (0..batch)
            .map(|i| half_squared_norms(&l[i * d * p..][..d * p], p))
            .collect();
        let mut out = kernels::buffer(batch * m * d);
        if m > 0 && d > 0 {
            // Tasks are (batch item, block of rows): each writes its rows of the output.
            let tasks: Vec<(usize, usize)> = (0..batch)
                .flat_map(|i| (0..m).step_by(RBF_ROWS_PER_TASK).map(move |r| (i, r)))
                .collect();
            let mut chunks: Vec<&mut [f32]> = Vec::with_capacity(tasks.len());
            for item in out.chunks_mut(m * d) {
                let mut rest = item;
                while !rest.is_empty() {
                    let take = (RBF_ROWS_PER_TASK * d).min(rest.len());
                    let (head, tail) = rest.split_at_mut(take);
                    chunks.push(head);
                    rest = tail;
                }
            }
            chunks
                .into_par_iter()
                .zip(tasks)
                .for_each(|(out, (i, row0))| {
                    let rows = out.len() / d;
                    let x = &x[(i * m + row0) * p..][..rows * p];
                    let l = &l[i * d * p..][..d * p];
                    let half_norm_x = half_squared_norms(x, p);
                    let half_norm_l = &half_norm_l[i];
                    kernels::matmul(
                        out,
                        MatRef::row_major(x, rows, p),
                        MatRef::row_major(l, d, p).t(),
                        1.0,
                        false,
                    );
                    with_simd(|| {
                        for (row, nx) in out.chunks_exact_mut(d).zip(&half_norm_x) {
                            for (value, nl) in row.iter_mut().zip(half_norm_l) {
                                *value = kernels::exp((*value - nx) - nl);
                            }
                        }
                    })
                });
        }
        let mut out_dims = dims.to_vec();
        *out_dims.last_mut().expect("rank checked") = d;
        Ok((CpuStorage::F32(out), Shape::from(out_dims)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        l: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dims = x.dims();
        let (m, p) = (dims[dims.len() - 2], dims[dims.len() - 1]);
        let d = l.dims()[dims.len() - 2];
        let name = self.name();
        let (dx, dl) = with_f32(x, name, |x| {
            with_f32(l, name, |l| {
                with_f32(res, name, |kernel| {
                    with_f32(grad, name, |grad| {
                        Ok(rbf_backward(x, l, kernel, grad, m, d, p))
                    })
                })
            })
        })?;
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), x.device())?),
            Some(Tensor::from_vec(dl, l.shape(), l.device())?),
        ))
    }
}

/// With G = grad ⊙ K: dX = G L − rowsum(G) ⊙ X and dL = Gᵀ X − colsum(G) ⊙ L.
fn rbf_backward(
    x: &[f32],
    l: &[f32],
    kernel: &[f32],
    grad: &[f32],
    m: usize,
    d: usize,
    p: usize,
) -> (Vec<f32>, Vec<f32>) {
    let batch = x.len() / (m * p).max(1);
    let mut dx = kernels::buffer(batch * m * p);
    let mut dl = kernels::buffer(batch * d * p);
    if m == 0 || d == 0 || p == 0 {
        return (dx, dl);
    }
    dx.par_chunks_mut(m * p)
        .zip(dl.par_chunks_mut(d * p))
        .enumerate()
        .for_each(|(i, (dx, dl))| {
            let x = &x[i * m * p..][..m * p];
            let l = &l[i * d * p..][..d * p];
            let kernel = &kernel[i * m * d..][..m * d];
            let grad = &grad[i * m * d..][..m * d];
            let mut weighted = kernels::buffer(m * d);
            let mut col_sums = kernels::buffer(d);
            let mut row_sums = kernels::buffer(m);
            with_simd(|| {
                for (r, ((w, k), g)) in weighted
                    .chunks_exact_mut(d)
                    .zip(kernel.chunks_exact(d))
                    .zip(grad.chunks_exact(d))
                    .enumerate()
                {
                    for j in 0..d {
                        w[j] = k[j] * g[j];
                        col_sums[j] += w[j];
                    }
                    row_sums[r] = kernels::sum(w);
                }
            });
            kernels::matmul(
                dx,
                MatRef::row_major(&weighted, m, d),
                MatRef::row_major(l, d, p),
                1.0,
                false,
            );
            kernels::matmul(
                dl,
                MatRef::row_major(&weighted, m, d).t(),
                MatRef::row_major(x, m, p),
                1.0,
                false,
            );
            with_simd(|| {
                for ((dx, x), s) in dx.chunks_exact_mut(p).zip(x.chunks_exact(p)).zip(&row_sums) {
                    for c in 0..p {
                        dx[c] -= s * x[c];
                    }
                }
                for ((dl, l), s) in dl.chunks_exact_mut(p).zip(l.chunks_exact(p)).zip(&col_sums) {
                    for c in 0..p {
                        dl[c] -= s * l[c];
                    }
                }
            });
        });
    (dx, dl)
}
