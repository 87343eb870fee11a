//! The crate's error type for configuration, data files and training.
//!
//! Tensor code returns `candle_core::Result`, as candle's own models do, and a candle
//! error converts into [`Error::Candle`] at the boundary.

use std::path::PathBuf;

/// Errors of configuration, data loading, checkpoints and training.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid config: {0}")]
    Config(String),

    /// A data file line that cannot be used; `line` is 1-based.
    #[error("{}:{line}: {message}", path.display())]
    Data {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A safetensors checkpoint that does not fit the model.
    #[error("{}: {message}", path.display())]
    Checkpoint { path: PathBuf, message: String },

    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
