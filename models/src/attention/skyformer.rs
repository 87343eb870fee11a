//! Skyformer: the Gaussian-kernel attention of `SoftmaxAttention_RBF`, approximated
//! with a modified Nyström method (Chen et al., "Skyformer: Remodel Self-Attention with
//! Gaussian Kernel and Nyström Method", NeurIPS 2021). This follows the authors'
//! PyTorch module `Skyformer` in `src/models/attention_skyformer.py` of
//! github.com/pkuzengqi/Skyformer, including where it departs from the paper. Half of
//! the landmarks come from Q rows and half from K rows, and only real tokens are
//! sampled. The data normaliser is 32^(−1/4) whatever the head size. The inverse is
//! 6 Newton–Schulz steps with one global initial scale.

use candle_core::{D, Result, Tensor};

use super::inverse::{InverseInit, InverseResult, iterative_inv};
use crate::ForwardContext;
use crate::ops;

/// The data normaliser: 32^(−1/4), hard-coded in the official module.
pub const DATA_NORMALIZER: f64 = 0.420_448_207_626_857_25;

/// Regulariser added to the diagonal of the landmark kernel matrix (γ).
pub const REGULARIZER: f64 = 0.1;

/// Newton–Schulz steps of the official inverse.
pub const INVERSE_ITERATIONS: usize = 6;

/// The Skyformer attention kernel (no parameters, no dropout).
#[derive(Debug, Clone)]
pub struct Skyformer {
    /// d: columns of the kernel sketch.
    nb_features: usize,
    /// r: landmarks summed per sketch column.
    accumulation: usize,
}

impl Skyformer {
    pub fn new(nb_features: usize, accumulation: usize) -> Self {
        Self {
            nb_features,
            accumulation,
        }
    }

    pub fn nb_features(&self) -> usize {
        self.nb_features
    }

    pub fn accumulation(&self) -> usize {
        self.accumulation
    }

    /// Draws the landmarks from `ctx` and attends; q, k, v are [b, h, n, p], mask [b, n].
    pub fn forward(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: &Tensor,
        ctx: &mut ForwardContext,
    ) -> Result<Tensor> {
        let landmarks = self.draw_landmarks(mask, q.dim(2)?, ctx)?;
        ops::skyformer(q, k, v, mask, &landmarks)
    }

    /// Draws one forward pass's landmarks for inputs of length `n` with `mask` [b, n].
    pub fn draw_landmarks(
        &self,
        mask: &Tensor,
        n: usize,
        ctx: &mut ForwardContext,
    ) -> Result<Landmarks> {
        let lengths = sequence_lengths(mask)?;
        let uniforms = ctx.landmark_uniforms(self.accumulation * self.nb_features)?;
        Ok(landmark_indices(
            &lengths,
            n,
            self.accumulation,
            self.nb_features,
            &uniforms,
        ))
    }
}

/// Number of real tokens per batch row: the row sums of the mask, as float32.
pub fn sequence_lengths(mask: &Tensor) -> Result<Vec<f32>> {
    mask.to_dtype(candle_core::DType::F32)?
        .sum(1)?
        .to_vec1::<f32>()
}

/// Landmark rows of X = [Q; K] (2n rows) for every batch element, [b][r][d].
#[derive(Debug, Clone, PartialEq)]
pub struct Landmarks {
    /// Row indices into X, `indices[b][a][c]`.
    pub indices: Vec<Vec<Vec<usize>>>,
    pub n: usize,
}

impl Landmarks {
    pub fn accumulation(&self) -> usize {
        self.indices.first().map_or(0, |rows| rows.len())
    }

    pub fn nb_features(&self) -> usize {
        self.indices
            .first()
            .and_then(|rows| rows.first())
            .map_or(0, |row| row.len())
    }
}

/// Computes the official uniform sketching: T = r·d uniforms u_t shared by the whole batch;
/// for batch row b with ℓ_b real tokens, s_t = ⌊ℓ_b · u_t⌋ (a float32 product,
/// truncated), plus n for t ≥ ⌊T/2⌋ so that those index K rows. The T indices are
/// laid out row-major as r × d. Sampling is with replacement, and only real tokens
/// are drawn as long as padding is a suffix.
pub fn landmark_indices(
    lengths: &[f32],
    n: usize,
    accumulation: usize,
    nb_features: usize,
    uniforms: &[f32],
) -> Landmarks {
    let total = accumulation * nb_features;
    assert_eq!(
        uniforms.len(),
        total,
        "landmark_indices needs accumulation × nb_features uniforms"
    );
    let indices = lengths
        .iter()
        .map(|&length| {
            let flat: Vec<usize> = uniforms
                .iter()
                .enumerate()
                .map(|(t, &u)| {
                    let row = (length * u) as usize;
                    if t >= total / 2 { row + n } else { row }
                })
                .collect();
            flat.chunks(nb_features).map(|row| row.to_vec()).collect()
        })
        .collect();
    Landmarks { indices, n }
}

/// The output of [`skyformer_attention`] and the intermediates the official module
/// computes on the way.
pub struct SkyformerOutput {
    /// [b, h, n, p].
    pub output: Tensor,
    /// A_Q = κ(Q̂, L): the Q rows of the kernel sketch, [b, h, n, d].
    pub sketch_q: Tensor,
    /// A_K = κ(K̂, L): the K rows of the kernel sketch, [b, h, n, d].
    pub sketch_k: Tensor,
    /// diag(δ) (κ(L, L) + γI) diag(δ), the matrix that is inverted, [b, h, d, d].
    pub normalized: Tensor,
    /// The 6-step iterative inverse of `normalized` and its initial scale α.
    pub inverse: InverseResult,
    /// δ = (row sums of κ(L, L) + γI)^(−1/2), [b, h, d].
    pub delta: Tensor,
}

impl SkyformerOutput {
    /// Concatenates the full sketch AS = κ([Q̂; K̂], L), [b, h, 2n, d], as the official module stores it.
    pub fn sketch(&self) -> Result<Tensor> {
        Tensor::cat(&[&self.sketch_q, &self.sketch_k], 2)
    }
}

/// Skyformer attention with given landmarks. With c = 32^(−1/4), m the mask,
/// Q̂ = c·m⊙Q, K̂ = c·m⊙K, V̂ = m⊙V and L the landmark rows of [Q̂; K̂]:
///
/// out = κ(Q̂, L) · diag(δ) Z₆ᵀ diag(δ) · κ(K̂, L)ᵀ V̂
///
/// where M = κ(L, L) + 0.1 I, δ = rowsum(M)^(−1/2) and Z₆ is the 6-step iterative
/// inverse of diag(δ) M diag(δ) with one global initial scale. This equals the
/// official m ⊙ (A_K δ Z₆ δ) product, contracted with V̂ first so that no [n, d]
/// intermediate besides the two sketches is built.
pub fn skyformer_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
    landmarks: &Landmarks,
) -> Result<SkyformerOutput> {
    let (b, h, n, p) = q.dims4()?;
    if landmarks.indices.len() != b || landmarks.n != n {
        candle_core::bail!(
            "skyformer: landmarks are for batch {} and length {}, but the input is [b={b}, n={n}]",
            landmarks.indices.len(),
            landmarks.n
        );
    }
    let accumulation = landmarks.accumulation();
    let d = landmarks.nb_features();
    let dtype = q.dtype();

    // Scale and mask: padded rows become zero vectors.
    let mask = mask.to_dtype(dtype)?.reshape((b, 1, n, 1))?;
    let qk_scale = (&mask * DATA_NORMALIZER)?;
    let q = q.broadcast_mul(&qk_scale)?;
    let k = k.broadcast_mul(&qk_scale)?;
    let v = v.broadcast_mul(&mask)?;

    // Landmarks L_a (one [b, h, d, p] set per accumulation row a), gathered from [Q̂; K̂].
    let rows = Tensor::cat(&[&q, &k], 2)?.reshape((b * h * 2 * n, p))?;
    let mut landmark_sets = Vec::with_capacity(accumulation);
    for a in 0..accumulation {
        let mut flat = Vec::with_capacity(b * h * d);
        for (batch, sets) in landmarks.indices.iter().enumerate() {
            for head in 0..h {
                let base = (batch * h + head) * 2 * n;
                flat.extend(sets[a].iter().map(|&row| (base + row) as u32));
            }
        }
        let index = Tensor::from_vec(flat, b * h * d, q.device())?;
        landmark_sets.push(rows.index_select(&index, 0)?.reshape((b, h, d, p))?);
    }

    // Kernel sketch: A_Q = Σ_a κ(Q̂, L_a), A_K = Σ_a κ(K̂, L_a), and the landmark block
    // M = Σ_a Σ_a' κ(L_a, L_a'), which equals the landmark rows of [A_Q; A_K].
    let mut sketch_q = ops::rbf_kernel(&q, &landmark_sets[0])?;
    let mut sketch_k = ops::rbf_kernel(&k, &landmark_sets[0])?;
    for set in &landmark_sets[1..] {
        sketch_q = (sketch_q + ops::rbf_kernel(&q, set)?)?;
        sketch_k = (sketch_k + ops::rbf_kernel(&k, set)?)?;
    }
    let mut core: Option<Tensor> = None;
    for rows_set in &landmark_sets {
        for cols_set in &landmark_sets {
            let block = ops::rbf_kernel(rows_set, cols_set)?;
            core = Some(match core {
                Some(sum) => (sum + block)?,
                None => block,
            });
        }
    }
    let core = core.expect("at least one landmark set");

    // Regularise and normalise symmetrically: N = diag(δ) (M + γI) diag(δ).
    let regularizer = (Tensor::eye(d, dtype, q.device())? * REGULARIZER)?;
    let core = core.broadcast_add(&regularizer)?;
    let delta = core.sum(D::Minus1)?.recip()?.sqrt()?;
    let normalized = core
        .broadcast_mul(&delta.unsqueeze(D::Minus1)?)?
        .broadcast_mul(&delta.unsqueeze(D::Minus2)?)?;
    let inverse = iterative_inv(&normalized, INVERSE_ITERATIONS, InverseInit::Global)?;

    // context = diag(δ) Zᵀ diag(δ) A_Kᵀ V̂ (d × p), then out = A_Q · context.
    let keys_values = sketch_k.transpose(D::Minus1, D::Minus2)?.matmul(&v)?;
    let scaled = keys_values.broadcast_mul(&delta.unsqueeze(D::Minus1)?)?;
    let context = inverse
        .inverse
        .transpose(D::Minus1, D::Minus2)?
        .matmul(&scaled)?;
    let context = context.broadcast_mul(&delta.unsqueeze(D::Minus1)?)?;
    let output = sketch_q.matmul(&context)?;

    Ok(SkyformerOutput {
        output,
        sketch_q,
        sketch_k,
        normalized,
        inverse,
        delta,
    })
}
