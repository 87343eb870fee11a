//! Nyströmformer attention (Xiong et al., AAAI 2021) as the Skyformer repository's
//! `NystromAttention` computes it: segment-mean landmarks, three softmax kernels and
//! the 6-step iterative inverse with one global initial scale. The optional
//! depthwise convolution on V is off in every LRA config and is not implemented.

use candle_core::{D, Result, Tensor};

use super::inverse::{InverseInit, iterative_inv};

/// Key-mask constant of the official Nyström module: masked scores get −10⁹.
const MASK_PENALTY: f64 = 1e9;

#[derive(Debug, Clone)]
pub struct NystromAttention {
    num_landmarks: usize,
    /// `max_seq_len` of the config: inputs must have exactly this length.
    seq_len: usize,
    head_dim: usize,
}

impl NystromAttention {
    pub fn new(num_landmarks: usize, seq_len: usize, head_dim: usize) -> Self {
        Self {
            num_landmarks,
            seq_len,
            head_dim,
        }
    }

    pub fn num_landmarks(&self) -> usize {
        self.num_landmarks
    }

    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// q, k, v are [b, h, n, p] with n = `seq_len`; mask is [b, n].
    pub fn forward(&self, q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, h, n, p) = q.dims4()?;
        if n != self.seq_len {
            candle_core::bail!(
                "nystrom attention needs inputs of exactly max_seq_len = {} positions, got {n}; pad the batch",
                self.seq_len
            );
        }
        let mask = mask.to_dtype(q.dtype())?;
        let row_mask = mask.reshape((b, 1, n, 1))?;
        let scale = (self.head_dim as f64).sqrt().sqrt();
        let q = (q.broadcast_mul(&row_mask)? / scale)?;
        let k = (k.broadcast_mul(&row_mask)? / scale)?;
        let key_bias = mask
            .affine(MASK_PENALTY, -MASK_PENALTY)?
            .reshape((b, 1, 1, n))?;
        let softmax = |xs: &Tensor| candle_nn::ops::softmax(xs, D::Minus1);

        if self.num_landmarks == self.seq_len {
            let scores = q.matmul(&k.t()?)?.broadcast_add(&key_bias)?;
            return softmax(&scores)?.matmul(v);
        }

        let segment = self.seq_len / self.num_landmarks;
        let landmarks = |xs: &Tensor| xs.reshape((b, h, self.num_landmarks, segment, p))?.mean(3);
        let (q_landmarks, k_landmarks) = (landmarks(&q)?, landmarks(&k)?);

        let kernel_1 = softmax(&q.matmul(&k_landmarks.t()?)?)?;
        let kernel_2 = softmax(&q_landmarks.matmul(&k_landmarks.t()?)?)?;
        let kernel_3 = softmax(&q_landmarks.matmul(&k.t()?)?.broadcast_add(&key_bias)?)?;
        let inverse =
            iterative_inv(&kernel_2, super::INVERSE_ITERATIONS, InverseInit::Global)?.inverse;
        kernel_1.matmul(&inverse)?.matmul(&kernel_3.matmul(v)?)
    }
}
