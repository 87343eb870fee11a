//! The training loop learns a small ListOps subset and follows `main.py`'s rules.

use candle_core::Device;
use seqmodels::data::EncodedExample;
use seqmodels::listops::{GeneratorConfig, encode_examples, generate};
use seqmodels::train::{SAVE_AFTER_FRACTION, evaluate_model};
use seqmodels::{Task, TaskConfig, TrainData, TrainOptions, Trainer, TrainingConfig};

/// Short expressions (at most 15 tokens), so a step takes milliseconds.
fn short_listops(
    num_train: usize,
    seed: u64,
) -> (
    Vec<EncodedExample>,
    Vec<EncodedExample>,
    Vec<EncodedExample>,
) {
    let config = GeneratorConfig {
        max_depth: 3,
        max_args: 4,
        operator_probability: 0.25,
        min_length: 3,
        max_length: 16,
        num_train,
        num_dev: 64,
        num_test: 70,
    };
    let splits = generate(&config, seed).unwrap();
    let encode = |examples| encode_examples(examples, 16, 16).unwrap();
    (
        encode(&splits.train),
        encode(&splits.dev),
        encode(&splits.test),
    )
}

fn quick_training(steps: usize, learning_rate: f64) -> TrainingConfig {
    TrainingConfig {
        batch_size: 32,
        learning_rate,
        warmup: steps / 10,
        lr_decay: "linear".to_string(),
        weight_decay: 0.0,
        eval_frequency: steps / 5,
        num_train_steps: steps,
        num_init_steps: 0,
        num_eval_steps: 2,
        patience: None,
    }
}

fn small_model(attn: &str) -> seqmodels::Config {
    let mut config = TaskConfig::preset(Task::ListOps).model_config(attn);
    config.max_seq_len = 16;
    config.nb_features = Some(16);
    config
}

#[test]
fn softmax_model_learns_small_listops_subset() {
    let (train, dev, test) = short_listops(256, 5);
    let options = TrainOptions {
        progress: false,
        ..TrainOptions::default()
    };
    let mut trainer =
        Trainer::new(&small_model("softmax"), &quick_training(800, 2e-3), options).unwrap();
    let data = TrainData {
        train: &train,
        dev: &dev,
        test: &test,
    };
    let report = trainer.run(&data, |_| {}).unwrap();

    let model = trainer.model().unwrap();
    let fit = evaluate_model(model, &train, 32, 0, &Device::Cpu).unwrap();
    eprintln!(
        "training accuracy {:.3}, {:.4} s/step",
        fit.accuracy, report.seconds_per_step
    );
    assert!(
        fit.accuracy >= 0.9,
        "training accuracy {:.3} after {} steps",
        fit.accuracy,
        report.steps
    );
    assert!(report.evals.last().unwrap().train_loss < report.evals[0].train_loss);
}

#[test]
fn skyformer_training_reduces_loss() {
    let (train, dev, test) = short_listops(128, 6);
    let options = TrainOptions {
        progress: false,
        ..TrainOptions::default()
    };
    let mut trainer = Trainer::new(
        &small_model("skyformer"),
        &quick_training(100, 2e-3),
        options,
    )
    .unwrap();
    let data = TrainData {
        train: &train,
        dev: &dev,
        test: &test,
    };
    let report = trainer.run(&data, |_| {}).unwrap();
    let (first, last) = (report.evals.first().unwrap(), report.evals.last().unwrap());
    assert!(
        last.train_loss < first.train_loss,
        "loss {} → {}",
        first.train_loss,
        last.train_loss
    );
    assert!(report.evals.iter().all(|e| e.dev_loss.is_finite()));
}

#[test]
fn run_follows_main_py_rules() {
    let (train, dev, test) = short_listops(64, 7);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("best.safetensors");
    let options = TrainOptions {
        progress: false,
        checkpoint_path: Some(path.clone()),
        seed: 3,
        ..TrainOptions::default()
    };
    let training = quick_training(50, 1e-3);
    let mut trainer = Trainer::new(&small_model("softmax"), &training, options).unwrap();
    let data = TrainData {
        train: &train,
        dev: &dev,
        test: &test,
    };
    let mut seen = Vec::new();
    let report = trainer
        .run(&data, |record| seen.push(record.clone()))
        .unwrap();

    // One record per eval_frequency steps, passed to the callback as they happen.
    assert_eq!(seen, report.evals);
    assert_eq!(
        report.evals.iter().map(|e| e.step).collect::<Vec<_>>(),
        vec![10, 20, 30, 40, 50]
    );
    assert!(
        report
            .evals
            .windows(2)
            .all(|w| w[1].train_seconds >= w[0].train_seconds)
    );
    assert!(
        report
            .evals
            .windows(2)
            .all(|w| w[1].elapsed_seconds >= w[0].elapsed_seconds)
    );

    // The best value rises only on a strictly better accuracy; saving needs step > 20 %.
    let mut best = 0.0;
    for record in &report.evals {
        assert_eq!(
            record.improved,
            record.dev_accuracy > best,
            "step {}",
            record.step
        );
        if record.improved {
            best = record.dev_accuracy;
        }
        let late = record.step as f64 > SAVE_AFTER_FRACTION * 50.0;
        assert_eq!(
            record.saved,
            record.improved && late,
            "step {}",
            record.step
        );
    }
    assert_eq!(report.best_dev_accuracy, best);
    assert_eq!(
        report.checkpoint_saved,
        report.evals.iter().any(|e| e.saved)
    );
    assert_eq!(path.exists(), report.checkpoint_saved);

    // Test: 70 examples in batches of 32 → 2 full batches.
    assert_eq!(report.test.unwrap().batches, 2);
    assert!(report.seconds_per_step > 0.0);
    assert_eq!(
        report.num_parameters,
        64 * 32 + 16 * 64 + 2 * 33_472 + 128 + 8_192 + 128 + 1_280 + 10
    );
    assert!(report.peak_rss_bytes.unwrap() > 0);
}

#[test]
fn runs_are_reproducible_from_the_seed() {
    let (train, dev, test) = short_listops(64, 8);
    let data = TrainData {
        train: &train,
        dev: &dev,
        test: &test,
    };
    let run = |seed| {
        let options = TrainOptions {
            progress: false,
            seed,
            ..TrainOptions::default()
        };
        let mut trainer = Trainer::new(
            &small_model("skyformer"),
            &quick_training(20, 1e-3),
            options,
        )
        .unwrap();
        let report = trainer.run(&data, |_| {}).unwrap();
        report
            .evals
            .iter()
            .map(|e| (e.dev_accuracy, e.train_loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn trainer_rejects_mismatched_data() {
    let (train, dev, test) = short_listops(64, 9);
    let mut config = small_model("softmax");
    config.max_seq_len = 8;
    let options = TrainOptions {
        progress: false,
        ..TrainOptions::default()
    };
    let mut trainer = Trainer::new(&config, &quick_training(10, 1e-3), options).unwrap();
    let err = trainer
        .run(
            &TrainData {
                train: &train,
                dev: &dev,
                test: &test,
            },
            |_| {},
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_seq_len is 8"), "{err}");

    let bad = TrainingConfig {
        batch_size: 30,
        ..quick_training(10, 1e-3)
    };
    let options = TrainOptions {
        progress: false,
        accumulation_steps: 4,
        ..TrainOptions::default()
    };
    let err = Trainer::new(&small_model("softmax"), &bad, options)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("multiple of the accumulation steps"), "{err}");
}

#[test]
fn pair_model_trains_on_retrieval_style_data() {
    use seqmodels::data::EncodedExample;
    // Pairs of short sequences; the label says whether their first tokens match.
    let make = |count: usize, offset: u32| -> Vec<EncodedExample> {
        (0..count as u32)
            .map(|i| {
                let (a, b) = (1 + (i * 7 + offset) % 5, 1 + (i * 3 + offset) % 5);
                EncodedExample {
                    ids: vec![a, 2, 3, 0],
                    pair: Some(vec![b, 4, 0, 0]),
                    label: u32::from(a == b),
                }
            })
            .collect()
    };
    let (train, dev, test) = (make(64, 0), make(32, 1), make(32, 2));
    let mut config = TaskConfig::preset(Task::Retrieval).model_config("softmax");
    config.max_seq_len = 4;
    let options = TrainOptions {
        progress: false,
        ..TrainOptions::for_task(Task::Retrieval, "softmax")
    };
    assert!(options.dual);
    let training = TrainingConfig {
        batch_size: 16,
        ..quick_training(20, 1e-3)
    };
    let mut trainer = Trainer::new(&config, &training, options).unwrap();
    let report = trainer
        .run(
            &TrainData {
                train: &train,
                dev: &dev,
                test: &test,
            },
            |_| {},
        )
        .unwrap();
    assert_eq!(report.evals.len(), 5);
    assert!(
        report
            .evals
            .iter()
            .all(|e| e.train_loss.is_finite() && e.dev_loss.is_finite())
    );
    assert_eq!(report.test.unwrap().batches, 2);

    // Single-sequence examples are rejected by the pair model.
    let single: Vec<EncodedExample> = train
        .iter()
        .map(|e| EncodedExample {
            pair: None,
            ..e.clone()
        })
        .collect();
    let options = TrainOptions {
        progress: false,
        ..TrainOptions::for_task(Task::Retrieval, "softmax")
    };
    let mut trainer = Trainer::new(&config, &training, options).unwrap();
    let err = trainer
        .run(
            &TrainData {
                train: &single,
                dev: &dev,
                test: &test,
            },
            |_| {},
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("lack a second document"), "{err}");
}
