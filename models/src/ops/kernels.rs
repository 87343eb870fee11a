//! Scalar building blocks of the CPU kernels, written so that LLVM vectorises them.
//!
//! Loops call these through [`with_simd`], which runs a closure inside a function
//! compiled for AVX-512 or AVX2+FMA when the CPU has them. The inlined bodies are then
//! vectorised for that instruction set. The functions avoid libm calls and branches
//! for the same reason.

/// Runs `f` compiled for the widest x86-64 vector extension the CPU supports.
#[inline(always)]
pub(crate) fn with_simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { run_avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { run_avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,bmi2")]
unsafe fn run_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,bmi2")]
unsafe fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Lanes of the accumulator arrays in reductions; independent lanes let LLVM keep
/// one vector register per lane group without reassociating float additions.
pub(crate) const LANES: usize = 16;

/// Sum of a slice, accumulated in [`LANES`] independent partial sums.
#[inline(always)]
pub(crate) fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for i in 0..LANES {
            acc[i] += chunk[i];
        }
    }
    let mut total = tail.iter().sum::<f32>();
    for lane in acc {
        total += lane;
    }
    total
}

/// Dot product of two equally long slices, in [`LANES`] partial sums.
#[inline(always)]
pub(crate) fn dot(xs: &[f32], ys: &[f32]) -> f32 {
    debug_assert_eq!(xs.len(), ys.len());
    let mut acc = [0f32; LANES];
    let n = xs.len() / LANES * LANES;
    for (x, y) in xs[..n].chunks_exact(LANES).zip(ys[..n].chunks_exact(LANES)) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut total = 0f32;
    for i in n..xs.len() {
        total += xs[i] * ys[i];
    }
    for lane in acc {
        total += lane;
    }
    total
}

/// Maximum of a non-empty slice.
#[inline(always)]
pub(crate) fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for i in 0..LANES {
            acc[i] = acc[i].max(chunk[i]);
        }
    }
    let mut best = f32::NEG_INFINITY;
    for x in tail.iter().chain(acc.iter()) {
        best = best.max(*x);
    }
    best
}

const MAGIC_ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer.

/// e^x in float32 with a relative error of about 1e-7 (Cephes' range reduction and
/// polynomial). Results below f32's smallest normal number (x < −87.34) are 0.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const HI: f32 = 88.0;
    const LO: f32 = -87.336_55;
    let underflow = x < LO;
    let x = x.clamp(LO, HI);

    // x = n·ln2 + r with |r| ≤ ln2/2; ln2 is split in two parts for accuracy.
    let shifted = x * std::f32::consts::LOG2_E + MAGIC_ROUND;
    let n = shifted - MAGIC_ROUND;
    let n_int = (shifted.to_bits() as i32).wrapping_sub(MAGIC_ROUND.to_bits() as i32);
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;

    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5e-1;
    let y = p * (r * r) + r + 1.0;

    let scale = f32::from_bits(((n_int + 127) as u32) << 23);
    if underflow { 0.0 } else { y * scale }
}

/// erfc(z) for z ≥ 0 with a relative error below about 2e-7 (the Chebyshev fit of
/// Numerical Recipes' `erfcc`), so tails keep their relative accuracy.
#[inline(always)]
pub(crate) fn erfc_nonneg(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let mut p = 0.170_872_77f32;
    p = p * t - 0.822_152_23;
    p = p * t + 1.488_515_9;
    p = p * t - 1.135_204;
    p = p * t + 0.278_868_07;
    p = p * t - 0.186_288_06;
    p = p * t + 0.096_784_18;
    p = p * t + 0.374_091_96;
    p = p * t + 1.000_023_7;
    p = p * t - 1.265_512_2;
    t * exp(-z * z + p)
}

/// Computes the standard normal CDF Φ(x) = ½ erfc(−x/√2), accurate in both tails.
#[inline(always)]
pub(crate) fn normal_cdf(x: f32) -> f32 {
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let half_tail = 0.5 * erfc_nonneg(z.abs());
    if x >= 0.0 { 1.0 - half_tail } else { half_tail }
}

/// Computes the standard normal density φ(x).
#[inline(always)]
pub(crate) fn normal_pdf(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    INV_SQRT_2PI * exp(-0.5 * x * x)
}

/// SplitMix64's output function, used to derive independent seeds.
#[inline(always)]
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes (seed, `index`) to a uniform draw in [0, 1) for position `index` of a stream with the given seed.
/// The 32-bit hash (Wellons' lowbias32) vectorises on AVX2 and AVX-512.
#[inline(always)]
pub(crate) fn hashed_uniform(stream_seed: u32, index: u32) -> f32 {
    let mut x = index.wrapping_mul(0x9E37_79B9) ^ stream_seed;
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^= x >> 16;
    (x >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Seed of dropout stream `stream` (a row or a block of elements) under `seed`.
#[inline(always)]
pub(crate) fn stream_seed(seed: u64, stream: u64) -> u32 {
    splitmix64(seed ^ splitmix64(stream)) as u32
}

/// Multiplier for element `index` of a dropout stream: 1/(1 − p) if kept, else 0.
#[inline(always)]
pub(crate) fn dropout_factor(stream_seed: u32, index: u32, p: f32, scale: f32) -> f32 {
    if hashed_uniform(stream_seed, index) >= p {
        scale
    } else {
        0.0
    }
}

/// Elements that share one seed of the dropout hash.
pub(crate) const DROPOUT_BLOCK: usize = 4096;

/// Multiplies `values[i]` by the inverted-dropout factor of flat element `start + i`
/// of a tensor: the mask is a hash of (`seed`, element index), so any span of a tensor
/// gets the same factors wherever it is processed.
pub(crate) fn apply_dropout_span(values: &mut [f32], start: usize, p: f32, seed: u64) {
    let scale = 1.0 / (1.0 - p);
    let mut index = start;
    let mut rest = values;
    while !rest.is_empty() {
        let offset = index % DROPOUT_BLOCK;
        let take = (DROPOUT_BLOCK - offset).min(rest.len());
        let (head, tail) = rest.split_at_mut(take);
        let stream = stream_seed(seed, (index / DROPOUT_BLOCK) as u64);
        with_simd(|| {
            for (j, v) in head.iter_mut().enumerate() {
                *v *= dropout_factor(stream, (offset + j) as u32, p, scale);
            }
        });
        index += take;
        rest = tail;
    }
}

/// Buffers from this size on are backed by transparent huge pages where the kernel
/// allows it (Linux `madvise`).
const HUGE_PAGE_MIN_BYTES: usize = 4 << 20;
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// A zeroed float32 buffer. Large buffers get `MADV_HUGEPAGE` before their first
/// write, so filling them takes one page fault per 2 MiB instead of per 4 KiB; on a
/// training step that allocates gigabytes of fresh tensors the 4 KiB faults cost more
/// time than many of the kernels.
pub(crate) fn buffer(len: usize) -> Vec<f32> {
    let buffer = vec![0f32; len];
    let bytes = len * std::mem::size_of::<f32>();
    #[cfg(target_os = "linux")]
    if bytes >= HUGE_PAGE_MIN_BYTES {
        let start = (buffer.as_ptr() as usize).next_multiple_of(HUGE_PAGE_BYTES);
        let end = (buffer.as_ptr() as usize + bytes) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
        if end > start {
            // SAFETY: the range lies inside the buffer's allocation; MADV_HUGEPAGE is
            // advice about page size and does not change the memory's contents.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    let _ = bytes;
    buffer
}

/// A strided read-only matrix view: element (i, j) is `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// Views `data` as a row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// Returns the transpose as a view.
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride;
            assert!(last < self.data.len(), "matrix view exceeds its buffer");
        }
    }
}

/// dst = alpha·(a·b), or dst += alpha·(a·b) with `accumulate`; dst is row-major
/// `a.rows × b.cols`. Runs on the calling thread: callers parallelise over matrices.
pub(crate) fn matmul(dst: &mut [f32], a: MatRef, b: MatRef, alpha: f32, accumulate: bool) {
    assert_eq!(a.cols, b.rows, "matmul inner dimensions differ");
    assert_eq!(
        dst.len(),
        a.rows * b.cols,
        "matmul destination has the wrong size"
    );
    a.check();
    b.check();
    if a.rows == 0 || b.cols == 0 {
        return;
    }
    if a.cols == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    // SAFETY: the views were bounds-checked above and dst has a.rows × b.cols elements
    // in row-major order; gemm reads and writes only within those extents.
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            dst.as_mut_ptr(),
            1,
            b.cols as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let exact = (x as f64).exp();
            let rel = ((exp(x) as f64 - exact) / exact).abs();
            worst = worst.max(rel);
            x += 0.013;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp(-1e9), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn normal_cdf_is_accurate_in_both_tails() {
        let mut x = -9.0f32;
        while x < 9.0 {
            let exact =
                0.5 * candle_core::cpu::erf::erfc_f64(-(x as f64) / std::f64::consts::SQRT_2);
            let got = normal_cdf(x) as f64;
            let rel = ((got - exact) / exact).abs();
            // In the tails the float32 rounding of x²/2 dominates the relative error.
            let tol = 3e-7 * (1.0 + (x * x) as f64);
            assert!(rel < tol, "x = {x}: {got} vs {exact}");
            x += 0.01;
        }
    }

    #[test]
    fn dropout_keeps_about_one_minus_p() {
        let seed = stream_seed(7, 3);
        let kept = (0..100_000u32)
            .filter(|&i| dropout_factor(seed, i, 0.1, 1.0) > 0.0)
            .count();
        let fraction = kept as f64 / 100_000.0;
        assert!((fraction - 0.9).abs() < 0.005, "kept fraction {fraction}");
    }

    #[test]
    fn matmul_handles_transposed_views() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3×2
        let mut out = [0f32; 4];
        matmul(
            &mut out,
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&b, 3, 2),
            1.0,
            false,
        );
        assert_eq!(out, [4.0, 5.0, 10.0, 11.0]);
        // (aᵀ)ᵀ · b through two transposed views gives the same result.
        let mut out_t = [0f32; 4];
        let a_t = MatRef::row_major(&a, 2, 3).t();
        matmul(&mut out_t, a_t.t(), MatRef::row_major(&b, 3, 2), 1.0, false);
        assert_eq!(out_t, out);
    }
}
