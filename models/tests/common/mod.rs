//! Shared helpers: the reference fixtures, their deterministic inputs, and comparisons.
#![allow(dead_code)]

use std::path::PathBuf;

use candle_core::{Device, Result, Tensor};
use serde_json::Value;

pub const B: usize = 2;
pub const H: usize = 2;
pub const N: usize = 64;
pub const P: usize = 32;

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

pub fn fixtures() -> Value {
    let text = std::fs::read_to_string(fixture_path("skyformer_fixtures.json"))
        .expect("fixture file is readable");
    serde_json::from_str(&text).expect("fixture file is valid JSON")
}

/// Follows a path of object keys and array indices through the fixture.
pub fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(value, |value, key| match value {
        Value::Array(items) => &items[key.parse::<usize>().expect("array index")],
        _ => value
            .get(*key)
            .unwrap_or_else(|| panic!("fixture has no key {key:?} in path {path:?}")),
    })
}

pub fn f64_of(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {value}"))
}

pub fn vec_of(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("expected an array")
        .iter()
        .map(f64_of)
        .collect()
}

pub fn matrix_of(value: &Value) -> Vec<Vec<f64>> {
    value
        .as_array()
        .expect("expected an array of rows")
        .iter()
        .map(vec_of)
        .collect()
}

/// Q, K, V of the attention fixtures: float64 formulas rounded to float32, [b, h, n, p].
pub fn attention_inputs(device: &Device) -> Result<(Tensor, Tensor, Tensor, Tensor)> {
    let mut q = Vec::with_capacity(B * H * N * P);
    let mut k = Vec::with_capacity(B * H * N * P);
    let mut v = Vec::with_capacity(B * H * N * P);
    for b in 0..B {
        for h in 0..H {
            for i in 0..N {
                for j in 0..P {
                    let (b, h, i, j) = (b as f64, h as f64, i as f64, j as f64);
                    q.push((0.37 * (i + 1.0) + 0.11 * (j + 1.0) + 0.5 * b + 0.3 * h).sin() as f32);
                    k.push((0.23 * (i + 1.0) - 0.07 * (j + 1.0) + 0.4 * b - 0.2 * h).cos() as f32);
                    v.push((0.05 * (i + 1.0) * (j + 1.0) / 32.0 + 0.1 * h + 0.2 * b).sin() as f32);
                }
            }
        }
    }
    let shape = (B, H, N, P);
    Ok((
        Tensor::from_vec(q, shape, device)?,
        Tensor::from_vec(k, shape, device)?,
        Tensor::from_vec(v, shape, device)?,
        attention_mask(device)?,
    ))
}

/// Batch 0 is all tokens; batch 1 has 48 tokens then 16 padded positions.
pub fn attention_mask(device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..B * N)
        .map(|idx| {
            if idx / N == 1 && idx % N >= 48 {
                0.0
            } else {
                1.0
            }
        })
        .collect();
    Tensor::from_vec(mask, (B, N), device)
}

/// The fixed landmark uniforms that replace `torch.rand` in the fixtures.
pub fn landmark_uniforms(fixtures: &Value) -> Vec<f32> {
    vec_of(at(fixtures, &["skyformer_landmarks", "u"]))
        .into_iter()
        .map(|u| u as f32)
        .collect()
}

/// Asserts |actual − expected| ≤ tol · scale element-wise.
#[track_caller]
pub fn assert_close_scaled(what: &str, actual: &[f64], expected: &[f64], scale: f64, tol: f64) {
    assert_eq!(actual.len(), expected.len(), "{what}: length differs");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let err = (a - e).abs();
        assert!(
            err <= tol * scale,
            "{what}[{i}]: got {a}, expected {e} (error {err:.3e} > {tol:.0e} × {scale:.4})"
        );
    }
}

/// Asserts a scalar agrees to a relative tolerance (relative to |expected|, at least `floor`).
#[track_caller]
pub fn assert_rel(what: &str, actual: f64, expected: f64, tol: f64, floor: f64) {
    let err = (actual - expected).abs();
    let scale = expected.abs().max(floor);
    assert!(
        err <= tol * scale,
        "{what}: got {actual}, expected {expected} (relative error {:.3e})",
        err / scale
    );
}

pub fn to_f64(tensor: &Tensor) -> Vec<f64> {
    tensor
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

/// Row `[indices.., :]` of a tensor as float64.
pub fn row(tensor: &Tensor, indices: &[usize]) -> Vec<f64> {
    let mut t = tensor.clone();
    for &i in indices {
        t = t.get(i).unwrap();
    }
    to_f64(&t)
}

/// Checks a tensor against a fixture statistics block: sum, sum of squares, min, max
/// and the listed rows, all within `tol` relative to the block's largest magnitude.
#[track_caller]
pub fn assert_matches_stats(what: &str, tensor: &Tensor, stats: &Value, tol: f64) {
    let shape: Vec<usize> = at(stats, &["shape"])
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(tensor.dims(), shape.as_slice(), "{what}: shape");
    let values = to_f64(tensor);
    let max_abs = f64_of(at(stats, &["max"]))
        .abs()
        .max(f64_of(at(stats, &["min"])).abs());
    let sum: f64 = values.iter().sum();
    let sum_abs: f64 = values.iter().map(|x| x.abs()).sum();
    let sum_sq: f64 = values.iter().map(|x| x * x).sum();
    assert_rel(
        &format!("{what}.sum"),
        sum,
        f64_of(at(stats, &["sum"])),
        tol,
        sum_abs,
    );
    assert_rel(
        &format!("{what}.sum_sq"),
        sum_sq,
        f64_of(at(stats, &["sum_sq"])),
        tol,
        0.0,
    );
    let min = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    assert_close_scaled(
        &format!("{what}.min"),
        &[min],
        &[f64_of(at(stats, &["min"]))],
        max_abs,
        tol,
    );
    assert_close_scaled(
        &format!("{what}.max"),
        &[max],
        &[f64_of(at(stats, &["max"]))],
        max_abs,
        tol,
    );

    for (key, value) in stats.as_object().unwrap() {
        if let Some(spec) = key
            .strip_prefix("row_[")
            .and_then(|k| k.strip_suffix(",:]"))
        {
            let indices: Vec<usize> = spec
                .split(',')
                .map(|part| {
                    part.split('+')
                        .map(|x| x.trim().parse::<usize>().unwrap())
                        .sum()
                })
                .collect();
            assert_close_scaled(
                &format!("{what}.{key}"),
                &row(tensor, &indices),
                &vec_of(value),
                max_abs,
                tol,
            );
        }
    }
    if let Some(per_bh) = stats.get("sum_per_[b,h]") {
        for (b, sums) in matrix_of(per_bh).iter().enumerate() {
            for (h, expected) in sums.iter().enumerate() {
                let block: f64 = row(tensor, &[b, h]).iter().sum();
                let block_abs: f64 = row(tensor, &[b, h]).iter().map(|x| x.abs()).sum();
                assert_rel(
                    &format!("{what}.sum[{b},{h}]"),
                    block,
                    *expected,
                    tol,
                    block_abs,
                );
            }
        }
    }
}
