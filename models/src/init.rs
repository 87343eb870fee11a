//! Seeded parameter initialisation.
//!
//! candle's CPU random generator cannot be seeded, so a `VarBuilder` over a plain
//! `VarMap` initialises weights differently on every run. [`seeded_var_builder`]
//! returns a builder that creates missing variables from a seeded generator instead,
//! honouring each layer's initialisation hint, and stores them in the `VarMap` so
//! that an optimizer can train them.

use std::sync::Mutex;

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::{Init, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

/// A `VarBuilder` that takes existing variables from `varmap` and creates missing ones
/// from a generator seeded with `seed`, in the order the model requests them.
pub fn seeded_var_builder(varmap: &VarMap, seed: u64, device: &Device) -> VarBuilder<'static> {
    let backend = SeededInit {
        varmap: varmap.clone(),
        rng: Mutex::new(StdRng::seed_from_u64(seed)),
    };
    VarBuilder::from_backend(Box::new(backend), DType::F32, device.clone())
}

struct SeededInit {
    varmap: VarMap,
    rng: Mutex<StdRng>,
}

impl SeededInit {
    fn sample(&self, shape: &Shape, init: Init) -> Result<Vec<f32>> {
        let count = shape.elem_count();
        let mut rng = self
            .rng
            .lock()
            .expect("the init generator lock is never poisoned");
        let values = match init {
            Init::Const(value) => vec![value as f32; count],
            Init::Uniform { lo, up } => (0..count)
                .map(|_| rng.random_range(lo..up) as f32)
                .collect(),
            Init::Randn { mean, stdev } => {
                let normal = Normal::new(mean, stdev).map_err(candle_core::Error::wrap)?;
                (0..count)
                    .map(|_| normal.sample(&mut *rng) as f32)
                    .collect()
            }
            Init::Kaiming { .. } => {
                candle_core::bail!(
                    "seeded initialisation does not implement Kaiming hints; pass an explicit Init"
                )
            }
        };
        Ok(values)
    }
}

impl candle_nn::var_builder::SimpleBackend for SeededInit {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        init: Init,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let mut vars = self
            .varmap
            .data()
            .lock()
            .expect("the VarMap lock is never poisoned");
        if let Some(var) = vars.get(name) {
            if var.shape() != &shape {
                candle_core::bail!(
                    "shape mismatch for {name}: requested {shape:?}, stored {:?}",
                    var.shape()
                );
            }
            return Ok(var.as_tensor().clone());
        }
        let values = self.sample(&shape, init)?;
        let tensor = Tensor::from_vec(values, shape, device)?.to_dtype(dtype)?;
        let var = Var::from_tensor(&tensor)?;
        let tensor = var.as_tensor().clone();
        vars.insert(name.to_string(), var);
        Ok(tensor)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _device: &Device) -> Result<Tensor> {
        let vars = self
            .varmap
            .data()
            .lock()
            .expect("the VarMap lock is never poisoned");
        match vars.get(name) {
            Some(var) => Ok(var.as_tensor().clone()),
            None => candle_core::bail!("no variable named {name}"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap
            .data()
            .lock()
            .expect("the VarMap lock is never poisoned")
            .contains_key(name)
    }
}
