//! Safetensors round trips under the official tensor names, and strict loading errors.

use candle_core::{Device, Result, Tensor};
use candle_nn::VarMap;
use seqmodels::checkpoint::{load_into_varmap, read_tensors, save_parameters};
use seqmodels::init::seeded_var_builder;
use seqmodels::{Config, ForwardContext, ModelForSC, ModelForSCDual, Task, TaskConfig};

fn small_config(task: Task, attn: &str, max_seq_len: usize) -> Config {
    let mut config = TaskConfig::preset(task).model_config(attn);
    config.max_seq_len = max_seq_len;
    config.nb_features = Some(8);
    config
}

fn seeded_model(config: &Config, seed: u64) -> Result<(ModelForSC, VarMap)> {
    let varmap = VarMap::new();
    let model = ModelForSC::new(config, seeded_var_builder(&varmap, seed, &Device::Cpu))?;
    Ok((model, varmap))
}

fn logits(model: &ModelForSC) -> Result<Vec<f32>> {
    let ids = Tensor::new(&[[3u32, 5, 7, 1, 0, 0], [2, 2, 9, 4, 6, 8]], &Device::Cpu)?;
    let mask = ids.ne(0u32)?.to_dtype(candle_core::DType::F32)?;
    let mut ctx = ForwardContext::evaluation(5);
    model
        .forward(&ids, &mask, &mut ctx)?
        .flatten_all()?
        .to_vec1::<f32>()
}

#[test]
fn save_and_load_round_trip() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("model.safetensors");
    let config = small_config(Task::ListOps, "skyformer", 16);
    let (model, _) = seeded_model(&config, 1)?;
    model.save_safetensors(&path)?;

    let tensors = read_tensors(&path, &Device::Cpu)?;
    let names: Vec<String> = model
        .named_parameters()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let mut stored: Vec<&String> = tensors.keys().collect();
    stored.sort();
    let mut expected: Vec<&String> = names.iter().collect();
    expected.sort();
    assert_eq!(stored, expected);
    // Linear weights are [out_features, in_features] as in PyTorch.
    assert_eq!(
        tensors["model.transformer_0.mlpblock.0.weight"].dims(),
        &[128, 64]
    );
    assert_eq!(
        tensors["seq_classifer.mlpblock.2.weight"].dims(),
        &[10, 128]
    );

    let loaded = ModelForSC::from_safetensors(&config, &path, &Device::Cpu)?;
    assert_eq!(logits(&loaded)?, logits(&model)?);

    // Loading into the variables of a differently initialised model makes them equal.
    let (other, varmap) = seeded_model(&config, 2)?;
    assert_ne!(logits(&other)?, logits(&model)?);
    load_into_varmap(&varmap, &path)?;
    assert_eq!(logits(&other)?, logits(&model)?);
    Ok(())
}

#[test]
fn dual_model_round_trip() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("dual.safetensors");
    let config = small_config(Task::Retrieval, "softmax", 8);
    let varmap = VarMap::new();
    let model = ModelForSCDual::new(&config, seeded_var_builder(&varmap, 3, &Device::Cpu))?;
    model.save_safetensors(&path)?;
    let loaded = ModelForSCDual::from_safetensors(&config, &path, &Device::Cpu)?;
    let ids = Tensor::new(&[[3u32, 5, 7, 0]], &Device::Cpu)?;
    let mask = ids.ne(0u32)?.to_dtype(candle_core::DType::F32)?;
    let run = |m: &ModelForSCDual| -> Result<Vec<f32>> {
        let mut ctx = ForwardContext::evaluation(0);
        m.forward(&ids, &ids, &mask, &mask, &mut ctx)?
            .flatten_all()?
            .to_vec1::<f32>()
    };
    assert_eq!(run(&loaded)?, run(&model)?);
    Ok(())
}

#[test]
fn loading_rejects_mismatched_files() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = small_config(Task::ListOps, "softmax", 16);
    let (model, _) = seeded_model(&config, 1)?;

    let missing = dir.path().join("missing.safetensors");
    let err = ModelForSC::from_safetensors(&config, &missing, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing.safetensors") && err.contains("not found"),
        "{err}"
    );

    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint")?;
    let err = ModelForSC::from_safetensors(&config, &garbage, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("garbage.safetensors") && err.contains("safetensors"),
        "{err}"
    );

    // A longer position table: right names, wrong shape.
    let longer = dir.path().join("longer.safetensors");
    let (long_model, _) = seeded_model(&small_config(Task::ListOps, "softmax", 32), 1)?;
    long_model.save_safetensors(&longer)?;
    let err = ModelForSC::from_safetensors(&config, &longer, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.embeddings.position_embeddings.weight") && err.contains("[32, 64]"),
        "{err}"
    );

    // An extra tensor and a missing one.
    let renamed = dir.path().join("renamed.safetensors");
    let mut params = model.named_parameters();
    params[0].0 = "model.embeddings.word_embedding.weight".to_string();
    save_parameters(&params, &renamed)?;
    let err = ModelForSC::from_safetensors(&config, &renamed, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing: [model.embeddings.word_embeddings.weight]"),
        "{err}"
    );
    assert!(
        err.contains("unexpected: [model.embeddings.word_embedding.weight]"),
        "{err}"
    );

    let duplicate: Vec<_> = vec![params[1].clone(), params[1].clone()];
    let err = save_parameters(&duplicate, &dir.path().join("dup.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("duplicate tensor name"), "{err}");
    Ok(())
}
