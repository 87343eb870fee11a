//! Weights in safetensors files, under the official module paths.
//!
//! Tensor names are the keys of the official PyTorch `state_dict`
//! (`model.transformer_0.mha.W_q.weight`, …) and Linear weights are stored as
//! [out_features, in_features], so a converted official checkpoint loads unchanged.
//! Loading is strict, like `load_state_dict(strict=True)`: a missing, unexpected or
//! misshapen tensor is an error naming the file and the tensor.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{ModelForSC, ModelForSCDual};
use crate::nn::NamedTensor;

fn checkpoint_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Writes the parameters to a safetensors file, replacing it atomically: the data goes
/// to a temporary file beside `path` that is then renamed over it.
pub fn save_parameters(params: &[NamedTensor], path: &Path) -> Result<()> {
    let mut seen = BTreeSet::new();
    for (name, _) in params {
        if !seen.insert(name.as_str()) {
            return Err(checkpoint_error(
                path,
                format!("duplicate tensor name {name}"),
            ));
        }
    }
    let map: HashMap<String, Tensor> = params
        .iter()
        .map(|(name, tensor)| Ok((name.clone(), tensor.to_dtype(DType::F32)?.contiguous()?)))
        .collect::<candle_core::Result<_>>()?;
    let tmp = path.with_extension("safetensors.tmp");
    candle_core::safetensors::save(&map, &tmp)
        .map_err(|err| checkpoint_error(path, format!("cannot write: {err}")))?;
    std::fs::rename(&tmp, path).map_err(|err| Error::io(path, err))?;
    Ok(())
}

/// Reads every tensor of a safetensors file onto `device`.
pub fn read_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    if !path.exists() {
        return Err(checkpoint_error(path, "checkpoint file not found"));
    }
    candle_core::safetensors::load(path, device)
        .map_err(|err| checkpoint_error(path, format!("not a readable safetensors file: {err}")))
}

/// Checks that `tensors` has exactly the expected names and shapes.
fn check_tensors(
    path: &Path,
    tensors: &HashMap<String, Tensor>,
    expected: &[(String, Vec<usize>)],
) -> Result<()> {
    let expected_names: BTreeSet<&str> = expected.iter().map(|(name, _)| name.as_str()).collect();
    let mut missing: Vec<&str> = expected_names
        .iter()
        .copied()
        .filter(|name| !tensors.contains_key(*name))
        .collect();
    let mut unexpected: Vec<&str> = tensors
        .keys()
        .map(String::as_str)
        .filter(|name| !expected_names.contains(name))
        .collect();
    missing.sort_unstable();
    unexpected.sort_unstable();
    if !missing.is_empty() || !unexpected.is_empty() {
        return Err(checkpoint_error(
            path,
            format!(
                "tensor names do not match the model (missing: [{}], unexpected: [{}]); \
                 was it saved for another task or config?",
                missing.join(", "),
                unexpected.join(", ")
            ),
        ));
    }
    for (name, shape) in expected {
        let found = tensors[name].dims();
        if found != shape.as_slice() {
            return Err(checkpoint_error(
                path,
                format!(
                    "tensor {name} has shape {found:?}, the model expects {shape:?} (check max_seq_len and vocab_size)"
                ),
            ));
        }
    }
    Ok(())
}

/// Overwrites the variables of `varmap` with the tensors of a checkpoint.
pub fn load_into_varmap(varmap: &VarMap, path: &Path) -> Result<()> {
    let vars = varmap
        .data()
        .lock()
        .expect("the VarMap lock is never poisoned");
    let device = vars
        .values()
        .next()
        .map(|var| var.device().clone())
        .unwrap_or(Device::Cpu);
    let expected: Vec<(String, Vec<usize>)> = vars
        .iter()
        .map(|(name, var)| (name.clone(), var.dims().to_vec()))
        .collect();
    let tensors = read_tensors(path, &device)?;
    check_tensors(path, &tensors, &expected)?;
    for (name, var) in vars.iter() {
        var.set(&tensors[name].to_dtype(var.dtype())?)?;
    }
    Ok(())
}

fn load_checked<M>(
    config: &Config,
    path: &Path,
    device: &Device,
    build: impl Fn(&Config, VarBuilder) -> candle_core::Result<M>,
    params: impl Fn(&M) -> Vec<NamedTensor>,
) -> Result<M> {
    let tensors = read_tensors(path, device)?;
    // Build on zeros first to learn the expected names and shapes.
    let probe = build(config, VarBuilder::zeros(DType::F32, device))?;
    let expected: Vec<(String, Vec<usize>)> = params(&probe)
        .into_iter()
        .map(|(name, tensor)| (name, tensor.dims().to_vec()))
        .collect();
    check_tensors(path, &tensors, &expected)?;
    Ok(build(
        config,
        VarBuilder::from_tensors(tensors, DType::F32, device),
    )?)
}

impl ModelForSC {
    /// Writes the weights to a safetensors file under the official tensor names.
    pub fn save_safetensors(&self, path: &Path) -> Result<()> {
        save_parameters(&self.named_parameters(), path)
    }

    /// Builds the model with the weights of a safetensors file.
    pub fn from_safetensors(config: &Config, path: &Path, device: &Device) -> Result<Self> {
        load_checked(
            config,
            path,
            device,
            |c, vb| ModelForSC::new(c, vb),
            ModelForSC::named_parameters,
        )
    }
}

impl ModelForSCDual {
    /// Writes the weights to a safetensors file under the official tensor names.
    pub fn save_safetensors(&self, path: &Path) -> Result<()> {
        save_parameters(&self.named_parameters(), path)
    }

    /// Builds the model with the weights of a safetensors file.
    pub fn from_safetensors(config: &Config, path: &Path, device: &Device) -> Result<Self> {
        load_checked(
            config,
            path,
            device,
            |c, vb| ModelForSCDual::new(c, vb),
            ModelForSCDual::named_parameters,
        )
    }
}
