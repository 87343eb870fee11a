//! The attention kernels against outputs of the official PyTorch modules on fixed inputs.

mod common;

use candle_core::{Device, Result, Tensor};
use common::*;
use seqmodels::ForwardContext;
use seqmodels::attention::{
    InverseInit, KernelizedAttention, Skyformer, SoftmaxAttention, iterative_inv, landmark_indices,
    sequence_lengths, skyformer_attention,
};

const TOL: f64 = 1e-5;

#[test]
fn inputs_match_fixture_checks() -> Result<()> {
    let fixtures = fixtures();
    let (q, k, v, _) = attention_inputs(&Device::Cpu)?;
    for (name, tensor) in [("Q", &q), ("K", &k), ("V", &v)] {
        // The inputs are exact float32 roundings, so they agree to float32 precision.
        assert_matches_stats(
            name,
            tensor,
            at(&fixtures, &["inputs", "checks", name]),
            1e-7,
        );
    }
    Ok(())
}

#[test]
fn softmax_attention_matches_fixture() -> Result<()> {
    let fixtures = fixtures();
    let (q, k, v, mask) = attention_inputs(&Device::Cpu)?;
    let mut ctx = ForwardContext::evaluation(0);
    let out = SoftmaxAttention::new(P, 0.1).forward(&q, &k, &v, &mask, &mut ctx)?;
    assert_matches_stats(
        "softmax",
        &out,
        at(&fixtures, &["out_float32", "SoftmaxAttention"]),
        TOL,
    );
    Ok(())
}

#[test]
fn kernelized_attention_matches_fixture() -> Result<()> {
    let fixtures = fixtures();
    let (q, k, v, mask) = attention_inputs(&Device::Cpu)?;
    let mut ctx = ForwardContext::evaluation(0);
    let out = KernelizedAttention::new(P, 0.1).forward(&q, &k, &v, &mask, &mut ctx)?;
    assert_matches_stats(
        "kernelized",
        &out,
        at(&fixtures, &["out_float32", "SoftmaxAttention_RBF"]),
        TOL,
    );
    Ok(())
}

fn fixture_landmarks(
    fixtures: &serde_json::Value,
    mask: &Tensor,
) -> Result<seqmodels::attention::Landmarks> {
    let lengths = sequence_lengths(mask)?;
    Ok(landmark_indices(
        &lengths,
        N,
        1,
        16,
        &landmark_uniforms(fixtures),
    ))
}

#[test]
fn landmark_indices_match_fixture() -> Result<()> {
    let fixtures = fixtures();
    let mask = attention_mask(&Device::Cpu)?;
    let landmarks = fixture_landmarks(&fixtures, &mask)?;
    for (b, key) in ["b0", "b1"].iter().enumerate() {
        let expected: Vec<usize> = vec_of(at(
            &fixtures,
            &["skyformer_landmarks", "S_indices_into_concat_QK_rows", key],
        ))
        .into_iter()
        .map(|x| x as usize)
        .collect();
        assert_eq!(
            landmarks.indices[b],
            vec![expected],
            "landmarks of batch {b}"
        );
    }
    Ok(())
}

#[test]
fn landmark_split_follows_lengths_and_halves() {
    // Odd T: the K part gets the extra landmark; indices stay below each length.
    let uniforms = [0.0, 0.5, 0.999, 0.25, 0.75];
    let landmarks = landmark_indices(&[10.0, 3.0], 100, 1, 5, &uniforms);
    assert_eq!(landmarks.indices[0], vec![vec![0, 5, 109, 102, 107]]);
    assert_eq!(landmarks.indices[1], vec![vec![0, 1, 102, 100, 102]]);
    // Accumulation 2: the first row indexes Q, the second K.
    let landmarks = landmark_indices(&[8.0], 50, 2, 2, &[0.1, 0.6, 0.3, 0.9]);
    assert_eq!(landmarks.indices[0], vec![vec![0, 4], vec![52, 57]]);
}

#[test]
fn skyformer_matches_fixture_and_intermediates() -> Result<()> {
    let fixtures = fixtures();
    let (q, k, v, mask) = attention_inputs(&Device::Cpu)?;
    let landmarks = fixture_landmarks(&fixtures, &mask)?;
    let out = skyformer_attention(&q, &k, &v, &mask, &landmarks)?;
    assert_matches_stats(
        "skyformer",
        &out.output,
        at(&fixtures, &["out_float32", "Skyformer"]),
        TOL,
    );

    let intermediates = at(&fixtures, &["out_float32", "Skyformer_intermediates"]);
    assert_matches_stats("AS", &out.sketch()?, at(intermediates, &["AS"]), TOL);

    let alpha = out.inverse.init_scale.to_scalar::<f32>()? as f64;
    assert_rel(
        "alpha",
        alpha,
        f64_of(at(
            intermediates,
            &["NS_init_scalar_max_colsum_over_all_b_h"],
        )),
        TOL,
        0.0,
    );

    for (name, tensor) in [
        ("STAS_normalized", &out.normalized),
        ("STAS_inv", &out.inverse.inverse),
    ] {
        let stats = at(intermediates, &[name]);
        let values = to_f64(tensor);
        let sum_abs: f64 = values.iter().map(|x| x.abs()).sum();
        assert_rel(
            &format!("{name}.sum"),
            values.iter().sum(),
            f64_of(at(stats, &["sum"])),
            TOL,
            sum_abs,
        );
        assert_rel(
            &format!("{name}.sum_sq"),
            values.iter().map(|x| x * x).sum(),
            f64_of(at(stats, &["sum_sq"])),
            TOL,
            0.0,
        );
        for (b, h) in [(0, 0), (1, 1)] {
            let expected: Vec<f64> = matrix_of(at(stats, &[&format!("matrix_[{b},{h}]")])).concat();
            let scale = expected.iter().fold(0f64, |m, x| m.max(x.abs()));
            assert_close_scaled(
                &format!("{name}[{b},{h}]"),
                &row(tensor, &[b, h]),
                &expected,
                scale,
                TOL,
            );
        }
    }
    Ok(())
}

#[test]
fn skyformer_module_matches_fixture() -> Result<()> {
    // The module's fused kernel, with the fixture's landmark uniforms.
    let fixtures = fixtures();
    let (q, k, v, mask) = attention_inputs(&Device::Cpu)?;
    let mut ctx =
        ForwardContext::evaluation(0).with_fixed_landmark_uniforms(landmark_uniforms(&fixtures));
    let out = Skyformer::new(16, 1).forward(&q, &k, &v, &mask, &mut ctx)?;
    assert_matches_stats(
        "skyformer module",
        &out,
        at(&fixtures, &["out_float32", "Skyformer"]),
        TOL,
    );
    Ok(())
}

#[test]
fn skyformer_batch_coupling_matches_fixture() -> Result<()> {
    let fixtures = fixtures();
    let coupling = at(&fixtures, &["skyformer_batch_coupling_float32"]);
    let (q, k, v, mask) = attention_inputs(&Device::Cpu)?;
    let landmarks = fixture_landmarks(&fixtures, &mask)?;
    let batched = skyformer_attention(&q, &k, &v, &mask, &landmarks)?.output;
    let scale = 14.0; // about the largest output magnitude

    for (b, key) in ["b0_alone", "b1_alone"].iter().enumerate() {
        let expected = at(coupling, &[key]);
        let pick = |t: &Tensor| t.narrow(0, b, 1);
        let mut alone_landmarks = landmarks.clone();
        alone_landmarks.indices = vec![landmarks.indices[b].clone()];
        let alone = skyformer_attention(
            &pick(&q)?,
            &pick(&k)?,
            &pick(&v)?,
            &pick(&mask)?,
            &alone_landmarks,
        )?
        .output;

        let values = to_f64(&alone);
        let sum_abs: f64 = values.iter().map(|x| x.abs()).sum();
        assert_rel(
            &format!("{key}.sum"),
            values.iter().sum(),
            f64_of(at(expected, &["sum"])),
            TOL,
            sum_abs,
        );
        assert_close_scaled(
            &format!("{key}.row0"),
            &row(&alone, &[0, 0, 0]),
            &vec_of(at(expected, &["row_[0,0,0,:]"])),
            scale,
            TOL,
        );
        assert_close_scaled(
            &format!("{key}.row47"),
            &row(&alone, &[0, 1, 47]),
            &vec_of(at(expected, &["row_[0,1,47,:]"])),
            scale,
            TOL,
        );

        // Only the element that does not hold the global maximum changes.
        let diff = (alone - batched.narrow(0, b, 1)?)?
            .abs()?
            .flatten_all()?
            .max(0)?
            .to_scalar::<f32>()? as f64;
        let expected_diff = f64_of(at(
            expected,
            &["max_abs_diff_vs_same_element_in_batched_run"],
        ));
        if expected_diff == 0.0 {
            assert!(
                diff < 1e-5,
                "{key}: output should not change, max diff {diff}"
            );
        } else {
            assert_rel(&format!("{key}.diff"), diff, expected_diff, 0.05, 0.0);
        }
    }
    Ok(())
}

fn matrix_tensor(rows: &[Vec<f64>]) -> Result<Tensor> {
    let n = rows.len();
    let flat: Vec<f32> = rows.concat().into_iter().map(|x| x as f32).collect();
    Tensor::from_vec(flat, (n, n), &Device::Cpu)
}

#[test]
fn iterative_inverse_matches_fixture() -> Result<()> {
    let fixtures = fixtures();
    let cases = at(&fixtures, &["newton_schulz_iterative_inv"]);
    for (case, input_key) in [("single", "M"), ("single_normalized", "N")] {
        let input = matrix_tensor(&matrix_of(at(cases, &[case, input_key])))?;
        let result = iterative_inv(&input, 6, InverseInit::Global)?;
        let alpha = result.init_scale.to_scalar::<f32>()? as f64;
        assert_rel(
            &format!("{case}.alpha"),
            alpha,
            f64_of(at(cases, &[case, "init_scalar_max_colsum"])),
            TOL,
            0.0,
        );
        let expected = matrix_of(at(cases, &[case, "V6_float32"])).concat();
        let scale = expected.iter().fold(0f64, |m, x| m.max(x.abs()));
        assert_close_scaled(case, &to_f64(&result.inverse), &expected, scale, TOL);
    }

    // The batched case: the second matrix uses the first one's α.
    let normalized = matrix_of(at(cases, &["single_normalized", "N"]));
    let n_matrix = matrix_tensor(&normalized)?;
    let half = (&n_matrix * 0.5)?;
    let batched = Tensor::stack(&[&n_matrix, &half], 0)?.unsqueeze(0)?;
    let result = iterative_inv(&batched, 6, InverseInit::Global)?;
    let batch = at(cases, &["batched"]);
    for (idx, key) in ["V6_[0,0]_float32", "V6_[0,1]_float32"].iter().enumerate() {
        let expected = matrix_of(at(batch, &[key])).concat();
        let scale = expected.iter().fold(0f64, |m, x| m.max(x.abs()));
        assert_close_scaled(key, &row(&result.inverse, &[0, idx]), &expected, scale, TOL);
    }
    let alone = iterative_inv(&half, 6, InverseInit::Global)?;
    let expected = matrix_of(at(batch, &["V6_of_0.5N_alone_float32"])).concat();
    let scale = expected.iter().fold(0f64, |m, x| m.max(x.abs()));
    assert_close_scaled("0.5N alone", &to_f64(&alone.inverse), &expected, scale, TOL);
    Ok(())
}

#[test]
fn skyformer_error_shrinks_with_more_landmarks() -> Result<()> {
    use seqmodels::attention::{exact_kernel_attention, relative_error};
    let (q, k, v, mask) = attention_inputs(&Device::Cpu)?;
    let exact = exact_kernel_attention(&q, &k, &v, &mask)?;
    let lengths = sequence_lengths(&mask)?;
    // Mean error over a few landmark draws (a fixed low-discrepancy sequence).
    let mean_error = |d: usize| -> Result<f64> {
        let mut total = 0.0;
        for draw in 0..4 {
            let uniforms: Vec<f32> = (0..d)
                .map(|t| ((t * 7919 + draw * 104_729) % 1000) as f32 / 1000.0)
                .collect();
            let landmarks = landmark_indices(&lengths, N, 1, d, &uniforms);
            let approx = skyformer_attention(&q, &k, &v, &mask, &landmarks)?.output;
            total += relative_error(&approx, &exact, &mask)?;
        }
        Ok(total / 4.0)
    };
    let (coarse, fine) = (mean_error(8)?, mean_error(64)?);
    assert!(
        fine < coarse,
        "64 landmarks ({fine:.4}) should beat 8 ({coarse:.4})"
    );
    assert!(fine < 0.1, "relative error with 64 landmarks: {fine:.4}");
    Ok(())
}
