//! The fused CPU kernels against compositions of candle operations: outputs and gradients.

mod common;

use candle_core::{Device, Result, Tensor, Var};
use common::to_f64;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use seqmodels::attention::{NystromAttention, exact_softmax_attention};
use seqmodels::ops;

fn random(shape: &[usize], seed: u64, scale: f32) -> Result<Tensor> {
    let mut rng = StdRng::seed_from_u64(seed);
    let count = shape.iter().product();
    let values: Vec<f32> = (0..count)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * scale)
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu)
}

#[track_caller]
fn assert_all_close(what: &str, actual: &Tensor, expected: &Tensor, tol: f64) {
    assert_eq!(actual.dims(), expected.dims(), "{what}: shape");
    let (a, e) = (to_f64(actual), to_f64(expected));
    let scale = e.iter().fold(1e-12f64, |m, x| m.max(x.abs()));
    for (i, (x, y)) in a.iter().zip(&e).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}[{i}]: {x} vs {y} (scale {scale})"
        );
    }
}

/// Gradients of Σ out ⊙ w (w fixed random) with respect to each input variable.
fn gradients(inputs: &[&Var], out: &Tensor, seed: u64) -> Result<Vec<Tensor>> {
    let weights = random(out.dims(), seed, 1.0)?;
    let grads = (out * weights)?.sum_all()?.backward()?;
    Ok(inputs
        .iter()
        .map(|v| grads.get(v.as_tensor()).expect("gradient").clone())
        .collect())
}

#[test]
fn layer_norm_matches_composition() -> Result<()> {
    let x = Var::from_tensor(&(random(&[3, 5, 64], 1, 2.0)? + 0.5)?)?;
    let w = Var::from_tensor(&(random(&[64], 2, 0.5)? + 1.0)?)?;
    let b = Var::from_tensor(&random(&[64], 3, 0.5)?)?;
    let fused = ops::layer_norm(&x, &w, &b, 1e-5)?;
    let reference = ops::reference::layer_norm(&x, &w, &b, 1e-5)?;
    assert_all_close("forward", &fused, &reference, 1e-6);
    let g_fused = gradients(&[&x, &w, &b], &fused, 9)?;
    let g_ref = gradients(&[&x, &w, &b], &reference, 9)?;
    for (name, (f, r)) in ["dx", "dweight", "dbias"]
        .iter()
        .zip(g_fused.iter().zip(&g_ref))
    {
        assert_all_close(name, f, r, 1e-5);
    }
    Ok(())
}

#[test]
fn gelu_matches_erf_form() -> Result<()> {
    let x = Var::from_tensor(&random(&[4, 1000], 4, 6.0)?)?;
    let fused = ops::gelu(&x)?;
    let reference = x.as_tensor().gelu_erf()?;
    assert_all_close("forward", &fused, &reference, 1e-6);
    let g_fused = gradients(&[&x], &fused, 5)?;
    let g_ref = gradients(&[&x], &reference, 5)?;
    assert_all_close("dx", &g_fused[0], &g_ref[0], 1e-5);
    Ok(())
}

#[test]
fn dropout_mask_is_reproducible_and_scaled() -> Result<()> {
    let x = Var::from_tensor(&(random(&[7, 3000], 6, 1.0)? + 2.0)?)?;
    let fused = ops::dropout(&x, 0.1, 1234)?;
    let reference = ops::reference::dropout(&x, 0.1, 1234)?;
    assert_all_close("forward", &fused, &reference, 0.0);

    // Kept elements are scaled by 1/(1 − p); about 10 % are dropped.
    let ratio = (fused.clone() / x.as_tensor())?;
    let ratios = to_f64(&ratio);
    let dropped = ratios.iter().filter(|r| **r == 0.0).count() as f64 / ratios.len() as f64;
    assert!((dropped - 0.1).abs() < 0.01, "dropped fraction {dropped}");
    assert!(
        ratios
            .iter()
            .all(|r| *r == 0.0 || (r - 1.0 / 0.9).abs() < 1e-6)
    );

    // Another seed gives another mask; the gradient uses the same mask as the forward.
    assert_ne!(to_f64(&ops::dropout(&x, 0.1, 99)?), to_f64(&fused));
    let g = gradients(&[&x], &fused, 7)?;
    let g_ref = gradients(&[&x], &reference, 7)?;
    assert_all_close("dx", &g[0], &g_ref[0], 1e-6);
    Ok(())
}

fn attention_inputs() -> Result<(Var, Var, Var, Tensor)> {
    let (b, h, n, p) = (2, 3, 50, 16);
    let q = Var::from_tensor(&random(&[b, h, n, p], 10, 1.0)?)?;
    let k = Var::from_tensor(&random(&[b, h, n, p], 11, 1.0)?)?;
    let v = Var::from_tensor(&random(&[b, h, n, p], 12, 1.0)?)?;
    let mask: Vec<f32> = (0..b * n)
        .map(|i| if i / n == 1 && i % n >= 37 { 0.0 } else { 1.0 })
        .collect();
    Ok((q, k, v, Tensor::from_vec(mask, (b, n), &Device::Cpu)?))
}

#[test]
fn softmax_attention_matches_composition() -> Result<()> {
    let (q, k, v, mask) = attention_inputs()?;
    for dropout in [None, Some((0.1, 77u64))] {
        let fused = ops::softmax_attention(&q, &k, &v, &mask, 0.25, dropout)?;
        let reference = ops::reference::softmax_attention(&q, &k, &v, &mask, 0.25, dropout)?;
        assert_all_close("forward", &fused, &reference, 1e-5);
        let g_fused = gradients(&[&q, &k, &v], &fused, 13)?;
        let g_ref = gradients(&[&q, &k, &v], &reference, 13)?;
        for (name, (f, r)) in ["dq", "dk", "dv"].iter().zip(g_fused.iter().zip(&g_ref)) {
            assert_all_close(name, f, r, 1e-5);
        }
    }
    Ok(())
}

#[test]
fn rbf_kernel_matches_composition() -> Result<()> {
    let x = Var::from_tensor(&random(&[2, 3, 40, 8], 20, 0.8)?)?;
    let l = Var::from_tensor(&random(&[2, 3, 12, 8], 21, 0.8)?)?;
    let fused = ops::rbf_kernel(&x, &l)?;
    let reference = ops::reference::rbf_kernel(&x, &l)?;
    assert_all_close("forward", &fused, &reference, 1e-6);
    let g_fused = gradients(&[&x, &l], &fused, 22)?;
    let g_ref = gradients(&[&x, &l], &reference, 22)?;
    assert_all_close("dx", &g_fused[0], &g_ref[0], 1e-5);
    assert_all_close("dl", &g_fused[1], &g_ref[1], 1e-5);
    Ok(())
}

#[test]
fn fused_ops_reject_bad_shapes() -> Result<()> {
    let x = random(&[2, 8], 1, 1.0)?;
    let err =
        ops::layer_norm(&x, &random(&[4], 2, 1.0)?, &random(&[8], 3, 1.0)?, 1e-5).unwrap_err();
    assert!(err.to_string().contains("last dimension 8"), "{err}");
    let err = ops::dropout(&x, 1.0, 0).unwrap_err();
    assert!(err.to_string().contains("[0, 1)"), "{err}");
    let q = random(&[1, 1, 4, 2], 4, 1.0)?;
    let err = ops::softmax_attention(&q, &q, &q, &random(&[1, 5], 5, 1.0)?, 1.0, None).unwrap_err();
    assert!(err.to_string().contains("mask must be [b, n]"), "{err}");
    let err =
        ops::rbf_kernel(&random(&[2, 3, 4], 6, 1.0)?, &random(&[3, 3, 4], 7, 1.0)?).unwrap_err();
    assert!(err.to_string().contains("equal batch dimensions"), "{err}");
    Ok(())
}

#[test]
fn nystrom_with_all_landmarks_is_exact_softmax() -> Result<()> {
    let (q, k, v, mask) = attention_inputs()?;
    let (q, k, v) = (q.as_tensor(), k.as_tensor(), v.as_tensor());
    // Nyström zeroes padded query rows before attending, so compare real queries only.
    let query_mask = mask.reshape((2, 1, 50, 1))?;
    let exact = exact_softmax_attention(q, k, v, &mask)?.broadcast_mul(&query_mask)?;
    let full = NystromAttention::new(50, 50, 16)
        .forward(q, k, v, &mask)?
        .broadcast_mul(&query_mask)?;
    assert_all_close("nystrom d = n", &full, &exact, 1e-5);

    // Fewer landmarks approximate the exact output; the error grows as d shrinks.
    let error = |d: usize| -> Result<f64> {
        let approx = NystromAttention::new(d, 50, 16)
            .forward(q, k, v, &mask)?
            .broadcast_mul(&query_mask)?;
        Ok((approx - &exact)?
            .sqr()?
            .sum_all()?
            .sqrt()?
            .to_scalar::<f32>()? as f64)
    };
    let (coarse, fine) = (error(5)?, error(25)?);
    let helper = seqmodels::attention::relative_error(
        &NystromAttention::new(5, 50, 16).forward(q, k, v, &mask)?,
        &exact_softmax_attention(q, k, v, &mask)?,
        &mask,
    )?;
    let norm = exact.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()? as f64;
    assert!(
        (helper - coarse / norm).abs() < 1e-5 * (1.0 + helper),
        "{helper} vs {}",
        coarse / norm
    );
    assert!(
        fine < coarse,
        "25 landmarks ({fine}) should beat 5 ({coarse})"
    );
    let err = NystromAttention::new(5, 64, 16)
        .forward(q, k, v, &mask)
        .unwrap_err();
    assert!(
        err.to_string().contains("exactly max_seq_len = 64"),
        "{err}"
    );
    Ok(())
}

#[test]
fn skyformer_fused_matches_composition() -> Result<()> {
    use seqmodels::attention::{landmark_indices, sequence_lengths, skyformer_attention};
    let (q, k, v, mask) = attention_inputs()?;
    let lengths = sequence_lengths(&mask)?;
    for (accumulation, features) in [(1, 8), (2, 5)] {
        let mut rng = StdRng::seed_from_u64(accumulation as u64);
        let uniforms: Vec<f32> = (0..accumulation * features).map(|_| rng.random()).collect();
        let landmarks = landmark_indices(&lengths, 50, accumulation, features, &uniforms);
        let fused = ops::skyformer(&q, &k, &v, &mask, &landmarks)?;
        let reference = skyformer_attention(&q, &k, &v, &mask, &landmarks)?.output;
        assert_all_close(
            &format!("forward r={accumulation}"),
            &fused,
            &reference,
            1e-6,
        );
        let g_fused = gradients(&[&q, &k, &v], &fused, 31)?;
        let g_ref = gradients(&[&q, &k, &v], &reference, 31)?;
        for (name, (f, r)) in ["dq", "dk", "dv"].iter().zip(g_fused.iter().zip(&g_ref)) {
            assert_all_close(&format!("{name} r={accumulation}"), f, r, 1e-5);
        }
    }
    Ok(())
}

#[test]
fn linear_matches_composition() -> Result<()> {
    let x = Var::from_tensor(&random(&[2500, 24], 40, 1.0)?)?;
    let w = Var::from_tensor(&random(&[10, 24], 41, 0.3)?)?;
    let b = Var::from_tensor(&random(&[10], 42, 0.3)?)?;
    let fused = ops::linear(&x, &w, &b)?;
    let reference = x
        .as_tensor()
        .matmul(&w.as_tensor().t()?)?
        .broadcast_add(b.as_tensor())?;
    assert_all_close("forward", &fused, &reference, 1e-6);
    let g_fused = gradients(&[&x, &w, &b], &fused, 43)?;
    let g_ref = gradients(&[&x, &w, &b], &reference, 43)?;
    for (name, (f, r)) in ["dx", "dweight", "dbias"]
        .iter()
        .zip(g_fused.iter().zip(&g_ref))
    {
        assert_all_close(name, f, r, 1e-5);
    }
    Ok(())
}

#[test]
fn mlp_block_matches_composition_with_dropout() -> Result<()> {
    let x = Var::from_tensor(&random(&[3, 700, 16], 50, 1.0)?)?;
    let w1 = Var::from_tensor(&random(&[24, 16], 51, 0.3)?)?;
    let b1 = Var::from_tensor(&random(&[24], 52, 0.3)?)?;
    let w2 = Var::from_tensor(&random(&[16, 24], 53, 0.3)?)?;
    let b2 = Var::from_tensor(&random(&[16], 54, 0.3)?)?;
    for dropout in [
        None,
        Some(ops::MlpDropout {
            p: 0.1,
            hidden_seed: 5,
            output_seed: 6,
        }),
    ] {
        let fused = ops::mlp_block(&x, &w1, &b1, &w2, &b2, dropout)?;
        // The same layers as separate operations, with the same dropout seeds.
        let hidden = ops::gelu(
            &x.as_tensor()
                .broadcast_matmul(&w1.as_tensor().t()?)?
                .broadcast_add(b1.as_tensor())?,
        )?;
        let hidden = match dropout {
            Some(d) => ops::dropout(&hidden, d.p, d.hidden_seed)?,
            None => hidden,
        };
        let out = hidden
            .broadcast_matmul(&w2.as_tensor().t()?)?
            .broadcast_add(b2.as_tensor())?;
        let reference = match dropout {
            Some(d) => ops::dropout(&out, d.p, d.output_seed)?,
            None => out,
        };
        assert_all_close("forward", &fused, &reference, 1e-5);
        let vars = [&x, &w1, &b1, &w2, &b2];
        let g_fused = gradients(&vars, &fused, 55)?;
        let g_ref = gradients(&vars, &reference, 55)?;
        for (name, (f, r)) in ["dx", "dw1", "db1", "dw2", "db2"]
            .iter()
            .zip(g_fused.iter().zip(&g_ref))
        {
            assert_all_close(name, f, r, 1e-5);
        }
    }
    Ok(())
}

#[test]
fn attention_block_matches_separate_operations() -> Result<()> {
    use seqmodels::attention::{landmark_indices, sequence_lengths};
    let (b, n, dim, heads) = (2, 40, 12, 2);
    let x = Var::from_tensor(&random(&[b, n, dim], 60, 1.0)?)?;
    let w = Var::from_tensor(&random(&[3 * dim, dim], 61, 0.4)?)?;
    let bias = Var::from_tensor(&random(&[3 * dim], 62, 0.2)?)?;
    let mask: Vec<f32> = (0..b * n)
        .map(|i| if i / n == 1 && i % n >= 30 { 0.0 } else { 1.0 })
        .collect();
    let mask = Tensor::from_vec(mask, (b, n), &Device::Cpu)?;
    let landmarks = landmark_indices(
        &sequence_lengths(&mask)?,
        n,
        1,
        6,
        &[0.1, 0.5, 0.9, 0.3, 0.7, 0.2],
    );
    let kernels = [
        ops::BlockKernel::Softmax {
            scale: 0.4,
            dropout: None,
        },
        ops::BlockKernel::Softmax {
            scale: 0.4,
            dropout: Some((0.1, 9)),
        },
        ops::BlockKernel::Skyformer {
            landmarks: &landmarks,
        },
    ];
    for kernel in kernels {
        let fused = ops::attention_block(&x, &w, &bias, &mask, heads, kernel)?;
        // Projections, head split, the kernel op and the head merge, one by one.
        let qkv = x
            .as_tensor()
            .broadcast_matmul(&w.as_tensor().t()?)?
            .broadcast_add(bias.as_tensor())?;
        let split = |i: usize| {
            qkv.narrow(2, i * dim, dim)?
                .reshape((b, n, heads, dim / heads))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (split(0)?, split(1)?, split(2)?);
        let out = match kernel {
            ops::BlockKernel::Softmax { scale, dropout } => {
                ops::softmax_attention(&q, &k, &v, &mask, scale, dropout)?
            }
            ops::BlockKernel::Skyformer { landmarks } => {
                ops::skyformer(&q, &k, &v, &mask, landmarks)?
            }
        };
        let reference = out.transpose(1, 2)?.reshape((b, n, dim))?;
        assert_all_close(&format!("{kernel:?} forward"), &fused, &reference, 1e-5);
        let g_fused = gradients(&[&x, &w, &bias], &fused, 63)?;
        let g_ref = gradients(&[&x, &w, &bias], &reference, 63)?;
        for (name, (f, r)) in ["dx", "dw", "db"].iter().zip(g_fused.iter().zip(&g_ref)) {
            assert_all_close(&format!("{kernel:?} {name}"), f, r, 1e-5);
        }
    }
    Ok(())
}

#[test]
fn sublayers_match_separate_operations() -> Result<()> {
    use seqmodels::attention::{landmark_indices, sequence_lengths};
    let (b, n, dim, heads, hidden) = (2, 40, 12, 2, 20);
    let x = Var::from_tensor(&random(&[b, n, dim], 70, 1.0)?)?;
    let gamma = Var::from_tensor(&(random(&[dim], 71, 0.2)? + 1.0)?)?;
    let beta = Var::from_tensor(&random(&[dim], 72, 0.2)?)?;
    let norm = ops::NormParams {
        weight: &gamma,
        bias: &beta,
        eps: 1e-5,
    };

    // MLP sub-layer: x + MLP(LN(x)).
    let w1 = Var::from_tensor(&random(&[hidden, dim], 73, 0.3)?)?;
    let b1 = Var::from_tensor(&random(&[hidden], 74, 0.3)?)?;
    let w2 = Var::from_tensor(&random(&[dim, hidden], 75, 0.3)?)?;
    let b2 = Var::from_tensor(&random(&[dim], 76, 0.3)?)?;
    let dropout = Some(ops::MlpDropout {
        p: 0.1,
        hidden_seed: 7,
        output_seed: 8,
    });
    let fused = ops::mlp_sublayer(&x, norm, &w1, &b1, &w2, &b2, dropout)?;
    let normed = ops::layer_norm(&x, &gamma, &beta, 1e-5)?;
    let reference = (ops::mlp_block(&normed, &w1, &b1, &w2, &b2, dropout)? + x.as_tensor())?;
    assert_all_close("mlp forward", &fused, &reference, 1e-5);
    let vars = [&x, &gamma, &beta, &w1, &b1, &w2, &b2];
    let (g_fused, g_ref) = (
        gradients(&vars, &fused, 77)?,
        gradients(&vars, &reference, 77)?,
    );
    for (i, (f, r)) in g_fused.iter().zip(&g_ref).enumerate() {
        assert_all_close(&format!("mlp grad {i}"), f, r, 1e-5);
    }

    // Attention sub-layer: x + dropout(ff(attention(LN(x)))).
    let w_qkv = Var::from_tensor(&random(&[3 * dim, dim], 80, 0.4)?)?;
    let b_qkv = Var::from_tensor(&random(&[3 * dim], 81, 0.2)?)?;
    let w_ff = Var::from_tensor(&random(&[dim, dim], 82, 0.3)?)?;
    let b_ff = Var::from_tensor(&random(&[dim], 83, 0.2)?)?;
    let mask: Vec<f32> = (0..b * n)
        .map(|i| if i / n == 1 && i % n >= 30 { 0.0 } else { 1.0 })
        .collect();
    let mask = Tensor::from_vec(mask, (b, n), &Device::Cpu)?;
    let landmarks = landmark_indices(
        &sequence_lengths(&mask)?,
        n,
        1,
        6,
        &[0.1, 0.5, 0.9, 0.3, 0.7, 0.2],
    );
    for kernel in [
        ops::BlockKernel::Softmax {
            scale: 0.4,
            dropout: Some((0.1, 9)),
        },
        ops::BlockKernel::Skyformer {
            landmarks: &landmarks,
        },
    ] {
        let dropout = Some((0.1, 11));
        let fused = ops::attention_sublayer(
            &x, norm, &w_qkv, &b_qkv, &w_ff, &b_ff, &mask, heads, kernel, dropout,
        )?;
        let normed = ops::layer_norm(&x, &gamma, &beta, 1e-5)?;
        let attn = ops::attention_block(&normed, &w_qkv, &b_qkv, &mask, heads, kernel)?;
        let projected =
            ops::linear(&attn.reshape((b * n, dim))?, &w_ff, &b_ff)?.reshape((b, n, dim))?;
        let reference = (ops::dropout(&projected, 0.1, 11)? + x.as_tensor())?;
        assert_all_close(&format!("{kernel:?} forward"), &fused, &reference, 1e-5);
        let vars = [&x, &gamma, &beta, &w_qkv, &b_qkv, &w_ff, &b_ff];
        let (g_fused, g_ref) = (
            gradients(&vars, &fused, 84)?,
            gradients(&vars, &reference, 84)?,
        );
        for (i, (f, r)) in g_fused.iter().zip(&g_ref).enumerate() {
            assert_all_close(&format!("{kernel:?} grad {i}"), f, r, 1e-5);
        }
    }
    Ok(())
}
