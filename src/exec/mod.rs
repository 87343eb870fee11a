//! Build-time execution of ```` ```rust,exec ```` code blocks.
//!
//! The blocks of a page form one program, compiled as a binary of a generated Cargo
//! project and run once per page. Each block still gets its own stdout, stderr and figure
//! files. Outputs are frozen in `_freeze/` under a key of everything they depend on, so
//! an unchanged page is never compiled or run again. `docs/exec.md` describes the
//! author's side and the pipeline's side.
//!
//! A build pipeline does, per build:
//!
//! 1. `Engine::new(EngineOptions::new(site_root, settings))` with the `exec` section of
//!    `survey.yaml`, the freeze mode from the command line and the site's language;
//! 2. `engine.execute(&pages)` with every page's body and the line it starts on;
//! 3. prints `report.warnings`, and fails with `report.ensure_success()`;
//! 4. renders each block with [`render_block_html`], copying its figure files.
//!
//! `site::build` does all four: its execute step runs the engine after the pages are
//! loaded, and the renderer matches each fenced block to the engine's block by offset.

mod block;
mod capture;
mod cargo;
mod codegen;
mod diagnostic;
mod error;
mod extract;
mod freeze;
mod inputs;
mod progress;
mod project;
mod render;
mod report;
mod run;
mod settings;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use block::{
    BlockOptions, CodeLine, ExecBlock, OPTION_KEYS, OptionError, OptionProblem, OutputMode, is_exec_info,
};
pub use codegen::FIGURE_DIR_VAR;
pub use error::ExecError;
pub use extract::extract_blocks;
pub use freeze::{FreezeMode, prune_freeze};
pub use render::{HtmlParts, render_block_html};
pub use report::{
    BlockFailure, BlockOutput, BlockResult, Change, ExecReport, ExecStats, ExecWarning, Failure, FailureCause, StaleReason,
    FailureKind, Figure, OutputSource, PageResult,
};
pub use settings::{
    DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_TIMEOUT_SECS, Dependency, DetailedDependency, ExecSettings,
};

/// Language of progress messages and HTML labels: the site's catalog language.
pub use crate::i18n::Lang;

use codegen::Program;
use diagnostic::LocationMapper;
use freeze::FreezeEntry;
use inputs::{KeyInputs, SharedInputs};
use progress::Progress;
use project::Project;

/// Environment variable that sets the shared Cargo target directory when `survey.yaml`
/// does not.
pub const TARGET_DIR_VAR: &str = "SURVEY_EXEC_TARGET_DIR";

/// A page given to the engine.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// Path of the `.md` file relative to the site root (`content/papers/03-skyformer.md`).
    /// It appears in messages and names the page's freeze directory.
    pub path: &'a Path,
    /// The Markdown body, after the front matter.
    pub body: &'a str,
    /// Line of the `.md` file on which `body` starts, from 1.
    pub body_line: usize,
}

/// Options of the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub site_root: PathBuf,
    /// The `exec` section of `survey.yaml`.
    pub settings: ExecSettings,
    pub mode: FreezeMode,
    /// Print each block's stdout and stderr live, line by line.
    pub verbose: bool,
    /// Show a spinner with the page and elapsed time (drawn only on a terminal).
    pub progress: bool,
    /// Language of progress messages and HTML labels.
    pub lang: Lang,
    /// The `cargo` program: `$CARGO` if set, else `cargo` on `PATH`.
    pub cargo: PathBuf,
    /// The `rustc` program whose `-vV` keys the freeze: `$RUSTC` if set, else `rustc`.
    pub rustc: PathBuf,
}

impl EngineOptions {
    /// Returns options with defaults: `Auto` mode, progress on, quiet, English.
    pub fn new(site_root: impl Into<PathBuf>, settings: ExecSettings) -> EngineOptions {
        let program = |var: &str, name: &str| {
            std::env::var_os(var).map_or_else(|| PathBuf::from(name), PathBuf::from)
        };
        EngineOptions {
            site_root: site_root.into(),
            settings,
            mode: FreezeMode::Auto,
            verbose: false,
            progress: true,
            lang: Lang::En,
            cargo: program("CARGO", "cargo"),
            rustc: program("RUSTC", "rustc"),
        }
    }
}

/// The execution engine of one site.
#[derive(Debug, Clone)]
pub struct Engine {
    options: EngineOptions,
    project: Project,
    target_dir: PathBuf,
    freeze_dir: PathBuf,
    lockfile: PathBuf,
}

/// A page that is compiled and run in this build.
struct PendingPage {
    slot: usize,
    path: PathBuf,
    blocks: Vec<ExecBlock>,
    inputs: KeyInputs,
    bin: String,
    program: Program,
    left_out: BTreeMap<usize, BlockOutput>,
    executable: Option<PathBuf>,
}

impl Engine {
    pub fn new(options: EngineOptions) -> Engine {
        let root = &options.site_root;
        let settings = &options.settings;
        let project_dir = root.join(
            settings
                .project_dir
                .as_deref()
                .unwrap_or(Path::new(".survey/exec")),
        );
        let target_dir = match &settings.target_dir {
            Some(dir) => root.join(dir),
            None => std::env::var_os(TARGET_DIR_VAR)
                .map(PathBuf::from)
                .or_else(|| dirs::cache_dir().map(|d| d.join("survey").join("exec-target")))
                .unwrap_or_else(|| project_dir.join("target")),
        };
        let freeze_dir = root.join(
            settings
                .freeze_dir
                .as_deref()
                .unwrap_or(Path::new("_freeze")),
        );
        let lockfile = root.join(
            settings
                .lockfile
                .as_deref()
                .unwrap_or(Path::new("Cargo.lock")),
        );
        Engine {
            project: Project { dir: project_dir },
            target_dir,
            freeze_dir,
            lockfile,
            options,
        }
    }

    /// Returns the freeze directory (`<site root>/_freeze` by default).
    pub fn freeze_dir(&self) -> &Path {
        &self.freeze_dir
    }

    /// Returns the directory of the generated Cargo project.
    pub fn project_dir(&self) -> &Path {
        &self.project.dir
    }

    /// Returns the shared Cargo target directory.
    pub fn target_dir(&self) -> &Path {
        &self.target_dir
    }

    /// Deletes the freeze entries of pages that have no executable block in `report`
    /// (removed or renamed pages, pages whose blocks were deleted). Call it only with the
    /// report of a successful build that was given every page of the site. Returns the removed
    /// directories.
    pub fn prune_freeze(&self, report: &ExecReport) -> Result<Vec<PathBuf>, ExecError> {
        let keep: Vec<&Path> = report
            .pages
            .iter()
            .filter(|p| !p.blocks.is_empty())
            .map(|p| p.path.as_path())
            .collect();
        prune_freeze(&self.freeze_dir, &keep)
    }

    /// Runs or takes from the freeze the blocks of `pages`, per the freeze mode.
    ///
    /// Block failures, invalid options and stale entries in `frozen` mode do not stop the
    /// other pages: they are all collected in [`ExecReport::failures`]. `Err` is kept for
    /// problems that stop the whole step: I/O errors, a missing toolchain, a dependency
    /// that does not build.
    pub fn execute(&self, pages: &[Page]) -> Result<ExecReport, ExecError> {
        let progress = Progress::new(
            self.options.progress,
            self.options.verbose,
            self.options.lang,
        );
        let result = self.execute_with(pages, &progress);
        progress.finish();
        result
    }

    fn execute_with(&self, pages: &[Page], progress: &Progress) -> Result<ExecReport, ExecError> {
        let mut report = ExecReport::default();
        let root = &self.options.site_root;
        let mut extracted: Vec<(PathBuf, Vec<ExecBlock>)> = Vec::with_capacity(pages.len());
        let mut invalid = BTreeSet::new();

        for page in pages {
            let path = page
                .path
                .strip_prefix(root)
                .unwrap_or(page.path)
                .to_path_buf();
            let blocks = match extract_blocks(page.body, page.body_line) {
                Ok(blocks) => blocks,
                Err(errors) => {
                    invalid.insert(extracted.len());
                    for error in errors {
                        report.failures.push(Failure {
                            page: path.clone(),
                            line: error.line,
                            summary: error.message,
                            detail: String::new(),
                            cause: FailureCause::Option(error.problem),
                        });
                    }
                    Vec::new()
                }
            };
            extracted.push((path, blocks));
        }

        report.pages = extracted
            .iter()
            .enumerate()
            .map(|(slot, (path, blocks))| PageResult {
                path: path.clone(),
                source: if blocks.is_empty() && !invalid.contains(&slot) {
                    OutputSource::NoBlocks
                } else {
                    OutputSource::Missing
                },
                blocks: blocks
                    .iter()
                    .map(|b| BlockResult {
                        block: b.clone(),
                        output: None,
                    })
                    .collect(),
            })
            .collect();
        if extracted.iter().all(|(_, blocks)| blocks.is_empty()) {
            return Ok(report);
        }

        let shared = match self.shared_inputs(&mut report) {
            Ok(shared) => shared,
            Err(error) if self.options.mode == FreezeMode::NoExec => {
                report.warnings.push(ExecWarning::FreezeUnchecked { detail: error.to_string() });
                None
            }
            Err(error) => return Err(error),
        };

        let mut pending = Vec::new();
        for (slot, (path, blocks)) in extracted.into_iter().enumerate() {
            if blocks.is_empty() {
                continue;
            }
            let inputs = shared.as_ref().map(|s| s.for_page(&blocks));
            if let Some(inputs) =
                self.use_freeze(slot, &path, &blocks, inputs.as_ref(), &mut report)
            {
                let bin = project::bin_name(&self.project.dir, &path);
                let program = codegen::generate(&path, &blocks, &BTreeSet::new());
                pending.push(PendingPage {
                    slot,
                    path,
                    blocks,
                    inputs,
                    bin,
                    program,
                    left_out: BTreeMap::new(),
                    executable: None,
                });
            }
        }

        if !pending.is_empty() {
            self.compile(&mut pending, &mut report, progress)?;
            for page in &pending {
                self.run(page, &mut report, progress)?;
            }
        }
        Ok(report)
    }

    /// Computes the inputs shared by every page. Counts a `rustc` run in the stats.
    fn shared_inputs(&self, report: &mut ExecReport) -> Result<Option<SharedInputs>, ExecError> {
        let dependencies = self.options.settings.effective_dependencies();
        let mut path_dependencies = BTreeMap::new();
        for (name, dependency) in &dependencies {
            if let Some(path) = dependency.path() {
                let dir = self.options.site_root.join(path);
                if !dir.join("Cargo.toml").is_file() {
                    return Err(ExecError::MissingPathDependency {
                        name: name.clone(),
                        path: path.to_path_buf(),
                    });
                }
                path_dependencies.insert(name.clone(), inputs::hash_directory(&dir)?);
            }
        }
        let (lockfile, unlocked) = inputs::hash_lockfile(&self.lockfile, &dependencies)?;
        for name in unlocked
            .iter()
            .filter(|name| dependencies[*name].path().is_none())
        {
            report.warnings.push(ExecWarning::Unpinned { name: name.clone(), lockfile: self.lockfile.clone() });
        }

        // rustup picks the toolchain from the working directory's toolchain file. Cargo runs
        // in the project directory, which is inside the site root or contains a copy of the
        // site's toolchain file, so asking in the site root gives the same compiler.
        let cache = self.project.dir.join("rustc-version.json");
        let (rustc, ran) =
            inputs::rustc_version(&self.options.rustc, &self.options.site_root, &cache)?;
        if ran {
            report.stats.rustc_runs += 1;
        }
        Ok(Some(SharedInputs {
            dependencies: inputs::hash_dependencies(&dependencies),
            lockfile,
            path_dependencies,
            rustc,
        }))
    }

    /// Fills a page's outputs from the freeze when the mode allows. Returns the key
    /// inputs when the page must run.
    fn use_freeze(
        &self,
        slot: usize,
        path: &Path,
        blocks: &[ExecBlock],
        inputs: Option<&KeyInputs>,
        report: &mut ExecReport,
    ) -> Option<KeyInputs> {
        let mode = self.options.mode;
        let entry = match freeze::load(&self.freeze_dir, path) {
            Ok(entry) => entry,
            Err(error) if mode == FreezeMode::Frozen => {
                report.failures.push(page_failure(
                    path,
                    blocks,
                    error.to_string(),
                    FailureCause::Other,
                ));
                return None;
            }
            Err(error) => {
                // The page runs again (or shows no output in no-exec mode), and a
                // successful run replaces the invalid entry.
                report.warnings.push(ExecWarning::InvalidFreeze { detail: error.to_string() });
                None
            }
        };
        let stale_reason = match (&entry, inputs) {
            (None, _) => Some(StaleReason::NoEntry),
            (Some(_), None) => None,
            (Some(entry), Some(inputs))
                if entry.key == inputs.key() && entry.blocks.len() == blocks.len() =>
            {
                None
            }
            (Some(entry), Some(inputs)) => {
                let changes = inputs.changes_since(&entry.inputs);
                Some(if changes.is_empty() { StaleReason::Mismatch } else { StaleReason::Changed(changes) })
            }
        };

        let page = &mut report.pages[slot];
        match (mode, stale_reason) {
            (FreezeMode::Refresh, _) | (FreezeMode::Auto, Some(_)) => return inputs.cloned(),
            (FreezeMode::Auto | FreezeMode::Frozen, None) | (FreezeMode::NoExec, None) => {
                fill_from_entry(page, entry.as_ref(), OutputSource::Frozen);
                report.stats.pages_frozen += 1;
            }
            (FreezeMode::Frozen, Some(reason)) => {
                report.failures.push(page_failure(
                    path,
                    blocks,
                    format!("the freeze is stale ({reason}); run `survey build` to re-run the page and commit `_freeze/`"),
                    FailureCause::StaleFreeze { reason },
                ));
            }
            (FreezeMode::NoExec, Some(reason)) => {
                report.warnings.push(ExecWarning::Stale {
                    page: path.to_path_buf(),
                    line: blocks.first().map_or(1, |b| b.fence_line),
                    reason,
                });
                if entry.is_some() {
                    fill_from_entry(page, entry.as_ref(), OutputSource::StaleFreeze);
                }
            }
        }
        None
    }

    /// Compiles the pending pages, leaving out `error: true` blocks that fail to compile
    /// and trying again until every page either compiled or failed.
    fn compile(
        &self,
        pending: &mut [PendingPage],
        report: &mut ExecReport,
        progress: &Progress,
    ) -> Result<(), ExecError> {
        let dependencies = self.options.settings.effective_dependencies();
        self.project
            .write_manifest(&self.options.site_root, &dependencies, &self.lockfile)?;
        for page in pending.iter() {
            self.project
                .write_program(&page.bin, &page.program.source)?;
        }

        let mut building: Vec<usize> = (0..pending.len()).collect();
        while !building.is_empty() {
            let bins: Vec<String> = building.iter().map(|&i| pending[i].bin.clone()).collect();
            progress.compiling(bins.len());
            let outcome = cargo::build(
                &self.options.cargo,
                &self.project.dir,
                &self.target_dir,
                &bins,
                progress,
            )?;
            report.stats.cargo_runs += 1;

            if !outcome.dependency_errors.is_empty() {
                return Err(ExecError::Cargo {
                    project: self.project.dir.clone(),
                    message: outcome.dependency_errors.join("\n"),
                });
            }
            if !outcome.success && outcome.diagnostics.is_empty() && outcome.executables.is_empty()
            {
                return Err(ExecError::Cargo {
                    project: self.project.dir.clone(),
                    message: outcome.stderr,
                });
            }

            let mut again = Vec::new();
            for index in building {
                let page = &mut pending[index];
                let diagnostics = outcome
                    .diagnostics
                    .get(&page.bin)
                    .cloned()
                    .unwrap_or_default();
                let generated = Project::relative_source(&page.bin);
                let absolute = self.project.program_path(&page.bin);
                let mapper = LocationMapper {
                    generated: &generated,
                    generated_absolute: &absolute,
                    page: &page.path,
                    program: &page.program,
                };

                let mut errors: BTreeMap<Option<usize>, Vec<String>> = BTreeMap::new();
                let mut warnings = Vec::new();
                for diagnostic in &diagnostics {
                    let text = mapper.map_rendered(&diagnostic.rendered);
                    if diagnostic.is_error {
                        let block = diagnostic.line.and_then(|line| page.program.block_at(line));
                        errors.entry(block).or_default().push(text);
                    } else {
                        warnings.push(text);
                    }
                }

                if errors.is_empty() {
                    report.warnings.extend(warnings.into_iter().map(|text| ExecWarning::Compiler { text }));
                    match outcome.executables.get(&page.bin) {
                        Some(executable) => page.executable = Some(executable.clone()),
                        None => {
                            return Err(ExecError::Cargo {
                                project: self.project.dir.clone(),
                                message: outcome.stderr.clone(),
                            });
                        }
                    }
                    continue;
                }

                let isolated = errors
                    .keys()
                    .all(|block| block.is_some_and(|b| page.blocks[b].options.error));
                if isolated {
                    for (block, texts) in errors {
                        let failure = BlockFailure {
                            kind: FailureKind::Compile,
                            message: texts.join("\n"),
                        };
                        page.left_out.insert(
                            block.expect("isolated errors have a block"),
                            BlockOutput {
                                failure: Some(failure),
                                ..Default::default()
                            },
                        );
                    }
                    let left_out: BTreeSet<usize> = page.left_out.keys().copied().collect();
                    page.program = codegen::generate(&page.path, &page.blocks, &left_out);
                    self.project
                        .write_program(&page.bin, &page.program.source)?;
                    again.push(index);
                    continue;
                }

                // Errors of `error: true` blocks are left out here: the page fails because of
                // the others, which are reported.
                for (block, texts) in errors {
                    if block.is_some_and(|b| page.blocks[b].options.error) {
                        continue;
                    }
                    let block = &page.blocks[block.unwrap_or(0)];
                    let failure = BlockFailure {
                        kind: FailureKind::Compile,
                        message: texts.join("\n"),
                    };
                    report
                        .failures
                        .push(Failure::for_block(&page.path, block, &failure, ""));
                }
            }
            building = again;
        }
        Ok(())
    }

    fn run(
        &self,
        page: &PendingPage,
        report: &mut ExecReport,
        progress: &Progress,
    ) -> Result<(), ExecError> {
        let Some(executable) = &page.executable else {
            return Ok(());
        };
        let settings = &self.options.settings;
        let default_timeout = settings.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
        let generated = Project::relative_source(&page.bin);
        let absolute = self.project.program_path(&page.bin);
        let mapper = LocationMapper {
            generated: &generated,
            generated_absolute: &absolute,
            page: &page.path,
            program: &page.program,
        };
        let spec = run::RunSpec {
            executable,
            site_root: &self.options.site_root,
            run_dir: self.project.run_dir(&page.bin),
            page: &page.path,
            blocks: &page.blocks,
            timeouts: page
                .blocks
                .iter()
                .map(|b| Duration::from_secs(b.options.timeout.unwrap_or(default_timeout)))
                .collect(),
            max_output: settings.max_output.unwrap_or(DEFAULT_MAX_OUTPUT_BYTES),
            mapper: &mapper,
            progress,
            left_out: &page.left_out,
        };
        let run = run::run_page(&spec)?;
        report.stats.program_runs += run.processes;
        report.stats.pages_run += 1;

        let mut failed = false;
        for (block, output) in page.blocks.iter().zip(&run.outputs) {
            let Some(output) = output else { continue };
            let Some(failure) = &output.failure else {
                continue;
            };
            if !block.options.error {
                failed = true;
                report.failures.push(Failure::for_block(
                    &page.path,
                    block,
                    failure,
                    &output.stderr,
                ));
            }
        }

        let result = &mut report.pages[page.slot];
        result.source = OutputSource::Executed;
        if failed {
            for (slot, output) in result.blocks.iter_mut().zip(run.outputs) {
                slot.output = output;
            }
            return Ok(());
        }
        let outputs: Vec<BlockOutput> = run
            .outputs
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect();
        let stored = freeze::store(
            &self.freeze_dir,
            &page.path,
            &page.inputs,
            &page.blocks,
            &outputs,
        )?;
        for (slot, output) in result.blocks.iter_mut().zip(stored) {
            slot.output = Some(output);
        }
        Ok(())
    }
}

fn fill_from_entry(page: &mut PageResult, entry: Option<&FreezeEntry>, source: OutputSource) {
    let Some(entry) = entry else { return };
    page.source = source;
    for (slot, frozen) in page.blocks.iter_mut().zip(&entry.blocks) {
        slot.output = Some(frozen.output.clone());
    }
}

fn page_failure(
    path: &Path,
    blocks: &[ExecBlock],
    summary: String,
    cause: FailureCause,
) -> Failure {
    Failure {
        cause,
        page: path.to_path_buf(),
        line: blocks.first().map_or(1, |b| b.fence_line),
        summary,
        detail: String::new(),
    }
}
