//! The affine map of `torch.nn.Linear`, y = x Wᵀ + b, fused with its bias.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::kernels::{self, MatRef};
use super::{cpu_f32, fused_cpu, with_f32};

/// Rows of x per rayon task; fixed so that reductions do not depend on the thread count.
const ROWS_PER_TASK: usize = 1024;

/// y = x Wᵀ + b for x [rows, in], W [out, in] (PyTorch's layout) and b [out].
pub fn linear(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let (rows, inputs) = x.dims2()?;
    let (outputs, weight_inputs) = weight.dims2()?;
    if weight_inputs != inputs || bias.dims1()? != outputs {
        candle_core::bail!(
            "linear: x {:?}, weight {:?} and bias {:?} do not fit y = x Wᵀ + b",
            x.shape(),
            weight.shape(),
            bias.shape()
        );
    }
    if fused_cpu(&[x, weight, bias]) && rows > 0 {
        x.contiguous()?
            .apply_op3(&weight.contiguous()?, &bias.contiguous()?, LinearOp)
    } else {
        x.matmul(&weight.t()?)?.broadcast_add(bias)
    }
}

struct LinearOp;

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "seqmodels-linear"
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
        let (rows, inputs) = l1.shape().dims2()?;
        let outputs = bias.len();
        let out = linear_forward(x, weight, bias, inputs);
        Ok((CpuStorage::F32(out), Shape::from((rows, outputs))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (rows, inputs) = x.dims2()?;
        let outputs = bias.dims1()?;
        let name = self.name();
        let (dx, dw, db) = with_f32(x, name, |x| {
            with_f32(weight, name, |w| {
                with_f32(grad, name, |g| {
                    Ok(linear_backward(x, w, g, rows, inputs, outputs))
                })
            })
        })?;
        let device = x.device();
        Ok((
            Some(Tensor::from_vec(dx, (rows, inputs), device)?),
            Some(Tensor::from_vec(dw, (outputs, inputs), device)?),
            Some(Tensor::from_vec(db, outputs, device)?),
        ))
    }
}

/// y = x Wᵀ + b for row-major x [rows, inputs], W [outputs, inputs] and b [outputs].
pub(crate) fn linear_forward(x: &[f32], weight: &[f32], bias: &[f32], inputs: usize) -> Vec<f32> {
    let outputs = bias.len();
    let rows = x.len() / inputs;
    let mut out = kernels::buffer(rows * outputs);
    out.par_chunks_mut(ROWS_PER_TASK * outputs)
        .zip(x.par_chunks(ROWS_PER_TASK * inputs))
        .for_each(|(out, x)| {
            let block = x.len() / inputs;
            for row in out.chunks_exact_mut(outputs) {
                row.copy_from_slice(bias);
            }
            let w_t = MatRef::row_major(weight, outputs, inputs).t();
            kernels::matmul(out, MatRef::row_major(x, block, inputs), w_t, 1.0, true);
        });
    out
}

/// dx = g W, dW = gᵀ x and db = Σ_rows g, with the row reductions summed over fixed
/// blocks of rows.
pub(crate) fn linear_backward(
    x: &[f32],
    weight: &[f32],
    grad: &[f32],
    rows: usize,
    inputs: usize,
    outputs: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut dx = kernels::buffer(rows * inputs);
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(ROWS_PER_TASK * inputs)
        .zip(x.par_chunks(ROWS_PER_TASK * inputs))
        .zip(grad.par_chunks(ROWS_PER_TASK * outputs))
        .map(|((dx, x), g)| {
            let block = x.len() / inputs;
            let g_mat = MatRef::row_major(g, block, outputs);
            kernels::matmul(
                dx,
                g_mat,
                MatRef::row_major(weight, outputs, inputs),
                1.0,
                false,
            );
            let mut dw = kernels::buffer(outputs * inputs);
            kernels::matmul(
                &mut dw,
                g_mat.t(),
                MatRef::row_major(x, block, inputs),
                1.0,
                false,
            );
            let mut db = kernels::buffer(outputs);
            for row in g.chunks_exact(outputs) {
                for (d, v) in db.iter_mut().zip(row) {
                    *d += v;
                }
            }
            (dw, db)
        })
        .collect();
    let mut dw = kernels::buffer(outputs * inputs);
    let mut db = kernels::buffer(outputs);
    for (pw, pb) in partials {
        for (d, v) in dw.iter_mut().zip(&pw) {
            *d += v;
        }
        for (d, v) in db.iter_mut().zip(&pb) {
            *d += v;
        }
    }
    (dx, dw, db)
}
