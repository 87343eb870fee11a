//! Layer normalisation, exact GELU and dropout.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, D, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::kernels::{self, with_simd};
use super::{ELEMENTS_PER_TASK, ROWS_PER_TASK, cpu_f32, fused_cpu, with_f32};

/// LayerNorm over the last dimension: (x − mean)/√(var + eps) · weight + bias, with
/// the biased variance, as `torch.nn.LayerNorm`.
pub fn layer_norm(xs: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    let size = xs.dim(D::Minus1)?;
    if weight.dims1()? != size || bias.dims1()? != size {
        candle_core::bail!(
            "layer_norm: input has last dimension {size} but weight and bias have {:?} and {:?}",
            weight.shape(),
            bias.shape()
        );
    }
    if fused_cpu(&[xs, weight, bias]) {
        xs.contiguous()?
            .apply_op3(weight, bias, LayerNormOp { eps: eps as f32 })
    } else {
        layer_norm_reference(xs, weight, bias, eps)
    }
}

/// LayerNorm as a composition of candle operations.
pub fn layer_norm_reference(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let mean = xs.mean_keepdim(D::Minus1)?;
    let centered = xs.broadcast_sub(&mean)?;
    let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centered.broadcast_div(&(var + eps)?.sqrt()?)?;
    normed.broadcast_mul(weight)?.broadcast_add(bias)
}

struct LayerNormOp {
    eps: f32,
}

/// Mean and 1/√(var + eps) of one row.
#[inline(always)]
fn row_moments(row: &[f32], eps: f32) -> (f32, f32) {
    let d = row.len() as f32;
    let mean = kernels::sum(row) / d;
    let mut acc = [0f32; kernels::LANES];
    let chunks = row.chunks_exact(kernels::LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for i in 0..kernels::LANES {
            let c = chunk[i] - mean;
            acc[i] += c * c;
        }
    }
    let mut var = tail.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>();
    for lane in acc {
        var += lane;
    }
    (mean, 1.0 / (var / d + eps).sqrt())
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "seqmodels-layer-norm"
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
        let xs = cpu_f32(s1, l1, self.name())?;
        let weight = cpu_f32(s2, l2, self.name())?;
        let bias = cpu_f32(s3, l3, self.name())?;
        let out = layer_norm_forward(xs, weight, bias, self.eps);
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = weight.dims1()?;
        let (dx, dw, db) = with_f32(xs, self.name(), |x| {
            with_f32(weight, self.name(), |w| {
                with_f32(grad, self.name(), |g| {
                    Ok(layer_norm_backward(x, w, g, self.eps))
                })
            })
        })?;
        let device = xs.device();
        Ok((
            Some(Tensor::from_vec(dx, xs.shape(), device)?),
            Some(Tensor::from_vec(dw, d, device)?),
            Some(Tensor::from_vec(db, d, device)?),
        ))
    }
}

/// LayerNorm of every row of `xs` (rows of `weight.len()` values).
pub(crate) fn layer_norm_forward(xs: &[f32], weight: &[f32], bias: &[f32], eps: f32) -> Vec<f32> {
    let d = weight.len();
    let mut out = kernels::buffer(xs.len());
    out.par_chunks_mut(d * ROWS_PER_TASK)
        .zip(xs.par_chunks(d * ROWS_PER_TASK))
        .for_each(|(out, xs)| {
            with_simd(|| {
                for (out, x) in out.chunks_exact_mut(d).zip(xs.chunks_exact(d)) {
                    let (mean, rstd) = row_moments(x, eps);
                    for i in 0..d {
                        out[i] = (x[i] - mean) * rstd * weight[i] + bias[i];
                    }
                }
            })
        });
    out
}

/// Gradients of LayerNorm: with x̂ = (x − mean)·rstd and ĝ = g ⊙ weight,
/// dx = rstd · (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)), dweight = Σ g ⊙ x̂, dbias = Σ g.
pub(crate) fn layer_norm_backward(
    xs: &[f32],
    weight: &[f32],
    grad: &[f32],
    eps: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let d = weight.len();
    let mut dx = kernels::buffer(xs.len());
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(d * ROWS_PER_TASK)
        .zip(xs.par_chunks(d * ROWS_PER_TASK))
        .zip(grad.par_chunks(d * ROWS_PER_TASK))
        .map(|((dx, xs), grad)| {
            with_simd(|| {
                let mut dw = kernels::buffer(d);
                let mut db = kernels::buffer(d);
                let mut xhat = kernels::buffer(d);
                let mut gw = kernels::buffer(d);
                for ((dx, x), g) in dx
                    .chunks_exact_mut(d)
                    .zip(xs.chunks_exact(d))
                    .zip(grad.chunks_exact(d))
                {
                    let (mean, rstd) = row_moments(x, eps);
                    for i in 0..d {
                        xhat[i] = (x[i] - mean) * rstd;
                        gw[i] = g[i] * weight[i];
                        dw[i] += g[i] * xhat[i];
                        db[i] += g[i];
                    }
                    let mean_gw = kernels::sum(&gw) / d as f32;
                    let mean_gw_xhat = kernels::dot(&gw, &xhat) / d as f32;
                    for i in 0..d {
                        dx[i] = rstd * (gw[i] - mean_gw - xhat[i] * mean_gw_xhat);
                    }
                }
                (dw, db)
            })
        })
        .collect();
    let mut dw = kernels::buffer(d);
    let mut db = kernels::buffer(d);
    for (pw, pb) in partials {
        for i in 0..d {
            dw[i] += pw[i];
            db[i] += pb[i];
        }
    }
    (dx, dw, db)
}

/// Exact GELU, x·Φ(x) with Φ the standard normal CDF (PyTorch's default `GELU()`).
pub fn gelu(xs: &Tensor) -> Result<Tensor> {
    if fused_cpu(&[xs]) {
        xs.contiguous()?.apply_op1(GeluOp)
    } else {
        xs.gelu_erf()
    }
}

struct GeluOp;

impl CustomOp1 for GeluOp {
    fn name(&self) -> &'static str {
        "seqmodels-gelu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let xs = cpu_f32(storage, layout, self.name())?;
        let mut out = kernels::buffer(xs.len());
        out.par_chunks_mut(ELEMENTS_PER_TASK)
            .zip(xs.par_chunks(ELEMENTS_PER_TASK))
            .for_each(|(out, xs)| {
                with_simd(|| {
                    for (y, &x) in out.iter_mut().zip(xs) {
                        *y = x * kernels::normal_cdf(x);
                    }
                })
            });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dx = with_f32(arg, self.name(), |xs| {
            with_f32(grad, self.name(), |grad| {
                let mut dx = kernels::buffer(xs.len());
                dx.par_chunks_mut(ELEMENTS_PER_TASK)
                    .zip(xs.par_chunks(ELEMENTS_PER_TASK))
                    .zip(grad.par_chunks(ELEMENTS_PER_TASK))
                    .for_each(|((dx, xs), grad)| {
                        with_simd(|| {
                            for ((d, &x), &g) in dx.iter_mut().zip(xs).zip(grad) {
                                *d = g * (kernels::normal_cdf(x) + x * kernels::normal_pdf(x));
                            }
                        })
                    });
                Ok(dx)
            })
        })?;
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}

/// Inverted dropout: each element is kept with probability 1 − p and scaled by
/// 1/(1 − p), else zeroed. The mask is a hash of (`seed`, element index), so the
/// backward pass regenerates it instead of storing it.
pub fn dropout(xs: &Tensor, p: f64, seed: u64) -> Result<Tensor> {
    if !(0.0..1.0).contains(&p) {
        candle_core::bail!("dropout probability must be in [0, 1), got {p}");
    }
    if p == 0.0 {
        return Ok(xs.clone());
    }
    let op = DropoutOp { p: p as f32, seed };
    if fused_cpu(&[xs]) {
        xs.contiguous()?.apply_op1(op)
    } else {
        dropout_reference(xs, p, seed)
    }
}

/// Dropout with the same mask as [`dropout`], built on the CPU and multiplied in.
pub fn dropout_reference(xs: &Tensor, p: f64, seed: u64) -> Result<Tensor> {
    let op = DropoutOp { p: p as f32, seed };
    let factors: Vec<f32> = (0..xs.elem_count()).map(|i| op.factor(i)).collect();
    let mask = Tensor::from_vec(factors, xs.shape(), &candle_core::Device::Cpu)?
        .to_device(xs.device())?
        .to_dtype(xs.dtype())?;
    xs.mul(&mask)
}

#[derive(Clone, Copy)]
struct DropoutOp {
    p: f32,
    seed: u64,
}

impl DropoutOp {
    fn factor(&self, index: usize) -> f32 {
        let block = (index / kernels::DROPOUT_BLOCK) as u64;
        let seed = kernels::stream_seed(self.seed, block);
        kernels::dropout_factor(
            seed,
            (index % kernels::DROPOUT_BLOCK) as u32,
            self.p,
            1.0 / (1.0 - self.p),
        )
    }

    fn apply(&self, xs: &[f32]) -> Vec<f32> {
        let mut out = kernels::buffer(xs.len());
        out.par_chunks_mut(ELEMENTS_PER_TASK)
            .zip(xs.par_chunks(ELEMENTS_PER_TASK))
            .enumerate()
            .for_each(|(task, (out, xs))| {
                out.copy_from_slice(xs);
                kernels::apply_dropout_span(out, task * ELEMENTS_PER_TASK, self.p, self.seed);
            });
        out
    }
}

impl CustomOp1 for DropoutOp {
    fn name(&self) -> &'static str {
        "seqmodels-dropout"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let xs = cpu_f32(storage, layout, self.name())?;
        Ok((CpuStorage::F32(self.apply(xs)), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dx = with_f32(grad, self.name(), |grad| Ok(self.apply(grad)))?;
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}
