//! Encoded classification examples, batches and the LRA data order.

use candle_core::{DType, Device, Tensor};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::error::{Error, Result};

/// One example: zero-padded token ids, the ids of the second document for pair tasks
/// (retrieval), and the class label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedExample {
    pub ids: Vec<u32>,
    pub pair: Option<Vec<u32>>,
    pub label: u32,
}

/// A batch as tensors: ids [b, n] (u32), mask [b, n] (f32, 1 where id ≠ 0), labels [b] (u32).
#[derive(Debug, Clone)]
pub struct Batch {
    pub ids: Tensor,
    pub mask: Tensor,
    pub pair: Option<(Tensor, Tensor)>,
    pub labels: Tensor,
}

fn ids_and_mask(rows: &[&[u32]], device: &Device) -> Result<(Tensor, Tensor)> {
    let n = rows[0].len();
    let flat: Vec<u32> = rows.iter().flat_map(|row| row.iter().copied()).collect();
    let ids = Tensor::from_vec(flat, (rows.len(), n), device)?;
    let mask = ids.ne(0u32)?.to_dtype(DType::F32)?;
    Ok((ids, mask))
}

impl Batch {
    /// Stacks the examples into tensors on `device`; they must share one length.
    pub fn new(examples: &[&EncodedExample], device: &Device) -> Result<Batch> {
        let Some(first) = examples.first() else {
            return Err(Error::InvalidArgument(
                "a batch needs at least one example".into(),
            ));
        };
        let length = first.ids.len();
        if let Some(bad) = examples
            .iter()
            .find(|e| e.ids.len() != length || e.pair.as_ref().is_some_and(|p| p.len() != length))
        {
            return Err(Error::InvalidArgument(format!(
                "examples in a batch must be padded to one length: found {} and {length}",
                bad.ids.len()
            )));
        }
        let rows: Vec<&[u32]> = examples.iter().map(|e| e.ids.as_slice()).collect();
        let (ids, mask) = ids_and_mask(&rows, device)?;
        let pair = if first.pair.is_some() {
            let rows: Option<Vec<&[u32]>> = examples.iter().map(|e| e.pair.as_deref()).collect();
            let rows = rows.ok_or_else(|| {
                Error::InvalidArgument("mixed single and pair examples in a batch".into())
            })?;
            Some(ids_and_mask(&rows, device)?)
        } else {
            None
        };
        let labels: Vec<u32> = examples.iter().map(|e| e.label).collect();
        let labels = Tensor::from_vec(labels, examples.len(), device)?;
        Ok(Batch {
            ids,
            mask,
            pair,
            labels,
        })
    }
}

/// The endless example order of the official data loader for train and dev: the split
/// is shuffled once when loaded, read in order, and reshuffled whenever it is exhausted.
/// Batches are consecutive items of this stream, so dev evaluations continue where the
/// previous one stopped.
#[derive(Debug, Clone)]
pub struct EndlessOrder {
    order: Vec<usize>,
    position: usize,
}

impl EndlessOrder {
    pub fn new(len: usize, rng: &mut StdRng) -> Self {
        let mut order: Vec<usize> = (0..len).collect();
        order.shuffle(rng);
        Self { order, position: 0 }
    }

    /// Returns the next `count` example indices.
    pub fn next_batch(&mut self, count: usize, rng: &mut StdRng) -> Vec<usize> {
        assert!(
            !self.order.is_empty(),
            "an endless order needs at least one example"
        );
        (0..count)
            .map(|_| {
                if self.position == self.order.len() {
                    self.order.shuffle(rng);
                    self.position = 0;
                }
                self.position += 1;
                self.order[self.position - 1]
            })
            .collect()
    }
}

/// Returns the single-pass test order: shuffled once, cut into full batches; a final partial
/// batch is dropped, as with `drop_last = True`.
pub fn single_pass_batches(len: usize, batch_size: usize, rng: &mut StdRng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(rng);
    order
        .chunks_exact(batch_size)
        .map(|chunk| chunk.to_vec())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn endless_order_visits_every_example_per_epoch() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut order = EndlessOrder::new(10, &mut rng);
        let mut first_epoch = order.next_batch(4, &mut rng);
        first_epoch.extend(order.next_batch(4, &mut rng));
        first_epoch.extend(order.next_batch(2, &mut rng));
        first_epoch.sort_unstable();
        assert_eq!(first_epoch, (0..10).collect::<Vec<_>>());
        // A batch may straddle the reshuffle.
        assert_eq!(order.next_batch(15, &mut rng).len(), 15);
    }

    #[test]
    fn single_pass_drops_the_partial_batch() {
        let mut rng = StdRng::seed_from_u64(1);
        let batches = single_pass_batches(2000, 32, &mut rng);
        assert_eq!(batches.len(), 62);
        assert!(batches.iter().all(|b| b.len() == 32));
    }

    #[test]
    fn batch_builds_mask_from_nonzero_ids() {
        let a = EncodedExample {
            ids: vec![3, 4, 0],
            pair: None,
            label: 1,
        };
        let b = EncodedExample {
            ids: vec![5, 0, 0],
            pair: None,
            label: 2,
        };
        let batch = Batch::new(&[&a, &b], &Device::Cpu).unwrap();
        assert_eq!(
            batch.mask.to_vec2::<f32>().unwrap(),
            vec![vec![1.0, 1.0, 0.0], vec![1.0, 0.0, 0.0]]
        );
        let c = EncodedExample {
            ids: vec![1, 2],
            pair: None,
            label: 0,
        };
        assert!(
            Batch::new(&[&a, &c], &Device::Cpu)
                .unwrap_err()
                .to_string()
                .contains("one length")
        );
    }
}
