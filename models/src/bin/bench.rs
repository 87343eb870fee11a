//! Times one training step (forward, backward, gradient clipping, AdamW) of the LRA
//! ListOps model for several attention kernels and sequence lengths.
//!
//! Each configuration runs in a fresh child process, so that its peak RSS is its own.
//! The child runs under an address-space limit (RLIMIT_AS), so a configuration that
//! needs more memory than the machine can spare fails alone instead of taking the
//! machine down.
//!
//! ```text
//! cargo run --release -p seqmodels --bin seqmodels-bench -- \
//!     --attn softmax,skyformer --n 512,1024,2048,4096 --batch 32
//! ```

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use seqmodels::init::seeded_var_builder;
use seqmodels::memory;
use seqmodels::train::{ADAM_BETA2, ADAM_EPS, GRAD_CLIP_VALUE, OneCycleSchedule};
use seqmodels::{ForwardContext, ModelForSC, Task, TaskConfig};

#[derive(Parser, Debug, Clone)]
#[command(
    about = "Time training steps of the LRA ListOps model (each configuration in its own process)"
)]
struct Args {
    /// Attention types, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "softmax,skyformer")]
    attn: Vec<String>,
    /// Sequence lengths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "512,1024,2048,4096")]
    n: Vec<usize>,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Steps per configuration; the first `warmup` are not timed.
    #[arg(long, default_value_t = 7)]
    steps: usize,
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Address-space limit of each child process in GiB; by default the memory available
    /// when the child starts minus 2 GiB of headroom.
    #[arg(long)]
    memory_limit_gib: Option<f64>,
    /// Seconds to wait, at most, for the other processes to leave the CPUs idle before
    /// each configuration (0 disables the wait).
    #[arg(long, default_value_t = 120)]
    idle_wait: u64,
    /// A run is repeated when other processes used more than this fraction of a timed
    /// step's wall time.
    #[arg(long, default_value_t = 0.10)]
    max_foreign: f64,
    /// Repetitions allowed per configuration for noisy runs.
    #[arg(long, default_value_t = 2)]
    retries: usize,
    /// Keep glibc's default allocator behaviour instead of calling
    /// `seqmodels::memory::retain_freed_memory` in the measured process.
    #[arg(long)]
    glibc_default: bool,
    /// Run one configuration in this process (used for the child processes).
    #[arg(long, hide = true)]
    child: bool,
}

/// Measurements of one configuration, printed by the child as one line.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct RunResult {
    attn: String,
    n: usize,
    batch: usize,
    threads: usize,
    step_seconds: Vec<f64>,
    forward_seconds: Vec<f64>,
    backward_seconds: Vec<f64>,
    /// Per timed step: CPU seconds used by other processes divided by the step's wall time.
    foreign_fraction: Vec<f64>,
    peak_rss_mib: f64,
    setup_rss_mib: f64,
}

/// Busy CPU time of the whole machine (all processes), in seconds, from /proc/stat.
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait.
    let busy: f64 = fields
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    Some(busy / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// CPU time (user + system) of this process in seconds.
fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zero-initialised struct passed to it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        f64::NAN
    } else {
        sorted[sorted.len() / 2]
    }
}

fn mib(bytes: Option<u64>) -> f64 {
    bytes.map_or(f64::NAN, |b| b as f64 / (1024.0 * 1024.0))
}

/// Measures one configuration as the official measurement does: the ListOps model merged
/// with the attention's extras, max_seq_len = max(n, 2048), train mode, random ids in
/// [1, 32), no padding, random labels.
fn run_child(args: &Args) -> Result<()> {
    let (attn, n) = (&args.attn[0], args.n[0]);
    let device = Device::Cpu;
    let preset = TaskConfig::preset(Task::ListOps);
    let mut config = preset.model_config(attn);
    config.max_seq_len = config.max_seq_len.max(n);
    let varmap = VarMap::new();
    let model = ModelForSC::new(&config, seeded_var_builder(&varmap, 42, &device))?;
    let vars = varmap.all_vars();
    let schedule = OneCycleSchedule::new(1e-4, 1000, 50_000, "linear")?;
    let params = ParamsAdamW {
        lr: 1e-4,
        beta1: 0.9,
        beta2: ADAM_BETA2,
        eps: ADAM_EPS,
        weight_decay: 0.0,
    };
    let mut optimizer = AdamW::new(vars.clone(), params)?;

    let mut rng = StdRng::seed_from_u64(0);
    let ids: Vec<u32> = (0..args.batch * n)
        .map(|_| rng.random_range(1..32))
        .collect();
    let labels: Vec<u32> = (0..args.batch).map(|_| rng.random_range(0..10)).collect();
    let ids = Tensor::from_vec(ids, (args.batch, n), &device)?;
    let mask = Tensor::ones((args.batch, n), DType::F32, &device)?;
    let labels = Tensor::from_vec(labels, args.batch, &device)?;
    let mut ctx = ForwardContext::training(0);
    let setup_rss_mib = mib(memory::current_rss_bytes());

    let mut result = RunResult {
        attn: attn.clone(),
        n,
        batch: args.batch,
        threads: rayon::current_num_threads(),
        step_seconds: Vec::new(),
        forward_seconds: Vec::new(),
        backward_seconds: Vec::new(),
        foreign_fraction: Vec::new(),
        peak_rss_mib: 0.0,
        setup_rss_mib,
    };
    for step in 0..args.steps {
        let (busy_before, own_before) = (machine_busy_seconds(), own_cpu_seconds());
        let start = Instant::now();
        let output = model.forward_with_labels(&ids, &mask, &labels, &mut ctx)?;
        let loss = output.loss.mean_all()?;
        loss.to_scalar::<f32>()?;
        let forward = start.elapsed().as_secs_f64();

        let mut grads = loss.backward()?;
        drop(output);
        drop(loss);
        for var in &vars {
            if let Some(g) = grads.remove(var.as_tensor()) {
                grads.insert(var.as_tensor(), g.clamp(-GRAD_CLIP_VALUE, GRAD_CLIP_VALUE)?);
            }
        }
        let mut params = optimizer.params().clone();
        params.lr = schedule.learning_rate(step);
        params.beta1 = schedule.beta1(step);
        optimizer.set_params(params);
        optimizer.step(&grads)?;
        drop(grads);
        let total = start.elapsed().as_secs_f64();

        if step >= args.warmup {
            result.step_seconds.push(total);
            result.forward_seconds.push(forward);
            result.backward_seconds.push(total - forward);
            let foreign = match machine_busy_seconds().zip(busy_before) {
                Some((after, before)) => {
                    ((after - before) - (own_cpu_seconds() - own_before)).max(0.0) / total
                }
                None => 0.0,
            };
            result.foreign_fraction.push(foreign);
        }
        eprintln!("  {attn} n={n} step {step}: {total:.3} s (forward {forward:.3} s)");
    }
    result.peak_rss_mib = mib(memory::peak_rss_bytes());
    println!("RESULT {}", serde_json::to_string(&result)?);
    Ok(())
}

/// Sets this process's address-space limit.
fn limit_address_space(bytes: u64) -> Result<()> {
    let limit = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct passed to it.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
        bail!(
            "setrlimit(RLIMIT_AS) failed: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Waits until other processes have used under 5 % of the CPUs for 5 s in a row.
fn wait_for_idle(max_wait: Duration) {
    let start = Instant::now();
    let mut quiet = 0;
    while start.elapsed() < max_wait && quiet < 5 {
        let before = machine_busy_seconds();
        std::thread::sleep(Duration::from_secs(1));
        let busy = machine_busy_seconds()
            .zip(before)
            .map_or(0.0, |(a, b)| a - b);
        quiet = if busy < 0.05 { quiet + 1 } else { 0 };
    }
}

enum Outcome {
    Measured(RunResult),
    Failed(String),
}

fn run_parent(args: &Args) -> Result<()> {
    let exe = std::env::current_exe().context("cannot locate the benchmark executable")?;
    let threads = rayon::current_num_threads();
    println!(
        "# seqmodels training-step benchmark: batch {}, {threads} threads",
        args.batch
    );
    let mut rows = Vec::new();
    for n in &args.n {
        for attn in &args.attn {
            let mut outcome = Outcome::Failed("not run".into());
            for attempt in 0..=args.retries {
                if args.idle_wait > 0 {
                    wait_for_idle(Duration::from_secs(args.idle_wait));
                }
                let available = memory::available_memory_bytes();
                let limit_gib = args
                    .memory_limit_gib
                    .or_else(|| available.map(|b| b as f64 / (1u64 << 30) as f64 - 2.0))
                    .unwrap_or(16.0);
                eprintln!(
                    "{attn} n={n}: memory limit {limit_gib:.1} GiB (available {:.1} GiB), attempt {}",
                    mib(available) / 1024.0,
                    attempt + 1
                );
                let mut command = Command::new(&exe);
                // candle's element-wise thread pool spin-waits. On few cores it competes with
                // the rayon threads of the fused kernels, so it is switched off unless the
                // caller chose a setting.
                if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
                    command.env("CANDLE_NUM_THREADS", "1");
                }
                let output = command
                    .args([
                        "--child",
                        "--attn",
                        attn,
                        "--n",
                        &n.to_string(),
                        "--batch",
                        &args.batch.to_string(),
                    ])
                    .args([
                        "--steps",
                        &args.steps.to_string(),
                        "--warmup",
                        &args.warmup.to_string(),
                    ])
                    .args(["--memory-limit-gib", &limit_gib.to_string()])
                    .args(args.glibc_default.then_some("--glibc-default"))
                    .stderr(std::process::Stdio::inherit())
                    .output()
                    .context("cannot start the benchmark child process")?;
                let stdout = String::from_utf8_lossy(&output.stdout);
                outcome = match stdout.lines().find_map(|line| line.strip_prefix("RESULT ")) {
                    Some(json) => Outcome::Measured(serde_json::from_str(json)?),
                    None => Outcome::Failed(format!(
                        "failed under a {limit_gib:.1} GiB address-space limit ({})",
                        output.status
                    )),
                };
                match &outcome {
                    Outcome::Measured(result)
                        if result.foreign_fraction.iter().cloned().fold(0.0, f64::max)
                            > args.max_foreign =>
                    {
                        if attempt < args.retries {
                            eprintln!(
                                "{attn} n={n}: other processes used the CPUs during the run; repeating"
                            );
                        }
                    }
                    _ => break,
                }
            }
            rows.push((attn.clone(), *n, outcome));
        }
    }

    println!(
        "\n| attn | n | median step s (min–max) | median fwd s | median bwd+opt s | peak RSS MiB | RSS after setup MiB | max foreign CPU |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (attn, n, outcome) in &rows {
        match outcome {
            Outcome::Measured(r) => {
                let min = r.step_seconds.iter().cloned().fold(f64::INFINITY, f64::min);
                let max = r.step_seconds.iter().cloned().fold(0.0, f64::max);
                let foreign = r.foreign_fraction.iter().cloned().fold(0.0, f64::max);
                println!(
                    "| {attn} | {n} | **{:.3}** ({min:.2}–{max:.2}) | {:.3} | {:.3} | {:.0} | {:.0} | {:.0} % |",
                    median(&r.step_seconds),
                    median(&r.forward_seconds),
                    median(&r.backward_seconds),
                    r.peak_rss_mib,
                    r.setup_rss_mib,
                    foreign * 100.0
                );
            }
            Outcome::Failed(reason) => println!("| {attn} | {n} | {reason} | – | – | – | – | – |"),
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.child {
        if !args.glibc_default {
            memory::retain_freed_memory();
        }
        if let Some(gib) = args.memory_limit_gib {
            limit_address_space((gib * (1u64 << 30) as f64) as u64)?;
        }
        return run_child(&args);
    }
    run_parent(&args)
}
