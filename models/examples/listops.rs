//! Trains the LRA ListOps model with several attention kernels and prints the dev
//! accuracy against training time, the test accuracy, seconds per step and peak memory.
//!
//! By default it runs the survey's reduced setting (`ListOpsSetup::reduced()`, the one
//! the Appendix of the survey executes), which takes about five minutes on two CPU
//! cores. `--full` runs the Skyformer paper's setting (`ListOpsSetup::paper()`: the
//! LRA data sizes and `main.py`'s 50,000 steps), meant for a GPU (`--features cuda
//! -- --full --cuda`). `--tsv-dir` reads the LRA release's `basic_{train,val,test}.tsv`
//! files instead of generating data. The other flags override single settings.
//!
//! ```text
//! cargo run --release -p seqmodels --example listops -- --attn softmax,skyformer
//! cargo run --release -p seqmodels --features cuda --example listops -- --full --cuda
//! ```

use std::path::PathBuf;

use anyhow::{Context, Result};
use candle_core::Device;
use clap::Parser;
use seqmodels::experiments::{ListOpsData, ListOpsSetup};
use seqmodels::listops;

#[derive(Parser, Debug)]
struct Args {
    /// Attention types to train, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "softmax,skyformer")]
    attn: Vec<String>,
    /// The paper's setting: 96 000 / 2 000 / 2 000 examples of lengths 500–2000 padded
    /// to 2048, and `main.py`'s training (50 000 steps).
    #[arg(long)]
    full: bool,
    /// Run on the first CUDA device (needs the `cuda` feature).
    #[arg(long)]
    cuda: bool,
    /// Read basic_train.tsv, basic_val.tsv and basic_test.tsv from this directory
    /// instead of generating data (sequences are then padded to 2048).
    #[arg(long)]
    tsv_dir: Option<PathBuf>,
    /// Expressions are kept when min_length < length < max_length.
    #[arg(long)]
    min_length: Option<usize>,
    #[arg(long)]
    max_length: Option<usize>,
    /// Sequences are truncated and padded to this length.
    #[arg(long)]
    seq_len: Option<usize>,
    #[arg(long)]
    train: Option<usize>,
    #[arg(long)]
    dev: Option<usize>,
    #[arg(long)]
    test: Option<usize>,
    #[arg(long)]
    steps: Option<usize>,
    #[arg(long)]
    eval_every: Option<usize>,
    /// Dev batches per evaluation.
    #[arg(long)]
    eval_batches: Option<usize>,
    #[arg(long)]
    warmup: Option<usize>,
    #[arg(long)]
    batch: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    /// Skyformer landmarks (the LRA configs use 128).
    #[arg(long)]
    nb_features: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
}

/// Builds the setting the flags select: the reduced or the paper's, with overrides applied.
fn setup(args: &Args) -> Result<ListOpsSetup> {
    let mut setup = if args.full || args.tsv_dir.is_some() {
        ListOpsSetup::paper()
    } else {
        ListOpsSetup::reduced()
    };
    let generator = &mut setup.generator;
    let training = &mut setup.training;
    let overrides = [
        (args.min_length, &mut generator.min_length),
        (args.max_length, &mut generator.max_length),
        (args.train, &mut generator.num_train),
        (args.dev, &mut generator.num_dev),
        (args.test, &mut generator.num_test),
        (args.steps, &mut training.num_train_steps),
        (args.eval_every, &mut training.eval_frequency),
        (args.eval_batches, &mut training.num_eval_steps),
        (args.warmup, &mut training.warmup),
        (args.batch, &mut training.batch_size),
        (args.nb_features, &mut setup.nb_features),
    ];
    for (value, field) in overrides {
        if let Some(value) = value {
            *field = value;
        }
    }
    if let Some(seq_len) = args.seq_len {
        setup.seq_len = seq_len;
        setup.max_tokens = seq_len;
    }
    if let Some(lr) = args.lr {
        setup.training.learning_rate = lr;
    }
    if let Some(seed) = args.seed {
        setup.seed = seed;
    }
    if args.cuda {
        setup.device = Device::new_cuda(0).context("--cuda needs the `cuda` feature and a GPU")?;
    }
    Ok(setup)
}

fn load_data(args: &Args, setup: &ListOpsSetup) -> Result<ListOpsData> {
    let Some(dir) = &args.tsv_dir else {
        return Ok(setup.generate()?);
    };
    let read = |name: &str| {
        let examples = listops::read_tsv(&dir.join(name)).with_context(|| format!("reading {name}"))?;
        Ok::<_, anyhow::Error>(listops::encode_examples(&examples, setup.max_tokens, setup.seq_len)?)
    };
    Ok(ListOpsData {
        train: read("basic_train.tsv")?,
        dev: read("basic_val.tsv")?,
        test: read("basic_test.tsv")?,
    })
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
    let setup = setup(&args)?;
    let data = load_data(&args, &setup)?;
    println!(
        "ListOps: {} train, {} dev, {} test examples, padded to {}",
        data.train.len(),
        data.dev.len(),
        data.test.len(),
        setup.seq_len
    );

    for attn in &args.attn {
        println!("\n{attn}: {} steps", setup.training.num_train_steps);
        let report = setup.train(attn, &data, |record| {
            println!(
                "  step {:>6}  train {:>7.1} s  dev accuracy {:.4}  dev loss {:.4}",
                record.step, record.train_seconds, record.dev_accuracy, record.dev_loss
            );
        })?;
        let test = report
            .test
            .map_or("n/a".to_string(), |t| format!("{:.4}", t.accuracy));
        let peak = report.peak_rss_bytes.map_or("n/a".to_string(), |b| {
            format!("{:.0} MiB", b as f64 / (1 << 20) as f64)
        });
        println!(
            "  {} parameters, test accuracy {test}, best dev {:.4}, {:.3} s/step (median {:.3}), peak RSS {peak}",
            report.num_parameters,
            report.best_dev_accuracy,
            report.seconds_per_step,
            report.median_seconds_per_step
        );
    }
    Ok(())
}
