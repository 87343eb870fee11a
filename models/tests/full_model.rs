//! A complete `ModelForSC` forward and backward pass against the official PyTorch model
//! with the same deterministic weights and inputs.

mod common;

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use common::*;
use seqmodels::{ForwardContext, ModelForSC, Task, TaskConfig};
use serde_json::Value;

/// Relative tolerance of outputs and statistics.
const TOL: f64 = 1e-5;

/// Each parameter follows the fixture's rule: x = sin(0.37·r·c + 1.1·r + 0.7·c + 0.3·k + 0.1)
/// for element (r, c) of parameter number k (c = 0 for vectors), in float64, then scaled.
fn fixture_weights(fixture: &Value) -> Result<VarMap> {
    let varmap = VarMap::new();
    let mut vars = varmap.data().lock().unwrap();
    for param in at(fixture, &["parameters"]).as_array().unwrap() {
        let k = param["k"].as_u64().unwrap() as f64;
        let name = param["name"].as_str().unwrap();
        let shape: Vec<usize> = param["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let rule = param["rule"].as_str().unwrap();
        let (rows, cols) = (shape[0], shape.get(1).copied().unwrap_or(1));
        let mut values = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                let (rf, cf) = (r as f64, c as f64);
                let x = (0.37 * rf * cf + 1.1 * rf + 0.7 * cf + 0.3 * k + 0.1).sin();
                let value = match rule {
                    "0.1*x" => 0.1 * x,
                    "1 + 0.1*x" => 1.0 + 0.1 * x,
                    "0.05*x" => 0.05 * x,
                    "0.02*x" => 0.02 * x,
                    "x/sqrt(in_features)" => x / (cols as f64).sqrt(),
                    other => panic!("unknown weight rule {other:?}"),
                };
                values.push(value as f32);
            }
        }
        let tensor = Tensor::from_vec(values, shape, &Device::Cpu)?;
        vars.insert(name.to_string(), Var::from_tensor(&tensor)?);
    }
    drop(vars);
    Ok(varmap)
}

/// Checks a [2, 64, 64] stage against its statistics block (sum, sum_sq, first 8 values of rows).
#[track_caller]
fn assert_stage(what: &str, tensor: &Tensor, stats: &Value) {
    let values = to_f64(tensor);
    let max_abs = values.iter().fold(0f64, |m, x| m.max(x.abs()));
    let sum_abs: f64 = values.iter().map(|x| x.abs()).sum();
    assert_rel(
        &format!("{what}.sum"),
        values.iter().sum(),
        f64_of(&stats["sum"]),
        TOL,
        sum_abs,
    );
    assert_rel(
        &format!("{what}.sum_sq"),
        values.iter().map(|x| x * x).sum(),
        f64_of(&stats["sum_sq"]),
        TOL,
        0.0,
    );
    for (key, b, t) in [
        ("row_[0,0,:8]", 0, 0),
        ("row_[1,47,:8]", 1, 47),
        ("row_[1,63,:8]", 1, 63),
    ] {
        let actual = row(tensor, &[b, t])[..8].to_vec();
        assert_close_scaled(
            &format!("{what}.{key}"),
            &actual,
            &vec_of(&stats[key]),
            max_abs,
            TOL,
        );
    }
}

fn check_run(attn: &str) -> Result<()> {
    let fixtures = fixtures();
    let fixture = at(&fixtures, &["full_model_forward"]);
    let expected = at(fixture, &["runs", attn]);

    let mut config = TaskConfig::preset(Task::ListOps).model_config(attn);
    config.max_seq_len = 64;
    config.mixed_precision = false;
    if attn == "skyformer" {
        config.nb_features = Some(16);
    }
    let varmap = fixture_weights(fixture)?;
    let model = ModelForSC::new(
        &config,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )?;

    let ids: Vec<u32> = matrix_of(at(fixture, &["input_ids", "values"]))
        .concat()
        .into_iter()
        .map(|x| x as u32)
        .collect();
    let mask: Vec<f32> = ids
        .iter()
        .map(|&id| if id != 0 { 1.0 } else { 0.0 })
        .collect();
    let ids = Tensor::from_vec(ids, (2, 64), &Device::Cpu)?;
    let mask = Tensor::from_vec(mask, (2, 64), &Device::Cpu)?;
    let labels = Tensor::new(&[3u32, 7], &Device::Cpu)?;

    let mut ctx =
        ForwardContext::evaluation(0).with_fixed_landmark_uniforms(landmark_uniforms(&fixtures));
    let out = model.forward_detailed(&ids, &mask, &mut ctx)?;

    let logits_expected = matrix_of(&expected["logits"]).concat();
    let logit_scale = logits_expected.iter().fold(0f64, |m, x| m.max(x.abs()));
    assert_close_scaled(
        &format!("{attn}.logits"),
        &to_f64(&out.logits),
        &logits_expected,
        logit_scale,
        TOL,
    );
    let pooled_expected = matrix_of(&expected["pooled"]).concat();
    let pooled_scale = pooled_expected.iter().fold(0f64, |m, x| m.max(x.abs()));
    assert_close_scaled(
        &format!("{attn}.pooled"),
        &to_f64(&out.pooled),
        &pooled_expected,
        pooled_scale,
        TOL,
    );

    assert_stage(
        &format!("{attn}.embeddings_out"),
        &out.encoder.embeddings,
        &expected["embeddings_out"],
    );
    assert_stage(
        &format!("{attn}.layer0_out"),
        &out.encoder.layers[0],
        &expected["layer0_out"],
    );
    assert_stage(
        &format!("{attn}.layer1_out"),
        &out.encoder.layers[1],
        &expected["layer1_out"],
    );
    assert_stage(
        &format!("{attn}.encoder_out_masked"),
        &out.encoder.output,
        &expected["encoder_out_masked"],
    );
    // Padded positions are exactly zero after the final mask.
    assert!(row(&out.encoder.output, &[1, 63]).iter().all(|&x| x == 0.0));

    let losses = seqmodels::nn::cross_entropy_per_example(&out.logits, &labels)?;
    let expected_losses = vec_of(&expected["loss_per_example"]);
    for (i, (got, want)) in to_f64(&losses).iter().zip(&expected_losses).enumerate() {
        assert_rel(&format!("{attn}.loss[{i}]"), *got, *want, TOL, 0.0);
    }
    let loss = losses.mean_all()?;
    assert_rel(
        &format!("{attn}.loss_mean"),
        loss.to_scalar::<f32>()? as f64,
        f64_of(&expected["loss_mean"]),
        TOL,
        0.0,
    );

    // Gradients of the mean loss: sum and sum of squares per parameter.
    let grads = loss.backward()?;
    let expected_grads = &expected["grads_of_mean_loss"];
    let params = model.named_parameters();
    assert_eq!(params.len(), 40);
    for (name, tensor) in &params {
        let grad = grads
            .get(tensor)
            .unwrap_or_else(|| panic!("{attn}: no gradient for {name}"));
        let values = to_f64(grad);
        let sum_sq: f64 = values.iter().map(|x| x * x).sum();
        let want_sum_sq = f64_of(&expected_grads[name]["sum_sq"]);
        let want_sum = f64_of(&expected_grads[name]["sum"]);
        let sum: f64 = values.iter().sum();
        if want_sum_sq < 1e-12 {
            // Softmax is invariant to the key bias, so its gradient is rounding noise.
            assert!(
                sum_sq < 1e-12 && sum.abs() < 1e-6,
                "{attn}: {name} gradient should vanish, got {sum_sq}"
            );
            continue;
        }
        assert_rel(
            &format!("{attn}.grad[{name}].sum_sq"),
            sum_sq,
            want_sum_sq,
            TOL,
            0.0,
        );
        // A sum near zero is a cancellation, so its error is measured against the norm.
        assert_close_scaled(
            &format!("{attn}.grad[{name}].sum"),
            &[sum],
            &[want_sum],
            want_sum_sq.sqrt(),
            TOL,
        );
    }
    Ok(())
}

#[test]
fn softmax_model_matches_fixture() -> Result<()> {
    check_run("softmax")
}

#[test]
fn kernelized_model_matches_fixture() -> Result<()> {
    check_run("kernelized")
}

#[test]
fn skyformer_model_matches_fixture() -> Result<()> {
    check_run("skyformer")
}
