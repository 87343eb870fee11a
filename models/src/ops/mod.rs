//! Fused tensor operations with hand-written backward passes.
//!
//! On the CPU with float32 tensors each operation runs as a candle custom op whose
//! forward and backward kernels are multi-threaded (rayon) and vectorised. On other
//! devices or dtypes the same function falls back to a composition of candle
//! operations with identical semantics, which is also what the tests compare the
//! fused kernels against.

mod attention;
mod block;
pub(crate) mod kernels;
mod linear;
mod norm;
mod skyformer_op;
mod sublayer;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, DType, Layout, Result, Storage, Tensor};

pub use attention::{rbf_kernel, softmax_attention};
pub use block::{BlockKernel, MlpDropout, attention_block, mlp_block};
pub use linear::linear;
pub use norm::{dropout, gelu, layer_norm};
pub use sublayer::{NormParams, attention_sublayer, mlp_sublayer};

/// The same operations as compositions of candle operations: what non-CPU devices
/// run, and the oracle the fused kernels are tested against.
pub mod reference {
    pub use super::attention::{
        rbf_kernel_reference as rbf_kernel, softmax_attention_reference as softmax_attention,
    };
    pub use super::norm::{dropout_reference as dropout, layer_norm_reference as layer_norm};
}

/// Skyformer attention over q, k, v [b, h, n, p] with the given landmarks (see
/// [`crate::attention::skyformer_attention`] for the formula). On the CPU this is one
/// fused operation whose backward pass recomputes the [n, d] kernel sketches instead of
/// storing them; elsewhere it is the composition of candle operations.
pub fn skyformer(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
    landmarks: &crate::attention::Landmarks,
) -> Result<Tensor> {
    let (b, _, n, _) = q.dims4()?;
    if landmarks.indices.len() != b || landmarks.n != n {
        candle_core::bail!(
            "skyformer: landmarks are for batch {} and length {}, but the input is [b={b}, n={n}]",
            landmarks.indices.len(),
            landmarks.n
        );
    }
    if let Some(bad) = landmarks
        .indices
        .iter()
        .flatten()
        .flatten()
        .find(|&&row| row >= 2 * n)
    {
        candle_core::bail!(
            "skyformer: landmark row {bad} is outside the 2n = {} rows of [Q; K]",
            2 * n
        );
    }
    if !fused_cpu(&[q, k, v]) {
        return Ok(crate::attention::skyformer_attention(q, k, v, mask, landmarks)?.output);
    }
    let mask = mask.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let op = skyformer_op::SkyformerOp::new(skyformer_op::SkyformerKernel::new(
        mask,
        landmarks.indices.clone(),
        crate::attention::DATA_NORMALIZER,
        crate::attention::REGULARIZER,
        crate::attention::INVERSE_ITERATIONS,
    ));
    q.contiguous()?
        .apply_op3(&k.contiguous()?, &v.contiguous()?, op)
}

/// Returns whether the fused CPU kernels apply to these tensors.
pub(crate) fn fused_cpu(tensors: &[&Tensor]) -> bool {
    tensors
        .iter()
        .all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
}

/// Returns the contiguous float32 data of a CPU storage.
pub(crate) fn cpu_f32<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let data = match storage {
        CpuStorage::F32(data) => data.as_slice(),
        other => candle_core::bail!("{op}: expected float32 input, got {:?}", other.dtype()),
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: input must be contiguous"),
    }
}

/// Runs `f` on the contiguous float32 data of a CPU tensor.
pub(crate) fn with_f32<R>(
    tensor: &Tensor,
    op: &str,
    f: impl FnOnce(&[f32]) -> Result<R>,
) -> Result<R> {
    let tensor = tensor.contiguous()?;
    let (storage, layout) = tensor.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(cpu_f32(cpu, layout, op)?),
        _ => candle_core::bail!("{op}: expected a CPU tensor"),
    }
}

/// Rows handled by one rayon task in row-wise kernels. A fixed size keeps the
/// reduction order, and so the results, independent of the thread count.
pub(crate) const ROWS_PER_TASK: usize = 256;

/// Elements handled by one rayon task in element-wise kernels.
pub(crate) const ELEMENTS_PER_TASK: usize = 1 << 16;
