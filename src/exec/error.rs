//! Errors of the execution engine.

use std::io;
use std::path::PathBuf;

use super::report::Failure;

/// An error that stops execution, or the list of failures that fails the build.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Code blocks failed; each failure names its page and line.
    #[error("{} code block failure(s):\n\n{}", .0.len(), format_failures(.0))]
    BlocksFailed(Vec<Failure>),

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("exec dependency `{name}`: path {} does not exist; fix `exec.dependencies.{name}.path` in survey.yaml (paths are relative to the site root)", path.display())]
    MissingPathDependency { name: String, path: PathBuf },

    #[error(
        "failed to start `{program}`: {source}; install the Rust toolchain or set the program's path"
    )]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },

    #[error("`{program} -vV` failed: {stderr}")]
    RustcVersion { program: String, stderr: String },

    #[error("cargo could not build the generated project in {}:\n{message}", project.display())]
    Cargo { project: PathBuf, message: String },

    #[error("invalid freeze entry {}: {message}; delete it and build again to re-run the page", path.display())]
    InvalidFreeze { path: PathBuf, message: String },
}

fn format_failures(failures: &[Failure]) -> String {
    failures
        .iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Attaches a path to an I/O error.
pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, ExecError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, ExecError> {
        self.map_err(|source| ExecError::Io {
            path: path.into(),
            source,
        })
    }
}
