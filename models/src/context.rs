//! Mode and randomness of one forward pass.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Train or eval mode plus the random stream a forward pass draws from: dropout
/// masks in training, and Skyformer's landmark uniforms in both modes (the official
/// code re-draws landmarks at evaluation time too).
///
/// The official code draws all of these from torch's global generator. Here they come
/// from this explicitly seeded generator, so a run is reproducible from its seed but
/// does not reproduce torch's random numbers.
#[derive(Debug, Clone)]
pub struct ForwardContext {
    training: bool,
    rng: StdRng,
    fixed_landmark_uniforms: Option<Vec<f32>>,
}

impl ForwardContext {
    /// Training mode: dropout active.
    pub fn training(seed: u64) -> Self {
        Self::new(true, seed)
    }

    /// Evaluation mode: dropout off.
    pub fn evaluation(seed: u64) -> Self {
        Self::new(false, seed)
    }

    pub fn new(training: bool, seed: u64) -> Self {
        Self {
            training,
            rng: StdRng::seed_from_u64(seed),
            fixed_landmark_uniforms: None,
        }
    }

    /// Makes every Skyformer layer use these uniforms instead of drawing its own, as the
    /// reference fixtures do (they replace `torch.rand` with a fixed vector).
    pub fn with_fixed_landmark_uniforms(mut self, uniforms: Vec<f32>) -> Self {
        self.fixed_landmark_uniforms = Some(uniforms);
        self
    }

    pub fn is_training(&self) -> bool {
        self.training
    }

    pub fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    /// Draws a fresh seed for one dropout mask.
    pub fn next_seed(&mut self) -> u64 {
        self.rng.random()
    }

    /// Returns `count` uniforms in [0, 1) for landmark sampling: the fixed ones when
    /// set (an error if their number differs), else fresh draws.
    pub fn landmark_uniforms(&mut self, count: usize) -> candle_core::Result<Vec<f32>> {
        match &self.fixed_landmark_uniforms {
            Some(fixed) if fixed.len() == count => Ok(fixed.clone()),
            Some(fixed) => candle_core::bail!(
                "the fixed landmark uniforms have {} values but the layer needs {count} \
                 (accumulation × nb_features)",
                fixed.len()
            ),
            None => Ok((0..count).map(|_| self.rng.random::<f32>()).collect()),
        }
    }

    /// The underlying generator, for callers that need more draws.
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }
}
