//! Result types of the engine: per-block outputs, failures and counters.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::block::{ExecBlock, OptionProblem};

/// The outputs of one block, fresh or from the freeze.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockOutput {
    /// Text the block wrote to stdout, cut at the cap.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    /// Bytes of stdout dropped after the cap.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stdout_omitted: u64,
    /// Text the block wrote to stderr, cut at the cap.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// Bytes of stderr dropped after the cap.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stderr_omitted: u64,
    /// Files the block wrote into `SURVEY_FIGURE_DIR`, sorted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub figures: Vec<Figure>,
    /// Failure of the block. Only an `error: true` block has a failure in a successful
    /// build; the renderer shows it in place of, or after, the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<BlockFailure>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A file written by a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figure {
    /// Path relative to the page's freeze directory, with `/` separators, such as
    /// `figures/block-2/loss.svg`. Copy the file to the same relative path under the page's
    /// output directory and use this string as the relative URL.
    pub file: String,
    /// MIME type guessed from the extension (`image/svg+xml`, `image/png`, …).
    pub mime: String,
    /// Absolute path of the file in the freeze directory. Not stored in the freeze.
    #[serde(skip)]
    pub source: PathBuf,
}

impl Figure {
    /// Whether the renderer should show the file as an image.
    pub fn is_image(&self) -> bool {
        self.mime.starts_with("image/")
    }
}

/// Kind of a block failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The page program did not compile because of this block.
    Compile,
    /// The block panicked.
    Panic,
    /// The block returned an `Err` through `?`.
    Error,
    /// The process exited with a non-zero status or was killed by a signal.
    Exit,
    /// The block ran past its timeout and was killed with every process it started.
    Timeout,
    /// The block wrote bytes that are not UTF-8.
    InvalidUtf8,
    /// The block wrote more than the output cap.
    OutputTooLarge,
    /// The block never ran because `main` returned early or the process exited.
    NotRun,
}

impl FailureKind {
    /// Returns the kind's name as written in `page.json` (`compile`, `panic`, …), for
    /// choosing a localized message.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Compile => "compile",
            FailureKind::Panic => "panic",
            FailureKind::Error => "error",
            FailureKind::Exit => "exit",
            FailureKind::Timeout => "timeout",
            FailureKind::InvalidUtf8 => "invalid-utf8",
            FailureKind::OutputTooLarge => "output-too-large",
            FailureKind::NotRun => "not-run",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            FailureKind::Compile => "failed to compile",
            FailureKind::Panic => "panicked",
            FailureKind::Error => "returned an error",
            FailureKind::Exit => "exited abnormally",
            FailureKind::Timeout => "timed out",
            FailureKind::InvalidUtf8 => "wrote output that is not UTF-8",
            FailureKind::OutputTooLarge => "wrote more output than the cap",
            FailureKind::NotRun => "did not run",
        }
    }
}

/// Failure of one block, as shown to the author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockFailure {
    pub kind: FailureKind,
    /// Details: rustc's diagnostics with `.md` locations, or the tail of stderr.
    pub message: String,
}

/// A block of a page with its output.
#[derive(Debug, Clone)]
pub struct BlockResult {
    /// The block as extracted from the page: options, line, display source.
    pub block: ExecBlock,
    /// Its output; `None` when it was neither run nor found in the freeze (only in
    /// `no-exec` mode, or on a page that failed).
    pub output: Option<BlockOutput>,
}

/// Origin of a page's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputSource {
    /// The page has no executable blocks.
    NoBlocks,
    /// Run in this build.
    Executed,
    /// Taken from a fresh freeze entry.
    Frozen,
    /// Taken from a stale freeze entry (`no-exec` mode only).
    StaleFreeze,
    /// No outputs: the page failed (its options are invalid, its program did not compile or
    /// a block failed), or `no-exec` mode found no entry.
    Missing,
}

/// The executable blocks of one page and their outputs.
#[derive(Debug, Clone)]
pub struct PageResult {
    /// Path of the page relative to the site root, as given to the engine.
    pub path: PathBuf,
    pub source: OutputSource,
    /// One entry per `rust,exec` block, in page order.
    pub blocks: Vec<BlockResult>,
}

impl PageResult {
    /// Returns the result of the block whose fenced range in the body starts at `offset`
    /// (the start of pulldown-cmark's `Tag::CodeBlock` range).
    pub fn block_at_offset(&self, offset: usize) -> Option<&BlockResult> {
        self.blocks.iter().find(|b| b.block.span.start == offset)
    }
}

/// A failure that fails the build: a block that failed without `error: true`, an invalid
/// option, or a stale entry in `frozen` mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Page path relative to the site root.
    pub page: PathBuf,
    /// Line in the page's `.md` file, from 1.
    pub line: usize,
    /// Headline, such as ``block `train` panicked``.
    pub summary: String,
    /// Details, possibly several lines.
    pub detail: String,
    /// What failed, for callers that word the headline themselves.
    pub cause: FailureCause,
}

/// What a [`Failure`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureCause {
    /// A block failed to compile or run.
    Block {
        /// The block's label, or `block-N`.
        name: String,
        kind: FailureKind,
    },
    /// In `frozen` mode, the page's freeze entry is stale or missing.
    StaleFreeze {
        /// What changed since the entry was written, or that there is none.
        reason: StaleReason,
    },
    /// An invalid option or info string.
    Option(OptionProblem),
    /// An unreadable freeze entry in `frozen` mode. The summary describes the problem.
    Other,
}

/// Reason a page's freeze entry no longer fits the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaleReason {
    /// The page has never been run.
    NoEntry,
    /// The entry's key differs, but no recorded input did (another block count).
    Mismatch,
    /// These inputs changed since the entry was written.
    Changed(Vec<Change>),
}

impl fmt::Display for StaleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StaleReason::NoEntry => f.write_str("no freeze entry"),
            StaleReason::Mismatch => f.write_str("the freeze entry does not match the page"),
            StaleReason::Changed(changes) => {
                let names: Vec<String> = changes.iter().map(Change::to_string).collect();
                write!(f, "changed since it was frozen: {}", names.join(", "))
            }
        }
    }
}

/// An input of a freeze key that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The page's blocks or their options.
    Blocks,
    /// `exec.dependencies` of `survey.yaml`.
    Dependencies,
    /// The lock file.
    Lockfile,
    /// The sources of the path dependency with this name.
    PathDependency(String),
    /// The compiler; the first line of `rustc -vV`.
    Rustc(String),
    /// The code that survey generates around the blocks.
    Generator,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Blocks => f.write_str("code blocks"),
            Change::Dependencies => f.write_str("exec.dependencies"),
            Change::Lockfile => f.write_str("Cargo.lock"),
            Change::PathDependency(name) => write!(f, "sources of `{name}`"),
            Change::Rustc(version) => write!(f, "rustc ({version})"),
            Change::Generator => f.write_str("survey's code generator"),
        }
    }
}

/// A problem that does not fail the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecWarning {
    /// In `no-exec` mode, the inputs of the freeze keys could not be computed.
    FreezeUnchecked { detail: String },
    /// A dependency from a registry that the lock file does not pin.
    Unpinned { name: String, lockfile: PathBuf },
    /// A freeze entry that cannot be read; the page runs again.
    InvalidFreeze { detail: String },
    /// In `no-exec` mode, a page whose outputs are stale or missing.
    Stale { page: PathBuf, line: usize, reason: StaleReason },
    /// A compiler warning, its locations already mapped to the `.md` file.
    Compiler { text: String },
}

impl fmt::Display for ExecWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecWarning::FreezeUnchecked { detail } => write!(f, "cannot check the freeze for stale entries: {detail}"),
            ExecWarning::Unpinned { name, lockfile } => write!(
                f,
                "exec dependency `{name}` is not in {}, so its version is not pinned; add it to the workspace's dependencies and run `cargo update -p {name}`",
                lockfile.display()
            ),
            ExecWarning::InvalidFreeze { detail } => f.write_str(detail),
            ExecWarning::Stale { page, reason, .. } => write!(f, "{}: outputs are not up to date ({reason})", page.display()),
            ExecWarning::Compiler { text } => f.write_str(text),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.page.display(), self.line, self.summary)?;
        if !self.detail.is_empty() {
            write!(f, "\n{}", self.detail.trim_end())?;
        }
        Ok(())
    }
}

impl Failure {
    /// Describes a failed block; runtime failures show the tail of the block's stderr.
    pub(crate) fn for_block(
        page: &Path,
        block: &ExecBlock,
        failure: &BlockFailure,
        stderr: &str,
    ) -> Failure {
        let mut detail = failure.message.clone();
        if failure.kind != FailureKind::Compile && !stderr.trim().is_empty() {
            detail.push('\n');
            detail.push_str(&stderr_tail(stderr));
        }
        Failure {
            page: page.to_path_buf(),
            line: block.fence_line,
            summary: format!("code block `{}` {}", block.name(), failure.kind.describe()),
            detail,
            cause: FailureCause::Block {
                name: block.name(),
                kind: failure.kind,
            },
        }
    }
}

/// Counters of what one call to [`super::Engine::execute`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// Pages whose programs were run.
    pub pages_run: usize,
    /// Pages whose outputs came from the freeze.
    pub pages_frozen: usize,
    /// `cargo build` processes started.
    pub cargo_runs: usize,
    /// `rustc` processes started by the engine itself (to read the compiler version).
    pub rustc_runs: usize,
    /// Page program processes started, retries of isolated failures included.
    pub program_runs: usize,
}

/// Everything one build's execution produced.
#[derive(Debug, Clone, Default)]
pub struct ExecReport {
    /// One entry per page given to the engine, in the same order.
    pub pages: Vec<PageResult>,
    /// Every failure of the build; empty when the build may go on.
    pub failures: Vec<Failure>,
    /// Problems that do not fail the build: stale entries in `no-exec` mode, rustc
    /// warnings of the blocks.
    pub warnings: Vec<ExecWarning>,
    pub stats: ExecStats,
}

impl ExecReport {
    /// Returns the result of the page with path `path` (relative to the site root).
    pub fn page(&self, path: impl AsRef<Path>) -> Option<&PageResult> {
        self.pages.iter().find(|p| p.path == path.as_ref())
    }

    /// Returns `Ok` when no failure was found, otherwise one error listing them all.
    pub fn ensure_success(&self) -> Result<(), super::ExecError> {
        if self.failures.is_empty() {
            Ok(())
        } else {
            Err(super::ExecError::BlocksFailed(self.failures.clone()))
        }
    }
}

/// How many trailing lines of stderr a failure shows.
const STDERR_TAIL_LINES: usize = 30;

/// Returns the last lines of a block's stderr, indented, for failure messages.
pub(crate) fn stderr_tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.trim_start_matches('\n').lines().collect();
    let start = lines.len().saturating_sub(STDERR_TAIL_LINES);
    if lines.is_empty() {
        return "(stderr is empty)".to_string();
    }
    let mut tail = String::from("stderr:\n");
    if start > 0 {
        tail.push_str(&format!("  … {start} earlier lines\n"));
    }
    for line in &lines[start..] {
        tail.push_str("  ");
        tail.push_str(line);
        tail.push('\n');
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_tail_keeps_last_lines() {
        let stderr: String = (0..40).map(|i| format!("line {i}\n")).collect();
        let tail = stderr_tail(&stderr);
        assert!(tail.contains("… 10 earlier lines"));
        assert!(tail.contains("line 39"));
        assert!(!tail.contains("line 9\n"));
    }
}
