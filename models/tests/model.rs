//! Model behaviour beyond the fixtures: CLS pooling, masking and mode handling.

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarMap;
use seqmodels::init::seeded_var_builder;
use seqmodels::model::append_cls;
use seqmodels::{ForwardContext, ModelForSC, PoolingMode, Task, TaskConfig};

fn small_model(pooling: PoolingMode, attn: &str) -> Result<ModelForSC> {
    let mut config = TaskConfig::preset(Task::ListOps).model_config(attn);
    config.max_seq_len = 8;
    config.nb_features = Some(4);
    config.pooling_mode = pooling;
    ModelForSC::new(&config, seeded_var_builder(&VarMap::new(), 1, &Device::Cpu))
}

#[test]
fn append_cls_shifts_ids_and_mask() -> Result<()> {
    let ids = Tensor::new(&[[5u32, 6, 7, 0]], &Device::Cpu)?;
    let mask = Tensor::new(&[[1f32, 1.0, 1.0, 0.0]], &Device::Cpu)?;
    let (ids, mask) = append_cls(&ids, &mask, 32)?;
    assert_eq!(ids.to_vec2::<u32>()?, vec![vec![31, 5, 6, 7]]);
    assert_eq!(mask.to_vec2::<f32>()?, vec![vec![1.0, 1.0, 1.0, 1.0]]);
    Ok(())
}

#[test]
fn cls_model_reads_position_zero() -> Result<()> {
    let model = small_model(PoolingMode::Cls, "softmax")?;
    let ids = Tensor::new(&[[3u32, 4, 5, 6, 0, 0]], &Device::Cpu)?;
    let mask = ids.ne(0u32)?.to_dtype(DType::F32)?;
    let out = model.forward_detailed(&ids, &mask, &mut ForwardContext::evaluation(0))?;
    let first = out.encoder.output.narrow(1, 0, 1)?.squeeze(1)?;
    assert_eq!(out.pooled.to_vec2::<f32>()?, first.to_vec2::<f32>()?);
    Ok(())
}

#[test]
fn mean_pooling_divides_by_padded_length() -> Result<()> {
    let model = small_model(PoolingMode::Mean, "skyformer")?;
    let ids = Tensor::new(&[[3u32, 4, 5, 0, 0, 0]], &Device::Cpu)?;
    let mask = ids.ne(0u32)?.to_dtype(DType::F32)?;
    let out = model.forward_detailed(&ids, &mask, &mut ForwardContext::evaluation(0))?;
    // Padded rows of the encoder output are exactly zero, and the mean runs over all 6.
    let rows = out.encoder.output.squeeze(0)?.to_vec2::<f32>()?;
    assert!(rows[3..].iter().flatten().all(|&x| x == 0.0));
    let sum: Vec<f32> = (0..64)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f32>() / 6.0)
        .collect();
    let pooled = out.pooled.squeeze(0)?.to_vec1::<f32>()?;
    for (a, b) in pooled.iter().zip(&sum) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    Ok(())
}

#[test]
fn dropout_acts_only_in_training() -> Result<()> {
    let model = small_model(PoolingMode::Mean, "softmax")?;
    let ids = Tensor::new(&[[3u32, 4, 5, 6, 7, 8]], &Device::Cpu)?;
    let mask = ids.ne(0u32)?.to_dtype(DType::F32)?;
    let run = |ctx: &mut ForwardContext| -> Result<Vec<f32>> {
        model.forward(&ids, &mask, ctx)?.flatten_all()?.to_vec1()
    };
    assert_eq!(
        run(&mut ForwardContext::evaluation(1))?,
        run(&mut ForwardContext::evaluation(2))?
    );
    assert_eq!(
        run(&mut ForwardContext::training(1))?,
        run(&mut ForwardContext::training(1))?
    );
    assert_ne!(
        run(&mut ForwardContext::training(1))?,
        run(&mut ForwardContext::training(2))?
    );
    assert_ne!(
        run(&mut ForwardContext::training(1))?,
        run(&mut ForwardContext::evaluation(1))?
    );
    Ok(())
}

#[test]
fn skyformer_landmarks_are_redrawn_in_evaluation() -> Result<()> {
    // The official code draws new landmarks in every forward pass, evaluation included.
    let model = small_model(PoolingMode::Mean, "skyformer")?;
    let ids = Tensor::new(&[[3u32, 4, 5, 6, 7, 8, 9, 10]], &Device::Cpu)?;
    let mask = ids.ne(0u32)?.to_dtype(DType::F32)?;
    let mut ctx = ForwardContext::evaluation(3);
    let first = model
        .forward(&ids, &mask, &mut ctx)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let second = model
        .forward(&ids, &mask, &mut ctx)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    assert_ne!(first, second);
    let mut fixed =
        ForwardContext::evaluation(3).with_fixed_landmark_uniforms(vec![0.1, 0.4, 0.6, 0.9]);
    let a = model
        .forward(&ids, &mask, &mut fixed)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let b = model
        .forward(&ids, &mask, &mut fixed)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    assert_eq!(a, b);
    Ok(())
}
