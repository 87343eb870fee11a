//! `survey` command line: builds, serves and checks a survey site,
//! starts a paper, or removes the output.
//!
//! Exit codes: 0 on success, 1 when the build fails, 2 for a usage error
//! (clap's own exit code for bad arguments).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use survey::check::Severity;
use survey::config::Config;
use survey::diagnostics::{Diagnostic, Message};
use survey::exec::{Engine, EngineOptions, FreezeMode};
use survey::i18n::{Catalog, Lang};
use survey::scaffold::{self, NewError};
use survey::serve::{self, ServeOptions};
use survey::site::{self, BuildOptions};
use survey::timings::PhaseTimings;

#[derive(Parser)]
#[command(name = "survey", version, about = "Static-site generator for research surveys")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the site from the current directory into site/.
    Build(BuildArgs),
    /// Build the site, serve it locally and rebuild on every change.
    Serve(ServeArgs),
    /// Check links, anchors, citations, the taxonomy and the freeze.
    Check,
    /// Create a new file from a template.
    #[command(subcommand)]
    New(NewCommand),
    /// Remove site/, leftovers of interrupted builds and the generated Cargo
    /// project in .survey/. The freeze (_freeze/) is never removed.
    Clean,
}

#[derive(Subcommand)]
enum NewCommand {
    /// Create content/papers/NN-KEY.md (and bib/KEY.bib if KEY is not in bib/).
    Paper {
        /// BibTeX key of the paper, such as chen2021skyformer.
        key: String,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Port to listen on; 0 picks a free port and prints it.
    #[arg(long, default_value_t = serve::DEFAULT_PORT)]
    port: u16,
    /// Address to listen on. The default, 127.0.0.1, is reachable only
    /// from this machine; another address makes the site visible to others.
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1")]
    interface: IpAddr,
    /// Also render the bodies of papers with `status: draft`.
    #[arg(long)]
    drafts: bool,
}

#[derive(Args)]
struct BuildArgs {
    /// Base URL or path the site is served under (replaces base_url in
    /// survey.yaml), e.g. /REPO/ or https://USER.github.io/REPO/.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Also render the bodies of papers with `status: draft`.
    #[arg(long)]
    drafts: bool,
    /// Run no code block: take every output from _freeze/ and fail if an
    /// entry is stale or missing (for CI).
    #[arg(long, group = "exec")]
    frozen: bool,
    /// Run every page's code blocks again, even when _freeze/ is up to date.
    #[arg(long, group = "exec")]
    refresh: bool,
    /// Run no code block: show the outputs in _freeze/ as they are, with a
    /// warning for each stale entry.
    #[arg(long, group = "exec")]
    no_exec: bool,
    /// Print the output of code blocks and of cargo while they run.
    #[arg(short, long)]
    verbose: bool,
    /// Print the time of each build phase (discover, parse, bibliography,
    /// taxonomy, math, execute, render, write).
    #[arg(long)]
    timings: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let timings = init_tracing();
    let root = match std::env::current_dir() {
        Ok(root) => root,
        Err(error) => {
            let catalog = Catalog::new(Lang::from_locale());
            let message = Message::new("io-error").arg("path", ".").arg("detail", error);
            eprintln!("{}", Diagnostic::new("", message).render(&catalog));
            return ExitCode::from(1);
        }
    };
    let catalog = Catalog::new(site::site_lang(&root));
    match cli.command {
        Command::Build(args) => build(&root, args, &catalog, &timings),
        Command::Serve(args) => serve(&root, args, &catalog),
        Command::New(NewCommand::Paper { key }) => new_paper(&root, &key, &catalog),
        Command::Check => check(&root, &catalog),
        Command::Clean => clean(&root, &catalog),
    }
}

/// Sends diagnostics (`tracing` events) to stderr, filtered by `SURVEY_LOG`
/// (default `warn`), and records the build's phase spans for `--timings`.
fn init_tracing() -> PhaseTimings {
    use tracing_subscriber::prelude::*;

    let filter = tracing_subscriber::EnvFilter::try_from_env("SURVEY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let timings = PhaseTimings::new();
    let output = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false).with_filter(filter);
    tracing_subscriber::registry().with(output).with(timings.layer()).init();
    timings
}

fn build(root: &Path, args: BuildArgs, catalog: &Catalog, timings: &PhaseTimings) -> ExitCode {
    let exec = if args.frozen {
        FreezeMode::Frozen
    } else if args.refresh {
        FreezeMode::Refresh
    } else if args.no_exec {
        FreezeMode::NoExec
    } else {
        FreezeMode::Auto
    };

    let options = BuildOptions { base_url: args.base_url, drafts: args.drafts, exec, verbose: args.verbose, ..BuildOptions::new(root) };
    let shown_output = display_path(root, &options.output_dir());
    let started = Instant::now();
    let result = site::build(&options);
    if args.timings {
        print_timings(catalog, timings, started.elapsed());
    }
    match result {
        Ok(report) => {
            for warning in &report.warnings {
                eprintln!("{}\n", warning.render_labeled(catalog, "label-warning", None));
            }
            if report.exec.pages_run + report.exec.pages_frozen > 0 {
                let summary = Message::new("build-exec-summary")
                    .arg("run", report.exec.pages_run)
                    .arg("frozen", report.exec.pages_frozen)
                    .arg("freeze", display_path(root, &freeze_dir(root)));
                eprintln!("{}", catalog.format(&summary));
            }
            let seconds = format!("{:.2}", started.elapsed().as_secs_f64());
            let done = if report.full {
                Message::new("build-done").arg("pages", report.pages).arg("dir", &shown_output).arg("seconds", seconds)
            } else {
                Message::new("build-done-incremental")
                    .arg("pages", report.pages)
                    .arg("rendered", report.rendered)
                    .arg("written", report.written)
                    .arg("removed", report.removed)
                    .arg("dir", &shown_output)
                    .arg("seconds", seconds)
            };
            eprintln!("{}", catalog.format(&done));
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            for diagnostic in diagnostics.iter() {
                eprintln!("{}\n", diagnostic.render(catalog));
            }
            let failed = Message::new("build-failed").arg("count", diagnostics.len()).arg("dir", &shown_output);
            eprintln!("{}", catalog.format(&failed));
            ExitCode::from(1)
        }
    }
}

/// Prints the phases recorded during the build, longest name first
/// aligned, then the total.
fn print_timings(catalog: &Catalog, timings: &PhaseTimings, total: std::time::Duration) {
    let mut phases: Vec<(String, std::time::Duration)> = Vec::new();
    // A phase that was entered more than once is shown once, with the sum.
    for (name, elapsed) in timings.take() {
        match phases.iter_mut().find(|(existing, _)| *existing == name) {
            Some((_, sum)) => *sum += elapsed,
            None => phases.push((name, elapsed)),
        }
    }
    eprintln!("{}", catalog.text("build-timings"));
    for (name, elapsed) in phases.iter().chain([&("total".to_string(), total)]) {
        eprintln!("  {name:<14} {:>9.1} ms", elapsed.as_secs_f64() * 1000.0);
    }
}

fn serve(root: &Path, args: ServeArgs, catalog: &Catalog) -> ExitCode {
    let options = ServeOptions { interface: args.interface, port: args.port, drafts: args.drafts, ..ServeOptions::new(root) };
    match serve::serve(&options, catalog) {
        Ok(()) => ExitCode::SUCCESS,
        Err(diagnostic) => {
            eprintln!("{}", diagnostic.render(catalog));
            ExitCode::from(1)
        }
    }
}

fn check(root: &Path, catalog: &Catalog) -> ExitCode {
    match survey::check::check(root) {
        Ok(report) => {
            for finding in &report.findings {
                eprintln!("{}\n", finding.render(catalog));
            }
            let summary = Message::new("check-summary")
                .arg("errors", report.count(Severity::Error))
                .arg("warnings", report.count(Severity::Warning))
                .arg("infos", report.count(Severity::Info));
            eprintln!("{}", catalog.format(&summary));
            if report.has_errors() { ExitCode::from(1) } else { ExitCode::SUCCESS }
        }
        Err(diagnostics) => {
            for diagnostic in diagnostics.iter() {
                eprintln!("{}\n", diagnostic.render(catalog));
            }
            ExitCode::from(1)
        }
    }
}

fn new_paper(root: &Path, key: &str, catalog: &Catalog) -> ExitCode {
    match scaffold::new_paper(root, key, catalog) {
        Ok(created) => {
            let shown = |path: &Path| path.to_string_lossy().replace('\\', "/");
            eprintln!("{}", catalog.format(&Message::new("new-created-paper").arg("path", shown(&created.paper))));
            if let Some(stub) = &created.bib_stub {
                eprintln!("{}", catalog.format(&Message::new("new-created-bib").arg("path", shown(stub))));
            }
            if let Some(entry) = &created.bib_entry {
                eprintln!("{}", catalog.format(&Message::new("new-bib-found").arg("key", key).arg("path", shown(entry))));
            }
            ExitCode::SUCCESS
        }
        Err(NewError::Usage(diagnostic)) => {
            eprintln!("{}", diagnostic.render(catalog));
            ExitCode::from(2)
        }
        Err(NewError::Site(diagnostic)) => {
            eprintln!("{}", diagnostic.render(catalog));
            ExitCode::from(1)
        }
    }
}

fn clean(root: &Path, catalog: &Catalog) -> ExitCode {
    let output = root.join(site::OUTPUT_DIR);
    let cache = root.join(site::CACHE_DIR);
    let results = [(display_path(root, &output), site::clean(&output)), (display_path(root, &cache), site::clean_cache(&cache))];
    let mut failed = false;
    for (shown, result) in results {
        match result {
            Ok(true) => eprintln!("{}", catalog.format(&Message::new("clean-done").arg("dir", shown))),
            Ok(false) => eprintln!("{}", catalog.format(&Message::new("clean-nothing").arg("dir", shown))),
            Err(diagnostics) => {
                failed = true;
                for diagnostic in diagnostics.iter() {
                    eprintln!("{}", diagnostic.render(catalog));
                }
            }
        }
    }
    let freeze = freeze_dir(root);
    if freeze.is_dir() {
        eprintln!("{}", catalog.format(&Message::new("clean-freeze-kept").arg("dir", display_path(root, &freeze))));
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// Returns the freeze directory of the site, per `exec.freeze-dir` of
/// survey.yaml (the engine's default when the file does not parse).
fn freeze_dir(root: &Path) -> PathBuf {
    let settings = Config::load(root).map(|config| config.exec).unwrap_or_default();
    Engine::new(EngineOptions::new(root, settings)).freeze_dir().to_path_buf()
}

fn display_path(root: &Path, path: &Path) -> String {
    let relative: PathBuf = path.strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf());
    format!("{}/", relative.display())
}
