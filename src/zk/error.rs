//! The ZooKeeper server's errors: what an operator sees when it cannot
//! start or must stop. Client mistakes are not errors here; they are
//! ZooKeeper error codes in replies.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is corrupt at byte {offset}: {reason}")]
    Corrupt { path: PathBuf, offset: u64, reason: String },
    #[error("replaying the transaction log: {0}")]
    Replay(#[from] super::data_tree::ApplyError),
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    #[error("the transaction log failed, the server stopped: {0}")]
    LogFailed(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
