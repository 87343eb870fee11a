//! The Newton–Schulz-type iterative inverse shared by Skyformer and Nyströmformer.

use candle_core::{D, Result, Tensor};

/// Scaling of the first iterate Z₀ = Kᵀ / α.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InverseInit {
    /// α = the largest column sum over the whole batched tensor: one scalar for all
    /// matrices, so each result depends on the other matrices in the batch. This is
    /// the option both Skyformer and Nyströmformer use.
    Global,
    /// α per matrix. The official code has this option, but no model reaches it.
    PerMatrix,
}

/// The iterates' scaling and the result of [`iterative_inv`].
pub struct InverseResult {
    /// Z after the last iteration.
    pub inverse: Tensor,
    /// α: a scalar for [`InverseInit::Global`], else one value per matrix.
    pub init_scale: Tensor,
}

/// Approximates the inverse of each [.., d, d] matrix K with `iterations` steps of
/// Z ← ¼ Z (13 I − K Z (15 I − K Z (7 I − K Z))), starting from Z₀ = Kᵀ / α with α
/// the largest column sum of K. Per eigenvalue x of K Z the step maps x to
/// ¼(13x − 15x² + 7x³ − x⁴), so with the official 6 steps eigenvalues of K below about
/// 0.02 are far from converged. This is the official behaviour, kept on purpose.
/// Gradients flow through every step and through α.
pub fn iterative_inv(
    matrices: &Tensor,
    iterations: usize,
    init: InverseInit,
) -> Result<InverseResult> {
    let d = matrices.dim(D::Minus1)?;
    if matrices.dim(D::Minus2)? != d {
        candle_core::bail!(
            "iterative_inv: expected square matrices, got shape {:?}",
            matrices.shape()
        );
    }
    let eye = Tensor::eye(d, matrices.dtype(), matrices.device())?;
    let (eye7, eye13, eye15) = ((&eye * 7.0)?, (&eye * 13.0)?, (&eye * 15.0)?);

    let column_sums = matrices.sum(D::Minus2)?;
    let transposed = matrices.transpose(D::Minus1, D::Minus2)?;
    let (mut z, init_scale) = match init {
        InverseInit::Global => {
            let alpha = column_sums.flatten_all()?.max(0)?;
            (transposed.broadcast_mul(&alpha.recip()?)?, alpha)
        }
        InverseInit::PerMatrix => {
            let alpha = column_sums.max_keepdim(D::Minus1)?.unsqueeze(D::Minus1)?;
            (transposed.broadcast_mul(&alpha.recip()?)?, alpha)
        }
    };

    for _ in 0..iterations {
        let kz = matrices.matmul(&z)?;
        let inner = eye7.broadcast_sub(&kz)?;
        let inner = eye15.broadcast_sub(&kz.matmul(&inner)?)?;
        let inner = eye13.broadcast_sub(&kz.matmul(&inner)?)?;
        z = (z * 0.25)?.matmul(&inner)?;
    }
    Ok(InverseResult {
        inverse: z,
        init_scale,
    })
}
