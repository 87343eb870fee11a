//! Trains the LRA ListOps model with several attention kernels and prints the dev
//! accuracy against training time, the test accuracy, seconds per step and peak memory.
//!
//! The defaults are a reduced experiment that runs in minutes on two CPU cores: shorter
//! expressions, fewer examples and steps. `--full` uses the LRA data sizes and
//! `main.py`'s training settings instead, and `--tsv-dir` reads the LRA release's
//! `basic_{train,val,test}.tsv` files.
//!
//! ```text
//! cargo run --release -p seqmodels --example listops -- --attn softmax,skyformer
//! ```

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use seqmodels::data::EncodedExample;
use seqmodels::listops::{self, GeneratorConfig};
use seqmodels::{Task, TaskConfig, TrainData, TrainOptions, Trainer};

#[derive(Parser, Debug)]
struct Args {
    /// Attention types to train, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "softmax,skyformer")]
    attn: Vec<String>,
    /// Use the LRA sizes (96 000 / 2 000 / 2 000 examples, lengths 500–2000) and the
    /// training settings of `main.py` (50 000 steps).
    #[arg(long)]
    full: bool,
    /// Read basic_train.tsv, basic_val.tsv and basic_test.tsv from this directory
    /// instead of generating data.
    #[arg(long)]
    tsv_dir: Option<PathBuf>,
    /// Expressions are kept when min_length < length < max_length (LRA: 500 and 2000).
    #[arg(long, default_value_t = 60)]
    min_length: usize,
    #[arg(long, default_value_t = 300)]
    max_length: usize,
    /// Sequences are padded to this length (LRA: 2048).
    #[arg(long, default_value_t = 256)]
    seq_len: usize,
    #[arg(long, default_value_t = 2000)]
    train: usize,
    #[arg(long, default_value_t = 256)]
    dev: usize,
    #[arg(long, default_value_t = 256)]
    test: usize,
    #[arg(long, default_value_t = 300)]
    steps: usize,
    #[arg(long, default_value_t = 50)]
    eval_every: usize,
    #[arg(long, default_value_t = 4)]
    eval_batches: usize,
    #[arg(long, default_value_t = 30)]
    warmup: usize,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Skyformer landmarks (the LRA configs use 128).
    #[arg(long, default_value_t = 128)]
    nb_features: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Encoded train, dev and test examples, and their padded length.
type EncodedSplits = (
    Vec<EncodedExample>,
    Vec<EncodedExample>,
    Vec<EncodedExample>,
    usize,
);

fn load_data(args: &Args) -> Result<EncodedSplits> {
    let (splits, max_tokens, seq_len) = if let Some(dir) = &args.tsv_dir {
        let read = |name: &str| {
            listops::read_tsv(&dir.join(name)).with_context(|| format!("reading {name}"))
        };
        let splits = listops::Splits {
            train: read("basic_train.tsv")?,
            dev: read("basic_val.tsv")?,
            test: read("basic_test.tsv")?,
        };
        (splits, listops::LRA_MAX_TOKENS, listops::LRA_PADDED_LENGTH)
    } else if args.full {
        (
            listops::generate(&GeneratorConfig::lra(), args.seed)?,
            listops::LRA_MAX_TOKENS,
            listops::LRA_PADDED_LENGTH,
        )
    } else {
        let config = GeneratorConfig {
            min_length: args.min_length,
            max_length: args.max_length,
            num_train: args.train,
            num_dev: args.dev,
            num_test: args.test,
            ..GeneratorConfig::lra()
        };
        (
            listops::generate(&config, args.seed)?,
            args.seq_len,
            args.seq_len,
        )
    };
    let encode = |examples| listops::encode_examples(examples, max_tokens, seq_len);
    Ok((
        encode(&splits.train)?,
        encode(&splits.dev)?,
        encode(&splits.test)?,
        seq_len,
    ))
}

fn main() -> Result<()> {
    // candle's element-wise thread pool spin-waits and competes with the rayon threads of
    // the fused kernels on few cores. Setting the variable here is sound because no other
    // thread exists yet.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: the program is still single-threaded.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
    seqmodels::memory::retain_freed_memory();
    let args = Args::parse();
    let (train, dev, test, seq_len) = load_data(&args)?;
    println!(
        "ListOps: {} train, {} dev, {} test examples, padded to {seq_len}",
        train.len(),
        dev.len(),
        test.len()
    );

    let preset = TaskConfig::preset(Task::ListOps);
    for attn in &args.attn {
        let mut config = preset.model_config(attn);
        let mut training = preset.training.clone();
        if !(args.full || args.tsv_dir.is_some()) {
            config.max_seq_len = seq_len;
            config.nb_features = config.nb_features.map(|_| args.nb_features);
            config.num_landmarks = config.num_landmarks.map(|d| d.min(seq_len));
            training.num_train_steps = args.steps;
            training.eval_frequency = args.eval_every;
            training.num_eval_steps = args.eval_batches;
            training.warmup = args.warmup;
            training.batch_size = args.batch;
            training.learning_rate = args.lr;
        }
        let options = TrainOptions {
            seed: args.seed,
            ..TrainOptions::for_task(Task::ListOps, attn)
        };
        let mut trainer = Trainer::new(&config, &training, options)?;
        println!(
            "\n{attn}: {} parameters, {} steps",
            trainer.model().map_or(0, |m| m.num_parameters()),
            training.num_train_steps
        );
        let report = trainer.run(
            &TrainData {
                train: &train,
                dev: &dev,
                test: &test,
            },
            |record| {
                println!(
                    "  step {:>6}  train {:>7.1} s  dev accuracy {:.4}  dev loss {:.4}",
                    record.step, record.train_seconds, record.dev_accuracy, record.dev_loss
                );
            },
        )?;
        let test = report
            .test
            .map_or("n/a".to_string(), |t| format!("{:.4}", t.accuracy));
        let peak = report.peak_rss_bytes.map_or("n/a".to_string(), |b| {
            format!("{:.0} MiB", b as f64 / (1 << 20) as f64)
        });
        println!(
            "  test accuracy {test}, best dev {:.4}, {:.3} s/step (median {:.3}), peak RSS {peak}",
            report.best_dev_accuracy, report.seconds_per_step, report.median_seconds_per_step
        );
    }
    Ok(())
}
