//! Skyformer attention as one fused CPU operation with a hand-written backward pass.
//!
//! The forward pass runs per (batch, head) matrix in parallel, in two phases because
//! the iterative inverse starts from one scale α shared by the whole batch: phase 1
//! builds the landmark matrices N and α, phase 2 inverts and attends. The backward
//! pass recomputes the two [n, d] kernel sketches instead of storing them, so the
//! memory kept per layer is O(b·h·d²) for the inverse's iterates plus the inputs.
//!
//! Notation per (batch, head): x̂_Q = c·m⊙Q, x̂_K = c·m⊙K, v̂ = m⊙V, L_a the landmark rows
//! of [x̂_Q; x̂_K], A_Q = Σ_a κ(x̂_Q, L_a), A_K = Σ_a κ(x̂_K, L_a),
//! M_γ = Σ_{a,a'} κ(L_a, L_a') + γI, δ = (M_γ 1)^(−1/2), N = diag(δ) M_γ diag(δ),
//! Z = NS₆(N), W = A_Kᵀ v̂, C₀ = Zᵀ (δ ⊙ W), C = δ ⊙ C₀ and out = A_Q C.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::kernels::{self, MatRef, with_simd};
use super::{cpu_f32, with_f32};

/// Sizes of one call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    heads: usize,
    n: usize,
    p: usize,
    d: usize,
    accumulation: usize,
}

/// Skyformer attention on [b·h] row-major (n × p) matrices, shared by the standalone op
/// and the fused attention block.
pub(crate) struct SkyformerKernel {
    /// Mask [b · n] (1 for tokens, 0 for padding).
    mask: Arc<Vec<f32>>,
    /// Landmark rows of [x̂_Q; x̂_K] per batch element, [b][r][d].
    landmarks: Arc<Vec<Vec<Vec<usize>>>>,
    normalizer: f32,
    regularizer: f32,
    iterations: usize,
}

/// The fused Skyformer operation on q, k, v [b, h, n, p].
pub(crate) struct SkyformerOp {
    kernel: SkyformerKernel,
    /// Forward results the backward pass reuses.
    saved: Mutex<Option<Saved>>,
}

impl SkyformerOp {
    pub(crate) fn new(kernel: SkyformerKernel) -> Self {
        Self {
            kernel,
            saved: Mutex::new(None),
        }
    }
}

/// State the forward pass keeps for the backward pass, per (batch, head) matrix.
pub(crate) struct Saved {
    alpha: f32,
    /// Index of the matrix and column whose column sum is α.
    argmax: (usize, usize),
    per_matrix: Vec<SavedMatrix>,
}

struct SavedMatrix {
    /// Landmarks L_a, r × [d, p].
    landmarks: Vec<f32>,
    /// M_γ [d, d], δ [d] and N [d, d].
    regularized: Vec<f32>,
    delta: Vec<f32>,
    normalized: Vec<f32>,
    /// Iterates Z₀ … Z_T and each step's products, all [d, d].
    iterates: Vec<Vec<f32>>,
    products: Vec<StepProducts>,
    /// W = A_Kᵀ v̂ and C₀ = Zᵀ (δ ⊙ W), [d, p].
    keys_values: Vec<f32>,
    context_inner: Vec<f32>,
    /// C = δ ⊙ C₀, [d, p].
    context: Vec<f32>,
}

impl SkyformerKernel {
    pub(crate) fn new(
        mask: Vec<f32>,
        landmarks: Vec<Vec<Vec<usize>>>,
        normalizer: f64,
        regularizer: f64,
        iterations: usize,
    ) -> Self {
        Self {
            mask: Arc::new(mask),
            landmarks: Arc::new(landmarks),
            normalizer: normalizer as f32,
            regularizer: regularizer as f32,
            iterations,
        }
    }

    fn dims(&self, shape: &Shape) -> Result<(usize, Dims)> {
        let (b, h, n, p) = shape.dims4()?;
        self.dims_of(b, h, n, p)
    }

    pub(crate) fn dims_of(&self, b: usize, h: usize, n: usize, p: usize) -> Result<(usize, Dims)> {
        let accumulation = self.landmarks.first().map_or(0, |sets| sets.len());
        let d = self
            .landmarks
            .first()
            .and_then(|sets| sets.first())
            .map_or(0, |set| set.len());
        if self.landmarks.len() != b || accumulation == 0 || d == 0 {
            candle_core::bail!("skyformer: landmarks must be [b][r][d] with b = {b}, r ≥ 1, d ≥ 1");
        }
        Ok((
            b * h,
            Dims {
                heads: h,
                n,
                p,
                d,
                accumulation,
            },
        ))
    }

    /// The inputs of matrix `i` scaled and masked: (x̂_Q, x̂_K, v̂), each [n, p].
    fn scaled_inputs(
        &self,
        i: usize,
        dims: Dims,
        q: &[f32],
        k: &[f32],
        v: &[f32],
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let Dims { heads, n, p, .. } = dims;
        let mask = &self.mask[(i / heads) * n..][..n];
        let block = i * n * p..(i + 1) * n * p;
        let (q, k, v) = (&q[block.clone()], &k[block.clone()], &v[block]);
        let mut scaled_q = kernels::buffer(n * p);
        let mut scaled_k = kernels::buffer(n * p);
        let mut scaled_v = kernels::buffer(n * p);
        with_simd(|| {
            for (row, &m) in mask.iter().enumerate() {
                let qk_factor = m * self.normalizer;
                for j in row * p..(row + 1) * p {
                    scaled_q[j] = q[j] * qk_factor;
                    scaled_k[j] = k[j] * qk_factor;
                    scaled_v[j] = v[j] * m;
                }
            }
        });
        (scaled_q, scaled_k, scaled_v)
    }

    /// Landmark rows of [x̂_Q; x̂_K] for matrix `i`, r × [d, p].
    fn gather_landmarks(
        &self,
        i: usize,
        dims: Dims,
        scaled_q: &[f32],
        scaled_k: &[f32],
    ) -> Vec<f32> {
        let Dims {
            heads,
            n,
            p,
            d,
            accumulation,
        } = dims;
        let mut landmarks = kernels::buffer(accumulation * d * p);
        for (a, set) in self.landmarks[i / heads].iter().enumerate() {
            for (c, &row) in set.iter().enumerate() {
                let source = if row < n {
                    &scaled_q[row * p..][..p]
                } else {
                    &scaled_k[(row - n) * p..][..p]
                };
                landmarks[(a * d + c) * p..][..p].copy_from_slice(source);
            }
        }
        landmarks
    }
}

/// ½‖row‖² for every row of a [rows, p] matrix.
fn half_norms(x: &[f32], p: usize) -> Vec<f32> {
    with_simd(|| {
        x.chunks_exact(p)
            .map(|row| 0.5 * kernels::dot(row, row))
            .collect()
    })
}

/// dst = Σ_a κ(x, L_a) for the landmark sets in `landmarks` (r × [d, p]); dst is [m, d].
fn sketch(dst: &mut [f32], x: &[f32], landmarks: &[f32], m: usize, dims: Dims) {
    let Dims {
        p, d, accumulation, ..
    } = dims;
    let x_norms = half_norms(x, p);
    let mut scratch = if accumulation > 1 {
        kernels::buffer(m * d)
    } else {
        Vec::new()
    };
    for a in 0..accumulation {
        let set = &landmarks[a * d * p..][..d * p];
        let set_norms = half_norms(set, p);
        let target: &mut [f32] = if a == 0 { dst } else { &mut scratch };
        kernels::matmul(
            target,
            MatRef::row_major(x, m, p),
            MatRef::row_major(set, d, p).t(),
            1.0,
            false,
        );
        with_simd(|| {
            for (row, xn) in target.chunks_exact_mut(d).zip(&x_norms) {
                for (value, ln) in row.iter_mut().zip(&set_norms) {
                    *value = kernels::exp((*value - xn) - ln);
                }
            }
        });
        if a > 0 {
            for (out, add) in dst.iter_mut().zip(&scratch) {
                *out += add;
            }
        }
    }
}

/// Backward of K = κ(x, l) given dK: with G = dK ⊙ K,
/// dx += G l − rowsum(G) ⊙ x and dl += Gᵀ x − colsum(G) ⊙ l.
#[allow(clippy::too_many_arguments)]
fn kernel_backward(
    grad: &[f32],
    kernel: &[f32],
    x: &[f32],
    l: &[f32],
    dx: &mut [f32],
    dl: &mut [f32],
    m: usize,
    d: usize,
    p: usize,
) {
    let mut weighted = kernels::buffer(m * d);
    let mut row_sums = kernels::buffer(m);
    let mut col_sums = kernels::buffer(d);
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
        true,
    );
    kernels::matmul(
        dl,
        MatRef::row_major(&weighted, m, d).t(),
        MatRef::row_major(x, m, p),
        1.0,
        true,
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
}

fn square(x: &[f32], d: usize) -> MatRef<'_> {
    MatRef::row_major(x, d, d)
}

/// dst = scale·I − src for [d, d] matrices.
fn scaled_identity_minus(dst: &mut [f32], src: &[f32], scale: f32, d: usize) {
    with_simd(|| {
        for (out, x) in dst.iter_mut().zip(src) {
            *out = -x;
        }
    });
    for i in 0..d {
        dst[i * (d + 1)] += scale;
    }
}

/// The products of one Newton–Schulz step that its backward pass needs:
/// P = N Z, C = 15I − P (7I − P) and E = 13I − P C.
struct StepProducts {
    product: Vec<f32>,
    c: Vec<f32>,
    e: Vec<f32>,
}

/// Products of one Newton–Schulz step from P = N Z: (A, B, C, E) with A = 7I − P,
/// B = P A, C = 15I − B and E = 13I − P C.
fn step_products(product: &[f32], d: usize) -> [Vec<f32>; 4] {
    let mut a = kernels::buffer(d * d);
    scaled_identity_minus(&mut a, product, 7.0, d);
    let mut b = kernels::buffer(d * d);
    kernels::matmul(
        &mut b,
        MatRef::row_major(product, d, d),
        MatRef::row_major(&a, d, d),
        1.0,
        false,
    );
    let mut c = kernels::buffer(d * d);
    scaled_identity_minus(&mut c, &b, 15.0, d);
    let mut e = kernels::buffer(d * d);
    kernels::matmul(
        &mut e,
        MatRef::row_major(product, d, d),
        MatRef::row_major(&c, d, d),
        1.0,
        false,
    );
    let pc = e.clone();
    scaled_identity_minus(&mut e, &pc, 13.0, d);
    [a, b, c, e]
}

/// The official iterative inverse from Z₀ = Nᵀ/α: returns (Z₀ … Z_T, P₀ … P_{T−1}).
fn newton_schulz(
    normalized: &[f32],
    alpha: f32,
    iterations: usize,
    d: usize,
) -> (Vec<Vec<f32>>, Vec<StepProducts>) {
    let inv_alpha = 1.0 / alpha;
    let mut z = kernels::buffer(d * d);
    for i in 0..d {
        for j in 0..d {
            z[i * d + j] = inv_alpha * normalized[j * d + i];
        }
    }
    let mut iterates = vec![z];
    let mut products = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let z = iterates.last().expect("Z₀ exists");
        let mut product = kernels::buffer(d * d);
        kernels::matmul(
            &mut product,
            MatRef::row_major(normalized, d, d),
            MatRef::row_major(z, d, d),
            1.0,
            false,
        );
        let [_, _, c, e] = step_products(&product, d);
        let mut next = kernels::buffer(d * d);
        kernels::matmul(
            &mut next,
            MatRef::row_major(z, d, d),
            MatRef::row_major(&e, d, d),
            0.25,
            false,
        );
        products.push(StepProducts { product, c, e });
        iterates.push(next);
    }
    (iterates, products)
}

/// Backward of [`newton_schulz`] given dZ_T: returns dN (without the α path) and
/// ∂loss/∂α.
fn newton_schulz_backward(
    normalized: &[f32],
    alpha: f32,
    iterates: &[Vec<f32>],
    products: &[StepProducts],
    grad: Vec<f32>,
    d: usize,
) -> (Vec<f32>, f32) {
    let mut d_normalized = kernels::buffer(d * d);
    let mut dz = grad;
    for k in (0..products.len()).rev() {
        let z = &iterates[k];
        let StepProducts { product, c, e } = &products[k];
        let mut a = kernels::buffer(d * d);
        scaled_identity_minus(&mut a, product, 7.0, d);

        // Z' = ¼ Z E: dZ = ¼ dZ' Eᵀ and dE = ¼ Zᵀ dZ'.
        let mut dz_prev = kernels::buffer(d * d);
        kernels::matmul(&mut dz_prev, square(&dz, d), square(e, d).t(), 0.25, false);
        let mut d_d = kernels::buffer(d * d);
        kernels::matmul(&mut d_d, square(z, d).t(), square(&dz, d), -0.25, false); // dD = −dE

        // D = P C: dP = dD Cᵀ, dC = Pᵀ dD; C = 15I − B: dB = −dC.
        let mut dp = kernels::buffer(d * d);
        kernels::matmul(&mut dp, square(&d_d, d), square(c, d).t(), 1.0, false);
        let mut db = kernels::buffer(d * d);
        kernels::matmul(
            &mut db,
            square(product, d).t(),
            square(&d_d, d),
            -1.0,
            false,
        );

        // B = P A: dP += dB Aᵀ, dA = Pᵀ dB; A = 7I − P: dP −= dA.
        kernels::matmul(&mut dp, square(&db, d), square(&a, d).t(), 1.0, true);
        kernels::matmul(&mut dp, square(product, d).t(), square(&db, d), -1.0, true);

        // P = N Z: dN += dP Zᵀ, dZ += Nᵀ dP.
        kernels::matmul(
            &mut d_normalized,
            square(&dp, d),
            square(z, d).t(),
            1.0,
            true,
        );
        kernels::matmul(
            &mut dz_prev,
            square(normalized, d).t(),
            square(&dp, d),
            1.0,
            true,
        );
        dz = dz_prev;
    }

    // Z₀ = (1/α) Nᵀ.
    let inv_alpha = 1.0 / alpha;
    let mut d_alpha = 0f32;
    for i in 0..d {
        for j in 0..d {
            d_normalized[j * d + i] += inv_alpha * dz[i * d + j];
            d_alpha += dz[i * d + j] * normalized[j * d + i];
        }
    }
    (d_normalized, -d_alpha * inv_alpha * inv_alpha)
}

impl SkyformerKernel {
    /// Attention outputs for `count` (batch, head) matrices and what the backward pass needs.
    pub(crate) fn forward(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        count: usize,
        dims: Dims,
    ) -> (Vec<f32>, Saved) {
        let Dims { n, p, d, .. } = dims;

        // Phase 1: landmarks, M_γ, δ and N per matrix, and each matrix's largest column sum.
        let phase1: Vec<(SavedMatrix, f32, usize)> = (0..count)
            .into_par_iter()
            .map(|i| {
                let (scaled_q, scaled_k, _) = self.scaled_inputs(i, dims, q, k, v);
                let landmarks = self.gather_landmarks(i, dims, &scaled_q, &scaled_k);
                let mut regularized = kernels::buffer(d * d);
                for a in 0..dims.accumulation {
                    let rows = &landmarks[a * d * p..][..d * p];
                    let mut block = kernels::buffer(d * d);
                    sketch(&mut block, rows, &landmarks, d, dims);
                    for (r, b) in regularized.iter_mut().zip(&block) {
                        *r += b;
                    }
                }
                for c in 0..d {
                    regularized[c * d + c] += self.regularizer;
                }
                let delta: Vec<f32> = regularized
                    .chunks_exact(d)
                    .map(|row| (1.0 / row.iter().sum::<f32>()).sqrt())
                    .collect();
                let mut normalized = kernels::buffer(d * d);
                for r in 0..d {
                    for c in 0..d {
                        normalized[r * d + c] = delta[r] * regularized[r * d + c] * delta[c];
                    }
                }
                let mut column_sums = kernels::buffer(d);
                for row in normalized.chunks_exact(d) {
                    for (s, x) in column_sums.iter_mut().zip(row) {
                        *s += x;
                    }
                }
                let (column, max) =
                    column_sums
                        .iter()
                        .enumerate()
                        .fold((0, f32::NEG_INFINITY), |best, (c, &s)| {
                            if s > best.1 { (c, s) } else { best }
                        });
                let saved = SavedMatrix {
                    landmarks,
                    regularized,
                    delta,
                    normalized,
                    iterates: Vec::new(),
                    products: Vec::new(),
                    keys_values: Vec::new(),
                    context_inner: Vec::new(),
                    context: Vec::new(),
                };
                (saved, max, column)
            })
            .collect();

        // α: the largest column sum over all matrices (the first one on ties).
        let (mut alpha, mut argmax) = (f32::NEG_INFINITY, (0, 0));
        for (i, (_, max, column)) in phase1.iter().enumerate() {
            if *max > alpha {
                alpha = *max;
                argmax = (i, *column);
            }
        }

        // Phase 2: the iterative inverse, then out = A_Q · diag(δ) Zᵀ diag(δ) A_Kᵀ v̂.
        let mut out = kernels::buffer(count * n * p);
        let per_matrix: Vec<SavedMatrix> = phase1
            .into_par_iter()
            .zip(out.par_chunks_mut(n * p))
            .enumerate()
            .map(|(i, ((mut saved, _, _), out))| {
                let (iterates, products) =
                    newton_schulz(&saved.normalized, alpha, self.iterations, d);
                let (scaled_q, scaled_k, scaled_v) = self.scaled_inputs(i, dims, q, k, v);
                let mut sketch_buffer = kernels::buffer(n * d);
                sketch(&mut sketch_buffer, &scaled_k, &saved.landmarks, n, dims);
                let mut keys_values = kernels::buffer(d * p);
                kernels::matmul(
                    &mut keys_values,
                    MatRef::row_major(&sketch_buffer, n, d).t(),
                    MatRef::row_major(&scaled_v, n, p),
                    1.0,
                    false,
                );
                let scaled = scale_rows(&keys_values, &saved.delta, p);
                let inverse = iterates.last().expect("at least Z₀");
                let mut context_inner = kernels::buffer(d * p);
                kernels::matmul(
                    &mut context_inner,
                    MatRef::row_major(inverse, d, d).t(),
                    MatRef::row_major(&scaled, d, p),
                    1.0,
                    false,
                );
                let context = scale_rows(&context_inner, &saved.delta, p);
                sketch(&mut sketch_buffer, &scaled_q, &saved.landmarks, n, dims);
                kernels::matmul(
                    out,
                    MatRef::row_major(&sketch_buffer, n, d),
                    MatRef::row_major(&context, d, p),
                    1.0,
                    false,
                );
                saved.iterates = iterates;
                saved.products = products;
                saved.keys_values = keys_values;
                saved.context_inner = context_inner;
                saved.context = context;
                saved
            })
            .collect();

        (
            out,
            Saved {
                alpha,
                argmax,
                per_matrix,
            },
        )
    }
}

impl CustomOp3 for SkyformerOp {
    fn name(&self) -> &'static str {
        "seqmodels-skyformer"
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
        let (count, dims) = self.kernel.dims(l1.shape())?;
        let (out, saved) = self.kernel.forward(q, k, v, count, dims);
        *self
            .saved
            .lock()
            .expect("the saved-state lock is never poisoned") = Some(saved);
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
        let name = self.name();
        let shape = q.shape().clone();
        let (dq, dk, dv) = with_f32(q, name, |q| {
            with_f32(k, name, |k| {
                with_f32(v, name, |v| {
                    with_f32(grad, name, |grad| {
                        let (count, dims) = self.kernel.dims(&shape)?;
                        let guard = self
                            .saved
                            .lock()
                            .expect("the saved-state lock is never poisoned");
                        let Some(saved) = guard.as_ref() else {
                            candle_core::bail!("skyformer: backward pass without a forward pass");
                        };
                        Ok(self.kernel.backward(saved, q, k, v, grad, count, dims))
                    })
                })
            })
        })?;
        let device = q.device();
        Ok((
            Some(Tensor::from_vec(dq, &shape, device)?),
            Some(Tensor::from_vec(dk, &shape, device)?),
            Some(Tensor::from_vec(dv, &shape, device)?),
        ))
    }
}

/// Per-matrix gradients that phase B of the backward pass completes.
struct PartialGrads {
    normalized: Vec<f32>,
    delta: Vec<f32>,
    landmarks: Vec<f32>,
    alpha: f32,
}

impl SkyformerKernel {
    /// Gradients with respect to q, k and v. Phase A runs the chain back to N for every
    /// matrix. The gradient of α, summed over all matrices, then reaches the column that
    /// supplied α before phase B finishes the chain to the inputs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward(
        &self,
        saved: &Saved,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        grad: &[f32],
        count: usize,
        dims: Dims,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let Dims {
            heads,
            n,
            p,
            d,
            accumulation,
        } = dims;
        let mut dq = kernels::buffer(count * n * p);
        let mut dk = kernels::buffer(count * n * p);
        let mut dv = kernels::buffer(count * n * p);

        // Phase A: from the output back to N, the landmarks (through the sketches) and v̂.
        let partials: Vec<PartialGrads> = dq
            .par_chunks_mut(n * p)
            .zip(dk.par_chunks_mut(n * p))
            .zip(dv.par_chunks_mut(n * p))
            .enumerate()
            .map(|(i, ((d_scaled_q, d_scaled_k), d_scaled_v))| {
                let matrix = &saved.per_matrix[i];
                let (scaled_q, scaled_k, scaled_v) = self.scaled_inputs(i, dims, q, k, v);
                let grad = &grad[i * n * p..][..n * p];
                let mut d_landmarks = kernels::buffer(accumulation * d * p);
                let mut d_delta = kernels::buffer(d);

                // out = A_Q C.
                let mut sketch_buffer = kernels::buffer(n * d);
                sketch(&mut sketch_buffer, &scaled_q, &matrix.landmarks, n, dims);
                let mut d_sketch = kernels::buffer(n * d);
                kernels::matmul(
                    &mut d_sketch,
                    MatRef::row_major(grad, n, p),
                    MatRef::row_major(&matrix.context, d, p).t(),
                    1.0,
                    false,
                );
                let mut d_context = kernels::buffer(d * p);
                kernels::matmul(
                    &mut d_context,
                    MatRef::row_major(&sketch_buffer, n, d).t(),
                    MatRef::row_major(grad, n, p),
                    1.0,
                    false,
                );
                sketch_backward(
                    &d_sketch,
                    &sketch_buffer,
                    &scaled_q,
                    &matrix.landmarks,
                    d_scaled_q,
                    &mut d_landmarks,
                    n,
                    dims,
                );

                // C = δ ⊙ C₀ and C₀ = Zᵀ U with U = δ ⊙ W.
                let d_inner = scale_rows(&d_context, &matrix.delta, p);
                accumulate_row_dots(&mut d_delta, &d_context, &matrix.context_inner, p);
                let scaled_kv = scale_rows(&matrix.keys_values, &matrix.delta, p);
                let inverse = matrix.iterates.last().expect("at least Z₀");
                let mut d_inverse = kernels::buffer(d * d);
                kernels::matmul(
                    &mut d_inverse,
                    MatRef::row_major(&scaled_kv, d, p),
                    MatRef::row_major(&d_inner, d, p).t(),
                    1.0,
                    false,
                );
                let mut d_scaled_kv = kernels::buffer(d * p);
                kernels::matmul(
                    &mut d_scaled_kv,
                    MatRef::row_major(inverse, d, d),
                    MatRef::row_major(&d_inner, d, p),
                    1.0,
                    false,
                );
                let d_keys_values = scale_rows(&d_scaled_kv, &matrix.delta, p);
                accumulate_row_dots(&mut d_delta, &d_scaled_kv, &matrix.keys_values, p);

                // W = A_Kᵀ v̂.
                sketch(&mut sketch_buffer, &scaled_k, &matrix.landmarks, n, dims);
                kernels::matmul(
                    &mut d_sketch,
                    MatRef::row_major(&scaled_v, n, p),
                    MatRef::row_major(&d_keys_values, d, p).t(),
                    1.0,
                    false,
                );
                kernels::matmul(
                    d_scaled_v,
                    MatRef::row_major(&sketch_buffer, n, d),
                    MatRef::row_major(&d_keys_values, d, p),
                    1.0,
                    false,
                );
                sketch_backward(
                    &d_sketch,
                    &sketch_buffer,
                    &scaled_k,
                    &matrix.landmarks,
                    d_scaled_k,
                    &mut d_landmarks,
                    n,
                    dims,
                );

                let (d_normalized, d_alpha) = newton_schulz_backward(
                    &matrix.normalized,
                    saved.alpha,
                    &matrix.iterates,
                    &matrix.products,
                    d_inverse,
                    d,
                );
                PartialGrads {
                    normalized: d_normalized,
                    delta: d_delta,
                    landmarks: d_landmarks,
                    alpha: d_alpha,
                }
            })
            .collect();

        // α is the column sum Σ_r N[r, c*] of one matrix.
        let d_alpha: f32 = partials.iter().map(|g| g.alpha).sum();

        // Phase B: N → M_γ and δ → the landmarks, then the input scaling.
        dq.par_chunks_mut(n * p)
            .zip(dk.par_chunks_mut(n * p))
            .zip(dv.par_chunks_mut(n * p))
            .zip(partials.into_par_iter())
            .enumerate()
            .for_each(|(i, (((d_scaled_q, d_scaled_k), d_scaled_v), partial))| {
                let matrix = &saved.per_matrix[i];
                let PartialGrads {
                    normalized: mut d_normalized,
                    delta: mut d_delta,
                    landmarks: mut d_landmarks,
                    ..
                } = partial;
                if i == saved.argmax.0 {
                    for r in 0..d {
                        d_normalized[r * d + saved.argmax.1] += d_alpha;
                    }
                }

                // N = δ_r M_γ[r, c] δ_c.
                let (delta, regularized) = (&matrix.delta, &matrix.regularized);
                let mut d_regularized = kernels::buffer(d * d);
                for r in 0..d {
                    for c in 0..d {
                        let g = d_normalized[r * d + c];
                        d_regularized[r * d + c] = g * delta[r] * delta[c];
                        d_delta[r] += g * regularized[r * d + c] * delta[c];
                        d_delta[c] += g * regularized[r * d + c] * delta[r];
                    }
                }
                // δ = (1/s)^½ with s the row sums of M_γ: ds = −½ δ³ dδ.
                for r in 0..d {
                    let d_sum = -0.5 * delta[r] * delta[r] * delta[r] * d_delta[r];
                    for c in 0..d {
                        d_regularized[r * d + c] += d_sum;
                    }
                }
                // M = Σ_{a,a'} κ(L_a, L_a').
                for a in 0..accumulation {
                    for b in 0..accumulation {
                        let rows = &matrix.landmarks[a * d * p..][..d * p];
                        let cols = &matrix.landmarks[b * d * p..][..d * p];
                        let single = Dims {
                            accumulation: 1,
                            ..dims
                        };
                        let mut kernel = kernels::buffer(d * d);
                        sketch(&mut kernel, rows, cols, d, single);
                        let mut d_rows = kernels::buffer(d * p);
                        let mut d_cols = kernels::buffer(d * p);
                        kernel_backward(
                            &d_regularized,
                            &kernel,
                            rows,
                            cols,
                            &mut d_rows,
                            &mut d_cols,
                            d,
                            d,
                            p,
                        );
                        for (x, y) in d_landmarks[a * d * p..][..d * p].iter_mut().zip(&d_rows) {
                            *x += y;
                        }
                        for (x, y) in d_landmarks[b * d * p..][..d * p].iter_mut().zip(&d_cols) {
                            *x += y;
                        }
                    }
                }

                // The landmarks are rows of [x̂_Q; x̂_K].
                for (a, set) in self.landmarks[i / heads].iter().enumerate() {
                    for (c, &row) in set.iter().enumerate() {
                        let source = &d_landmarks[(a * d + c) * p..][..p];
                        let target = if row < n {
                            &mut d_scaled_q[row * p..][..p]
                        } else {
                            &mut d_scaled_k[(row - n) * p..][..p]
                        };
                        for (t, s) in target.iter_mut().zip(source) {
                            *t += s;
                        }
                    }
                }

                // x̂ = c·m⊙x and v̂ = m⊙v.
                let mask = &self.mask[(i / heads) * n..][..n];
                with_simd(|| {
                    for (row, &m) in mask.iter().enumerate() {
                        let qk_factor = m * self.normalizer;
                        for j in row * p..(row + 1) * p {
                            d_scaled_q[j] *= qk_factor;
                            d_scaled_k[j] *= qk_factor;
                            d_scaled_v[j] *= m;
                        }
                    }
                });
            });
        (dq, dk, dv)
    }
}

/// Backward of A = Σ_a κ(x, L_a) given dA; `sketch_value` is A (used directly when r = 1).
#[allow(clippy::too_many_arguments)]
fn sketch_backward(
    d_sketch: &[f32],
    sketch_value: &[f32],
    x: &[f32],
    landmarks: &[f32],
    dx: &mut [f32],
    d_landmarks: &mut [f32],
    m: usize,
    dims: Dims,
) {
    let Dims {
        p, d, accumulation, ..
    } = dims;
    for a in 0..accumulation {
        let set = &landmarks[a * d * p..][..d * p];
        let d_set = &mut d_landmarks[a * d * p..][..d * p];
        if accumulation == 1 {
            kernel_backward(d_sketch, sketch_value, x, set, dx, d_set, m, d, p);
        } else {
            let mut kernel = kernels::buffer(m * d);
            sketch(
                &mut kernel,
                x,
                set,
                m,
                Dims {
                    accumulation: 1,
                    ..dims
                },
            );
            kernel_backward(d_sketch, &kernel, x, set, dx, d_set, m, d, p);
        }
    }
}

/// dst[r] += Σ_j a[r, j] · b[r, j] for [d, p] matrices.
fn accumulate_row_dots(dst: &mut [f32], a: &[f32], b: &[f32], p: usize) {
    for ((out, a), b) in dst.iter_mut().zip(a.chunks_exact(p)).zip(b.chunks_exact(p)) {
        *out += kernels::dot(a, b);
    }
}

/// Rows of a [d, p] matrix scaled by `factors` [d].
fn scale_rows(x: &[f32], factors: &[f32], p: usize) -> Vec<f32> {
    x.chunks_exact(p)
        .zip(factors)
        .flat_map(|(row, f)| row.iter().map(move |v| v * f))
        .collect()
}
